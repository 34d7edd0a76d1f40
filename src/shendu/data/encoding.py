"""Encoding raw table columns into numbers: categories, one-hot or index codes.

Categorical features (default: the non-numeric columns) are encoded with the
categories seen in the training split, one-hot or as an integer index for an
embedding (``data.categorical_encoding``). Missing numeric values stay NaN here
and are handled later by ``data.missing`` (see ``shendu.data.preprocessing``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from shendu.data.formats import load_table, read_arff, table_format
from shendu.data.formats_io import format_suffix, label_name
from shendu.errors import DataError


def read_csv_file(path: str | Path) -> pd.DataFrame:
    """Read a table file (CSV, or TSV / Parquet / JSON Lines / ARFF by suffix) with errors naming the file and line."""
    path = Path(path).expanduser()
    if format_suffix(path) == ".arff":  # label attributes it may hold are extra columns, not read as features
        return read_arff(path).frame
    return load_table(path, format=None if table_format(path) else "csv").frame




def sorted_categories(series: pd.Series) -> list[str]:
    """Distinct values as names: numeric columns in numeric order (2 before 10), others sorted as text."""
    values = series.dropna().unique()
    if pd.api.types.is_numeric_dtype(series):
        values = np.sort(values)  # numeric classes sort by value: 2 before 10
    else:
        values = sorted(values, key=str)
    return list(dict.fromkeys(label_name(v) for v in values))


def names_text(columns: Any) -> str:
    return ", ".join(str(c) for c in columns)


MISSING_CATEGORY = "<missing>"  # one-hot: the category of a missing value


@dataclass
class TabularEncoding:
    """Raw feature columns -> one numeric matrix: numbers as they are, categories one-hot or as an index.

    Categories are those seen in the training split, sorted.
    ``categorical_encoding="one-hot"`` (the default) gives each category a 0 / 1
    column; a missing value is a category of its own, ``<missing>``, when the
    training split has missing values in that column. Use ``"index"`` for many
    categories (an embedding layer learns a vector per code): each categorical
    column becomes one integer code column, 0 = unseen or missing, 1..K = the
    training categories, kept as float in the feature matrix;
    ``categorical_cardinalities`` gives each code column's K + 1 (the embedding
    table size). At predict time a category never seen in training is encoded as
    all zeros (one-hot) or 0 (index), with a warning. Missing numeric values are
    left as NaN for the imputation step (``data.missing``).

    Args:
        features: the raw feature columns, in order.
        categories: for each categorical column, its training categories.
        categorical_encoding: "one-hot" or "index".
    """

    features: list[str]
    categories: dict[str, list[str]]
    categorical_encoding: str = "one-hot"

    @classmethod
    def fit(cls, frame: pd.DataFrame, features: list[str], categorical: list[str],
            categorical_encoding: str = "one-hot") -> TabularEncoding:
        categories = {}
        for column in (c for c in features if c in categorical):
            categories[column] = sorted_categories(frame[column])
            if categorical_encoding == "one-hot" and frame[column].isna().any():
                categories[column].append(MISSING_CATEGORY)
        return cls(list(features), categories, categorical_encoding)

    @property
    def output_names(self) -> list[str]:
        """One name per encoded column: ``age``, ``city=Paris``, ``city=Rome`` (one-hot), or ``city`` (index)."""
        names: list[str] = []
        for feature in self.features:
            if feature in self.categories and self.categorical_encoding == "one-hot":
                names += [f"{feature}={c}" for c in self.categories[feature]]
            else:
                names.append(feature)
        return names

    def _widths(self) -> list[tuple[str, int]]:
        one_hot = self.categorical_encoding == "one-hot"
        return [(f, len(self.categories[f]) if f in self.categories and one_hot else 1) for f in self.features]

    @property
    def categorical_columns(self) -> np.ndarray:
        """bool (F',): True for each encoded column that encodes a category (one-hot block or index code)."""
        return np.array([f in self.categories for f, width in self._widths() for _ in range(width)], dtype=bool)

    @property
    def one_hot_columns(self) -> np.ndarray:
        """bool (F',): True for each encoded column that belongs to a one-hot block."""
        return self.categorical_columns & (self.categorical_encoding == "one-hot")

    @property
    def categorical_cardinalities(self) -> dict[int, int]:
        """Index encoding: {position of each code column in the encoded features: K + 1}; empty for one-hot."""
        if self.categorical_encoding != "index":
            return {}
        return {position: len(self.categories[f]) + 1 for position, f in enumerate(self.features) if f in self.categories}

    @property
    def numeric_features(self) -> list[str]:
        return [f for f in self.features if f not in self.categories]

    def transform(self, frame: pd.DataFrame, where: str = "the data") -> np.ndarray:
        """Encode ``frame`` into float64 (N, F'), NaN where a numeric value is missing."""
        missing = [f for f in self.features if f not in frame.columns]
        if missing:
            raise DataError(
                f"Column(s) {names_text(missing)} missing from {where}; expected the columns the run was trained on: "
                f"{names_text(self.features)}. Columns present: {names_text(frame.columns)}."
            )
        blocks = [
            self._categorical(frame[f], f, where) if f in self.categories else numeric_column(frame[f], f, where)[:, None]
            for f in self.features
        ]
        return np.concatenate(blocks, axis=1) if blocks else np.zeros((len(frame), 0))

    def _codes(self, series: pd.Series, name: str, where: str) -> np.ndarray:
        """1..K for training categories (and ``<missing>``), 0 for unseen (warned) and, if not a category, missing."""
        categories = self.categories[name]
        present = series.notna().to_numpy()
        strings = [label_name(v) if ok else MISSING_CATEGORY for v, ok in zip(series.tolist(), present)]
        index = {c: i + 1 for i, c in enumerate(categories)}
        codes = np.array([index.get(s, 0) for s in strings], dtype=np.int64)
        unseen = present & (codes == 0)
        if unseen.any():
            examples = sorted({s for s, bad in zip(strings, unseen) if bad})[:3]
            encoded = "all zeros" if self.categorical_encoding == "one-hot" else "index 0"
            warnings.warn(
                f"Column {name!r} in {where}: {int(unseen.sum())} value(s) not seen in training "
                f"(e.g. {names_text(examples)}) are encoded as {encoded}. Known: {names_text(categories[:10])}"
                f"{f', ... ({len(categories)} in all)' if len(categories) > 10 else ''}.",
                stacklevel=4,
            )
        return codes

    def _categorical(self, series: pd.Series, name: str, where: str) -> np.ndarray:
        codes = self._codes(series, name, where)
        if self.categorical_encoding == "index":
            return codes[:, None].astype(np.float64)
        out = np.zeros((len(series), len(self.categories[name]) + 1))
        out[np.arange(len(series)), codes] = 1.0
        return out[:, 1:]  # column 0 collects the unseen: dropped, leaving them all zeros

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(self.features), "categories": {k: list(v) for k, v in self.categories.items()},
                "categorical_encoding": self.categorical_encoding}

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> TabularEncoding:
        return cls(list(record["features"]), {k: list(v) for k, v in record["categories"].items()},
                   record.get("categorical_encoding", "one-hot"))


def numeric_column(series: pd.Series, name: str, where: str) -> np.ndarray:
    """A raw numeric column as float64, NaN where missing; a non-numeric value is an error naming it."""
    converted = pd.to_numeric(series, errors="coerce")
    bad = series.notna() & converted.isna()
    if bad.any():
        example = series[bad].iloc[0]
        raise DataError(
            f"Column {name!r} in {where} holds {int(bad.sum())} non-numeric value(s) (e.g. {example!r} at row "
            f"{int(np.flatnonzero(bad.to_numpy())[0])}); expected numbers. Add {name!r} to data.categorical to "
            "encode it as categories, or drop it from data.features."
        )
    return converted.to_numpy(dtype=np.float64, na_value=np.nan)


def frame_from_inputs(raw: Any, features: list[str]) -> tuple[pd.DataFrame, str]:
    """Predict-time tabular inputs -> (DataFrame of raw columns, a name for messages).

    Accepts a DataFrame, a CSV (or TSV, Parquet, JSON Lines, ARFF) path, a list of dicts (one per sample) or an
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
                f"Expected an array of shape (N, {len(features)}) holding the features {names_text(features)}; "
                f"received shape {array.shape}. Pass one row per sample (reshape(1, -1) for a single one), "
                "or a DataFrame / CSV with named columns."
            )
        return pd.DataFrame(array, columns=features), "the array"
    raise DataError(
        f"Expected tabular inputs as a DataFrame, a CSV path, a list of dicts or an (N, F) array; "
        f"received {type(raw).__name__}."
    )


__all__ = ["TabularEncoding", "frame_from_inputs", "numeric_column", "read_csv_file",
           "names_text", "sorted_categories", "MISSING_CATEGORY"]
