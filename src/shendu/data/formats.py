"""File readers: tables, NumPy arrays, IDX, ARFF, SVMlight, and what a path holds.

Plain functions that turn a file into pandas / NumPy objects, with errors that
name the file and the position (line, row, byte) of the problem. The
registered sources (``csv``, ``npz``, ``idx``, ``arff``, ``svmlight``, ...)
build on them; they are also the functions to call when reading data by hand:

    frame = read_table("houses.parquet")
    arrays = read_arrays("features.npz")          # {"inputs": ..., "targets": ...}
    images = read_idx("train-images-idx3-ubyte.gz")  # (60000, 28, 28) uint8
"""

from __future__ import annotations

import csv
import io
import json
import math
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shendu.data.formats_arff import ArffData, read_arff
from shendu.data.formats_infer import infer_source
from shendu.data.formats_io import format_suffix, read_bytes, read_text, text_lines
from shendu.data.formats_svmlight import SvmlightData, read_svmlight
from shendu.errors import DataError

TABLE_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet", ".pq": "parquet",
                  ".jsonl": "jsonl", ".ndjson": "jsonl"}
DELIMITERS = {"csv": ",", "tsv": "\t"}


# -- tables --------------------------------------------------------------------------------
@dataclass
class Table:
    """A table read from a file, with where each row came from.

    Args:
        frame: the rows; numbers as numbers, booleans as "boolean", other text as "category".
        path: the file.
        lines: text formats: each row's (first) line in the file, 1-based; None for Parquet.
    """

    frame: pd.DataFrame
    path: Path
    lines: np.ndarray | None

    def where(self, row: int) -> str:
        """A row's position for messages: ``line 17 of data.csv`` (or ``row 16`` for Parquet)."""
        if self.lines is not None:
            return f"line {int(self.lines[row])} of {self.path}"
        return f"row {row + 1} of {self.path}"


def find_column(
    columns: list[str], explicit: str | None, candidates: tuple[str, ...], key: str, path: Path
) -> str | None:
    """``explicit`` (an error if it is not a column), else the first of ``candidates`` present (any case), else None."""
    if explicit is not None:
        if explicit not in columns:
            raise DataError(f"{key}={explicit!r} is not a column of {path}; its columns are {', '.join(columns)}.")
        return explicit
    lowered = {c.lower(): c for c in columns}
    return next((lowered[c] for c in candidates if c in lowered), None)


def table_format(path: str | Path) -> str | None:
    """"csv", "tsv", "parquet" or "jsonl" from the file's suffix (under .gz / .bz2), else None."""
    return TABLE_SUFFIXES.get(format_suffix(Path(path)))


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _as_text(value: Any) -> Any:
    if _missing(value) or isinstance(value, str):
        return value
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def infer_types(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers stay numbers; columns of only True/False become "boolean"; other text becomes "category".

    Missing values are NaN (``<NA>`` in boolean columns); a column with no
    value at all becomes float NaN.
    """
    for column in frame.columns:
        series = frame[column]
        dtype = series.dtype
        if pd.api.types.is_numeric_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
            continue
        if pd.api.types.is_datetime64_any_dtype(dtype):
            continue
        present = [v for v in series.tolist() if not _missing(v)]
        if not present:
            frame[column] = series.astype("float64")
        elif all(isinstance(v, (bool, np.bool_)) for v in present):
            frame[column] = series.astype("boolean")
        elif all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in present):
            frame[column] = pd.to_numeric(series)
        else:
            frame[column] = series.map(_as_text).astype("category")
    return frame


def _record_lines(text: str, delimiter: str, quoted: bool, path: Path) -> list[tuple[int, int]]:
    """(first line, number of fields) of each non-blank record."""
    records = []
    if quoted and '"' in text:  # quoted fields may hold delimiters and newlines: let csv parse them
        reader = csv.reader(io.StringIO(text), delimiter=delimiter)
        end = 0
        try:
            for fields in reader:
                start, end = end + 1, reader.line_num
                if fields:
                    records.append((start, len(fields)))
        except csv.Error as error:
            raise DataError(f"Cannot parse line {reader.line_num} of {path}: {error}. Fix its quoting.") from None
        return records
    for number, line in enumerate(text_lines(text), 1):
        if line:
            records.append((number, line.count(delimiter) + 1))
    return records


def _read_delimited(path: Path, delimiter: str, quoted: bool) -> Table:
    text = read_text(path)
    if not text.strip():
        raise DataError(f"{path} is empty; expected a header line and data rows.")
    records = _record_lines(text, delimiter, quoted, path)
    header_line, header_fields = records[0]
    for line, fields in records[1:]:
        if fields != header_fields:
            count = sum(f != header_fields for _, f in records[1:])
            raise DataError(
                f"{path}: line {line} has {fields} field{'s' if fields != 1 else ''}; the header (line {header_line}) "
                f"has {header_fields}. Every row needs one field per header column ({count} row(s) differ); "
                f"fix or remove line {line}."
            )
    if len(records) == 1:
        raise DataError(f"{path} has a header (line {header_line}) but no data rows; expected at least one row.")
    try:
        frame = pd.read_csv(io.StringIO(text), sep=delimiter, quoting=csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE,
                            low_memory=False)
    except (pd.errors.ParserError, ValueError) as error:
        raise DataError(f"Cannot parse {path}: {error}. Fix that line and try again.") from None
    frame.columns = [str(c) for c in frame.columns]
    lines = np.array([line for line, _ in records[1:]], dtype=np.int64)
    return Table(infer_types(frame), path, lines if len(lines) == len(frame) else None)


def _read_jsonl(path: Path) -> Table:
    text = read_text(path)
    rows, lines = [], []
    for number, line in enumerate(text_lines(text), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(
                f"{path}: line {number} is not valid JSON ({error.msg} at column {error.colno}); "
                'expected one JSON object per line, like {"x": 1.5, "label": "cat"}. Fix that line.'
            ) from None
        if not isinstance(value, dict):
            raise DataError(
                f"{path}: line {number} holds a JSON {type(value).__name__}; expected an object "
                '{"column": value, ...} per line.'
            )
        rows.append(value)
        lines.append(number)
    if not rows:
        raise DataError(f"{path} is empty; expected one JSON object per line.")
    frame = pd.DataFrame.from_records(rows)
    frame.columns = [str(c) for c in frame.columns]
    return Table(infer_types(frame), path, np.array(lines, dtype=np.int64))


def _read_parquet(path: Path) -> Table:
    import pyarrow as pa  # imported here: only Parquet needs it
    import pyarrow.parquet as pq

    if not path.is_file():
        raise DataError(f"{path} does not exist or is not a file. Check the path.")
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty (0 bytes); expected a Parquet file.")
    try:
        frame = pq.read_table(path).to_pandas()
    except (pa.ArrowException, OSError) as error:
        raise DataError(
            f"Cannot read Parquet file {path}: pyarrow says: {error}. The file is corrupt, truncated or not "
            "Parquet; write it again (e.g. frame.to_parquet(path))."
        ) from None
    if len(frame) == 0:
        raise DataError(f"{path} has columns ({', '.join(map(str, frame.columns))}) but no rows; expected data rows.")
    frame.columns = [str(c) for c in frame.columns]
    return Table(infer_types(frame), path, None)


def load_table(path: str | Path, *, delimiter: str | None = None, format: str | None = None) -> Table:
    """Read a table file into a :class:`Table` (the frame plus each row's line, for messages).

    Args:
        path: a .csv, .tsv / .tab, .parquet / .pq or .jsonl / .ndjson file (text ones may be .gz / .bz2).
        delimiter: overrides the field separator of a delimited file (default: "," for CSV, tab for TSV).
        format: "csv", "tsv", "parquet" or "jsonl" when the suffix does not say.
    """
    path = Path(path).expanduser()
    kind = format or table_format(path)
    if kind is None:
        kind = "csv" if delimiter is not None else None
    if kind not in ("csv", "tsv", "parquet", "jsonl"):
        raise DataError(
            f"Cannot tell the table format of {path} from its suffix {format_suffix(path) or '(none)'}; expected "
            f"one of {', '.join(TABLE_SUFFIXES)} (optionally .gz / .bz2). Rename it or set data.source to csv, tsv, "
            "parquet or jsonl."
        )
    if kind == "parquet":
        return _read_parquet(path)
    if kind == "jsonl":
        return _read_jsonl(path)
    # TSV has no quoting (the IANA text/tab-separated-values definition): quotes are ordinary characters.
    return _read_delimited(path, delimiter or DELIMITERS[kind], quoted=kind == "csv")


def read_table(path: str | Path, *, delimiter: str | None = None, format: str | None = None) -> pd.DataFrame:
    """Read CSV, TSV, Parquet or JSON Lines into a DataFrame, with types inferred.

    Use it for any table on disk. Numbers are read as numbers, columns of only
    true/false as booleans, any other text as a categorical column; empty
    fields (and NA / NaN) are missing values (NaN). A row with the wrong number
    of fields, bad JSON, an empty file or a header without rows raises a
    DataError naming the file and line.

    Args:
        path: the file: .csv, .tsv / .tab, .parquet / .pq, .jsonl / .ndjson; text formats may be .gz / .bz2.
        delimiter: field separator of a delimited file (default "," for CSV, tab for TSV).
        format: "csv", "tsv", "parquet" or "jsonl" when the suffix does not say.
    """
    return load_table(path, delimiter=delimiter, format=format).frame


# -- NumPy arrays --------------------------------------------------------------------------
PICKLE_REFUSAL = (
    "shendu refuses pickled arrays (loading one can run arbitrary code). Save numeric arrays instead, "
    "e.g. np.savez(path, inputs=x.astype(np.float32), targets=y.astype(np.int64))."
)


def _parse_npy(raw: bytes, name: str) -> np.ndarray:
    if raw[:6] != b"\x93NUMPY":
        raise DataError(
            f"{name} is not a NumPy .npy array: bytes 0-5 are {raw[:6].hex() or 'missing'}, expected 934e554d5059 "
            "(\\x93NUMPY). Save it with np.save."
        )
    stream = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(stream)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = reader(stream)
    except (ValueError, EOFError) as error:
        raise DataError(f"{name} has a corrupt .npy header ({error}). Save the array again with np.save.") from None
    if dtype.hasobject:
        raise DataError(f"{name} holds an array of Python objects (dtype {dtype}); {PICKLE_REFUSAL}")
    offset = stream.tell()
    expected = offset + math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        state = "truncated" if len(raw) < expected else "longer than its header says"
        raise DataError(
            f"{name} is {state}: its header promises {expected} bytes (shape {shape}, {dtype}), the file holds "
            f"{len(raw)}. Save or copy the array again."
        )
    array = np.frombuffer(raw, dtype=dtype, offset=offset, count=math.prod(shape))
    array = array.reshape(shape[::-1]).transpose() if fortran else array.reshape(shape)
    return array.copy()  # writable, and independent of the file's bytes


def read_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """Read a .npy (key "inputs") or .npz (its keys) file into NumPy arrays, refusing pickles.

    Use it for data already in arrays. Object arrays (pickles) are refused:
    unpickling can run arbitrary code. Truncated or corrupt files raise a
    DataError naming the file, the array and the byte counts.

    Args:
        path: a .npy or .npz file.
    """
    path = Path(path).expanduser()
    raw = read_bytes(path)
    if format_suffix(path) == ".npy":
        return {"inputs": _parse_npy(raw, str(path))}
    if raw[:4] not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise DataError(
            f"{path} is not a .npz archive: bytes 0-3 are {raw[:4].hex() or 'missing'}, expected 504b0304 (a zip "
            "file). Save it with np.savez, or name a .npy file."
        )
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            members = [m for m in archive.namelist() if m.endswith(".npy")]
            arrays = {}
            for member in members:
                try:
                    data = archive.read(member)
                except (zipfile.BadZipFile, zlib.error, EOFError) as error:
                    raise DataError(f"{path}: array {member[:-4]!r} is corrupt ({error}). Save the file again.") from None
                arrays[member[:-4]] = _parse_npy(data, f"{path} (array {member[:-4]!r})")
    except zipfile.BadZipFile as error:
        raise DataError(f"{path} is a truncated or corrupt .npz archive ({error}). Save or copy it again.") from None
    if not arrays:
        raise DataError(f"{path} holds no arrays; expected at least one (e.g. np.savez(path, inputs=x)).")
    return arrays


# -- IDX ---------------------------------------------------------------------------------
IDX_TYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
             0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path: str | Path, num_dims: int | None = None) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip or raw, into a NumPy array.

    Format: bytes 0-1 are zero, byte 2 the element type (0x08 ubyte, 0x09
    sbyte, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64), byte 3 the
    number of dimensions; then one big-endian int32 size per dimension, then
    the values, big-endian, row-major (LeCun et al., the MNIST database).

    Args:
        path: the file (``.gz`` or not).
        num_dims: the number of dimensions expected; None takes it from the header.
    """
    path = Path(path)
    data = read_bytes(path)
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] not in IDX_TYPES:
        types = ", ".join(f"{code:02x}" for code in IDX_TYPES)
        raise DataError(
            f"{path} is not an IDX file: bytes 0-3 (the magic number) are {data[:4].hex() or 'missing'}, expected "
            f"0000TTDD with element type TT one of {types} and DD dimensions. Download it again."
        )
    dims = data[3]
    if num_dims is not None and dims != num_dims:
        raise DataError(
            f"{path} holds an IDX array of {dims} dimension(s) (magic number {data[:4].hex()}); expected {num_dims}. "
            "Check that the images and labels files are not swapped."
        )
    dtype = IDX_TYPES[data[2]]
    header = 4 + 4 * dims
    if len(data) < header:
        raise DataError(
            f"{path} is truncated: its {dims}-dimension header needs {header} bytes, the file holds {len(data)}. "
            "Download it again."
        )
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">i4", count=dims, offset=4))
    expected = header + math.prod(shape) * dtype.itemsize
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "corrupt (longer than its header says)"
        raise DataError(
            f"{path} is {state}: its header promises {expected} bytes (shape {shape}, {dtype.name}), the file holds "
            f"{len(data)}. Download it again."
        )
    array = np.frombuffer(data, dtype=dtype, offset=header, count=math.prod(shape)).reshape(shape)
    return array.astype(dtype.newbyteorder("="))  # native byte order, writable


__all__ = [
    "read_table", "load_table", "Table", "table_format", "find_column", "infer_types", "read_arrays", "read_idx",
    "read_arff", "ArffData", "read_svmlight", "SvmlightData", "infer_source", "IDX_TYPES", "TABLE_SUFFIXES",
]
