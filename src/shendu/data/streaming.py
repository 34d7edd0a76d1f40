"""Streaming batches from shards on disk: seeded shard order, a shuffle buffer, bounded memory.

Use :class:`ShardStream` when the data does not fit in memory
(``data.stream=true``). Each epoch visits the shards in a seeded random
order, each shard's rows in a seeded random order, and passes the rows through
a shuffle buffer of ``data.shuffle_buffer`` samples: once the buffer is full,
every incoming row replaces a buffer slot drawn at random, whose sample is
emitted. Memory is the buffer plus one open shard, whatever the dataset size.

Resume is exact and cheap: the whole order of an epoch is a function of
(seed, epoch, shard row counts) only, so ``batches(epoch, start=k)`` replays
the buffer on row *indices* up to batch k (no data read), reads the rows then
held in the buffer, and continues reading from there.

Formula: buffer shuffle of capacity S: rows r_1, r_2, ... enter in shard
order; r_i fills a free slot while fewer than S are held, otherwise emits the
sample in a slot j drawn uniformly (without repetition within a chunk of
incoming rows) and takes its place; at the end the held samples leave in a
random permutation.
Reference: the shard-and-buffer shuffle of tf.data (``Dataset.shuffle``) and
WebDataset; Aizman et al., "High Performance I/O for Large Scale Deep
Learning", 2019.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

_NONE = np.zeros(0, dtype=np.int64)


@dataclass
class _Event:
    """One step of an epoch's plan.

    shard: the shard whose ``rows`` enter (-1 for the final drain of the buffer).
    rows: local row numbers of that shard, in the order they enter.
    fill: how many of ``rows`` go into free buffer slots (emitting nothing).
    slots: buffer slots whose samples are emitted, then refilled with
        ``rows[fill:]``; None when not shuffling (``rows`` pass straight through).
    """

    shard: int
    rows: np.ndarray
    fill: int
    slots: np.ndarray | None

    @property
    def num_outputs(self) -> int:
        return len(self.rows) if self.slots is None else len(self.slots)


class ShardStream:
    """A batch source over shards on disk: seeded shard-and-buffer order, bounded memory, exact resume.

    Use it (through ``data.stream=true``) for data larger than memory; for data
    that fits, in-memory batching (``TensorBatches``) is faster. Batches are
    (inputs, targets) CPU tensors, preprocessed per batch with the same
    ``Preprocessing`` the in-memory path uses. Memory: ``shuffle_buffer`` x
    bytes per sample, plus one shard, plus a batch.

    Args:
        shards: the split's shards (``NpyShards`` or ``ParquetShards``).
        preprocessing: applied to each batch; None yields the stored values as they are.
        batch_size: samples per batch.
        shuffle: shard-and-buffer shuffle (training) or file order (evaluation).
        seed: the order of epoch e depends on (seed, e) only.
        shuffle_buffer: samples held in the shuffle buffer (``data.shuffle_buffer``).
        drop_last: drop a final batch smaller than ``batch_size``.
        chunk_rows: rows read and exchanged with the buffer at a time.
        name: how messages name this split.
    """

    def __init__(self, shards: Any, preprocessing: Any = None, *, batch_size: int = 64, shuffle: bool = True,
                 seed: int = 0, shuffle_buffer: int = 8192, drop_last: bool = False, chunk_rows: int = 1024,
                 name: str = "the streamed data"):
        for key, value, example in (("train.batch_size", batch_size, 64), ("data.shuffle_buffer", shuffle_buffer, 8192),
                                    ("chunk_rows", chunk_rows, 1024)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{key} must be a positive integer; received {value!r}. Set {key}={example}.")
        self.shards, self.preprocessing, self.name = shards, preprocessing, name
        self.batch_size, self.shuffle, self.seed, self.drop_last = batch_size, shuffle, seed, drop_last
        self.shuffle_buffer, self.chunk_rows = shuffle_buffer, chunk_rows
        self.num_samples = int(shards.num_rows)
        self.capacity = min(shuffle_buffer, self.num_samples)
        self.chunk = min(chunk_rows, self.capacity)
        if drop_last and self.num_samples < batch_size:
            raise ValueError(f"train.drop_last=true with batch_size={batch_size} leaves no batch of the "
                             f"{self.num_samples} samples of {name}. Lower train.batch_size or set train.drop_last=false.")
        self.rows_read = 0  # rows read from disk so far, over all epochs (what resume avoids re-reading)
        # Tabular columns that already are the encoding's numeric features, in its order (as load_stream builds them):
        # batches skip the encoding step.
        self.columns_are_features = (
            preprocessing is not None and shards.input_kind == "tabular" and not preprocessing.encoding.categories
            and list(preprocessing.encoding.features) == list(shards.feature_names))

    def with_batch_size(self, batch_size: int, drop_last: bool = False) -> ShardStream:
        """The same stream (shards, preprocessing, seed, buffer) cut into batches of ``batch_size``."""
        return ShardStream(self.shards, self.preprocessing, batch_size=batch_size, shuffle=self.shuffle,
                           seed=self.seed, shuffle_buffer=self.shuffle_buffer, drop_last=drop_last,
                           chunk_rows=self.chunk_rows, name=self.name)

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    # -- the plan: indices only ---------------------------------------------------
    def _events(self, epoch: int) -> Iterator[_Event]:
        rows, chunk = self.shards.rows, self.chunk
        if not self.shuffle:
            for shard, count in enumerate(rows):
                for begin in range(0, int(count), chunk):
                    yield _Event(shard, np.arange(begin, min(begin + chunk, int(count))), 0, None)
            return
        generator = np.random.default_rng([self.seed % 2**64, epoch])
        filled = 0
        for shard in generator.permutation(len(rows)):
            local = generator.permutation(int(rows[shard]))
            for begin in range(0, len(local), chunk):
                incoming = local[begin:begin + chunk]
                fill = min(self.capacity - filled, len(incoming))
                filled += fill
                slots = generator.choice(self.capacity, len(incoming) - fill, replace=False) if len(incoming) > fill else _NONE
                yield _Event(int(shard), incoming, fill, slots)
        yield _Event(-1, _NONE, 0, generator.permutation(filled))

    def order(self, epoch: int) -> np.ndarray:
        """Global row numbers (shard offset + row) in the order epoch ``epoch`` emits them; reads no data."""
        held = np.empty(self.capacity, dtype=np.int64)
        filled, emitted = 0, []
        for event in self._events(epoch):
            ids = self.shards.offsets[max(event.shard, 0)] + event.rows
            filled = _apply(event, ids, held, filled, emitted)
        return np.concatenate(emitted) if emitted else _NONE

    # -- reading ------------------------------------------------------------------
    def _read_rows(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The stored rows of global row numbers ``ids``, opening each shard involved once."""
        shard_of = np.searchsorted(self.shards.offsets, ids, side="right") - 1
        inputs = targets = None
        for shard in np.unique(shard_of):
            positions = np.flatnonzero(shard_of == shard)
            window = self.shards.open(int(shard))
            try:
                x, y = window.take(ids[positions] - self.shards.offsets[shard])
            finally:
                window.close()
            if inputs is None:
                inputs = np.empty((len(ids), *x.shape[1:]), dtype=x.dtype)
                targets = np.empty((len(ids), *y.shape[1:]), dtype=y.dtype)
            inputs[positions], targets[positions] = x, y
            self.rows_read += len(positions)
        return inputs, targets

    def _pieces(self, epoch: int, first: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Emitted (inputs, targets) arrays of ``epoch`` from emitted-sample position ``first`` on."""
        events = self._events(epoch)
        resume_event, held_ids, emitted = _replay(events, first, self.capacity, self.shards.offsets)
        if resume_event is None:
            return
        buffer = _Buffer(self.capacity)
        if len(held_ids):  # resuming: read the samples the buffer holds at this point, and only those
            buffer.load(*self._read_rows(held_ids))
        skip, window, window_shard = first - emitted, None, -1
        try:
            for event in _chain(resume_event, events):
                inputs = targets = None
                if len(event.rows):
                    if event.shard != window_shard:  # events of one shard are consecutive: one window at a time
                        if window is not None:
                            window.close()
                        window, window_shard = self.shards.open(event.shard), event.shard
                    inputs, targets = window.take(event.rows)
                    self.rows_read += len(event.rows)
                piece = (inputs, targets) if event.slots is None else buffer.exchange(event, inputs, targets)
                if skip:
                    piece, skip = (piece[0][skip:], piece[1][skip:]), max(skip - len(piece[0]), 0)
                if len(piece[0]):
                    yield piece
        finally:
            if window is not None:
                window.close()

    def batches(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The (inputs, targets) batches of ``epoch`` from batch number ``start`` on.

        Batch k is the same whether or not batches 0..k-1 were read first.
        """
        remaining = len(self) - start
        if remaining <= 0:
            return
        pieces: list[tuple[np.ndarray, np.ndarray]] = []
        held = 0
        for piece in self._pieces(epoch, start * self.batch_size):
            pieces.append(piece)
            held += len(piece[0])
            while held >= self.batch_size and remaining:
                batch, pieces = _split(pieces, self.batch_size)
                held -= self.batch_size
                remaining -= 1
                yield self._prepare(*batch)
            if not remaining:
                return
        if held and remaining:
            batch, _ = _split(pieces, held)
            yield self._prepare(*batch)

    def _prepare(self, inputs: np.ndarray, targets: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        preprocessing = self.preprocessing
        if preprocessing is None:
            return torch.from_numpy(inputs), torch.from_numpy(targets)
        targets_out = preprocessing.encode_targets(targets, None, self.name)
        if self.shards.input_kind == "image":
            return preprocessing.transform_inputs(torch.from_numpy(inputs), self.name), targets_out
        if not self.columns_are_features:
            frame = pd.DataFrame(inputs, columns=self.shards.feature_names)
            return preprocessing.transform_inputs(frame, self.name), targets_out
        # transform_inputs without its encoding step, which here would only turn the columns into a DataFrame and
        # back: at batch 64 that round trip (a pandas conversion per column) cost ~70x the rest of the batch.
        return preprocessing.scale_features(inputs.astype(np.float64, copy=False), self.name), targets_out

    def __repr__(self) -> str:
        return (f"ShardStream({self.name}: {self.num_samples} samples in {len(self.shards.rows)} shards, "
                f"batch {self.batch_size}, {'shuffled, buffer ' + str(self.capacity) if self.shuffle else 'in order'})")


class _Buffer:
    """The shuffle buffer's samples: ``capacity`` slots, allocated with the first rows, ``filled`` in use."""

    def __init__(self, capacity: int):
        self.capacity, self.filled = capacity, 0
        self.inputs: np.ndarray | None = None
        self.targets: np.ndarray | None = None

    def _allocate(self, inputs: np.ndarray, targets: np.ndarray) -> None:
        self.inputs = np.empty((self.capacity, *inputs.shape[1:]), dtype=inputs.dtype)
        self.targets = np.empty((self.capacity, *targets.shape[1:]), dtype=targets.dtype)

    def load(self, inputs: np.ndarray, targets: np.ndarray) -> None:
        """Fill the first slots with the samples a resumed epoch's buffer holds."""
        self._allocate(inputs, targets)
        self.inputs[:len(inputs)], self.targets[:len(inputs)] = inputs, targets
        self.filled = len(inputs)

    def exchange(self, event: _Event, inputs: np.ndarray | None, targets: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Put the event's rows in, return the samples of the slots it empties (copies)."""
        if self.inputs is None:
            self._allocate(inputs, targets)
        fill, filled = event.fill, self.filled
        if fill:
            self.inputs[filled:filled + fill], self.targets[filled:filled + fill] = inputs[:fill], targets[:fill]
            self.filled += fill
        piece = (self.inputs[event.slots], self.targets[event.slots])
        refill = event.slots[: len(event.rows) - fill]
        if len(refill):
            self.inputs[refill], self.targets[refill] = inputs[fill:], targets[fill:]
        return piece


def _replay(events: Iterator[_Event], first: int, capacity: int, offsets: np.ndarray) -> tuple[_Event | None, np.ndarray, int]:
    """Advance the plan on row numbers only, up to the event that emits sample ``first``.

    Returns that event (None if the epoch emits fewer samples), the global row
    numbers the buffer holds just before it, and the samples emitted before it.
    """
    held = np.empty(capacity, dtype=np.int64)
    filled = emitted = 0
    for event in events:
        if emitted == first or emitted + event.num_outputs > first:
            return event, held[:filled], emitted
        filled = _apply(event, offsets[max(event.shard, 0)] + event.rows, held, filled, None)
        emitted += event.num_outputs
    return None, held[:0], emitted


def _apply(event: _Event, ids: np.ndarray, held: np.ndarray, filled: int, emitted: list | None) -> int:
    """Advance the index buffer ``held`` by one event; append emitted ids to ``emitted`` if given."""
    if event.slots is None:
        if emitted is not None:
            emitted.append(ids)
        return filled
    held[filled:filled + event.fill] = ids[:event.fill]
    filled += event.fill
    if emitted is not None:
        emitted.append(held[event.slots])
    held[event.slots[: len(ids) - event.fill]] = ids[event.fill:]
    return filled


def _chain(first: _Event, rest: Iterator[_Event]) -> Iterator[_Event]:
    yield first
    yield from rest


def _split(pieces: list[tuple[np.ndarray, np.ndarray]], count: int) -> tuple[tuple[np.ndarray, np.ndarray], list]:
    """The first ``count`` rows of ``pieces`` as one (inputs, targets) pair, and the pieces left."""
    taken, left, need = [], [], count
    for inputs, targets in pieces:
        if need >= len(inputs):
            taken.append((inputs, targets))
            need -= len(inputs)
        elif need > 0:
            taken.append((inputs[:need], targets[:need]))
            left.append((inputs[need:], targets[need:]))
            need = 0
        else:
            left.append((inputs, targets))
    if len(taken) == 1:
        return (np.ascontiguousarray(taken[0][0]), np.ascontiguousarray(taken[0][1])), left
    return (np.concatenate([t[0] for t in taken]), np.concatenate([t[1] for t in taken])), left


__all__ = ["ShardStream"]
