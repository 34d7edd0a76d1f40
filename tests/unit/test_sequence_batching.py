"""shendu.data.sequences: padding by hand, packing, language-model windows, length buckets."""

from __future__ import annotations

import pytest
import torch

from shendu.data.batching import BatchSampler, TensorBatches
from shendu.data.sequences import (
    LanguageModelBatches,
    LengthBucketSampler,
    pack_tokens,
    pad_sequences,
    padding_mask,
    trim_padding,
)
from shendu.errors import DataError

SEQUENCES = [[5, 6, 7], [8], []]


def test_pad_sequences_by_hand():
    ids, lengths = pad_sequences(SEQUENCES)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0], [0, 0, 0]] and lengths.tolist() == [3, 1, 0]
    assert ids.dtype == lengths.dtype == torch.int64
    ids, lengths = pad_sequences(SEQUENCES, max_length=2)
    assert ids.tolist() == [[5, 6], [8, 0], [0, 0]] and lengths.tolist() == [2, 1, 0]
    ids, _ = pad_sequences(SEQUENCES, max_length=2, truncation="left", padding_id=9)
    assert ids.tolist() == [[6, 7], [8, 9], [9, 9]]
    ids, _ = pad_sequences(SEQUENCES, max_length=10)
    assert ids.shape == (3, 3)  # T = min(max_length, longest)


def test_pad_sequences_accepts_tensors_and_empty_input():
    ids, lengths = pad_sequences([torch.tensor(s, dtype=torch.int64) for s in SEQUENCES], max_length=2,
                                 truncation="left")
    assert ids.tolist() == [[6, 7], [8, 0], [0, 0]] and lengths.tolist() == [2, 1, 0]
    ids, lengths = pad_sequences([])
    assert ids.shape == (0, 0) and lengths.shape == (0,)
    with pytest.raises(DataError, match="truncation"):
        pad_sequences(SEQUENCES, truncation="middle")
    with pytest.raises(DataError, match="max_length"):
        pad_sequences(SEQUENCES, max_length=0)


def test_mask_and_trim_padding():
    ids = torch.tensor([[5, 6, 0, 0, 0], [7, 0, 0, 0, 0]])
    assert padding_mask(ids).tolist() == [[True, True, False, False, False], [True, False, False, False, False]]
    assert trim_padding(ids).tolist() == [[5, 6], [7, 0]]
    assert trim_padding(torch.zeros(2, 3, dtype=torch.int64)).shape == (2, 0)
    assert trim_padding(torch.tensor([[4, 9, 9]]), padding_id=9).tolist() == [[4]]


def test_pack_tokens_with_and_without_separator():
    documents = [[1, 2], [3], [4, 5]]
    assert pack_tokens(documents, separator_id=None).tolist() == [1, 2, 3, 4, 5]
    assert pack_tokens(documents, separator_id=9).tolist() == [1, 2, 9, 3, 9, 4, 5]
    packed = pack_tokens([torch.tensor(d) for d in documents], separator_id=9)
    assert packed.tolist() == [1, 2, 9, 3, 9, 4, 5] and packed.dtype == torch.int64
    assert pack_tokens([], separator_id=3).tolist() == []


def test_language_model_batches_in_order_by_hand():
    source = LanguageModelBatches(torch.arange(103), block_size=10, batch_size=3, shuffle=False)
    assert source.num_samples == 10 and len(source) == 4  # (103 - 1) // 10 windows
    batches = list(source.batches(0))
    inputs, targets = batches[0]
    assert inputs.tolist() == [list(range(0, 10)), list(range(10, 20)), list(range(20, 30))]
    assert targets.tolist() == [list(range(1, 11)), list(range(11, 21)), list(range(21, 31))]
    assert batches[-1][0].shape == (1, 10) and batches[-1][1][0, -1] == 100


def test_language_model_batches_shuffled_are_exact_to_resume():
    tokens = torch.arange(1000) * 7 % 1013  # distinct values: a window's content identifies its start
    source = LanguageModelBatches(tokens, block_size=16, batch_size=5, seed=3)
    assert source.num_samples == (1000 - 16) // 16 and len(source) == 13
    starts = set()
    for epoch in range(4):
        full = list(source.batches(epoch))
        assert len(full) == len(source)
        tail = list(source.batches(epoch, start=6))
        assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(full[6:], tail, strict=True))
        inputs = torch.cat([b[0] for b in full])
        targets = torch.cat([b[1] for b in full])
        assert torch.equal(inputs[:, 1:], targets[:, :-1])  # targets are the inputs shifted by one
        first = [int((tokens == row[0]).nonzero()) for row in inputs]
        assert len(set(first)) == source.num_samples  # each window once
        assert len({s % 16 for s in first}) == 1  # one offset per epoch
        starts.add(first[0] % 16)
        for row, start in zip(targets, first):
            assert torch.equal(row, tokens[start + 1 : start + 17])
    assert len(starts) > 1  # the offset changes across epochs
    again = LanguageModelBatches(tokens, block_size=16, batch_size=5, seed=3)
    assert torch.equal(next(again.batches(2))[0], next(source.batches(2))[0])


def test_language_model_batches_short_streams():
    with pytest.raises(DataError, match=r"received 10 tokens.*expected at least.*11.*data.text.block_size"):
        LanguageModelBatches(torch.arange(10), block_size=10, batch_size=2)
    source = LanguageModelBatches(torch.arange(15), block_size=10, batch_size=2, seed=1)
    assert source.num_samples == 1  # one window; its offset is limited to what fits
    for epoch in range(5):
        (inputs, targets), = list(source.batches(epoch))
        assert int(targets[0, -1]) <= 14
    dropped = LanguageModelBatches(torch.arange(100), block_size=10, batch_size=4, shuffle=False, drop_last=True)
    assert len(dropped) == 2 and all(b[0].shape == (4, 10) for b in dropped.batches(0))


def test_length_bucket_sampler_covers_each_index_once_and_resumes():
    lengths = torch.randint(1, 50, (1003,), generator=torch.Generator().manual_seed(0))
    sampler = LengthBucketSampler(lengths, batch_size=16, seed=5, bucket_batches=4)
    assert len(sampler) == 63
    for epoch in range(2):
        full = list(sampler.batches(epoch))
        assert len(full) == len(sampler)
        assert torch.equal(torch.cat(full).sort().values, torch.arange(1003))
        assert all(torch.equal(a, b) for a, b in zip(full[10:], sampler.batches(epoch, start=10), strict=True))
    assert not torch.equal(torch.cat(list(sampler.batches(0))), torch.cat(list(sampler.batches(1))))
    dropped = LengthBucketSampler(lengths, batch_size=16, seed=5, bucket_batches=4, drop_last=True)
    assert len(dropped) == 62 and all(len(b) == 16 for b in dropped.batches(0))


def test_length_bucket_sampler_reduces_padding_as_tensor_batches_sampler():
    uniform = torch.rand(2000, generator=torch.Generator().manual_seed(0))
    lengths = (1 - 20 * torch.log(uniform)).long().clamp(max=400)  # exponential, mean ~21: skewed
    sequences = [[7] * n for n in lengths.tolist()]
    ids, lengths = pad_sequences(sequences)
    labels = torch.arange(len(ids))

    def mean_padded_length(source):
        return sum(trim_padding(batch[0]).shape[1] for batch in source.batches(0)) / len(source)

    random_batches = TensorBatches((ids, labels), 32, seed=1)
    bucketed = TensorBatches((ids, labels), 32, sampler=LengthBucketSampler(lengths, 32, seed=1))
    assert isinstance(random_batches.sampler, BatchSampler) and len(bucketed) == len(random_batches)
    random_length, bucket_length = mean_padded_length(random_batches), mean_padded_length(bucketed)
    assert bucket_length < 0.5 * random_length, (bucket_length, random_length)
    seen = torch.cat([batch[1] for batch in bucketed.batches(0)])
    assert torch.equal(seen.sort().values, labels)


def test_trim_padding_together_equals_trimming_each_batch():
    from shendu.data.sequences import trim_padding_together

    source = torch.tensor([[5, 6, 0, 0, 0], [7, 0, 0, 0, 0]])
    target = torch.tensor([[2, 8, 9, 3, 0, 0], [2, 3, 0, 0, 0, 0]])
    empty = torch.zeros(2, 4, dtype=torch.long)
    trimmed = trim_padding_together(source, target, empty)
    assert [t.shape[1] for t in trimmed] == [2, 4, 0]
    for original, result in zip((source, target, empty), trimmed):
        assert torch.equal(result, trim_padding(original))
