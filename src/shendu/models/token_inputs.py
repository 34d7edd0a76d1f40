"""Checks and helpers every token / sequence model shares: what shendu passes in, and where the text ends.

Token ids ``(B, T)`` are right-padded with ``padding_id``; float series are
``(B, T, F)``. The constructor checks here turn a wrong call into a
:class:`~shendu.errors.DataError` that names the model, what it received and
what it needs, instead of a shape error deep inside an ``nn.Embedding``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from shendu.errors import DataError
from shendu.models.registry import option_error, positive_int

_LAYOUTS = {"tokens": "token ids of shape (T,) (with vocab_size)", "sequence": "float sequences of shape (T, F)"}


def _is_positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def check_vocabulary(model: str, vocab_size: Any, padding_id: Any) -> None:
    """``vocab_size`` an integer >= 2 and ``padding_id`` an id inside the vocabulary."""
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 2:
        raise DataError(f"{model}: vocab_size must be an integer >= 2; received {vocab_size!r}. "
                        "It comes from the tokenizer; check that it was fitted on non-empty text.")
    if isinstance(padding_id, bool) or not isinstance(padding_id, int) or not 0 <= padding_id < vocab_size:
        raise DataError(f"{model}: padding_id must be an id in [0, {vocab_size}); received {padding_id!r}. "
                        "shendu tokenizers use 0 for '<pad>'.")


def check_num_outputs(model: str, num_outputs: Any) -> None:
    if not _is_positive_int(num_outputs):
        raise DataError(f"{model}: num_outputs must be a positive integer (classes, targets or vocabulary "
                        f"size); received {num_outputs!r}. Check the task's targets.")


def check_text_inputs(
    model: str,
    input_shape: Sequence[int],
    num_outputs: int,
    vocab_size: Any,
    padding_id: Any,
    accepted: Sequence[str],
) -> tuple[str, tuple[int, ...]]:
    """Check what shendu passes to a token or sequence model; return ``(kind, input_shape)``.

    The kind is "tokens" when ``vocab_size`` is given (then ``input_shape`` is
    ``(T_max,)``), else "sequence" (``input_shape`` is ``(T, F)``).
    """
    shape = tuple(input_shape)
    if not shape or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape):
        raise DataError(
            f"{model}: input_shape must hold positive integers, e.g. (128,) for token ids or (50, 3) for "
            f"series; received {shape!r}. Pass the shape of one sample without the batch axis."
        )
    kind = "tokens" if vocab_size is not None else "sequence" if len(shape) == 2 else None
    expected = " or ".join(_LAYOUTS[k] for k in accepted)
    if kind not in accepted or (kind == "tokens" and len(shape) != 1):
        given = f"with vocab_size={vocab_size!r}" if vocab_size is not None else "without a vocab_size"
        raise DataError(
            f"{model} expects {expected}; received input_shape {shape!r} {given}. "
            "Use a text task (ids from a tokenizer) or a series task with (T, F) windows, "
            "or pick another model (see: shendu list models)."
        )
    if kind == "tokens":
        check_vocabulary(model, vocab_size, padding_id)
    check_num_outputs(model, num_outputs)
    return kind, shape


def embedding_width(model: str, kind: str, embedding_size: Any, default: int = 128) -> int:
    """``embedding_size`` for token inputs (``default`` when None); an error if set for float sequences."""
    if kind == "sequence":
        if embedding_size is not None:
            fix = "Remove model.embedding_size: float sequences enter the network as they are."
            raise option_error(model, "embedding_size", embedding_size, "unset for (T, F) sequence inputs", fix)
        return 0
    return default if embedding_size is None else positive_int(model, "embedding_size", embedding_size)


def token_lengths(ids: torch.Tensor, padding_id: int) -> torch.Tensor:
    """Real tokens per row of right-padded ids: one past the last non-padding id, at least 1.

    An all-padding row counts as length 1 (its first position), so pooling
    never divides by zero and never takes the max of nothing.
    """
    positions = torch.arange(1, ids.shape[1] + 1, device=ids.device)  # (T,)
    return ((ids != padding_id) * positions).amax(dim=1).clamp(min=1)  # (B,)


def token_model_inputs(
    model: str, input_shape: Any, num_outputs: Any, vocab_size: Any, padding_id: Any, expected: str | None = None
) -> tuple[int, int, int]:
    """Check what shendu passes a token model; return ``(max_length, vocab_size, padding_id)``."""
    shape = tuple(input_shape)
    if len(shape) != 1 or not _is_positive_int(shape[0]) or vocab_size is None:
        expected = expected or "token ids: input_shape (T_max,) and a vocab_size"
        without = " without vocab_size" if vocab_size is None else ""
        raise DataError(
            f"{model} expects {expected}; received input_shape {shape!r}{without}. Use text data "
            "(a tokenizer supplies vocab_size), or a model for this kind of input (shendu list models)."
        )
    check_vocabulary(model, vocab_size, padding_id)
    check_num_outputs(model, num_outputs)
    return shape[0], vocab_size, padding_id


def check_next_token_outputs(model: str, num_outputs: int, vocab_size: int) -> None:
    """A language model scores every token of its vocabulary: num_outputs must be vocab_size."""
    if num_outputs != vocab_size:
        raise DataError(f"{model} predicts the next token, so num_outputs must equal vocab_size={vocab_size}; "
                        f"received num_outputs={num_outputs}. Use the text-generation task, which sets both.")


def check_token_ids(model: str, ids: torch.Tensor, name: str = "input") -> None:
    """Token ids must be a (B, T) integer tensor; say so clearly instead of failing inside nn.Embedding."""
    if ids.dim() != 2 or ids.is_floating_point() or ids.dtype == torch.bool:
        raise DataError(f"{model}: the {name} must be token ids, an int64 tensor (B, T); received a "
                        f"{ids.dtype} tensor of shape {tuple(ids.shape)}. Tokenize the text first.")


__all__ = ["check_next_token_outputs", "check_num_outputs", "check_text_inputs", "check_token_ids", "check_vocabulary", "embedding_width",
           "token_lengths", "token_model_inputs"]
