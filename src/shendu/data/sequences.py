"""Token sequences as tensors: padding, masks, packing, and batch sources for text.

Variable-length id sequences become one right-padded ``(N, T)`` int64 tensor
plus their lengths (:func:`pad_sequences`); a mask is ``ids != padding_id``.
Language-model corpora are packed into one stream (:func:`pack_tokens`) and
cut into fixed windows each epoch (:class:`LanguageModelBatches`);
classification corpora with very different lengths batch samples of similar
length together (:class:`LengthBucketSampler`) to waste less compute on padding.
Both are pure functions of ``(seed, epoch)``, so resuming mid-epoch is exact.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from shendu.errors import DataError

TRUNCATIONS = ("right", "left")


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    # The same seeding as shendu.data.batching.BatchSampler, so all batch sources agree.
    return torch.Generator().manual_seed(seed * 100003 + epoch)


def _positive(name: str, value: object, example: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DataError(f"{name} must be a positive integer; received {value!r}. Set {name}={example}.")
    return value


def pad_sequences(
    sequences: Sequence[Sequence[int]],
    max_length: int | None = None,
    padding_id: int = 0,
    truncation: str = "right",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id sequences into one ``(N, T)`` int64 tensor; return it with the lengths.

    ``T = min(max_length, longest sequence)``. Longer sequences are cut:
    ``truncation="right"`` keeps their start (classification of the opening
    of a document), ``"left"`` keeps their end (the most recent context).
    Empty sequences are allowed (length 0, a row of padding). One pass over
    the ids in Python, the rest in numpy/torch.

    Args:
        sequences: lists (or 1-D tensors) of token ids.
        max_length: cap on T; None: the longest sequence.
        padding_id: the id written after each sequence (0).
        truncation: "right" (keep the start) or "left" (keep the end).

    Returns:
        (ids (N, T) int64, lengths (N,) int64), lengths after truncation.
    """
    if truncation not in TRUNCATIONS:
        raise DataError(f"truncation must be 'right' or 'left'; received {truncation!r}.")
    if max_length is not None:
        _positive("max_length", max_length, "256")
    full = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    longest = int(full.max()) if len(full) else 0
    width = longest if max_length is None else min(max_length, longest)
    lengths = np.minimum(full, width)
    flat = _concatenate(sequences, int(full.sum()))
    # Place every id at (row, column) and keep those inside the window: no per-sequence slicing.
    rows = np.repeat(np.arange(len(full)), full)
    columns = np.arange(len(flat)) - np.repeat(np.cumsum(full) - full, full)
    if truncation == "left":
        columns -= np.repeat(full - lengths, full)
    keep = (columns >= 0) & (columns < width)
    ids = np.full((len(full), width), padding_id, dtype=np.int64)
    ids[rows[keep], columns[keep]] = flat[keep]
    return torch.from_numpy(ids), torch.from_numpy(lengths)


def _concatenate(sequences: Sequence[Sequence[int]], total: int) -> np.ndarray:
    """All ids of ``sequences`` end to end as one int64 array (lists or 1-D tensors)."""
    if sequences and isinstance(sequences[0], torch.Tensor):
        return torch.cat([torch.as_tensor(s, dtype=torch.int64).reshape(-1) for s in sequences]).numpy()
    return np.fromiter(itertools.chain.from_iterable(sequences), dtype=np.int64, count=total)


def padding_mask(ids: torch.Tensor, padding_id: int = 0) -> torch.Tensor:
    """Bool mask of the same shape as ``ids``: True at real tokens, False at padding."""
    return ids != padding_id


def trim_padding(ids: torch.Tensor, padding_id: int = 0) -> torch.Tensor:
    """Drop the trailing all-padding columns of a right-padded ``(B, T)`` batch: ``ids[:, :longest]``.

    A batch drawn from a split padded to its longest sample is usually much
    shorter; trimming it before the forward pass saves the wasted positions.
    """
    real_columns = (ids != padding_id).any(dim=0).nonzero()
    longest = int(real_columns[-1]) + 1 if len(real_columns) else 0
    return ids[:, :longest]


def trim_padding_together(*batches: torch.Tensor, padding_id: int = 0) -> tuple[torch.Tensor, ...]:
    """:func:`trim_padding` for several right-padded batches at once (a source and its target), with one
    host sync for all of them instead of one each: this runs on every training step."""
    lengths = []
    for ids in batches:
        real = (ids != padding_id).any(dim=0)  # (T,) columns holding a real token
        last = real.shape[0] - real.flip(0).int().argmax()  # one past the last real column
        lengths.append(torch.where(real.any(), last, torch.zeros_like(last)))
    longest = torch.stack(lengths).tolist()  # the one host sync
    return tuple(ids[:, :n] for ids, n in zip(batches, longest))


def pack_tokens(sequences: Sequence[Sequence[int]], separator_id: int | None = None) -> torch.Tensor:
    """Concatenate documents into one 1-D int64 token stream for language modelling.

    Args:
        sequences: the documents' id sequences, in order.
        separator_id: an id put between consecutive documents (e.g. <eos>), so
            the model sees where one ends; None: plain concatenation.
    """
    if separator_id is None:
        parts: Iterator[Sequence[int]] = iter(sequences)
    else:
        separator = [separator_id]
        parts = itertools.chain.from_iterable((separator, s) if i else (s,) for i, s in enumerate(sequences))
    if sequences and isinstance(sequences[0], torch.Tensor):
        pieces = [torch.as_tensor(p, dtype=torch.int64).reshape(-1) for p in parts]
        return torch.cat(pieces) if pieces else torch.zeros(0, dtype=torch.int64)
    return torch.from_numpy(np.fromiter(itertools.chain.from_iterable(parts), dtype=np.int64))


class LanguageModelBatches:
    """A batch source of (inputs, targets) windows cut from one token stream, targets shifted by one.

    Each epoch cuts the stream into windows of ``block_size + 1`` tokens at a
    stride of ``block_size`` (so the inputs do not overlap and every token is
    a target once), starting at an offset drawn in ``[0, block_size)`` when
    shuffling, and visits the windows in a seeded random order. Both draws
    depend only on ``(seed, epoch)``: ``batches(epoch, start=k)`` yields
    exactly batches k, k+1, ... of the uninterrupted epoch (exact resume).
    The random offset shows the model every split point of the text over
    the epochs instead of the same ``block_size`` boundaries each time.

    Formula: window i = tokens[o + i*block_size : o + (i+1)*block_size + 1];
             inputs = window[:-1], targets = window[1:]
    Reference: Karpathy, nanoGPT (random windows of a packed token stream).

    Args:
        tokens: the packed 1-D int64 stream (see :func:`pack_tokens`); batches
            are cut on its device (windows are drawn on the CPU).
        block_size: context length T of each example.
        batch_size: windows per batch.
        seed: base seed; epoch e draws from seed * 100003 + e.
        shuffle: random offset and window order (training); False: offset 0, in order.
        drop_last: drop a final batch smaller than ``batch_size``.
    """

    def __init__(self, tokens: torch.Tensor, block_size: int, batch_size: int, *, seed: int = 0,
                 shuffle: bool = True, drop_last: bool = False):
        tokens = torch.as_tensor(tokens)
        if tokens.dim() != 1 or tokens.dtype.is_floating_point or tokens.dtype == torch.bool:
            raise DataError(f"LanguageModelBatches expects a 1-D integer token stream; received a {tokens.dtype} "
                            f"tensor of shape {tuple(tokens.shape)}. Pack the documents with pack_tokens().")
        self.block_size = _positive("data.text.block_size", block_size, "128")
        self.batch_size = _positive("train.batch_size", batch_size, "64")
        count = tokens.numel()
        if count < block_size + 1:
            raise DataError(f"the token stream is too short for data.text.block_size={block_size}: received "
                            f"{count} tokens, expected at least block_size + 1 = {block_size + 1}. Lower "
                            f"data.text.block_size (at most {max(count - 1, 1)}) or give more text.")
        self.tokens = tokens.to(torch.int64)
        self.seed, self.shuffle, self.drop_last = seed, shuffle, drop_last
        if shuffle:
            # As many windows as fit from the latest offset, so len() is the same every epoch.
            self.num_samples = max((count - block_size) // block_size, 1)
            self.num_offsets = min(block_size, count - self.num_samples * block_size)
        else:
            self.num_samples, self.num_offsets = (count - 1) // block_size, 1
        if drop_last and self.num_samples < batch_size:
            raise DataError(f"train.drop_last=true with batch_size={batch_size} leaves no batch of the "
                            f"{self.num_samples} windows. Lower train.batch_size or data.text.block_size.")

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    def window_starts(self, epoch: int) -> torch.Tensor:
        """The start positions of the windows of ``epoch``, in the order they are visited."""
        if not self.shuffle:
            return torch.arange(self.num_samples) * self.block_size
        generator = _epoch_generator(self.seed, epoch)
        offset = torch.randint(self.num_offsets, (1,), generator=generator)
        return offset + torch.randperm(self.num_samples, generator=generator) * self.block_size

    def batches(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(inputs (B, block_size), targets (B, block_size)) batches of ``epoch`` from batch ``start`` on."""
        starts = self.window_starts(epoch)
        span = torch.arange(self.block_size + 1)
        for number in range(start, len(self)):
            chosen = starts[number * self.batch_size : (number + 1) * self.batch_size]
            positions = (chosen[:, None] + span).reshape(-1).to(self.tokens.device, non_blocking=True)
            # index_select, not tokens[positions]: advanced indexing is far slower on busy CPUs.
            windows = self.tokens.index_select(0, positions).view(len(chosen), -1)  # (B, block_size + 1)
            yield windows[:, :-1], windows[:, 1:]


class LengthBucketSampler:
    """Batches of samples of similar length, in random order: less padding than random batching.

    Each epoch draws a seeded permutation, cuts it into chunks of
    ``bucket_batches * batch_size`` samples, sorts each chunk by length and
    cuts it into batches, then shuffles the batches. Batches hold samples of
    similar length (so :func:`trim_padding` removes most padding), while the
    order of samples and batches stays random. Every sample appears once per
    epoch (with ``drop_last=False``); a pure function of ``(seed, epoch)``.
    Use as ``TensorBatches(tensors, batch_size, sampler=LengthBucketSampler(lengths, batch_size))``.

    Reference: the bucketing of Sutskever et al. 2014 and of tf.data's
    bucket_by_sequence_length; fairseq/torchtext "pool" batching.

    Args:
        lengths: (N,) the length of each sample (e.g. from :func:`pad_sequences`).
        batch_size: samples per batch.
        seed: base seed; epoch e draws from seed * 100003 + e.
        bucket_batches: batches per sorted chunk: larger pools give more
            uniform lengths per batch but less random batch composition (100).
        drop_last: drop the one batch smaller than ``batch_size``.
    """

    def __init__(self, lengths: torch.Tensor, batch_size: int, *, seed: int = 0, bucket_batches: int = 100,
                 drop_last: bool = False):
        lengths = torch.as_tensor(lengths).cpu()
        if lengths.dim() != 1 or lengths.numel() == 0:
            raise DataError(f"LengthBucketSampler expects a non-empty 1-D tensor of sample lengths; received "
                            f"shape {tuple(lengths.shape)}. Pass the lengths returned by pad_sequences.")
        self.lengths = lengths
        self.num_samples = lengths.numel()
        self.batch_size = _positive("train.batch_size", batch_size, "64")
        self.bucket_batches = _positive("bucket_batches", bucket_batches, "100")
        self.seed, self.drop_last = seed, drop_last
        if drop_last and self.num_samples < batch_size:
            raise DataError(f"train.drop_last=true with batch_size={batch_size} leaves no batch of the "
                            f"{self.num_samples} samples. Lower train.batch_size or set train.drop_last=false.")

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    def epoch_batches(self, epoch: int) -> list[torch.Tensor]:
        """All index batches of ``epoch``, in the order they are visited."""
        generator = _epoch_generator(self.seed, epoch)
        order = torch.randperm(self.num_samples, generator=generator)
        batches: list[torch.Tensor] = []
        for chunk in order.split(self.bucket_batches * self.batch_size):
            by_length = chunk.index_select(0, torch.argsort(self.lengths.index_select(0, chunk), stable=True))
            batches.extend(by_length.split(self.batch_size))
        if self.drop_last and len(batches[-1]) < self.batch_size:
            batches.pop()  # chunks hold whole batches, so only the very last one can be short
        return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]

    def batches(self, epoch: int, start: int = 0) -> Iterator[torch.Tensor]:
        """Index tensors of the batches of ``epoch``, from batch number ``start`` on."""
        yield from self.epoch_batches(epoch)[start:]
