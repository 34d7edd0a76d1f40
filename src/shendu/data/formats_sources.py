"""The sources over the array and sparse formats: ``npz``, ``idx``, ``arff`` and ``svmlight``.

Each reads a file, or a folder of split files (``train.*`` / ``val.*`` /
``test.*``), with the readers of ``shendu.data.formats`` and returns
:class:`RawData` (see ``shendu.data.splits``).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from shendu.data.formats import read_arff, read_arrays, read_idx
from shendu.data.formats_infer import IDX_NAME
from shendu.data.formats_io import (
    data_path, find_split_files, fingerprints, first_target, format_suffix, label_name, sorted_class_names,
    visible_files,
)
from shendu.data.formats_svmlight import default_query_path, densify, feature_width, parse_svmlight, query_groups
from shendu.data.label_sets import encode_label_columns
from shendu.data.registry import DATASETS
from shendu.data.splits import RawData, RawSplit
from shendu.errors import DataError

INPUT_KEYS = ("inputs", "x", "X")
TARGET_KEYS = ("targets", "y", "labels")


# -- npz ------------------------------------------------------------------------------------
def _npz_files(path: Path) -> dict[str, dict[str, Path]]:
    """split -> {"arrays": file} or {"inputs": file, "targets": file}."""
    if path.is_file():
        return {"train": {"arrays": path}}
    names = {p.name: p for p in visible_files(path)}
    if "inputs.npy" in names and "targets.npy" in names:
        return {"train": {"inputs": names["inputs.npy"], "targets": names["targets.npy"]}}
    files = find_split_files(path, lambda p: format_suffix(p) in (".npz", ".npy"), "npz")
    return {split: {"arrays": file} for split, file in files.items()}


def _pick(arrays: dict[str, np.ndarray], chosen: str | None, candidates: tuple[str, ...], key: str, where: str) -> str:
    if chosen is not None:
        if chosen not in arrays:
            raise DataError(f"{key} names array {chosen!r}, which {where} lacks; it holds {', '.join(arrays)}. Fix {key}.")
        return chosen
    for name in candidates:
        if name in arrays:
            return name
    raise DataError(
        f"{where} holds arrays {', '.join(arrays)}; expected one named {' / '.join(candidates)}. "
        f"Set {key} to the array's name."
    )


def _npz_split(files: dict[str, Path], config: Any) -> tuple[np.ndarray, np.ndarray, str]:
    if "arrays" in files:
        arrays, where = read_arrays(files["arrays"]), str(files["arrays"])
    else:
        arrays = {"inputs": read_arrays(files["inputs"])["inputs"], "targets": read_arrays(files["targets"])["inputs"]}
        where = f"{files['inputs'].parent} (inputs.npy + targets.npy)"
    inputs_key = _pick(arrays, config.features[0] if config.features else None, INPUT_KEYS, "data.features", where)
    targets_key = _pick(arrays, first_target(config), TARGET_KEYS, "data.target", where)
    inputs, targets = arrays[inputs_key], arrays[targets_key]
    if len(inputs) != len(targets):
        raise DataError(
            f"{where}: array {inputs_key!r} has {len(inputs)} samples but {targets_key!r} has {len(targets)}; "
            "expected one target per sample."
        )
    if not (np.issubdtype(inputs.dtype, np.number) or inputs.dtype == np.bool_):
        raise DataError(f"{where}: array {inputs_key!r} has dtype {inputs.dtype}; expected numbers. "
                        "Save it as numbers, e.g. x.astype(np.float32).")
    return inputs, targets, targets_key


def _npz_inputs(inputs: np.ndarray, where: str) -> Any:
    """(N, F) -> DataFrame; (N, H, W) / (N, C, H, W) / (N, H, W, C) -> uint8 or float32 tensor (N, C, H, W)."""
    if inputs.ndim == 2:
        return pd.DataFrame(inputs.astype(np.float64), columns=[f"x{i}" for i in range(inputs.shape[1])])
    if inputs.ndim == 3:
        inputs = inputs[:, None]
    elif inputs.ndim == 4 and inputs.shape[1] not in (1, 3) and inputs.shape[3] in (1, 3):
        inputs = inputs.transpose(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
    elif inputs.ndim != 4 or inputs.shape[1] not in (1, 3):
        raise DataError(
            f"{where}: inputs of shape {inputs.shape}; expected (N, F) features, or images (N, H, W), "
            "(N, C, H, W) or (N, H, W, C) with C = 1 or 3."
        )
    if inputs.dtype != np.uint8:
        inputs = inputs.astype(np.float32)
        if inputs.size and float(inputs.max()) <= 1.0:
            warnings.warn(f"{where}: image values are all <= 1; shendu expects raw pixels 0..255.", stacklevel=4)
    return torch.from_numpy(np.ascontiguousarray(inputs))


@DATASETS.register("npz", input_kind="tabular", target_kinds=("classification", "regression"))
def npz(config: Any, *, target_kind: str) -> RawData:
    """NumPy arrays: a .npz (or .npy pair) of inputs and targets; tables or images by shape.

    Use it for data already in arrays. ``data.path`` is a .npz file with
    arrays ``inputs`` (or ``x`` / ``X``) and ``targets`` (or ``y`` / ``labels``)
    -- ``data.features: [name]`` and ``data.target: name`` pick other keys --,
    a folder holding ``inputs.npy`` and ``targets.npy``, or a folder of split
    files ``train.npz`` / ``val.npz`` / ``test.npz``. Inputs of shape (N, F)
    are a table (columns x0, x1, ...); (N, H, W) and (N, C, H, W) are images
    (pixels 0..255). Classification targets are integer labels (class names
    are their sorted values); regression targets are numbers, (N,) or (N, T).
    Pickled object arrays are refused.

    Args:
        config: the run's ``DataConfig`` (path, features, target).
        target_kind: "classification" or "regression".
    """
    path = data_path(config, "npz", "path/to/data.npz")
    files = _npz_files(path)
    parts = {split: _npz_split(f, config) for split, f in files.items()}
    shapes = {split: inputs.shape[1:] for split, (inputs, _, _) in parts.items()}
    if len(set(shapes.values())) > 1:
        raise DataError(f"The split files of {path} hold inputs of different shapes {shapes}; expected one shape.")
    targets_key = parts["train"][2]
    if target_kind == "classification":
        values = np.concatenate([t.reshape(len(t), -1) for _, t, _ in parts.values()])
        if values.shape[1] != 1 or not (np.issubdtype(values.dtype, np.integer) or np.all(np.mod(values, 1) == 0)):
            raise DataError(
                f"{path}: targets {targets_key!r} of shape {values.shape[1:]} and dtype {values.dtype}; classification "
                "expects one integer label per sample. Use a regression task for real-valued targets."
            )
        class_names = sorted_class_names(values[:, 0].tolist())
        index = {name: i for i, name in enumerate(class_names)}
        target_names = None

        def encode(targets: np.ndarray) -> np.ndarray:
            return np.array([index[label_name(v)] for v in targets.reshape(-1).tolist()], dtype=np.int64)
    else:
        class_names = None
        width = parts["train"][1].reshape(len(parts["train"][1]), -1).shape[1]
        target_names = [targets_key] if width == 1 else [f"{targets_key}_{i}" for i in range(width)]

        def encode(targets: np.ndarray) -> np.ndarray:
            return targets.reshape(len(targets), -1).astype(np.float64)  # (N, T)
    splits = {split: RawSplit(_npz_inputs(inputs, str(path)), encode(targets)) for split, (inputs, targets, _) in parts.items()}
    kind = "tabular" if isinstance(splits["train"].inputs, pd.DataFrame) else "image"
    files_read = [p for f in files.values() for p in f.values()]
    feature_names = list(splits["train"].inputs.columns) if kind == "tabular" else None
    return RawData(kind, splits, class_names=class_names, target_names=target_names, feature_names=feature_names,
                   description={"source": "npz", "path": str(path), "fingerprints": fingerprints(files_read)})


# -- idx --------------------------------------------------------------------------------------
def _idx_pairs(folder: Path) -> dict[str, dict[str, Path]]:
    """split -> {"images": file, "labels": file} from names like ``t10k-images-idx3-ubyte.gz``.

    A gzip file and its un-gzipped copy (``x.gz`` beside ``x``) are one file: the gzip one is read.
    """
    pairs: dict[str, dict[str, Path]] = {}
    for path in visible_files(folder):
        match = IDX_NAME.match(path.name)
        if not match or (path.suffix != ".gz" and path.with_name(path.name + ".gz").is_file()):
            continue
        prefix = match.group("prefix").lower()
        split = "test" if re.search(r"t10k|test", prefix) else "val" if re.search(r"val", prefix) else "train"
        kind = match.group("kind").lower()
        if kind in pairs.setdefault(split, {}):
            raise DataError(
                f"{folder} has two {split} {kind} files ({pairs[split][kind].name}, {path.name}); expected one. "
                "Move one away."
            )
        pairs[split][kind] = path
    for split, pair in pairs.items():
        if len(pair) == 1:
            (kind, path), = pair.items()
            other = "labels" if kind == "images" else "images"
            raise DataError(f"{folder} has {path.name} but no {split} {other} file; expected both (e.g. "
                            f"train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz).")
    return {split: pairs[split] for split in ("train", "val", "test") if split in pairs}


def _idx_split(pair: dict[str, Path]) -> RawSplit:
    images, labels = read_idx(pair["images"]), read_idx(pair["labels"], 1)
    if images.ndim not in (3, 4):
        raise DataError(f"{pair['images']} holds an array of shape {images.shape}; expected images (N, H, W).")
    if len(images) != len(labels):
        raise DataError(
            f"{pair['images'].name} holds {len(images)} images but {pair['labels'].name} holds {len(labels)} labels; "
            "expected the same count. One of the files is from another dataset."
        )
    if labels.size and (labels.min() < 0 or not np.all(np.mod(labels, 1) == 0)):
        row = int(np.flatnonzero((labels < 0) | (np.mod(labels, 1) != 0))[0])
        raise DataError(f"{pair['labels']}: label {labels[row]} of sample {row} is not a class index (0, 1, 2, ...).")
    tensor = torch.from_numpy(images)
    tensor = tensor.unsqueeze(1) if images.ndim == 3 else tensor.permute(0, 3, 1, 2)  # (N, C, H, W)
    if tensor.dtype != torch.uint8:
        tensor = tensor.float()
    return RawSplit(tensor.contiguous(), labels.astype(np.int64))


@DATASETS.register("idx", input_kind="image", target_kinds=("classification",),
                   reference="LeCun, Bottou, Bengio & Haffner (1998), Gradient-based learning applied to document recognition")
def idx(config: Any, *, target_kind: str = "classification") -> RawData:
    """IDX image and label files (the MNIST / Fashion-MNIST format), gzip or raw.

    Use it for MNIST-style data: ``data.path`` is a folder holding
    ``{train,t10k}-images-idx3-ubyte[.gz]`` and ``{train,t10k}-labels-idx1-ubyte[.gz]``
    (other prefixes work too: a name containing t10k or test is the test split).
    Labels are class indices; the class names are "0", "1", ... up to the
    largest label. Truncated or corrupt files raise an error naming the file
    and the byte counts. Reference: LeCun et al. (1998), the MNIST database.

    Args:
        config: the run's ``DataConfig`` (path).
        target_kind: must be "classification".
    """
    folder = data_path(config, "idx", "path/to/mnist")
    if not folder.is_dir():
        raise DataError(f"data.path {folder} is a file; the idx source expects the folder holding the IDX files.")
    pairs = _idx_pairs(folder)
    if "train" not in pairs:
        found = ", ".join(p.name for p in visible_files(folder)[:8]) or "nothing"
        raise DataError(
            f"{folder} holds no IDX training files; found {found}. Expected train-images-idx3-ubyte[.gz] and "
            "train-labels-idx1-ubyte[.gz] (and t10k-* for the test split)."
        )
    splits = {split: _idx_split(pair) for split, pair in pairs.items()}
    largest = max(int(s.targets.max()) for s in splits.values() if len(s))
    files = [p for pair in pairs.values() for p in pair.values()]
    return RawData("image", splits, class_names=[str(i) for i in range(largest + 1)],
                   description={"source": "idx", "path": str(folder.resolve()), "fingerprints": fingerprints(files)})


# -- arff -------------------------------------------------------------------------------------
def _arff_targets(data: Any, config: Any, target_kind: str, path: Path) -> list[str]:
    names = list(data.frame.columns)
    if config.target is not None:
        targets = [config.target] if isinstance(config.target, str) else list(config.target)
        unknown = [t for t in targets if t not in names]
        if unknown:
            raise DataError(f"data.target names {', '.join(unknown)}, not attributes of {path.name}; "
                            f"its attributes are {', '.join(names[:12])}{', ...' if len(names) > 12 else ''}.")
        return targets
    if target_kind == "multilabel":
        if not data.label_count:
            raise DataError(f"{path.name} is not multi-label (its @relation {data.relation!r} has no -C n); "
                            "set data.target to the label attributes, or use a single-label task.")
        return list(data.label_names)
    if data.label_count:
        raise DataError(
            f"{path.name} is multi-label ({data.label_count} labels: {', '.join(data.label_names[:6])}); a "
            f"{target_kind} task needs one target. Use a multilabel task, or set data.target to one attribute."
        )
    nominal = [n for n in names if data.types[n] == "nominal"]
    if target_kind == "classification" and nominal:
        return [nominal[-1]]
    raise DataError(f"{path.name}: set data.target to the attribute to predict; attributes: {', '.join(names[:12])}.")


def _check_targets_present(frame: pd.DataFrame, targets: list[str], path: Path) -> None:
    missing = frame[targets].isna().any(axis=1).to_numpy()
    if missing.any():
        raise DataError(f"{path}: instance {int(np.flatnonzero(missing)[0]) + 1} has no value (?) for a target in "
                        f"{', '.join(targets)}; expected a value in every instance. Fill or remove it.")


def _arff_encode(frame: pd.DataFrame, targets: list[str], target_kind: str, path: Path) -> tuple[np.ndarray, list[str]]:
    if target_kind == "multilabel":
        columns = {name: frame[name].tolist() for name in targets}
        return encode_label_columns(columns, lambda row: f"instance {row + 1} of {path}"), list(targets)
    if target_kind == "classification":
        series = frame[targets[0]]
        names = list(series.cat.categories) if isinstance(series.dtype, pd.CategoricalDtype) else sorted_class_names(series.tolist())
        index = {n: i for i, n in enumerate(names)}
        return np.array([index[label_name(v)] for v in series.tolist()], dtype=np.int64), [str(n) for n in names]
    values = frame[targets].apply(pd.to_numeric, errors="coerce")
    if values.isna().to_numpy().any():
        column = values.isna().any().idxmax()
        example = frame.loc[values[column].isna(), column].iloc[0]
        raise DataError(f"{path}: regression target {column!r} holds {example!r}, not a number; expected a numeric "
                        "attribute. Set data.target to a numeric attribute, or use a classification task.")
    return values.to_numpy(dtype=np.float64), list(targets)


@DATASETS.register("arff", input_kind="tabular", target_kinds=("classification", "multilabel", "regression"),
                   reference="Witten & Frank, Data Mining (Weka's ARFF format); Read et al. (2016), MEKA, JMLR 17")
def arff(config: Any, *, target_kind: str) -> RawData:
    """An ARFF file (Weka / MEKA / OpenML): dense or sparse, single- or multi-label.

    Use it for Weka-format datasets. A MEKA header ``@relation 'name: -C n'``
    makes the first n attributes the labels (``-C -n``: the last n): with a
    multilabel task the targets are int64 (N, L) of 0/1 and the class names
    (and target names) the label names. Otherwise classification predicts ``data.target`` or the
    last nominal attribute, regression the numeric ``data.target``. Nominal
    features are categorical; ``?`` is missing. ``data.path`` is a file or a
    folder of split files (``train.arff`` / ``test.arff``, .gz / .bz2 allowed).

    Args:
        config: the run's ``DataConfig`` (path, target, features).
        target_kind: "classification", "multilabel" or "regression".
    """
    path = data_path(config, "arff", "path/to/data.arff")
    files = {"train": path} if path.is_file() else find_split_files(path, lambda p: format_suffix(p) == ".arff", "ARFF")
    parsed = {split: read_arff(file) for split, file in files.items()}
    first = parsed["train"]
    for split, data in parsed.items():
        if list(data.frame.columns) != list(first.frame.columns):
            raise DataError(f"{files[split]} declares attributes {', '.join(data.frame.columns)}, {files['train']} "
                            f"{', '.join(first.frame.columns)}; expected the same. Make the split files' headers agree.")
    frame = pd.concat([d.frame for d in parsed.values()], ignore_index=True)
    targets = _arff_targets(first, config, target_kind, files["train"])
    for split, data in parsed.items():  # per file, so the instance number is the file's own
        _check_targets_present(data.frame, targets, files[split])
    features = list(config.features) if config.features else [c for c in frame.columns if c not in targets]
    labels, names = _arff_encode(frame, targets, target_kind, files["train"])
    splits, start = {}, 0
    for split, data in parsed.items():
        rows = np.arange(start, start + len(data.frame))
        splits[split] = RawSplit(frame[features].iloc[rows].reset_index(drop=True), labels[rows])
        start += len(data.frame)
    categorical = [c for c in features if first.types[c] in ("nominal", "string", "date")]
    return RawData(
        "tabular", splits, class_names=names if target_kind in ("classification", "multilabel") else None,
        target_names=None if target_kind == "classification" else names, feature_names=features,
        categorical=categorical,
        description={"source": "arff", "path": str(path), "relation": first.relation, "label_count": first.label_count,
                     "fingerprints": fingerprints(files.values())},
    )


# -- svmlight ---------------------------------------------------------------------------------
def _svmlight_files(path: Path) -> dict[str, Path]:
    if path.is_file():
        return {"train": path}
    return find_split_files(path, lambda p: not p.name.endswith(".query"), "SVMlight")


@DATASETS.register("svmlight", input_kind="tabular", target_kinds=("ranking", "regression"),
                   reference="Joachims (1999), Making large-scale SVM learning practical (SVMlight); LightGBM lambdarank example")
def svmlight(config: Any, *, target_kind: str = "ranking") -> RawData:
    """SVMlight / LibSVM text with query groups: learning-to-rank data (LETOR, LightGBM's examples).

    Use it for ranking: each line ``relevance [qid:q] index:value ...`` is a
    document; its query comes from qid: tokens or from a ``<file>.query``
    file (LightGBM: documents per query, one count a line). ``data.path`` is a
    file, or a folder with ``rank.train`` / ``rank.test`` (or ``train.*`` /
    ``test.*``). Features become columns x0..x{F-1} (zeros where unlisted; the
    same width for every split); ``RawSplit.groups`` holds each document's
    query index, so grouped splits keep a query's documents together. Ranking
    targets are the relevance grades, float64 (N,); regression targets are
    (N, 1). Reference: Joachims (1999), SVMlight; LightGBM's lambdarank example.

    Args:
        config: the run's ``DataConfig`` (path).
        target_kind: "ranking" or "regression".
    """
    path = data_path(config, "svmlight", "path/to/rank.train")
    files = _svmlight_files(path)
    parsed = {split: parse_svmlight(file) for split, file in files.items()}
    width, zero_based = feature_width(list(parsed.values()), None)
    columns = [f"x{i}" for i in range(width)]
    splits = {}
    for split, data in parsed.items():
        frame = pd.DataFrame(densify(data, width, zero_based).astype(np.float64), columns=columns)
        relevance = data.relevance if target_kind == "ranking" else data.relevance.reshape(-1, 1)
        splits[split] = RawSplit(frame, relevance, groups=query_groups(data, None))
    queries = {split: int(s.groups.max()) + 1 for split, s in splits.items() if s.groups is not None and len(s)}
    query_files = [q for q in map(default_query_path, files.values()) if q.is_file()]
    return RawData(
        "tabular", splits, target_names=["relevance"], feature_names=columns,
        description={"source": "svmlight", "path": str(path), "num_features": width, "zero_based": zero_based,
                     "queries": queries, "fingerprints": fingerprints([*files.values(), *query_files])},
    )


__all__ = ["npz", "idx", "arff", "svmlight"]
