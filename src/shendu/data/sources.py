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
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn import datasets as sklearn_datasets

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


# -- resolving a source -------------------------------------------------------------
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


__all__ = ["resolve_source", "read_idx", "find_mnist", "mnist_folders", "MNIST_FILES"]
