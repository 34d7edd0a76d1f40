"""Readers behind the catalogue's own datasets, and ``resolve_source``.

The catalogue (``shendu.data.catalog``) registers every named dataset; this
module holds the readers that are not a general file format: the MNIST-style
folder of four IDX files, and scikit-learn's bundled tables and digits.
``resolve_source`` names the source a run reads: ``data.source``, or one
inferred from ``data.path``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn import datasets as sklearn_datasets

from shendu.data.formats import infer_source, read_idx
from shendu.data.images import looks_like_image_folder
from shendu.data.registry import DATASETS
from shendu.data.splits import RawData, RawSplit
from shendu.errors import DataError

MNIST_FILES = {
    "train-images": "train-images-idx3-ubyte",
    "train-labels": "train-labels-idx1-ubyte",
    "test-images": "t10k-images-idx3-ubyte",
    "test-labels": "t10k-labels-idx1-ubyte",
}


# -- MNIST-style folders -------------------------------------------------------------
def _idx_file(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def find_mnist(folder: str | Path) -> dict[str, Path] | None:
    """The four MNIST-style IDX files (gzip or plain) in ``folder``, or None if any is missing."""
    files = {key: _idx_file(Path(folder).expanduser(), stem) for key, stem in MNIST_FILES.items()}
    return files if all(files.values()) else None  # type: ignore[return-value]


def _mnist_split(files: dict[str, Path], prefix: str, num_classes: int) -> RawSplit:
    images = read_idx(files[f"{prefix}-images"], 3)
    labels = read_idx(files[f"{prefix}-labels"], 1)
    for path, array in ((files[f"{prefix}-images"], images), (files[f"{prefix}-labels"], labels)):
        if array.dtype != np.uint8:
            raise DataError(f"{path} holds {array.dtype} values; MNIST-style files hold unsigned bytes (IDX type 0x08). "
                            "It is from another dataset; download it again.")
    if len(images) != len(labels):
        raise DataError(
            f"{files[prefix + '-images'].name} holds {len(images)} images but {files[prefix + '-labels'].name} "
            f"holds {len(labels)} labels; expected the same count. One of the files is from another dataset."
        )
    if labels.size and labels.max() >= num_classes:
        raise DataError(
            f"{files[prefix + '-labels']} holds label {labels.max()}; expected class indices 0-{num_classes - 1}."
        )
    return RawSplit(torch.from_numpy(images.copy()).unsqueeze(1), labels.astype(np.int64))  # (N, 1, 28, 28)


def read_mnist_folder(folder: Path, name: str, class_names: list[str]) -> RawData:
    """Read an MNIST-style folder (MNIST, Fashion-MNIST): own train and test splits, 28x28 grayscale.

    Args:
        folder: holds ``train-images-idx3-ubyte(.gz)``, ``train-labels-idx1-ubyte(.gz)``,
            ``t10k-images-idx3-ubyte(.gz)`` and ``t10k-labels-idx1-ubyte(.gz)``.
        name: the dataset's name, recorded in the description.
        class_names: the name of each label index.
    """
    files = find_mnist(folder)
    if files is None:
        raise DataError(
            f"{folder} lacks some of the four IDX files {', '.join(s + '.gz' for s in MNIST_FILES.values())} "
            "(gzip or not). Put them there."
        )
    splits = {split: _mnist_split(files, split, len(class_names)) for split in ("train", "test")}
    description = {
        "source": name, "path": str(Path(folder).resolve()),
        "fingerprints": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files.values()},
    }
    return RawData("image", splits, class_names=list(class_names), description=description)


# -- scikit-learn's bundled sets -------------------------------------------------
def _fingerprint(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def read_digits() -> RawData:
    """scikit-learn's digits as 8x8 images, pixel values scaled from 0..16 to 0..255 (N, 1, 8, 8)."""
    bunch = sklearn_datasets.load_digits()
    images = torch.from_numpy((bunch.images * (255.0 / 16.0)).astype(np.float32)).unsqueeze(1)  # (N, 1, 8, 8)
    description = {"source": "digits", "path": None,
                   "fingerprints": {"load_digits": _fingerprint(bunch.images, bunch.target)}}
    return RawData(
        "image", {"train": RawSplit(images, bunch.target.astype(np.int64))},
        class_names=[str(c) for c in bunch.target_names], description=description,
    )


def _table(name: str, bunch: Any, config: Any, target_kind: str, target_names: list[str] | None = None) -> RawData:
    frame = pd.DataFrame(bunch.data, columns=[str(f) for f in bunch.feature_names])
    features = list(config.features) if config.features else list(frame.columns)
    unknown = [f for f in features if f not in frame.columns]
    if unknown:
        raise DataError(
            f"data.features names {', '.join(unknown)}, which dataset {name!r} lacks; "
            f"its features are {', '.join(frame.columns)}. Fix data.features."
        )
    description = {"source": name, "path": None, "fingerprints": {name: _fingerprint(bunch.data, bunch.target)}}
    if target_kind == "regression":
        targets = np.asarray(bunch.target, dtype=np.float64).reshape(len(frame), -1)
        return RawData("tabular", {"train": RawSplit(frame, targets)}, target_names=target_names,
                       feature_names=features, description=description)
    return RawData(
        "tabular", {"train": RawSplit(frame, np.asarray(bunch.target, dtype=np.int64))},
        class_names=[str(c) for c in bunch.target_names], feature_names=features, description=description,
    )


BUNDLED_TABLES = {
    "iris": (sklearn_datasets.load_iris, {}, None),
    "wine": (sklearn_datasets.load_wine, {}, None),
    "breast-cancer": (sklearn_datasets.load_breast_cancer, {}, None),
    # The raw, unscaled version: shendu standardises features and target on the training split.
    "diabetes": (sklearn_datasets.load_diabetes, {"scaled": False}, ["disease_progression"]),
}


def read_bundled(name: str, config: Any, target_kind: str) -> RawData:
    """One of scikit-learn's bundled sets (digits, iris, wine, breast-cancer, diabetes) as raw data."""
    if name == "digits":
        return read_digits()
    loader, options, target_names = BUNDLED_TABLES[name]
    return _table(name, loader(**options), config, target_kind, target_names=target_names)


# -- resolving a source -------------------------------------------------------------
def not_data_error(name: str, tags: Any) -> DataError | None:
    """Why catalogue entry ``name`` cannot be loaded as data (an environment, or no task reads it yet), or None."""
    if tags.get("environment"):
        return DataError(
            f"{name!r} is a reinforcement-learning environment (gymnasium id {tags['environment']}), not a dataset: "
            "there are no files to load as data. Train on it with a reinforcement-learning task, which steps the "
            "environment itself (see: shendu list tasks; shendu explain " + name + ")."
        )
    if tags.get("awaiting_task"):
        return DataError(
            f"No task reads dataset {name!r} yet: {tags['awaiting_task']} arrives in a later release. Its files can "
            f"already be fetched and checked with shendu.data.catalog.locate({name!r}). Choose another dataset "
            "(see: shendu list datasets)."
        )
    return None


def resolve_source(config: Any) -> str:
    """``data.source`` if set, else inferred from ``data.path``."""
    if config.source:
        if config.source not in DATASETS:
            raise DATASETS.unknown(config.source)
        problem = not_data_error(config.source, DATASETS.entry(config.source).tags)
        if problem:
            raise problem
        return config.source
    if not config.path:
        raise DataError(
            "data.source and data.path are both unset; expected a dataset name or a path. "
            "Set data.source=digits (see: shendu list datasets) or data.path=path/to/data."
        )
    path = Path(config.path).expanduser()
    if not path.exists():
        raise DataError(f"data.path {path} does not exist. Check the path.")
    if path.is_file():
        inferred = "csv" if path.suffix.lower() == ".csv" else infer_source(path)
        if inferred in DATASETS:
            return inferred
        raise DataError(
            f"data.path {path} is a {path.suffix or 'extensionless'} file shendu cannot identify; expected a "
            ".csv, .tsv, .parquet, .jsonl, .npy / .npz, .arff, .svm / .libsvm (or one with a .query file beside "
            "it) or .txt file (optionally .gz / .bz2), or a folder. "
            "Set data.source to name its format (see: shendu list datasets)."
        )
    if find_mnist(path):
        return "mnist"
    inferred = infer_source(path)
    if inferred in DATASETS:
        return inferred
    if looks_like_image_folder(path):
        return "image-folder"
    found = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
    raise DataError(
        f"Cannot tell what data {path} holds: found {', '.join(found[:8]) or 'nothing'}"
        f"{'...' if len(found) > 8 else ''}. Expected a folder with the four MNIST IDX files, class subfolders "
        "of images or .txt files (optionally under train/, val/, test/), aligned train.<lang> text files, or "
        "train / val / test files of one format (train.csv, train.tsv, ...). "
        "Set data.source to name the dataset (see: shendu list datasets)."
    )


__all__ = ["resolve_source", "not_data_error", "read_idx", "find_mnist", "read_mnist_folder", "read_bundled",
           "MNIST_FILES"]
