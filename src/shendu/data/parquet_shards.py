"""Parquet row groups as shards: numeric feature columns and a target column, read by pyarrow.

Use it to stream a table larger than memory (``data.stream=true`` with
``data.path`` a ``.parquet`` file or a folder of them): each row group is one
shard, decoded only when the epoch reaches it. Write files with row groups of
a few tens of thousands of rows (``pyarrow.parquet.write_table(...,
row_group_size=65536)``) so that one row group is a modest window.

Features must be numeric (missing values become NaN and are imputed by the
preprocessing, as for CSV); categorical columns need the in-memory CSV/Parquet
path, or encoding as numbers before streaming.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from shendu.data.formats_io import label_name
from shendu.data.shards import ShardWindow
from shendu.errors import DataError


def parquet_files(path: Path) -> list[Path]:
    """A ``.parquet`` file, or the ``.parquet`` files of a folder in name order."""
    if path.is_file():
        return [path]
    files = sorted(p for p in path.glob("*.parquet") if p.is_file())
    if not files:
        raise DataError(f"{path} holds no .parquet files; expected a Parquet file or a folder of them.")
    return files


def _open(path: Path, metadata: pq.FileMetaData | None = None) -> pq.ParquetFile:
    """The file for reading; given its ``metadata`` (footer) already read, it is not parsed again."""
    try:
        return pq.ParquetFile(path, metadata=metadata)
    except (OSError, pa.ArrowException) as error:
        raise DataError(f"Cannot read Parquet file {path}: {error}. The file is truncated or corrupt.") from None


def _numeric(field: pa.Field) -> bool:
    return pa.types.is_integer(field.type) or pa.types.is_floating(field.type) or pa.types.is_boolean(field.type)


class ParquetShards:
    """The row groups of Parquet files, one shard each.

    Args:
        files: the Parquet files of one split (same columns).
        target: the target column (classification) or columns (regression).
        features: feature columns; default every column but the targets.
        target_kind: "classification" or "regression".
        records: internal: (file number, row group, rows) of the shards to use.
        metadata: internal, given with ``records``: each file's footer, read once.
        class_values: classification: the sorted distinct target values
            (default: found by one pass over the target column only).
        class_names: classification: a run's class names, used as the class
            values (a label outside them is an error naming its row).
    """

    kind = "parquet"
    input_kind = "tabular"
    input_dtype = np.dtype(np.float64)

    def __init__(self, files: list[Path], *, target: str | list[str] | None, features: list[str] | None,
                 target_kind: str, records: list[tuple[int, int, int]] | None = None,
                 class_values: pa.Array | None = None, class_names: list[str] | None = None,
                 metadata: list[pq.FileMetaData] | None = None):
        self.files, self.target_kind = list(files), target_kind
        schema = _open(self.files[0]).schema_arrow
        self.targets, self.features = self._columns(schema, target, features)
        if records is None:
            records, metadata = [], []
            for number, path in enumerate(self.files):
                parquet = _open(path)
                self._check_schema(path, parquet.schema_arrow)
                metadata.append(parquet.metadata)
                records += [(number, group, parquet.metadata.row_group(group).num_rows)
                            for group in range(parquet.metadata.num_row_groups)]
        # Kept so that reading a row group does not parse its file's footer again (~40% of reading 8192 rows).
        self.metadata = metadata
        self.records = [r for r in records if r[2] > 0]
        if not self.records:
            raise DataError(f"{self.files[0].parent} holds Parquet files without rows; expected at least one row.")
        self.rows = np.array([r[2] for r in self.records], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.rows)])
        self.input_shape = (len(self.features),)
        self.target_shape: tuple[int, ...] = () if target_kind == "classification" else (len(self.targets),)
        self.target_dtype = np.dtype(np.int64 if target_kind == "classification" else np.float64)
        self.feature_names = list(self.features)
        self.row_bytes = 8 * len(self.features)
        self.class_values = None
        self.class_names: list[str] | None = None
        self.target_names = list(self.targets) if target_kind == "regression" else None
        if target_kind == "classification":
            if class_values is None and class_names is not None:  # a run's classes, as values of the column's type
                class_values = pa.array(class_names).cast(schema.field(self.targets[0]).type)
            self.class_values = class_values if class_values is not None else self._scan_classes()
            self.class_names = [label_name(v) for v in self.class_values.to_pylist()]

    # -- columns ---------------------------------------------------------------
    def _columns(self, schema: pa.Schema, target: Any, features: list[str] | None) -> tuple[list[str], list[str]]:
        names = list(schema.names)
        if target is None:
            raise DataError(f"data.target is not set; {self.files[0].name} has columns {', '.join(names)}. "
                            f"Set data.target to the column to predict, e.g. data.target={names[-1]}.")
        targets = [target] if isinstance(target, str) else list(target)
        if self.target_kind == "classification" and len(targets) != 1:
            raise DataError(f"Classification takes one target column; received data.target={targets}. Set one column.")
        chosen = list(features) if features else [n for n in names if n not in targets]
        missing = [c for c in targets + chosen if c not in names]
        if missing:
            raise DataError(f"Column(s) {', '.join(missing)} not found in {self.files[0]}; columns present: "
                            f"{', '.join(names)}. Fix data.target / data.features.")
        text = [c for c in chosen if not _numeric(schema.field(c))]
        if text:
            raise DataError(
                f"Streaming reads numeric features only; {self.files[0].name} column(s) {', '.join(text)} are "
                f"{', '.join(str(schema.field(c).type) for c in text)}. Leave them out with data.features, encode them "
                "as numbers before streaming, or load the table in memory (data.stream=false)."
            )
        if self.target_kind == "regression":
            bad = [c for c in targets if not _numeric(schema.field(c))]
            if bad:
                raise DataError(f"Regression target column(s) {', '.join(bad)} in {self.files[0].name} are not numeric; "
                                "use a classification task for labels.")
        return targets, chosen

    def _check_schema(self, path: Path, schema: pa.Schema) -> None:
        missing = [c for c in self.targets + self.features if c not in schema.names]
        if missing:
            raise DataError(f"{path} lacks column(s) {', '.join(missing)} that {self.files[0].name} has; "
                            "give every Parquet file of a split the same columns.")

    def _scan_classes(self) -> pa.Array:
        """Distinct target values, one row group's target column at a time."""
        distinct: list[pa.Array] = []
        for shard in range(len(self.records)):
            column = self._read(shard, self.targets)[self.targets[0]]
            self._check_no_nulls(column, shard)
            distinct.append(pc.unique(column))  # unique of a chunked column is one array
        values = pc.unique(pa.concat_arrays([d.cast(distinct[0].type) for d in distinct]))
        return values.take(pc.sort_indices(values))

    # -- reading ---------------------------------------------------------------
    @property
    def num_rows(self) -> int:
        return int(self.offsets[-1])

    def subset(self, positions: list[int]) -> ParquetShards:
        return ParquetShards(self.files, target=self.targets if self.target_kind == "regression" else self.targets[0],
                             features=self.features, target_kind=self.target_kind,
                             records=[self.records[p] for p in positions], class_values=self.class_values,
                             metadata=self.metadata)

    def shard_name(self, shard: int) -> str:
        number, group, _ = self.records[shard]
        return f"{self.files[number]} row group {group}"

    def where(self, shard: int) -> str:
        begin, end = int(self.offsets[shard]), int(self.offsets[shard + 1])
        return f"{self.shard_name(shard)} (rows {begin}-{end - 1} of the split)"

    def _read(self, shard: int, columns: list[str]) -> pa.Table:
        number, group, _ = self.records[shard]
        try:
            return _open(self.files[number], self.metadata[number]).read_row_group(group, columns=columns)
        except (OSError, pa.ArrowException) as error:
            raise DataError(f"Cannot read {self.where(shard)}: {error}. The file is truncated or corrupt.") from None

    def _check_no_nulls(self, column: Any, shard: int) -> None:
        if column.null_count:
            row = int(np.flatnonzero(pc.is_null(column).to_numpy(zero_copy_only=False))[0])
            raise DataError(f"Target {self.targets[0]!r} is missing at row {int(self.offsets[shard]) + row} "
                            f"({self.where(shard)}); expected a value in every row. Remove or fill those rows.")

    def _targets(self, table: pa.Table, shard: int) -> np.ndarray:
        if self.target_kind == "classification":
            column = table[self.targets[0]]
            self._check_no_nulls(column, shard)
            codes = pc.index_in(column, value_set=self.class_values.cast(column.type))
            if codes.null_count:  # a value not among the training classes
                row = int(np.flatnonzero(pc.is_null(codes).to_numpy(zero_copy_only=False))[0])
                raise DataError(
                    f"Label {column[row].as_py()!r} at row {int(self.offsets[shard]) + row} ({self.where(shard)}) is "
                    f"outside the class list {', '.join(self.class_names)}. Fix the label or train with that class."
                )
            return codes.to_numpy(zero_copy_only=False).astype(np.int64)
        values = np.column_stack([pc.cast(table[c], pa.float64()).to_numpy(zero_copy_only=False) for c in self.targets])
        if np.isnan(values).any():
            row = int(np.flatnonzero(np.isnan(values).any(axis=1))[0])
            raise DataError(f"A regression target is missing at row {int(self.offsets[shard]) + row} "
                            f"({self.where(shard)}); expected a value in every row. Remove or fill those rows.")
        return values

    def open(self, shard: int) -> ShardWindow:
        """Decode one row group: float64 features (N, F) with NaN for missing values, and targets."""
        table = self._read(shard, self.features + self.targets)
        columns = [pc.cast(table[c], pa.float64()).to_numpy(zero_copy_only=False) for c in self.features]
        inputs = np.column_stack(columns) if columns else np.zeros((table.num_rows, 0))
        return ShardWindow(inputs, self._targets(table, shard))

    def targets_of(self, shard: int) -> np.ndarray:
        return self._targets(self._read(shard, self.targets), shard)

    def fingerprint(self) -> str:
        """Identifies the data: a hash of each file's name, size and row count, and the row groups used."""
        digest = hashlib.sha256()
        for path, metadata in zip(self.files, self.metadata):
            digest.update(f"{path.name}:{path.stat().st_size}:{metadata.num_rows}".encode())
        digest.update(repr([record[:2] for record in self.records]).encode())
        return digest.hexdigest()


__all__ = ["ParquetShards", "parquet_files"]
