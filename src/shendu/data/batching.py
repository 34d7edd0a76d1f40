"""In-memory batching by a seeded index permutation.

Data that fits in memory is decoded once into tensors; an epoch is a
permutation of sample indices drawn from a generator seeded with
``(seed, epoch)``, so the order of any epoch can be recomputed exactly — which
is what makes resuming mid-epoch reproduce an uninterrupted run. No
DataLoader and no per-sample Python run in the hot loop: a batch is one
``index_select`` per tensor.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

import torch

from shendu.data.splits import Split


class BatchSampler:
    """Yields index tensors for the batches of one epoch.

    Args:
        num_samples: number of samples in the split.
        batch_size: samples per batch.
        shuffle: draw a fresh permutation each epoch (training) or keep order.
        seed: base seed; epoch ``e`` uses the permutation of seed ``seed * 100003 + e``.
        drop_last: drop a final batch smaller than ``batch_size``.
    """

    def __init__(self, num_samples: int, batch_size: int, *, shuffle: bool = True, seed: int = 0, drop_last: bool = False):
        if num_samples < 1:
            raise ValueError(
                f"expected at least one sample to batch; received num_samples={num_samples}. "
                "Check data.limit and data.val_fraction/test_fraction, or give more data."
            )
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer; received {batch_size}. Set train.batch_size=64.")
        self.num_samples, self.batch_size = num_samples, batch_size
        self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
        if drop_last and num_samples < batch_size:
            raise ValueError(
                f"train.drop_last=true with batch_size={batch_size} leaves no batch of the "
                f"{num_samples} training samples. Lower train.batch_size or set train.drop_last=false."
            )

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    def order(self, epoch: int) -> torch.Tensor:
        """The sample order of ``epoch`` (a permutation when shuffling)."""
        if not self.shuffle:
            return torch.arange(self.num_samples)
        generator = torch.Generator().manual_seed(self.seed * 100003 + epoch)
        return torch.randperm(self.num_samples, generator=generator)

    def batches(self, epoch: int, start: int = 0) -> Iterator[torch.Tensor]:
        """Index tensors of the batches of ``epoch``, from batch number ``start`` on."""
        order = self.order(epoch)
        for number in range(start, len(self)):
            yield order[number * self.batch_size : (number + 1) * self.batch_size]


def take(tensors: Sequence[torch.Tensor], indices: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Select the same rows from each tensor (indices moved to the data's device)."""
    indices = indices.to(tensors[0].device, non_blocking=True)
    return tuple(t.index_select(0, indices) for t in tensors)


@runtime_checkable
class BatchSource(Protocol):
    """What the Trainer and evaluation accept in place of a tuple of tensors.

    ``num_samples`` counts samples, ``len`` counts the batches of an epoch, and
    ``batches(epoch, start)`` yields tuples of CPU tensors (inputs, targets, ...):
    a pure function of (seed, epoch), so that ``start=k`` yields exactly batches
    k, k+1, ... of an uninterrupted epoch (what makes mid-epoch resume exact).
    Implemented by :class:`TensorBatches`, :class:`ChainedBatches` and
    ``shendu.data.streaming.ShardStream``.
    """

    num_samples: int

    def __len__(self) -> int: ...

    def batches(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, ...]]: ...


class TensorBatches:
    """A :class:`BatchSource` over tensors that fit in memory: a seeded permutation sliced into batches.

    Args:
        tensors: the split's tensors (inputs, targets, ...), all with the same first dimension.
        batch_size: samples per batch.
        shuffle, seed, drop_last: as for :class:`BatchSampler`.
        sampler: another sampler with ``__len__`` and ``batches(epoch, start)``
            yielding index tensors (e.g. a class-balanced one); replaces the default.
    """

    def __init__(self, tensors: Sequence[torch.Tensor], batch_size: int, *, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False, sampler: object | None = None):
        self.tensors = tuple(tensors)
        self.num_samples = int(self.tensors[0].shape[0])
        self.sampler = sampler if sampler is not None else BatchSampler(
            self.num_samples, batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last)

    def __len__(self) -> int:
        return len(self.sampler)

    def batches(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, ...]]:
        """The batches of ``epoch`` from batch number ``start`` on (the same ones after a resume)."""
        for indices in self.sampler.batches(epoch, start):
            yield take(self.tensors, indices)


def is_batch_source(data: object) -> bool:
    """True for a :class:`BatchSource`, False for a tensor tuple or an in-memory ``Split``."""
    return isinstance(data, BatchSource)


def sample_count(split: Any) -> int:
    """Samples in a split: ``num_samples`` of a batch source (whose ``len`` counts batches), else ``len``."""
    return int(split.num_samples) if is_batch_source(split) else len(split)


def evaluation_batches(split: Any, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(inputs, targets) batches covering a split once, for evaluation.

    In-memory splits (``.inputs`` / ``.targets`` tensors) are sliced in order
    into ``batch_size`` batches; a batch source (a streamed split) yields its
    own batches of epoch 0, in its own batch size.
    """
    source = split if is_batch_source(split) else TensorBatches((split.inputs, split.targets), batch_size, shuffle=False)
    for batch in source.batches(0):
        yield batch[0], batch[1]


class ChainedBatches:
    """Several batch sources read one after the other as one (e.g. train + val + test for ``--split all``).

    Args:
        sources: batch sources, in order.
    """

    def __init__(self, sources: Sequence[Any]):
        self.sources = list(sources)
        self.num_samples = sum(int(source.num_samples) for source in self.sources)

    def __len__(self) -> int:
        return sum(len(source) for source in self.sources)

    def batches(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, ...]]:
        """Every source's batches of ``epoch`` in turn, from overall batch number ``start`` on."""
        for source in self.sources:
            if start >= len(source):
                start -= len(source)
                continue
            yield from source.batches(epoch, start)
            start = 0


def concatenate_splits(parts: Sequence[Any], batch_size: int = 256) -> Any:
    """One split made of ``parts`` in order: a concatenated in-memory split when all are in memory,
    else a :class:`ChainedBatches` (in-memory parts batched in order by ``batch_size``)."""
    if not any(is_batch_source(part) for part in parts):
        return Split(torch.cat([p.inputs for p in parts]), torch.cat([p.targets for p in parts]))
    return ChainedBatches([
        part if is_batch_source(part) else TensorBatches((part.inputs, part.targets), batch_size, shuffle=False)
        for part in parts
    ])
