"""Named dataset sources (MNIST, scikit-learn's bundled sets) and ``load_data``.

``load_data`` is the one entry point: it resolves the source (``data.source``,
or inferred from ``data.path``), reads it, splits it (``shendu.data.splits``),
fits preprocessing on the training split (or applies a stored one) and returns
a :class:`DataBundle` of ready tensors.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn import datasets as sklearn_datasets

from shendu.data.images import looks_like_image_folder
from shendu.data.preprocessing import Preprocessing, fit_preprocessing
from shendu.data.registry import DATASETS
from shendu.data.splits import RawData, RawSplit, Split, limit_train, split_raw_data
from shendu.errors import DataError

TARGET_KINDS = ("classification", "regression")
MNIST_FILES = {
    "train-images": "train-images-idx3-ubyte",
    "train-labels": "train-labels-idx1-ubyte",
    "test-images": "t10k-images-idx3-ubyte",
    "test-labels": "t10k-labels-idx1-ubyte",
}


# -- MNIST -----------------------------------------------------------------------
def _mnist_file(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def mnist_folders(path: str | None) -> list[Path]:
    """Where MNIST is looked for: ``data.path`` (and its ``mnist/``), else $SHENDU_DATA/mnist, else ~/.cache/shendu/mnist."""
    if path:
        folder = Path(path).expanduser()
        return [folder, folder / "mnist"]
    folders = [Path(os.environ["SHENDU_DATA"]).expanduser() / "mnist"] if os.environ.get("SHENDU_DATA") else []
    return folders + [Path.home() / ".cache" / "shendu" / "mnist"]


def find_mnist(path: str | None) -> dict[str, Path] | None:
    """The four MNIST files from the first folder holding all of them, or None."""
    for folder in mnist_folders(path):
        files = {key: _mnist_file(folder, stem) for key, stem in MNIST_FILES.items()}
        if all(files.values()):
            return files
    return None


def read_idx(path: Path, num_dims: int) -> np.ndarray:
    """Parse an IDX file of unsigned bytes (gzip or plain) into an array, checking its header and size."""
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"Cannot decompress {path}: {error}. The file is corrupt; download it again.") from None
    # Magic number: two zero bytes, type 0x08 (unsigned byte), then the number of dimensions.
    if len(data) < 4 + 4 * num_dims or data[:4] != bytes([0, 0, 8, num_dims]):
        raise DataError(
            f"{path} is not an IDX file of unsigned bytes with {num_dims} dimension(s) "
            f"(magic number {data[:4].hex() or 'missing'}, expected 0000080{num_dims}). Download it again."
        )
    dims = np.frombuffer(data, dtype=">i4", count=num_dims, offset=4).astype(np.int64)
    expected = 4 + 4 * num_dims + int(np.prod(dims))
    if len(data) != expected:
        raise DataError(
            f"{path} is truncated or corrupt: its header promises {expected} bytes, the file holds {len(data)}. "
            "Download it again."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * num_dims).reshape(tuple(dims))


def _mnist_split(files: dict[str, Path], prefix: str) -> RawSplit:
    images = read_idx(files[f"{prefix}-images"], 3)
    labels = read_idx(files[f"{prefix}-labels"], 1)
    if len(images) != len(labels):
        raise DataError(
            f"{files[prefix + '-images'].name} holds {len(images)} images but {files[prefix + '-labels'].name} "
            f"holds {len(labels)} labels; expected the same count. One of the files is from another dataset."
        )
    if labels.size and labels.max() > 9:
        raise DataError(f"{files[prefix + '-labels']} holds label {labels.max()}; expected digits 0-9.")
    return RawSplit(torch.from_numpy(images.copy()).unsqueeze(1), labels.astype(np.int64))  # (N, 1, 28, 28)


@DATASETS.register("mnist", input_kind="image", target_kinds=("classification",))
def mnist(config: Any, *, target_kind: str = "classification") -> RawData:
    """MNIST handwritten digits: 60,000 training and 10,000 test images, 28x28 grayscale, 10 classes.

    The classic first image-classification benchmark (LeCun et al., 1998,
    "Gradient-based learning applied to document recognition"). Reads the
    four IDX files (gzip or plain) from ``data.path``, else ``$SHENDU_DATA/mnist``,
    else ``~/.cache/shendu/mnist``. Keeps its own test split; validation is
    carved from train. The same reader works for Fashion-MNIST's files.

    Args:
        config: the run's ``DataConfig`` (path).
        target_kind: must be "classification".
    """
    files = find_mnist(config.path)
    if files is None:
        looked = "\n".join(f"  - {folder}" for folder in mnist_folders(config.path))
        hint = "" if config.path or os.environ.get("SHENDU_DATA") else " ($SHENDU_DATA is not set)"
        raise DataError(
            f"MNIST files not found. Looked in:\n{looked}\nExpected the four files "
            f"{', '.join(s + '.gz' for s in MNIST_FILES.values())} (gzip or not) in one of them{hint}. "
            "Put them there, or set data.path to the folder holding them."
        )
    splits = {"train": _mnist_split(files, "train"), "test": _mnist_split(files, "test")}
    description = {
        "source": "mnist", "path": str(files["train-images"].parent.resolve()),
        "fingerprints": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files.values()},
    }
    return RawData("image", splits, class_names=[str(d) for d in range(10)], description=description)


# -- scikit-learn's bundled sets -------------------------------------------------
def _fingerprint(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


@DATASETS.register("digits", input_kind="image", target_kinds=("classification",))
def digits(config: Any, *, target_kind: str = "classification") -> RawData:
    """scikit-learn's bundled digits: 1,797 images of 8x8 pixels, 10 classes, no download.

    The fastest real image set: a small CNN reaches ~97% accuracy in seconds
    on a CPU, which makes it shendu's demo and test workhorse. Pixel values are
    scaled from 0..16 to 0..255 so they are normalised like any other image.
    No own splits: test and validation are carved from it (UCI optical
    recognition of handwritten digits; Alpaydin & Kaynak, 1998).

    Args:
        config: the run's ``DataConfig`` (no option applies).
        target_kind: must be "classification".
    """
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


@DATASETS.register("iris", input_kind="tabular", target_kinds=("classification",))
def iris(config: Any, *, target_kind: str = "classification") -> RawData:
    """Fisher's iris flowers: 150 samples, 4 measurements, 3 species; bundled with scikit-learn.

    The smallest classic table: use it to check a tabular pipeline end to end
    (Fisher, 1936, "The use of multiple measurements in taxonomic problems").

    Args:
        config: the run's ``DataConfig`` (features).
        target_kind: must be "classification".
    """
    return _table("iris", sklearn_datasets.load_iris(), config, target_kind)


@DATASETS.register("wine", input_kind="tabular", target_kinds=("classification",))
def wine(config: Any, *, target_kind: str = "classification") -> RawData:
    """Wine recognition: 178 wines, 13 chemical measurements, 3 cultivars; bundled with scikit-learn.

    Features on very different scales (proline in the hundreds, hue near 1):
    shows why standardisation matters (UCI wine data; Forina et al.).

    Args:
        config: the run's ``DataConfig`` (features).
        target_kind: must be "classification".
    """
    return _table("wine", sklearn_datasets.load_wine(), config, target_kind)


@DATASETS.register("breast-cancer", input_kind="tabular", target_kinds=("classification",))
def breast_cancer(config: Any, *, target_kind: str = "classification") -> RawData:
    """Wisconsin diagnostic breast cancer: 569 samples, 30 features, malignant vs. benign; bundled.

    A binary classification table with mild class imbalance (212 / 357)
    (Street, Wolberg & Mangasarian, 1993).

    Args:
        config: the run's ``DataConfig`` (features).
        target_kind: must be "classification".
    """
    return _table("breast-cancer", sklearn_datasets.load_breast_cancer(), config, target_kind)


@DATASETS.register("diabetes", input_kind="tabular", target_kinds=("regression",))
def diabetes(config: Any, *, target_kind: str = "regression") -> RawData:
    """Diabetes progression: 442 patients, 10 raw baseline measurements, one year-later target.

    The classic small regression table (Efron et al., 2004, "Least angle
    regression"). The raw, unscaled version is used; shendu standardises
    features and the target ("disease_progression") on the training split.

    Args:
        config: the run's ``DataConfig`` (features).
        target_kind: must be "regression".
    """
    bunch = sklearn_datasets.load_diabetes(scaled=False)
    return _table("diabetes", bunch, config, target_kind, target_names=["disease_progression"])


# -- resolving a source and loading a bundle ------------------------------------------
@dataclass
class DataBundle:
    """The three preprocessed splits of a dataset and what they mean.

    Args:
        train, val, test: the splits (test is None only for sources without one).
        input_kind: "image" or "tabular".
        input_shape: per-sample input shape, (C, H, W) or (F,).
        class_names: classification: the name of each class index.
        target_names: regression: the name of each target column.
        feature_names: tabular: the name of each encoded feature column.
        preprocessing: fitted on the training split; stored with the run.
        description: JSON-able facts: source, path, samples per split, where each
            split came from, fingerprints of the source data.
    """

    train: Split
    val: Split
    test: Split | None
    input_kind: str
    input_shape: tuple[int, ...]
    class_names: list[str] | None
    target_names: list[str] | None
    feature_names: list[str] | None
    preprocessing: Preprocessing
    description: dict[str, Any]


def resolve_source(config: Any) -> str:
    """``data.source`` if set, else inferred from ``data.path``."""
    if config.source:
        if config.source not in DATASETS:
            raise DATASETS.unknown(config.source)
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
        if path.suffix.lower() == ".csv":
            return "csv"
        raise DataError(
            f"data.path {path} is a {path.suffix or 'extensionless'} file; expected a .csv file or a folder. "
            "Set data.source to name its format (see: shendu list datasets)."
        )
    if find_mnist(str(path)):
        return "mnist"
    if looks_like_image_folder(path):
        return "image-folder"
    found = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
    raise DataError(
        f"Cannot tell what data {path} holds: found {', '.join(found[:8]) or 'nothing'}"
        f"{'...' if len(found) > 8 else ''}. Expected a .csv file, a folder with the four MNIST IDX files, "
        "or a folder of class subfolders of images (optionally under train/, val/, test/). "
        "Set data.source to name the dataset (see: shendu list datasets)."
    )


def _check_target_kind(name: str, target_kind: str) -> None:
    if target_kind not in TARGET_KINDS:
        raise DataError(f"target_kind must be one of {', '.join(TARGET_KINDS)}; received {target_kind!r}.")
    offered = DATASETS.entry(name).tags.get("target_kinds", TARGET_KINDS)
    if target_kind not in offered:
        others = [n for n in DATASETS.names() if target_kind in DATASETS.entry(n).tags.get("target_kinds", ())]
        raise DataError(
            f"Dataset {name!r} provides {' / '.join(offered)} targets; the task needs {target_kind}. "
            f"Choose a {target_kind} dataset: {', '.join(others)}."
        )


def _align_to_stored(stored: Preprocessing, parts: dict[str, RawSplit], raw: RawData) -> None:
    """Check new data against a run's stored preprocessing; remap class indices to the run's."""
    if raw.input_kind != stored.input_kind:
        raise DataError(f"The run was trained on {stored.input_kind} data; this data is {raw.input_kind}.")
    if stored.target_kind == "regression":
        if raw.target_names != stored.target_names:
            raise DataError(f"The run predicts {stored.target_names}; this data's targets are {raw.target_names}.")
        return
    unknown = [c for c in raw.class_names or [] if c not in stored.class_names]
    if unknown:
        raise DataError(
            f"This data has class(es) {', '.join(unknown)} that the run was not trained on; the run's classes "
            f"are {', '.join(stored.class_names)}. Use data with those classes (folder / label names must match)."
        )
    mapping = np.array([stored.class_names.index(c) for c in raw.class_names], dtype=np.int64)
    for part in parts.values():
        part.targets = mapping[part.targets]


def _describe(
    raw: RawData, parts: dict[str, RawSplit], origins: dict[str, str], class_names: list[str] | None, **facts: Any
) -> dict[str, Any]:
    description = {**raw.description, **facts}
    description["samples"] = {split: len(part) for split, part in parts.items()}
    description["splits"] = origins
    if class_names is not None:
        description["class_counts"] = {
            split: dict(zip(class_names, np.bincount(part.targets, minlength=len(class_names)).tolist()))
            for split, part in parts.items()
        }
    return description


def load_data(config: Any, *, target_kind: str, seed: int, preprocessing: Preprocessing | None = None) -> DataBundle:
    """Read, split and preprocess the data a run's ``DataConfig`` describes.

    Args:
        config: ``shendu.config.DataConfig``.
        target_kind: "classification" or "regression".
        seed: seeds the carving of validation / test splits and the ``limit`` subset.
        preprocessing: a run's stored preprocessing: applied instead of fitting a
            new one (evaluating on new data); class names must be among its own.
    """
    name = resolve_source(config)
    _check_target_kind(name, target_kind)
    if preprocessing is not None and preprocessing.input_kind == "image":
        # Decode new image files at the size and channels the run was trained on.
        config = config.model_copy(
            update={"image_size": tuple(preprocessing.image_size), "channels": preprocessing.channels}
        )
    raw = DATASETS.entry(name).constructor(config, target_kind=target_kind)
    stratify = target_kind == "classification"
    parts, origins = split_raw_data(
        raw, val_fraction=config.val_fraction, test_fraction=config.test_fraction, seed=seed, stratify=stratify
    )
    parts["train"], limit_note = limit_train(parts["train"], config.limit, seed, stratify)
    facts: dict[str, Any] = {"source": name, "target_kind": target_kind, "seed": seed}
    if limit_note:
        facts["limit"] = limit_note
    if preprocessing is None:
        preprocessing = fit_preprocessing(raw, parts["train"], target_kind=target_kind, normalize=config.normalize)
        facts["preprocessing"] = "fitted on the training split"
    else:
        _align_to_stored(preprocessing, parts, raw)
        facts["preprocessing"] = "stored with the run (not refitted)"
    splits = {
        split: Split(
            preprocessing.transform_inputs(part.inputs, f"the {split} split"),
            preprocessing.encode_targets(part.targets),
            torch.from_numpy(np.asarray(part.indices, dtype=np.int64)),
        )
        for split, part in parts.items()
    }
    return DataBundle(
        train=splits["train"], val=splits["val"], test=splits.get("test"),
        input_kind=raw.input_kind, input_shape=tuple(preprocessing.input_shape),
        class_names=preprocessing.class_names, target_names=preprocessing.target_names,
        feature_names=preprocessing.feature_names, preprocessing=preprocessing,
        description=_describe(raw, parts, origins, preprocessing.class_names, **facts),
    )


__all__ = ["DataBundle", "load_data", "resolve_source", "read_idx", "find_mnist", "mnist_folders", "MNIST_FILES"]
