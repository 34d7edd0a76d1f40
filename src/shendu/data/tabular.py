"""Tabular data: the ``csv`` source and the encoding of raw columns into numbers.

A CSV is read with pandas. The target column(s) are named by ``data.target``;
features default to every other column; categorical features (default: the
non-numeric ones) are one-hot encoded with the categories seen in the training
split. Missing numeric values stay NaN here and are imputed later with the
training mean (0 after standardisation, see ``shendu.data.preprocessing``).
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from shendu.data.registry import DATASETS
from shendu.data.splits import RawData, RawSplit
from shendu.errors import DataError


def read_csv_file(path: str | Path) -> pd.DataFrame:
    """Read a CSV file, turning pandas' failures into errors that name the file and line."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"CSV file {path} does not exist. Check data.path.")
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"CSV file {path} is empty; expected a header row and data rows.") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        raise DataError(
            f"Cannot parse CSV file {path}: {error}. Fix that row (each row needs one field per header column) "
            "and try again."
        ) from None
    if frame.empty:
        raise DataError(f"CSV file {path} has a header but no data rows; expected at least one row.")
    return frame


def category_string(value: Any) -> str:
    """A category's name: ``3.0`` -> ``"3"`` (integers read as floats keep their integer name)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _sorted_values(series: pd.Series) -> list[str]:
    values = series.dropna().unique()
    if pd.api.types.is_numeric_dtype(series):
        values = np.sort(values)  # numeric classes sort by value: 2 before 10
    else:
        values = sorted(values, key=str)
    return list(dict.fromkeys(category_string(v) for v in values))


def _names(columns: Any) -> str:
    return ", ".join(str(c) for c in columns)


@dataclass
class TabularEncoding:
    """Raw feature columns -> one numeric matrix: numbers as they are, categories one-hot.

    Categories are those seen in the training split, sorted; a category never
    seen in training encodes as all zeros (with a warning). Missing numeric
    values are left as NaN for the standardisation step to impute.

    Args:
        features: the raw feature columns, in order.
        categories: for each categorical column, its training categories.
    """

    features: list[str]
    categories: dict[str, list[str]]

    @classmethod
    def fit(cls, frame: pd.DataFrame, features: list[str], categorical: list[str]) -> TabularEncoding:
        return cls(list(features), {c: _sorted_values(frame[c]) for c in features if c in categorical})

    @property
    def output_names(self) -> list[str]:
        """One name per encoded column: ``age``, ``city=Paris``, ``city=Rome``, ..."""
        names: list[str] = []
        for feature in self.features:
            if feature in self.categories:
                names += [f"{feature}={c}" for c in self.categories[feature]]
            else:
                names.append(feature)
        return names

    @property
    def one_hot_columns(self) -> np.ndarray:
        """bool (F',): True for each encoded column that belongs to a one-hot block."""
        widths = [(len(self.categories[f]), True) if f in self.categories else (1, False) for f in self.features]
        return np.array([flag for width, flag in widths for _ in range(width)], dtype=bool)

    def transform(self, frame: pd.DataFrame, where: str = "the data") -> np.ndarray:
        """Encode ``frame`` into float64 (N, F'), NaN where a numeric value is missing."""
        missing = [f for f in self.features if f not in frame.columns]
        if missing:
            raise DataError(
                f"Column(s) {_names(missing)} missing from {where}; expected the columns the run was trained on: "
                f"{_names(self.features)}. Columns present: {_names(frame.columns)}."
            )
        blocks = [
            self._one_hot(frame[f], f, where) if f in self.categories else self._numeric(frame[f], f, where)[:, None]
            for f in self.features
        ]
        return np.concatenate(blocks, axis=1) if blocks else np.zeros((len(frame), 0))

    @staticmethod
    def _numeric(series: pd.Series, name: str, where: str) -> np.ndarray:
        converted = pd.to_numeric(series, errors="coerce")
        bad = series.notna() & converted.isna()
        if bad.any():
            example = series[bad].iloc[0]
            raise DataError(
                f"Column {name!r} in {where} holds {int(bad.sum())} non-numeric value(s) (e.g. {example!r}); "
                f"expected numbers. Add {name!r} to data.categorical to one-hot encode it, or drop it from data.features."
            )
        return converted.to_numpy(dtype=np.float64, na_value=np.nan)

    def _one_hot(self, series: pd.Series, name: str, where: str) -> np.ndarray:
        categories = self.categories[name]
        present = series.notna().to_numpy()
        strings = np.array([category_string(v) if ok else "" for v, ok in zip(series.tolist(), present)], dtype=object)
        index = {c: i for i, c in enumerate(categories)}
        codes = np.array([index.get(s, -1) if ok else -1 for s, ok in zip(strings, present)], dtype=np.int64)
        unseen = present & (codes < 0)
        if unseen.any():
            examples = sorted(set(strings[unseen]))[:3]
            warnings.warn(
                f"Column {name!r} in {where}: {int(unseen.sum())} value(s) not seen in training "
                f"(e.g. {_names(examples)}) are encoded as all zeros. Known: {_names(categories)}.",
                stacklevel=3,
            )
        out = np.zeros((len(series), len(categories)))
        rows = np.flatnonzero(codes >= 0)
        out[rows, codes[rows]] = 1.0
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(self.features), "categories": {k: list(v) for k, v in self.categories.items()}}

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> TabularEncoding:
        return cls(list(record["features"]), {k: list(v) for k, v in record["categories"].items()})


def frame_from_inputs(raw: Any, features: list[str]) -> tuple[pd.DataFrame, str]:
    """Predict-time tabular inputs -> (DataFrame of raw columns, a name for messages).

    Accepts a DataFrame, a CSV path, a list of dicts (one per sample) or an
    (N, F) array of raw feature values in the training column order.
    """
    if isinstance(raw, pd.DataFrame):
        return raw, "the DataFrame"
    if isinstance(raw, (str, Path)):
        return read_csv_file(raw), str(raw)
    if isinstance(raw, (list, tuple)) and raw and all(isinstance(r, dict) for r in raw):
        return pd.DataFrame(list(raw)), "the list of records"
    if isinstance(raw, torch.Tensor):
        raw = raw.detach().cpu().numpy()
    if isinstance(raw, (np.ndarray, list, tuple)):
        array = np.asarray(raw)
        if array.ndim != 2 or array.shape[1] != len(features):
            raise DataError(
                f"Expected an array of shape (N, {len(features)}) holding the features {_names(features)}; "
                f"received shape {array.shape}. Pass one row per sample (reshape(1, -1) for a single one), "
                "or a DataFrame / CSV with named columns."
            )
        return pd.DataFrame(array, columns=features), "the array"
    raise DataError(
        f"Expected tabular inputs as a DataFrame, a CSV path, a list of dicts or an (N, F) array; "
        f"received {type(raw).__name__}."
    )


# -- the csv source -----------------------------------------------------------------
def _target_columns(target: str | list[str] | None, frame: pd.DataFrame, path: Path) -> list[str]:
    if target is None:
        raise DataError(
            f"data.target is not set; the CSV {path.name} has columns {_names(frame.columns)}. "
            f"Set data.target to the column to predict, e.g. data.target={frame.columns[-1]}."
        )
    targets = [target] if isinstance(target, str) else list(target)
    for name in targets:
        if name not in frame.columns:
            raise DataError(
                f"target column {name!r} not found in {path.name}; columns present: {_names(frame.columns)}. "
                "Set data.target to one of them."
            )
    return targets


def _check_columns(requested: list[str], present: list[str], key: str, path: Path) -> None:
    missing = [c for c in requested if c not in present]
    if missing:
        raise DataError(
            f"{key} names column(s) {_names(missing)} not found in {path.name}; "
            f"columns available: {_names(present)}. Fix {key}."
        )


def _check_no_missing_targets(frame: pd.DataFrame, targets: list[str], path: Path) -> None:
    missing = frame[targets].isna().any(axis=1).to_numpy()
    if missing.any():
        lines = [int(i) + 2 for i in np.flatnonzero(missing)[:5]]  # +2: 1-based and the header line
        raise DataError(
            f"{int(missing.sum())} row(s) of {path.name} have no target value in {_names(targets)} "
            f"(lines {', '.join(map(str, lines))}...); expected a value in every row. Remove or fill those rows."
        )


def _encode_targets(frame: pd.DataFrame, targets: list[str], target_kind: str, path: Path) -> tuple[np.ndarray, list[str]]:
    """(targets, class names) for classification; (float (N, T), target names) for regression."""
    if target_kind == "classification":
        if len(targets) != 1:
            raise DataError(
                f"Classification takes one target column; received data.target={targets}. Set data.target to one column."
            )
        series = frame[targets[0]]
        class_names = _sorted_values(series)
        index = {name: i for i, name in enumerate(class_names)}
        labels = np.array([index[category_string(v)] for v in series.tolist()], dtype=np.int64)
        return labels, class_names
    values = frame[targets].apply(pd.to_numeric, errors="coerce")
    bad = values.isna() & frame[targets].notna()
    if bad.to_numpy().any():
        column = bad.any().idxmax()
        example = frame.loc[bad[column], column].iloc[0]
        raise DataError(
            f"Regression target column {column!r} in {path.name} holds non-numeric values (e.g. {example!r}); "
            "expected numbers. Use a classification task for labels, or fix the column."
        )
    return values.to_numpy(dtype=np.float64), list(targets)


@DATASETS.register("csv", input_kind="tabular", target_kinds=("classification", "regression"))
def csv(config: Any, *, target_kind: str) -> RawData:
    """A CSV file of one sample per row: features and target column(s), read with pandas.

    Use it for any table. ``data.target`` names the column(s) to predict;
    ``data.features`` selects feature columns (default: all others);
    ``data.categorical`` lists columns to one-hot encode (default: the
    non-numeric ones). Classification class names are the sorted distinct
    target values; regression targets must be numeric. The file has no splits:
    test and validation are carved from it.

    Args:
        config: the run's ``DataConfig`` (path, target, features, categorical).
        target_kind: "classification" or "regression".
    """
    if not config.path:
        raise DataError("The csv source needs data.path; received none. Set data.path=path/to/data.csv.")
    path = Path(config.path).expanduser().resolve()
    frame = read_csv_file(path)
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    targets = _target_columns(config.target, frame, path)
    features = list(config.features) if config.features else [c for c in columns if c not in targets]
    _check_columns(features, columns, "data.features", path)
    overlap = [c for c in features if c in targets]
    if overlap:
        raise DataError(f"Column(s) {_names(overlap)} are both target and feature; remove them from data.features.")
    if config.categorical is not None:
        _check_columns(list(config.categorical), features, "data.categorical", path)
    categorical = (
        list(config.categorical) if config.categorical is not None
        else [c for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
    )
    _check_no_missing_targets(frame, targets, path)
    labels, names = _encode_targets(frame, targets, target_kind, path)
    missing = {c: int(n) for c, n in frame[features].isna().sum().items() if n}
    description = {
        "source": "csv", "path": str(path), "rows": len(frame), "target_columns": targets,
        "categorical": categorical, "missing_values": missing,
        "fingerprints": {path.name: hashlib.sha256(path.read_bytes()).hexdigest()},
    }
    if missing:
        description["imputation"] = "missing numeric values filled with the training mean (0 after standardisation)"
    split = RawSplit(frame.drop(columns=targets), labels)
    return RawData(
        "tabular", {"train": split},
        class_names=names if target_kind == "classification" else None,
        target_names=names if target_kind == "regression" else None,
        feature_names=features, categorical=categorical, description=description,
    )


__all__ = ["csv", "read_csv_file", "TabularEncoding", "frame_from_inputs", "category_string"]
