"""Readers behind the catalogue's own datasets, and ``resolve_source``.

The catalogue (``shendu.data.catalog``) registers every named dataset; this
module holds the readers that are not a general file format: scikit-learn's
bundled tables and digits (MNIST-style folders are read by the ``idx`` source).
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

from shendu.data.formats import infer_source
from shendu.data.registry import DATASETS
from shendu.data.splits import RawData, RawSplit
from shendu.errors import DataError

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
        problem = not_data_error(config.source, DATASETS.entry(config.source).tags)  # did-you-mean when unknown
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
    inferred = infer_source(path)  # the four MNIST files -> mnist, class folders of images -> image-folder, ...
    if inferred in DATASETS:
        return inferred
    found = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
    raise DataError(
        f"Cannot tell what data {path} holds: found {', '.join(found[:8]) or 'nothing'}"
        f"{'...' if len(found) > 8 else ''}. Expected a folder with the four MNIST IDX files, class subfolders "
        "of images or .txt files (optionally under train/, val/, test/), aligned train.<lang> text files, or "
        "train / val / test files of one format (train.csv, train.tsv, ...). "
        "Set data.source to name the dataset (see: shendu list datasets)."
    )


__all__ = ["resolve_source", "not_data_error", "read_bundled"]
