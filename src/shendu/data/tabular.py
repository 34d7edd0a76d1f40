"""Tabular sources: CSV, TSV, Parquet and JSON Lines tables.

A table is read with pandas / pyarrow. The target column(s) are named by
``data.target``; features default to every other column; categorical features
(default: the non-numeric ones) are encoded later (``shendu.data.encoding``).
Missing numeric values stay NaN here and are handled by ``data.missing``
(training mean or median, drop the row, or an error; see
``shendu.data.preprocessing``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shendu.data.encoding import names_text, read_csv_file, sorted_categories
from shendu.data.formats import Table, infer_types, load_table, table_format
from shendu.data.formats_io import data_path, find_split_files, fingerprints, label_name
from shendu.data.label_sets import check_label_count, encode_label_columns
from shendu.data.registry import DATASETS
from shendu.data.splits import RawData, RawSplit
from shendu.errors import DataError


def _target_columns(target: str | list[str] | None, frame: pd.DataFrame, path: Path) -> list[str]:
    if target is None:
        raise DataError(
            f"data.target is not set; the table {path.name} has columns {names_text(frame.columns)}. "
            f"Set data.target to the column to predict, e.g. data.target={frame.columns[-1]}."
        )
    targets = [target] if isinstance(target, str) else list(target)
    for name in targets:
        if name not in frame.columns:
            raise DataError(
                f"target column {name!r} not found in {path.name}; columns present: {names_text(frame.columns)}. "
                "Set data.target to one of them."
            )
    return targets


def _check_columns(requested: list[str], present: list[str], key: str, path: Path) -> None:
    missing = [c for c in requested if c not in present]
    if missing:
        raise DataError(
            f"{key} names column(s) {names_text(missing)} not found in {path.name}; "
            f"columns available: {names_text(present)}. Fix {key}."
        )


def _check_no_missing_targets(table: Table, targets: list[str]) -> None:
    missing = table.frame[targets].isna().any(axis=1).to_numpy()
    if missing.any():
        rows = np.flatnonzero(missing)
        places = "; ".join(table.where(int(r)) for r in rows[:3])
        raise DataError(
            f"{len(rows)} row(s) have no target value in {names_text(targets)}: {places}"
            f"{' ...' if len(rows) > 3 else ''}. Expected a value in every row. Remove or fill those rows."
        )


def _row_locator(tables: dict[str, Table]) -> Any:
    """``where(row)`` for a row of the split tables concatenated in order: ``line 7 of train.csv``."""
    starts = np.cumsum([0] + [len(t.frame) for t in tables.values()])
    ordered = list(tables.values())

    def where(row: int) -> str:
        position = int(np.searchsorted(starts, row, side="right")) - 1
        return ordered[position].where(row - int(starts[position]))

    return where


def _encode_targets(frame: pd.DataFrame, targets: list[str], target_kind: str, path: Path,
                    where: Any = None) -> tuple[np.ndarray, list[str]]:
    """(targets, class names) for classification; (0/1 int64 (N, L), label names) for multilabel;
    (float (N, T), target names) for regression."""
    if target_kind == "multilabel":
        check_label_count(targets, "data.target")
        locate = where or (lambda row: f"row {row + 1} of {path.name}")
        return encode_label_columns({c: frame[c].tolist() for c in targets}, locate), list(targets)
    if target_kind == "classification":
        if len(targets) != 1:
            raise DataError(
                f"Classification takes one target column; received data.target={targets}. Set data.target to one column."
            )
        series = frame[targets[0]]
        class_names = sorted_categories(series)
        index = {name: i for i, name in enumerate(class_names)}
        labels = np.array([index[label_name(v)] for v in series.tolist()], dtype=np.int64)
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
    return {split: load_table(file, format=format) for split, file in files.items()}  # train, val, test order


def _check_same_columns(tables: dict[str, Table]) -> list[str]:
    """The train file's columns; every split file must have the same ones, of the same kind."""
    first = tables["train"]
    columns = list(first.frame.columns)
    for table in tables.values():
        if set(table.frame.columns) != set(columns):
            extra = [c for c in table.frame.columns if c not in columns]
            lacking = [c for c in columns if c not in table.frame.columns]
            raise DataError(
                f"{table.path} has different columns from {first.path} (extra: {names_text(extra) or 'none'}; "
                f"missing: {names_text(lacking) or 'none'}); expected every split file to have the same columns."
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
        raise DataError(f"Column(s) {names_text(overlap)} are both target and feature; remove them from data.features.")
    if config.categorical is not None:
        _check_columns(list(config.categorical), features, "data.categorical", first)
    categorical = (
        list(config.categorical) if config.categorical is not None
        else [c for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
    )
    for table in tables.values():
        _check_no_missing_targets(table, targets)
    labels, names = _encode_targets(frame, targets, target_kind, first, _row_locator(tables))
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
        class_names=names if target_kind in ("classification", "multilabel") else None,
        target_names=names if target_kind in ("regression", "multilabel") else None,
        feature_names=features, categorical=categorical, description=description,
    )


@DATASETS.register("csv", input_kind="tabular", target_kinds=("classification", "regression", "multilabel"))
def csv(config: Any, *, target_kind: str) -> RawData:
    """A table of one sample per row (CSV, or TSV / Parquet / JSON Lines by suffix): features and target(s).

    Use it for any table. ``data.path`` is a file, or a folder of split files
    ``train.*``, ``val.*`` (or ``valid.*`` / ``dev.*``) and ``test.*``, which
    are kept as the splits (without them, test and validation are carved).
    ``data.target`` names the column(s) to predict; ``data.features`` selects
    feature columns (default: all others); ``data.categorical`` lists the
    columns to encode as categories (default: the non-numeric ones).
    Classification class names are the sorted distinct target values;
    regression targets must be numeric; multilabel targets are several 0/1
    columns, one per label (``data.target: [beach, urban, ...]``, the
    column names being the label names). Missing feature values stay NaN for
    ``data.missing`` to handle; a row without a target is an error naming its
    line. Files may be .gz / .bz2 compressed.

    Args:
        config: the run's ``DataConfig`` (path, target, features, categorical).
        target_kind: "classification", "regression" or "multilabel".
    """
    return read_table_source(config, target_kind, "csv", None)


@DATASETS.register("tsv", input_kind="tabular", target_kinds=("classification", "regression", "multilabel"),
                   format="tsv")
def tsv(config: Any, *, target_kind: str) -> RawData:
    """A tab-separated table (.tsv / .tab, any suffix accepted): the csv source with tabs.

    Use it for tables written with tabs. Fields are not quoted in TSV, so
    quote characters are kept as text. Everything else is as for the csv
    source (targets, features, categorical columns, split files).

    Args:
        config: the run's ``DataConfig`` (path, target, features, categorical).
        target_kind: "classification", "regression" or "multilabel".
    """
    return read_table_source(config, target_kind, "tsv", "tsv")


@DATASETS.register("parquet", input_kind="tabular", target_kinds=("classification", "regression", "multilabel"),
                   format="parquet")
def parquet(config: Any, *, target_kind: str) -> RawData:
    """A Parquet table, read with pyarrow: the csv source for columnar files.

    Use it for large or typed tables: column types come from the file, so
    nothing is guessed. A corrupt file raises an error naming it and quoting
    pyarrow. Everything else is as for the csv source.

    Args:
        config: the run's ``DataConfig`` (path, target, features, categorical).
        target_kind: "classification", "regression" or "multilabel".
    """
    return read_table_source(config, target_kind, "parquet", "parquet")


@DATASETS.register("jsonl", input_kind="tabular", target_kinds=("classification", "regression", "multilabel"),
                   format="jsonl")
def jsonl(config: Any, *, target_kind: str) -> RawData:
    """A JSON Lines table: one JSON object per line, keys as columns.

    Use it for records exported from logs or web services. A key absent from
    a line is a missing value; a line that is not a JSON object is an error
    naming the line. Everything else is as for the csv source.

    Args:
        config: the run's ``DataConfig`` (path, target, features, categorical).
        target_kind: "classification", "regression" or "multilabel".
    """
    return read_table_source(config, target_kind, "jsonl", "jsonl")


__all__ = ["csv", "tsv", "parquet", "jsonl", "read_table_source", "read_csv_file"]
