"""Sharded ``.npy`` files: the on-disk format streaming reads, its writer and its reader.

Use shards for data larger than memory (``data.stream=true``): a training
epoch then reads one shard window at a time instead of decoding everything.
Convert any data with :func:`write_shards`, feeding it chunks of arrays.

Layout of a shard folder (``data.path``)::

    DATA/train/index.json                   what the shards hold (below)
    DATA/train/inputs-00000.npy             (n, C, H, W) pixels 0..255, or (n, F) features
    DATA/train/targets-00000.npy            (n,) class indices, or (n,) / (n, T) values
    DATA/train/inputs-00001.npy ...
    DATA/val/...  DATA/test/...             optional, same layout

``index.json``: ``{"format": "shendu-shards", "version": 1, "input_kind",
"input_shape", "input_dtype", "target_shape", "target_dtype", "class_names",
"target_names", "feature_names", "rows", "shards": [{"inputs", "targets",
"rows"}, ...]}``. It is written last, so a folder without one is an
interrupted write, never a silently short dataset.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from shendu.errors import DataError

INDEX_NAME = "index.json"
FORMAT_NAME = "shendu-shards"
FORMAT_VERSION = 1


def _atomic_write(path: Path, write: Any) -> None:
    """Write through a temporary file and rename, so a crash never leaves half a shard."""
    temporary = path.with_name(path.name + ".partial")
    with open(temporary, "wb") as handle:
        write(handle)
    os.replace(temporary, path)


def _as_array(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


class _ShardWriter:
    """Collects chunks of rows and writes them out ``rows_per_shard`` at a time."""

    def __init__(self, folder: Path, rows_per_shard: int):
        self.folder, self.rows_per_shard = folder, rows_per_shard
        self.pending: list[tuple[np.ndarray, np.ndarray]] = []
        self.pending_rows = 0
        self.shards: list[dict[str, Any]] = []
        self.layout: dict[str, Any] | None = None

    def add(self, inputs: np.ndarray, targets: np.ndarray, number: int) -> None:
        self._check(inputs, targets, number)
        self.pending.append((inputs, targets))
        self.pending_rows += len(inputs)
        while self.pending_rows >= self.rows_per_shard:
            self._write(self.rows_per_shard)

    def finish(self) -> None:
        if self.pending_rows:
            self._write(self.pending_rows)

    def _check(self, inputs: np.ndarray, targets: np.ndarray, number: int) -> None:
        where = f"chunk {number} given to write_shards"
        if inputs.ndim not in (2, 4):
            raise DataError(
                f"Inputs of {where} have shape {inputs.shape}; expected (N, F) features or (N, C, H, W) images. "
                "Add a channel axis to single-channel images: inputs[:, None]."
            )
        if targets.ndim not in (1, 2) or len(targets) != len(inputs):
            raise DataError(
                f"Targets of {where} have shape {targets.shape} for {len(inputs)} input rows; expected ({len(inputs)},) "
                f"or ({len(inputs)}, T). Pass one target row per input row."
            )
        layout = {"input_shape": list(inputs.shape[1:]), "input_dtype": inputs.dtype.str,
                  "target_shape": list(targets.shape[1:]), "target_dtype": targets.dtype.str}
        if self.layout is None:
            self.layout = layout
        elif layout != self.layout:
            raise DataError(
                f"{where.capitalize()} holds {layout}; the chunks before it held {self.layout}. "
                "Give every chunk the same per-row shape and dtype."
            )

    def _write(self, count: int) -> None:
        inputs = np.concatenate([pair[0] for pair in self.pending])
        targets = np.concatenate([pair[1] for pair in self.pending])
        number = len(self.shards)
        names = {"inputs": f"inputs-{number:05d}.npy", "targets": f"targets-{number:05d}.npy"}
        _atomic_write(self.folder / names["inputs"], lambda handle: np.save(handle, inputs[:count]))
        _atomic_write(self.folder / names["targets"], lambda handle: np.save(handle, targets[:count]))
        self.shards.append({**names, "rows": int(count)})
        self.pending = [(inputs[count:], targets[count:])] if count < len(inputs) else []
        self.pending_rows = len(inputs) - count


def write_shards(
    folder: str | Path,
    arrays: Iterable[tuple[Any, Any]],
    *,
    rows_per_shard: int = 65536,
    class_names: list[str] | None = None,
    target_names: list[str] | None = None,
    feature_names: list[str] | None = None,
) -> dict[str, Any]:
    """Write chunks of (inputs, targets) as numbered ``.npy`` shards plus ``index.json``.

    Use it to convert data that does not fit in memory: give it an iterator of
    chunks (any size; numpy arrays or tensors) and it re-cuts them into shards
    of ``rows_per_shard`` rows, holding at most one shard in memory. Write one
    folder per split (``DATA/train``, ``DATA/val``, ``DATA/test``) and train
    with ``data.path=DATA data.stream=true``.

    Args:
        folder: the split folder to create (must not already hold shards).
        arrays: iterable of (inputs, targets): inputs (n, C, H, W) pixels 0..255
            (uint8 or float) or (n, F) numeric features; targets (n,) integer
            class indices, or (n,) / (n, T) regression values.
        rows_per_shard: rows per shard file; one shard is the unit read at a
            time, so shard size bounds memory together with the shuffle buffer.
        class_names: classification: the name of each class index.
        target_names: regression: the name of each target column.
        feature_names: tabular: the name of each feature column (default f0, f1, ...).

    Returns the index written to ``folder/index.json``.
    """
    if not isinstance(rows_per_shard, int) or rows_per_shard < 1:
        raise DataError(f"rows_per_shard must be a positive integer; received {rows_per_shard!r}. Use e.g. 65536.")
    folder = Path(folder)
    if (folder / INDEX_NAME).exists() or any(folder.glob("inputs-*.npy")):
        raise DataError(f"{folder} already holds shards; write into a new, empty folder (or delete this one first).")
    folder.mkdir(parents=True, exist_ok=True)
    writer = _ShardWriter(folder, rows_per_shard)
    for number, pair in enumerate(arrays):
        inputs, targets = (_as_array(part) for part in pair)
        if class_names is not None and len(targets):
            _check_labels(targets, class_names, f"chunk {number} given to write_shards", 0)
        writer.add(inputs, targets, number)
    writer.finish()
    if writer.layout is None:
        raise DataError(f"write_shards received no rows for {folder}; expected at least one (inputs, targets) chunk.")
    layout = writer.layout
    input_kind = "image" if len(layout["input_shape"]) == 3 else "tabular"
    if input_kind == "tabular" and feature_names is None:
        feature_names = [f"f{i}" for i in range(layout["input_shape"][0])]
    index = {
        "format": FORMAT_NAME, "version": FORMAT_VERSION, "input_kind": input_kind, **layout,
        "class_names": class_names, "target_names": target_names, "feature_names": feature_names,
        "rows": sum(shard["rows"] for shard in writer.shards), "shards": writer.shards,
    }
    _atomic_write(folder / INDEX_NAME, lambda handle: handle.write(json.dumps(index, indent=1).encode()))
    return index


def _check_labels(targets: np.ndarray, class_names: list[str], where: str, first_row: int) -> None:
    """Class indices must lie in [0, number of classes)."""
    if not np.issubdtype(targets.dtype, np.integer):
        raise DataError(f"Targets in {where} are {targets.dtype}; class indices must be integers 0..{len(class_names) - 1}. "
                        "Store integer class indices, or leave class_names unset for regression targets.")
    bad = np.flatnonzero((targets < 0) | (targets >= len(class_names)))
    if len(bad):
        row = int(bad[0])
        raise DataError(
            f"Label {int(targets.reshape(len(targets), -1)[row, 0])} at row {first_row + row} of {where} is outside the "
            f"class list ({len(class_names)} classes: 0..{len(class_names) - 1}). Fix the label or add the class."
        )


def read_index(folder: Path) -> dict[str, Any]:
    """Read and check a split folder's ``index.json``."""
    path = folder / INDEX_NAME
    try:
        index = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{path} does not exist; expected a shard folder written by shendu.data.write_shards.") from None
    except (OSError, json.JSONDecodeError) as error:
        raise DataError(f"Cannot read {path}: {error}. Rewrite the shards with write_shards.") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT_NAME or index.get("version") != FORMAT_VERSION:
        raise DataError(f"{path} is not a shard index of format {FORMAT_NAME!r} version {FORMAT_VERSION}. "
                        "Rewrite the shards with this shendu version's write_shards.")
    missing = [key for key in ("input_kind", "input_shape", "input_dtype", "target_shape", "target_dtype", "shards")
               if key not in index]
    if missing or not index["shards"]:
        raise DataError(f"{path} lacks {missing or ['shards']}; the write was interrupted. Rewrite the shards.")
    return index


class ShardWindow:
    """One open shard: memory-mapped inputs, targets read whole (they are small).

    Rows are copied out by :meth:`take`; closing drops the mapping, so the
    shard's pages stop counting towards the process's memory.
    """

    def __init__(self, inputs: np.ndarray, targets: np.ndarray):
        self.inputs, self.targets = inputs, targets

    def take(self, rows: np.ndarray | slice) -> tuple[np.ndarray, np.ndarray]:
        """Rows by index array (a copy: nothing returned keeps the mapping alive) or by slice (a view)."""
        return np.asarray(self.inputs[rows]), self.targets[rows]

    def close(self) -> None:
        self.inputs = self.targets = None


class NpyShards:
    """The shards of one split folder, read with ``np.load(mmap_mode="r")``.

    Args:
        folder: a split folder holding ``index.json`` and its shards.
        shards: which of its shards to use (default all), e.g. after holding
            some out for validation.
    """

    kind = "shards"

    def __init__(self, folder: str | Path, shards: list[int] | None = None):
        self.folder = Path(folder)
        self.index = read_index(self.folder)
        self.shard_numbers = list(range(len(self.index["shards"]))) if shards is None else list(shards)
        self.records = [self.index["shards"][n] for n in self.shard_numbers]
        self.rows = np.array([int(r["rows"]) for r in self.records], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.rows)])
        self.input_kind = self.index["input_kind"]
        self.input_shape = tuple(self.index["input_shape"])
        self.input_dtype = np.dtype(self.index["input_dtype"])
        self.target_shape = tuple(self.index["target_shape"])
        self.target_dtype = np.dtype(self.index["target_dtype"])
        self.class_names = self.index.get("class_names")
        self.target_names = self.index.get("target_names")
        self.feature_names = self.index.get("feature_names")
        self.row_bytes = int(np.prod(self.input_shape)) * self.input_dtype.itemsize

    @property
    def num_rows(self) -> int:
        return int(self.offsets[-1])

    def subset(self, positions: list[int]) -> NpyShards:
        """The same folder restricted to the shards at ``positions`` of this one."""
        return NpyShards(self.folder, [self.shard_numbers[p] for p in positions])

    def shard_name(self, shard: int) -> str:
        return str(self.folder / self.records[shard]["inputs"])

    def where(self, shard: int) -> str:
        """Shard file and its global row range, for error messages."""
        begin, end = int(self.offsets[shard]), int(self.offsets[shard + 1])
        return f"shard {self.shard_name(shard)} (rows {begin}-{end - 1} of {self.folder})"

    def _map(self, shard: int, key: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        path = self.folder / self.records[shard][key]
        expected = (int(self.rows[shard]), *shape)
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, EOFError) as error:
            raise DataError(
                f"Cannot read {path} (rows {int(self.offsets[shard])}-{int(self.offsets[shard + 1]) - 1} of "
                f"{self.folder}): {error}. The file is truncated or corrupt; rewrite the shards with write_shards."
            ) from None
        if array.shape != expected or array.dtype != dtype:
            raise DataError(
                f"{path} (rows {int(self.offsets[shard])}-{int(self.offsets[shard + 1]) - 1} of {self.folder}) holds "
                f"{array.dtype} {array.shape}; its index.json promises {dtype} {expected}. "
                "The shard was replaced or truncated; rewrite the shards with write_shards."
            )
        return array

    def open(self, shard: int) -> ShardWindow:
        inputs = self._map(shard, "inputs", self.input_shape, self.input_dtype)
        targets = self.targets_of(shard)
        if self.class_names is not None:
            _check_labels(targets, self.class_names, self.where(shard), int(self.offsets[shard]))
        return ShardWindow(inputs, targets)

    def targets_of(self, shard: int) -> np.ndarray:
        """All targets of one shard (small: no inputs are read)."""
        return np.array(self._map(shard, "targets", self.target_shape, self.target_dtype))

    def fingerprint(self) -> str:
        """Identifies the data: a hash of the index (names, row counts, shapes) and the shards used."""
        digest = hashlib.sha256((self.folder / INDEX_NAME).read_bytes())
        digest.update(json.dumps(self.shard_numbers).encode())
        return digest.hexdigest()


__all__ = ["write_shards", "read_index", "NpyShards", "ShardWindow", "INDEX_NAME"]
