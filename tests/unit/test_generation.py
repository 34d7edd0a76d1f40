"""Decoding: sampling filters, greedy and beam search, on tiny hand-made models whose answers are known."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from shendu.models.generation import (
    beam_search,
    greedy_decode,
    sample,
    top_k_logits,
    top_p_logits,
)

BOS, EOS = 2, 3


class FixedLanguageModel(nn.Module):
    """The same next-token logits at every position, whatever the context."""

    block_size = None

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = nn.Parameter(logits.float())

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(ids.shape[0], ids.shape[1], -1)  # (B, T, V)


class BigramLanguageModel(nn.Module):
    """Next-token logits read from a table by the current token: causal by construction."""

    def __init__(self, table: torch.Tensor, block_size: int | None = 16):
        super().__init__()
        self.table, self.block_size = nn.Parameter(table.float()), block_size

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.table[ids]  # (B, T, V)


class FirstTokenLanguageModel(nn.Module):
    """Predicts the first token of its context: shows which context it was given. Refuses more than block_size."""

    def __init__(self, vocab_size: int, block_size: int):
        super().__init__()
        self.vocab_size, self.block_size, self.lengths = vocab_size, block_size, []

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if ids.shape[1] > self.block_size:
            raise IndexError(f"context of {ids.shape[1]} tokens > block_size {self.block_size}")
        self.lengths.append(ids.shape[1])
        first = ids[:, :1].expand(-1, ids.shape[1])  # (B, T)
        return 10.0 * nn.functional.one_hot(first, self.vocab_size).float()


def log_table(rules: dict[int, dict[int, float]], vocab_size: int) -> torch.Tensor:
    """(V, V) log-probabilities from {previous: {next: probability}}; unlisted rows end at once (eos)."""
    table = torch.full((vocab_size, vocab_size), float("-inf"))
    table[:, EOS] = 0.0
    for previous, nexts in rules.items():
        table[previous] = float("-inf")
        for token, probability in nexts.items():
            table[previous, token] = math.log(probability)
    return table


# Source 0: greedy takes A (4) then C (6) with p = .55 * .4 = .22; B (5) then eos has p = .45 * .95 = .4275.
GREEDY_TRAP = {BOS: {4: 0.55, 5: 0.45}, 4: {6: 0.4, 5: 0.35, EOS: 0.25}, 6: {EOS: 1.0}, 5: {EOS: 0.95, 6: 0.05}}
# Source 1: short [4] with log p = -1, long [5, 6, 7] with log p = -1.2; the rest of the mass on 8..11.
REST = (1 - math.exp(-1.0) - math.exp(-1.2)) / 4
SHORT_OR_LONG = {BOS: {4: math.exp(-1.0), 5: math.exp(-1.2), **{z: REST for z in range(8, 12)}},
                 4: {EOS: 1.0}, 5: {6: 1.0}, 6: {7: 1.0}, 7: {EOS: 1.0}}


class TableSequenceToSequence(nn.Module):
    """A bigram table per source: source[:, 0] picks the table. The state must follow every reordering."""

    def __init__(self, tables: list[torch.Tensor]):
        super().__init__()
        self.tables = nn.Parameter(torch.stack(tables))  # (N, V, V)

    def encode(self, source: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"which": source[:, 0]}

    def decode(self, state: dict[str, torch.Tensor], prefix: torch.Tensor) -> torch.Tensor:
        tables = self.tables[state["which"]]  # (B, V, V)
        return tables[torch.arange(len(prefix)).unsqueeze(1), prefix]  # (B, t, V)

    def forward(self, source: torch.Tensor, target_in: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(source), target_in)


class TinySequenceToSequence(nn.Module):
    """Random weights: mean-pooled source, running mean of the target prefix, and an eos logit that grows with t."""

    def __init__(self, vocab_size: int = 9, width: int = 8, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.source_embedding, self.target_embedding = nn.Embedding(vocab_size, width), nn.Embedding(vocab_size, width)
        self.output = nn.Linear(width, vocab_size)

    def encode(self, source: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"memory": self.source_embedding(source).mean(1)}  # (B, D)

    def decode(self, state: dict[str, torch.Tensor], prefix: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(1, prefix.shape[1] + 1).unsqueeze(1)  # (t, 1)
        hidden = self.target_embedding(prefix).cumsum(1) / positions + state["memory"].unsqueeze(1)  # (B, t, D)
        logits = self.output(torch.tanh(hidden))
        return logits + 0.4 * positions.squeeze(1).unsqueeze(0).unsqueeze(2) * (torch.arange(logits.shape[-1]) == EOS)

    def forward(self, source: torch.Tensor, target_in: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(source), target_in)


# -- sampling ------------------------------------------------------------------------
def test_top_k_never_emits_outside_the_k_largest() -> None:
    model = FixedLanguageModel(torch.tensor([0.0, 0.9, 0.3, 1.2, 0.1, 1.0, 0.2, 1.1]))
    prompt = torch.zeros(300, 1, dtype=torch.int64)
    out = sample(model, prompt, 3, top_k=3, generator=torch.Generator().manual_seed(0))
    assert out.shape == (300, 4) and set(out[:, 1:].unique().tolist()) == {3, 5, 7}
    filtered = top_k_logits(torch.tensor([[1.0, 3.0, 2.0, 3.0]]), 2)
    assert filtered.isfinite().tolist() == [[False, True, False, True]]


def test_top_p_keeps_the_smallest_set_reaching_p() -> None:
    probabilities = torch.tensor([0.05, 0.4, 0.1, 0.3, 0.15])  # sorted: 1 (.4), 3 (.3), 4 (.15), 2 (.1), 0 (.05)
    logits = probabilities.log()
    kept = {p: set(top_p_logits(logits, p).isfinite().nonzero().squeeze(1).tolist()) for p in (0.3, 0.6, 0.8, 1.0)}
    assert kept == {0.3: {1}, 0.6: {1, 3}, 0.8: {1, 3, 4}, 1.0: {0, 1, 2, 3, 4}}
    assert top_p_logits(torch.tensor([5.0, 0.0]), 0.01).isfinite().tolist() == [True, False]  # at least one
    out = sample(FixedLanguageModel(logits), torch.zeros(400, 1, dtype=torch.int64), 2, top_p=0.8,
                 generator=torch.Generator().manual_seed(1))
    assert set(out[:, 1:].unique().tolist()) == {1, 3, 4}


def test_temperature_zero_is_argmax_and_temperature_one_follows_the_softmax() -> None:
    table = torch.randn(6, 6, generator=torch.Generator().manual_seed(3))
    model = BigramLanguageModel(table)
    prompt = torch.arange(6).unsqueeze(1)  # every start token
    expected = [prompt[:, 0]]
    for _ in range(5):
        expected.append(table[expected[-1]].argmax(1))
    greedy = sample(model, prompt, 5, temperature=0.0, top_k=4, top_p=0.5)
    torch.testing.assert_close(greedy, torch.stack(expected, dim=1))
    logits = torch.tensor([0.0, 1.0, 2.0])
    draws = sample(FixedLanguageModel(logits), torch.zeros(4000, 1, dtype=torch.int64), 1,
                   generator=torch.Generator().manual_seed(2))[:, 1]
    frequencies = torch.bincount(draws, minlength=3).float() / 4000
    torch.testing.assert_close(frequencies, logits.softmax(0), atol=0.03, rtol=0)
    hot = sample(FixedLanguageModel(logits), torch.zeros(4000, 1, dtype=torch.int64), 1, temperature=2.0,
                 generator=torch.Generator().manual_seed(2))[:, 1]
    torch.testing.assert_close(torch.bincount(hot, minlength=3).float() / 4000, (logits / 2).softmax(0), atol=0.03, rtol=0)


def test_seeded_sampling_is_reproducible() -> None:
    model = BigramLanguageModel(torch.randn(7, 7, generator=torch.Generator().manual_seed(4)))
    prompt = torch.zeros(5, 2, dtype=torch.int64)

    def draw(seed: int) -> torch.Tensor:
        return sample(model, prompt, 8, top_k=5, generator=torch.Generator().manual_seed(seed))

    torch.testing.assert_close(draw(11), draw(11))
    assert not torch.equal(draw(11), draw(12))


def test_rows_stop_at_eos_and_generation_ends_when_all_have() -> None:
    table = log_table({4: {5: 0.9, 6: 0.1}, 5: {EOS: 0.8, 4: 0.2}, 6: {6: 1.0}}, vocab_size=7)
    model = BigramLanguageModel(table)
    out = sample(model, torch.tensor([[4], [6]]), 4, temperature=0, eos_id=EOS)
    assert out.tolist() == [[4, 5, EOS, EOS, EOS], [6, 6, 6, 6, 6]]
    assert sample(model, torch.tensor([4]), 10, temperature=0, eos_id=EOS).tolist() == [[4, 5, EOS]]


def test_context_is_cropped_to_the_block_size() -> None:
    model = FirstTokenLanguageModel(vocab_size=10, block_size=3)
    model.train()
    out = sample(model, torch.tensor([5, 6, 7]), 4, temperature=0)
    # Each step sees the last 3 tokens and repeats the first of them.
    assert out.tolist() == [[5, 6, 7, 5, 6, 7, 5]] and max(model.lengths) == 3
    assert model.training  # the mode is restored


def test_invalid_sampling_options_say_what_to_do() -> None:
    model, prompt = FixedLanguageModel(torch.zeros(4)), torch.zeros(1, 1, dtype=torch.int64)
    cases = [({"temperature": -0.5}, "temperature must be a number >= 0; received -0.5"),
             ({"top_k": 0}, "top_k must be an integer >= 1 or None; received 0"),
             ({"top_p": 0.0}, r"top_p must be a number in \(0, 1\] or None; received 0.0"),
             ({"top_p": 1.5}, "received 1.5. Set e.g. top_p=0.9")]
    for options, message in cases:
        with pytest.raises(ValueError, match=message):
            sample(model, prompt, 2, **options)
    with pytest.raises(ValueError, match="integer tensor of token ids"):
        sample(model, torch.zeros(1, 3), 2)
    with pytest.raises(ValueError, match="max_new_tokens must be an integer >= 0"):
        sample(model, prompt, -1)


# -- greedy and beam search ------------------------------------------------------------
def table_model() -> TableSequenceToSequence:
    return TableSequenceToSequence([log_table(GREEDY_TRAP, 12), log_table(SHORT_OR_LONG, 12)])


def test_beam_search_finds_what_greedy_misses() -> None:
    model, source = table_model(), torch.tensor([[0, 1, 1]])
    assert greedy_decode(model, source, bos_id=BOS, eos_id=EOS, max_length=10) == [[4, 6]]
    assert beam_search(model, source, bos_id=BOS, eos_id=EOS, beam_size=2, length_penalty=0.0) == [[5]]
    assert math.log(0.45 * 0.95) > math.log(0.55 * 0.4)  # the hand-computed reason


def test_length_penalty_switches_between_short_and_long_as_computed_by_hand() -> None:
    model, source = table_model(), torch.tensor([[1]])
    # |y| counts eos: short [4] has 2 tokens and log p -1; long [5, 6, 7] has 4 tokens and log p -1.2.
    for alpha in (0.0, 0.6, 0.68, 0.8, 1.0):  # 0.68 tells |y| with eos (tie 0.7254) from without (0.634)
        short = -1.0 / ((5 + 2) / 6) ** alpha
        long = -1.2 / ((5 + 4) / 6) ** alpha
        expected = [4] if short > long else [5, 6, 7]
        assert beam_search(model, source, bos_id=BOS, eos_id=EOS, beam_size=2, length_penalty=alpha,
                           max_length=8) == [expected]
        assert expected == ([4] if alpha < 0.7254 else [5, 6, 7])  # the tie: (9/7)^alpha = 1.2


def test_batched_beam_search_reorders_state_per_source() -> None:
    model = table_model()
    batch = torch.tensor([[1, 0], [0, 0], [1, 0]])
    expected = [beam_search(model, row.unsqueeze(0), bos_id=BOS, eos_id=EOS, beam_size=3, length_penalty=1.0)[0]
                for row in batch]
    assert expected == [[5, 6, 7], [5], [5, 6, 7]]
    assert beam_search(model, batch, bos_id=BOS, eos_id=EOS, beam_size=3, length_penalty=1.0) == expected


def test_beam_size_one_equals_greedy() -> None:
    model = TinySequenceToSequence()
    source = torch.randint(4, 9, (6, 5), generator=torch.Generator().manual_seed(5))
    greedy = greedy_decode(model, source, bos_id=BOS, eos_id=EOS, max_length=7)
    assert len({len(tokens) for tokens in greedy}) > 1  # rows end at different steps
    assert beam_search(model, source, bos_id=BOS, eos_id=EOS, beam_size=1, max_length=7) == greedy
    assert all(len(tokens) <= 7 for tokens in beam_search(model, source, bos_id=BOS, eos_id=EOS, max_length=7))
    table = table_model()
    both = torch.tensor([[0], [1]])
    assert beam_search(table, both, bos_id=BOS, eos_id=EOS, beam_size=1) == greedy_decode(
        table, both, bos_id=BOS, eos_id=EOS, max_length=100)


def test_greedy_decode_stops_at_max_length_and_restores_the_mode() -> None:
    rules = {BOS: {4: 1.0}, 4: {5: 1.0}, 5: {4: 1.0}}  # never ends
    model = TableSequenceToSequence([log_table(rules, 6)])
    model.train()
    assert greedy_decode(model, torch.tensor([[0]]), bos_id=BOS, eos_id=EOS, max_length=5) == [[4, 5, 4, 5, 4]]
    assert beam_search(model, torch.tensor([[0]]), bos_id=BOS, eos_id=EOS, beam_size=2, max_length=5) == [[4, 5, 4, 5, 4]]
    assert model.training


def test_decoding_input_errors() -> None:
    with pytest.raises(TypeError, match="sequence-to-sequence model with encode"):
        greedy_decode(FixedLanguageModel(torch.zeros(4)), torch.zeros(1, 2, dtype=torch.int64), bos_id=BOS,
                      eos_id=EOS, max_length=3)
    with pytest.raises(ValueError, match=r"\(B, T\).*unsqueeze\(0\)"):
        beam_search(table_model(), torch.tensor([0, 1]), bos_id=BOS, eos_id=EOS)
    with pytest.raises(ValueError, match="beam_size must be an integer >= 1; received 0"):
        beam_search(table_model(), torch.tensor([[0]]), bos_id=BOS, eos_id=EOS, beam_size=0)
    with pytest.raises(ValueError, match="length_penalty must be a number >= 0"):
        beam_search(table_model(), torch.tensor([[0]]), bos_id=BOS, eos_id=EOS, length_penalty=-1)
