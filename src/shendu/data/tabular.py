"""Tabular data: the ``csv`` source and the encoding of raw columns into numbers.

A CSV is read with pandas. The target column(s) are named by ``data.target``;
features default to every other column; categorical features (default: the
non-numeric ones) are encoded with the categories seen in the training split,
one-hot or as an index (``data.categorical_encoding``). Missing numeric values
stay NaN here and are handled later by ``data.missing`` (training mean or
median, drop the row, or an error; see ``shendu.data.preprocessing``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from shendu.data.formats import Table, infer_types, load_table, table_format
from shendu.data.formats_io import data_path, find_split_files, fingerprints
from shendu.data.registry import DATASETS
from shendu.data.splits import RawData, RawSplit
from shendu.errors import DataError


def read_csv_file(path: str | Path) -> pd.DataFrame:
    """Read a table file (CSV, or TSV / Parquet / JSON Lines by suffix) with errors naming the file and line."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"Table file {path} does not exist. Check the path.")
    return load_table(path, format=None if table_format(path) else "csv").frame


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
            categories[column] = _sorted_values(frame[column])
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
                f"Column(s) {_names(missing)} missing from {where}; expected the columns the run was trained on: "
                f"{_names(self.features)}. Columns present: {_names(frame.columns)}."
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
        strings = [category_string(v) if ok else MISSING_CATEGORY for v, ok in zip(series.tolist(), present)]
        index = {c: i + 1 for i, c in enumerate(categories)}
        codes = np.array([index.get(s, 0) for s in strings], dtype=np.int64)
        unseen = present & (codes == 0)
        if unseen.any():
            examples = sorted({s for s, bad in zip(strings, unseen) if bad})[:3]
            encoded = "all zeros" if self.categorical_encoding == "one-hot" else "index 0"
            warnings.warn(
                f"Column {name!r} in {where}: {int(unseen.sum())} value(s) not seen in training "
                f"(e.g. {_names(examples)}) are encoded as {encoded}. Known: {_names(categories[:10])}"
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


# -- the table sources: csv, tsv, parquet, jsonl ---------------------------------------------
def _target_columns(target: str | list[str] | None, frame: pd.DataFrame, path: Path) -> list[str]:
    if target is None:
        raise DataError(
            f"data.target is not set; the table {path.name} has columns {_names(frame.columns)}. "
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


def _check_no_missing_targets(table: Table, targets: list[str]) -> None:
    missing = table.frame[targets].isna().any(axis=1).to_numpy()
    if missing.any():
        rows = np.flatnonzero(missing)
        places = "; ".join(table.where(int(r)) for r in rows[:3])
        raise DataError(
            f"{len(rows)} row(s) have no target value in {_names(targets)}: {places}"
            f"{' ...' if len(rows) > 3 else ''}. Expected a value in every row. Remove or fill those rows."
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


def _read_tables(path: Path, source: str, format: str | None) -> dict[str, Table]:
    """``{"train": table}`` for a file; the split files train.* / val.* / test.* of a folder."""
    if path.is_file():
        return {"train": load_table(path, format=format)}
    files = find_split_files(
        path, lambda p: table_format(p) == format if format else table_format(p) is not None, f"{source} table"
    )
    return {split: load_table(files[split], format=format) for split in ("train", "val", "test") if split in files}


def _check_same_columns(tables: dict[str, Table]) -> list[str]:
    """The train file's columns; every split file must have the same ones, of the same kind."""
    first = tables["train"]
    columns = list(first.frame.columns)
    for table in tables.values():
        if set(table.frame.columns) != set(columns):
            extra = [c for c in table.frame.columns if c not in columns]
            lacking = [c for c in columns if c not in table.frame.columns]
            raise DataError(
                f"{table.path} has different columns from {first.path} (extra: {_names(extra) or 'none'}; "
                f"missing: {_names(lacking) or 'none'}); expected every split file to have the same columns."
            )
        for column in columns:
            series, reference = table.frame[column], first.frame[column]
            if pd.api.types.is_numeric_dtype(series) == pd.api.types.is_numeric_dtype(reference):
                continue
            text, numbers = (table, first) if pd.api.types.is_numeric_dtype(reference) else (first, table)
            values = text.frame[column]
            bad = values.notna() & pd.to_numeric(values.astype(object), errors="coerce").isna()
            if bad.any() and numbers.frame[column].notna().any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise DataError(
                    f"Column {column!r} holds numbers in {numbers.path} but {values.iloc[row]!r} on {text.where(row)}; "
                    "expected the same kind of value in every split file. Fix the value."
                )
    return columns


def read_table_source(config: Any, target_kind: str, source: str, format: str | None) -> RawData:
    """The shared body of the csv / tsv / parquet / jsonl sources (see :func:`csv`)."""
    path = data_path(config, source, f"path/to/data.{format or 'csv'}")
    tables = _read_tables(path, source, format)
    columns = _check_same_columns(tables)
    frame = infer_types(pd.concat([t.frame[columns] for t in tables.values()], ignore_index=True))
    first = tables["train"].path
    targets = _target_columns(config.target, frame, first)
    features = list(config.features) if config.features else [c for c in columns if c not in targets]
    _check_columns(features, columns, "data.features", first)
    overlap = [c for c in features if c in targets]
    if overlap:
        raise DataError(f"Column(s) {_names(overlap)} are both target and feature; remove them from data.features.")
    if config.categorical is not None:
        _check_columns(list(config.categorical), features, "data.categorical", first)
    categorical = (
        list(config.categorical) if config.categorical is not None
        else [c for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
    )
    for table in tables.values():
        _check_no_missing_targets(table, targets)
    labels, names = _encode_targets(frame, targets, target_kind, first)
    missing = {c: int(n) for c, n in frame[features].isna().sum().items() if n}
    description = {
        "source": source, "path": str(path), "rows": len(frame), "target_columns": targets,
        "files": {split: str(t.path) for split, t in tables.items()},
        "categorical": categorical, "missing_values": missing,
        "fingerprints": fingerprints([t.path for t in tables.values()]),
    }
    if missing:
        description["imputation"] = f"missing numeric values handled by data.missing={config.missing}"
    splits, start = {}, 0
    inputs = frame.drop(columns=targets)
    for split, table in tables.items():
        rows = np.arange(start, start + len(table.frame))
        splits[split] = RawSplit(inputs.iloc[rows].reset_index(drop=True), labels[rows])
        start += len(table.frame)
    return RawData(
        "tabular", splits,
        class_names=names if target_kind == "classification" else None,
        target_names=names if target_kind == "regression" else None,
        feature_names=features, categorical=categorical, description=description,
    )


@DATASETS.register("csv", input_kind="tabular", target_kinds=("classification", "regression"))
def csv(config: Any, *, target_kind: str) -> RawData:
    """A table of one sample per row (CSV, or TSV / Parquet / JSON Lines by suffix): features and target(s).

    Use it for any table. ``data.path`` is a file, or a folder of split files
    ``train.*``, ``val.*`` (or ``valid.*`` / ``dev.*``) and ``test.*``, which
    are kept as the splits (without them, test and validation are carved).
    ``data.target`` names the column(s) to predict; ``data.features`` selects
    feature columns (default: all others); ``data.categorical`` lists the
    columns to encode as categories (default: the non-numeric ones).
    Classification class names are the sorted distinct target values;
    regression targets must be numeric. Missing feature values stay NaN for
    ``data.missing`` to handle; a row without a target is an error naming its
    line. Files may be .gz / .bz2 compressed.

    Args:
        config: the run's ``DataConfig`` (path, target, features, categorical).
        target_kind: "classification" or "regression".
    """
    return read_table_source(config, target_kind, "csv", None)


@DATASETS.register("tsv", input_kind="tabular", target_kinds=("classification", "regression"), format="tsv")
def tsv(config: Any, *, target_kind: str) -> RawData:
    """A tab-separated table (.tsv / .tab, any suffix accepted): the csv source with tabs.

    Use it for tables written with tabs. Fields are not quoted in TSV, so
    quote characters are kept as text. Everything else is as for the csv
    source (targets, features, categorical columns, split files).

    Args:
        config: the run's ``DataConfig`` (path, target, features, categorical).
        target_kind: "classification" or "regression".
    """
    return read_table_source(config, target_kind, "tsv", "tsv")


@DATASETS.register("parquet", input_kind="tabular", target_kinds=("classification", "regression"), format="parquet")
def parquet(config: Any, *, target_kind: str) -> RawData:
    """A Parquet table, read with pyarrow: the csv source for columnar files.

    Use it for large or typed tables: column types come from the file, so
    nothing is guessed. A corrupt file raises an error naming it and quoting
    pyarrow. Everything else is as for the csv source.

    Args:
        config: the run's ``DataConfig`` (path, target, features, categorical).
        target_kind: "classification" or "regression".
    """
    return read_table_source(config, target_kind, "parquet", "parquet")


@DATASETS.register("jsonl", input_kind="tabular", target_kinds=("classification", "regression"), format="jsonl")
def jsonl(config: Any, *, target_kind: str) -> RawData:
    """A JSON Lines table: one JSON object per line, keys as columns.

    Use it for records exported from logs or web services. A key absent from
    a line is a missing value; a line that is not a JSON object is an error
    naming the line. Everything else is as for the csv source.

    Args:
        config: the run's ``DataConfig`` (path, target, features, categorical).
        target_kind: "classification" or "regression".
    """
    return read_table_source(config, target_kind, "jsonl", "jsonl")


__all__ = ["csv", "tsv", "parquet", "jsonl", "read_table_source", "read_csv_file", "TabularEncoding", "frame_from_inputs", "category_string", "numeric_column",
           "MISSING_CATEGORY"]
