"""Decoding: turn a language model or a sequence-to-sequence model into text, one token at a time.

Model-agnostic: these functions only rely on the role contracts of
``shendu.models`` (see ``registry.ROLES``):

- a "language-model" maps ids (B, T) to logits (B, T, V), causally, and has
  ``block_size`` (int, the longest context; None for recurrent models);
- a "sequence-to-sequence" model has ``encode(source) -> dict of tensors``
  (batch on dim 0) and ``decode(state, target_prefix (B, t)) -> logits (B, t, V)``.

Every step recomputes the model over the whole (cropped) prefix: simple and
exact for any model, at O(T^2) cost; a key/value cache is a model's own
business. Each function runs the model in eval mode without gradients and
restores its training mode afterwards.

- :func:`sample`: ancestral sampling from a language model, with temperature,
  top-k and nucleus (top-p) filtering; temperature 0 is greedy.
- :func:`greedy_decode`: the most likely next token at each step, for
  sequence-to-sequence models.
- :func:`beam_search`: keeps the ``beam_size`` best partial hypotheses, with
  the GNMT length penalty.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


@contextmanager
def _evaluation(model: nn.Module) -> Iterator[None]:
    """Eval mode and no gradients for the duration; the training mode is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_ids(function: str, name: str, ids: Any, ranks: tuple[int, ...]) -> torch.Tensor:
    shapes = " or ".join({1: "(T,)", 2: "(B, T)"}[rank] for rank in ranks)
    if not isinstance(ids, torch.Tensor) or ids.dim() not in ranks or ids.is_floating_point() or ids.shape[-1] == 0:
        received = tuple(ids.shape) if isinstance(ids, torch.Tensor) else type(ids).__name__
        raise ValueError(
            f"{function}: {name} must be an integer tensor of token ids {shapes} with at least one token; "
            f"received {received}. Encode the text with the tokenizer first"
            + (", and add a batch axis with .unsqueeze(0)." if ranks == (2,) else ".")
        )
    return ids.long() if ids.dim() == 2 else ids.long().unsqueeze(0)


def _check_positive_int(function: str, name: str, value: Any, minimum: int = 1) -> None:
    if not _is_int(value) or value < minimum:
        raise ValueError(f"{function}: {name} must be an integer >= {minimum}; received {value!r}. Set e.g. {name}=5.")


def _check_sampling_options(temperature: Any, top_k: Any, top_p: Any) -> None:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature >= 0:
        raise ValueError(f"sample: temperature must be a number >= 0; received {temperature!r}. "
                         "Use 1.0 to sample from the model as is, below 1 for safer text, 0 for greedy.")
    if top_k is not None and (not _is_int(top_k) or top_k < 1):
        raise ValueError(f"sample: top_k must be an integer >= 1 or None; received {top_k!r}. "
                         "Set e.g. top_k=40, or None to keep every token.")
    if top_p is not None and (isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0 < top_p <= 1):
        raise ValueError(f"sample: top_p must be a number in (0, 1] or None; received {top_p!r}. "
                         "Set e.g. top_p=0.9, or None (or 1.0) to keep every token.")


def top_k_logits(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest logits of each row and set the rest to -inf (exactly k, ties broken by index).

    Args:
        logits: (..., V) scores of the next token.
        k: how many to keep; k >= V keeps them all.
    """
    if k >= logits.shape[-1]:
        return logits
    kept = logits.topk(k, dim=-1)
    return torch.full_like(logits, float("-inf")).scatter(-1, kept.indices, kept.values)


def top_p_logits(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filtering: keep the smallest set of most likely tokens whose probability sums to at least ``p``.

    Holtzman et al. 2020, "The Curious Case of Neural Text Degeneration".
    Sorted by probability, a token is kept when the tokens before it sum to
    less than p, so the most likely token is always kept.

    Args:
        logits: (..., V) scores of the next token.
        p: the probability mass to keep, in (0, 1]; 1 keeps every token.
    """
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    probabilities = sorted_logits.softmax(dim=-1)
    mass_before = probabilities.cumsum(dim=-1) - probabilities  # (..., V) mass of the more likely tokens
    dropped_sorted = mass_before >= p
    dropped_sorted[..., 0] = False
    dropped = torch.zeros_like(dropped_sorted).scatter(-1, order, dropped_sorted)
    return logits.masked_fill(dropped, float("-inf"))


def next_tokens(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Choose one token per row of ``logits`` (B, V): argmax at temperature 0, else sample after filtering.

    Order: logits / temperature, then top-k, then top-p, then a draw from the softmax.
    """
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits / temperature
    if top_k is not None:
        logits = top_k_logits(logits, top_k)
    if top_p is not None and top_p < 1:
        logits = top_p_logits(logits, top_p)
    return torch.multinomial(logits.softmax(dim=-1), 1, generator=generator).squeeze(-1)  # (B,)


def sample(model: nn.Module, prompt: torch.Tensor, max_new_tokens: int, *, temperature: float = 1.0,
           top_k: int | None = None, top_p: float | None = None, generator: torch.Generator | None = None,
           eos_id: int | None = None) -> torch.Tensor:
    """Continue ``prompt`` by sampling a language model one token at a time.

    Use it to generate text; temperature < 1, top_k and top_p trade
    diversity for safety, and temperature 0 gives the greedy (argmax)
    continuation. The context is cropped to the last ``model.block_size``
    tokens when the model has an int block size.

    Formula: p(x_t) = softmax(filter(logits_t / temperature)); x_t ~ p

    Args:
        model: a "language-model": ids (B, T) -> logits (B, T, V).
        prompt: token ids (T,) or (B, T), at least one token each (e.g. just <bos>).
        max_new_tokens: how many tokens to add, >= 0.
        temperature: divides the logits; 0 = greedy argmax.
        top_k: keep only the k most likely tokens (None: all).
        top_p: keep the smallest set with probability >= top_p (None: all).
        generator: a seeded ``torch.Generator`` (on the prompt's device) for reproducible draws.
        eos_id: the end-of-sequence id. A row stops at its first eos after the
            prompt and is padded with eos from there; generation ends early
            once every row has stopped.

    Returns:
        (B, T + n) ids, prompt included, with n = max_new_tokens, or fewer when
        every row ended with eos. A (T,) prompt gives B = 1.
    """
    ids = _check_ids("sample", "prompt", prompt, (1, 2))
    _check_positive_int("sample", "max_new_tokens", max_new_tokens, minimum=0)
    _check_sampling_options(temperature, top_k, top_p)
    block_size = getattr(model, "block_size", None)  # None: a recurrent model reads any length
    finished = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
    with _evaluation(model):
        for _ in range(max_new_tokens):
            context = ids if not _is_int(block_size) else ids[:, -block_size:]
            logits = model(context)[:, -1, :].float()  # (B, V)
            token = next_tokens(logits, temperature, top_k, top_p, generator)  # (B,)
            if eos_id is not None:
                token = token.masked_fill(finished, eos_id)
                finished |= token == eos_id
            ids = torch.cat([ids, token.unsqueeze(1)], dim=1)
            if eos_id is not None and bool(finished.all()):
                break
    return ids


def _check_sequence_to_sequence(function: str, model: nn.Module, source: Any, bos_id: Any, eos_id: Any,
                                max_length: Any) -> torch.Tensor:
    if not (callable(getattr(model, "encode", None)) and callable(getattr(model, "decode", None))):
        raise TypeError(f"{function}: expected a sequence-to-sequence model with encode(source) and "
                        f"decode(state, prefix); received {type(model).__name__}. For a language model use sample().")
    for name, value in (("bos_id", bos_id), ("eos_id", eos_id)):
        _check_positive_int(function, name, value, minimum=0)
    _check_positive_int(function, "max_length", max_length)
    return _check_ids(function, "source", source, (2,))


def _select(state: dict[str, torch.Tensor], rows: torch.Tensor) -> dict[str, torch.Tensor]:
    """The rows ``rows`` of every state tensor (batch on dim 0)."""
    return {key: value.index_select(0, rows) for key, value in state.items()}


def greedy_decode(model: nn.Module, source: torch.Tensor, *, bos_id: int, eos_id: int,
                  max_length: int) -> list[list[int]]:
    """Translate each source by taking the most likely next token until eos or ``max_length`` tokens.

    Fast and usually close to beam search; it cannot undo an early choice that
    looked best locally. The source is encoded once; rows that emitted eos are
    dropped from the batch.

    Args:
        model: a "sequence-to-sequence" model (encode / decode).
        source: (B, S) source ids, right-padded.
        bos_id: the id that starts every target.
        eos_id: the id that ends a target.
        max_length: the most tokens generated per row, eos included.

    Returns:
        B lists of target ids, without bos and eos.
    """
    source = _check_sequence_to_sequence("greedy_decode", model, source, bos_id, eos_id, max_length)
    outputs: list[list[int]] = [[] for _ in range(source.shape[0])]
    with _evaluation(model):
        state = model.encode(source)
        prefix = torch.full((source.shape[0], 1), bos_id, dtype=torch.long, device=source.device)  # (A, 1)
        active = torch.arange(source.shape[0], device=source.device)  # rows of the batch still decoding
        for _ in range(max_length):
            token = model.decode(state, prefix)[:, -1].argmax(dim=-1)  # (A,)
            going = token != eos_id
            for row, value in zip(active[going].tolist(), token[going].tolist()):
                outputs[row].append(value)
            if not bool(going.all()):
                kept = going.nonzero().squeeze(1)
                state, prefix, active, token = _select(state, kept), prefix[kept], active[kept], token[kept]
            if len(active) == 0:
                break
            prefix = torch.cat([prefix, token.unsqueeze(1)], dim=1)
    return outputs


def length_penalty_factor(length: int, alpha: float) -> float:
    """GNMT length penalty lp = ((5 + length) / 6) ** alpha (Wu et al. 2016); alpha 0 gives 1."""
    return ((5 + length) / 6) ** alpha


def _finish(finished: list[list[tuple[float, list[int]]]], sources: list[int], rows: list[tuple[int, int]],
            scores: torch.Tensor, prefix: torch.Tensor, beam_of: torch.Tensor, length: int, alpha: float,
            beam_size: int) -> None:
    """Record hypotheses (source slot a, candidate j) as finished with score sum log p / lp(length)."""
    for slot, candidate in rows:
        score = float(scores[slot, candidate])
        if math.isfinite(score):
            tokens = prefix[slot * beam_size + int(beam_of[slot, candidate]), 1:].tolist()
            finished[sources[slot]].append((score / length_penalty_factor(length, alpha), tokens))


def _beam_step(log_probs: torch.Tensor, scores: torch.Tensor, beam_size: int, eos_id: int) -> tuple[torch.Tensor, ...]:
    """Top 2K extensions of each source's beams, and the first K that do not end in eos.

    Each beam has one eos extension at most, so at least K of the 2K do not end in eos.
    Returns (candidate scores, beam, token, ends-in-eos) of the 2K candidates (A, 2K) and
    the positions of the K kept ones (A, K).
    """
    num_sources, vocab_size = scores.shape[0], log_probs.shape[-1]
    totals = (scores.reshape(-1, 1) + log_probs).reshape(num_sources, beam_size * vocab_size)  # (A, K * V)
    top_scores, top_index = totals.topk(min(2 * beam_size, totals.shape[1]), dim=1)  # (A, 2K)
    beam_of, token = top_index // vocab_size, top_index % vocab_size
    ends = token == eos_id
    kept = ends.to(torch.int8).sort(dim=1, stable=True).indices[:, :beam_size]  # (A, K) non-eos, best first
    return top_scores, beam_of, token, ends, kept


def beam_search(model: nn.Module, source: torch.Tensor, *, bos_id: int, eos_id: int, beam_size: int = 5,
                length_penalty: float = 0.6, max_length: int = 100) -> list[list[int]]:
    """Translate each source keeping the ``beam_size`` most likely partial targets at every step.

    Finds higher-probability outputs than greedy decoding, at beam_size times
    the cost; beam_size 1 is greedy decoding. Sources are batched (B * K rows,
    state expanded with ``repeat_interleave`` and reordered with
    ``index_select``). An extension ending in eos that ranks among the top K
    becomes a finished hypothesis; a source stops when it has K of them
    (as in fairseq), or at ``max_length``, where its live beams count as
    finished. The best finished hypothesis by normalised score wins.

    Formula: score(y) = sum_t log p(y_t | y_<t, x) / lp(|y|), lp = ((5 + |y|) / 6) ** alpha,
    |y| counting the generated tokens with eos (Wu et al. 2016, GNMT)

    Args:
        model: a "sequence-to-sequence" model (encode / decode).
        source: (B, S) source ids, right-padded.
        bos_id: the id that starts every target.
        eos_id: the id that ends a target.
        beam_size: hypotheses kept per source, K >= 1.
        length_penalty: alpha >= 0; 0 compares raw log-probabilities (favouring
            short outputs), larger values favour longer ones.
        max_length: the most tokens generated per hypothesis, eos included.

    Returns:
        B lists of target ids, without bos and eos.
    """
    source = _check_sequence_to_sequence("beam_search", model, source, bos_id, eos_id, max_length)
    _check_positive_int("beam_search", "beam_size", beam_size)
    if isinstance(length_penalty, bool) or not isinstance(length_penalty, (int, float)) or not length_penalty >= 0:
        raise ValueError(f"beam_search: length_penalty must be a number >= 0; received {length_penalty!r}. "
                         "Set e.g. length_penalty=0.6 (GNMT), or 0 for none.")
    num_sources, device = source.shape[0], source.device
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(num_sources)]
    with _evaluation(model):
        state = {key: value.repeat_interleave(beam_size, dim=0) for key, value in model.encode(source).items()}
        prefix = torch.full((num_sources * beam_size, 1), bos_id, dtype=torch.long, device=device)  # (A * K, 1)
        scores = torch.full((num_sources, beam_size), float("-inf"), device=device)  # (A, K)
        scores[:, 0] = 0.0  # one live beam at first, so the K beams do not start as copies
        sources = list(range(num_sources))  # the source of each slot still searching
        for length in range(1, max_length + 1):
            log_probs = F.log_softmax(model.decode(state, prefix)[:, -1].float(), dim=-1)  # (A * K, V)
            top_scores, beam_of, token, ends, kept = _beam_step(log_probs, scores, beam_size, eos_id)
            ended = ends[:, :beam_size].nonzero().tolist()  # eos among the top K
            _finish(finished, sources, ended, top_scores, prefix, beam_of, length, length_penalty, beam_size)
            scores, beam_of, token = top_scores.gather(1, kept), beam_of.gather(1, kept), token.gather(1, kept)
            slots = torch.arange(len(sources), device=device).unsqueeze(1)  # (A, 1)
            rows = (slots * beam_size + beam_of).reshape(-1)  # (A * K,) the beam each survivor extends
            prefix = torch.cat([prefix.index_select(0, rows), token.reshape(-1, 1)], dim=1)
            state = _select(state, rows)
            going = [slot for slot, index in enumerate(sources) if len(finished[index]) < beam_size]
            if length == max_length:  # live beams count as finished, without eos
                every = [(slot, beam) for slot in going for beam in range(beam_size)]
                here = torch.arange(beam_size, device=device).expand(len(sources), beam_size)
                _finish(finished, sources, every, scores, prefix, here, length, length_penalty, beam_size)
            elif len(going) < len(sources):
                kept_slots = torch.tensor(going, dtype=torch.long, device=device)
                rows = (kept_slots.unsqueeze(1) * beam_size + torch.arange(beam_size, device=device)).reshape(-1)
                state, prefix, scores = _select(state, rows), prefix.index_select(0, rows), scores[kept_slots]
                sources = [sources[slot] for slot in going]
            if not going:
                break
    return [max(hypotheses, key=lambda scored: scored[0])[1] if hypotheses else [] for hypotheses in finished]
