"""The registry of ``shendu.losses``, the option checks every loss shares, and the profile contract.

Kept in its own module so that the family modules (``classification``,
``regression``, ``margin``, ...) can import it without an import cycle through
the package ``__init__``.

Every loss is registered with a summary, ``formula``, ``reference`` and these
tags, which ``shendu explain`` relies on to plot it:

- ``kind``: the family ("classification", "regression", "segmentation",
  "embedding", "distribution", "adversarial", "composite").
- ``profile``: a plain function ``profile(x) -> Tensor``. ``x`` is a 1-D float
  tensor of N points; the result is the loss at each point, shape (N,), or
  (N, k) for k curves drawn on the same axes. It calls the registered loss
  itself (default options, ``reduction="none"`` where the loss has one), so the
  plot shows the implementation, not a re-typed formula.
- ``profile_axis``: the label of x, e.g. "margin y·z (z = logit, y = ±1)".
- ``profile_range``: ``(low, high)``, the interval of x worth plotting (the
  profile may be undefined outside it, e.g. a probability in (0, 1]).
- ``profile_labels``: only when the profile returns (N, k): the names of the
  k curves, in column order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from shendu.errors import ConfigError, DataError, Problem
from shendu.registry import Registry

LOSSES = Registry("loss", "losses")

REDUCTIONS = ("mean", "sum", "none")

Profile = Callable[[torch.Tensor], torch.Tensor]


def check_reduction(loss: str, reduction: Any) -> str:
    """Return ``reduction`` if it is one of ``REDUCTIONS``, else raise a ConfigError."""
    if reduction not in REDUCTIONS:
        raise ConfigError(
            [
                Problem(
                    "loss.reduction",
                    reduction,
                    f"one of {', '.join(REDUCTIONS)}",
                    f"Set {{name: {loss}, reduction: mean}} (the default).",
                )
            ]
        )
    return reduction


def check_number(
    loss: str,
    key: str,
    value: Any,
    *,
    minimum: float,
    maximum: float | None = None,
    positive: bool = False,
    include_maximum: bool = False,
    example: str,
) -> float:
    """Return ``value`` as a float if it is finite, >= minimum, < maximum (<= with
    ``include_maximum``) and > 0 when ``positive``; else raise a ConfigError naming ``loss.<key>``."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and value >= minimum and not (positive and value <= 0)
    if ok and maximum is not None:
        ok = value <= maximum if include_maximum else value < maximum
    if not ok:
        closing = "]" if include_maximum else ")"
        bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}{closing}"
        bound = "> 0" if positive and maximum is None else bound
        raise ConfigError(
            [Problem(f"loss.{key}", value, f"a number {bound}", f"Set {{name: {loss}, {key}: {example}}}.")]
        )
    return float(value)


def check_integer(loss: str, key: str, value: Any, *, minimum: int | None = None, example: str) -> int:
    """Return ``value`` if it is an integer (>= minimum when given), else raise a ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
        expected = "an integer" if minimum is None else f"an integer >= {minimum}"
        raise ConfigError([Problem(f"loss.{key}", value, expected, f"Set {{name: {loss}, {key}: {example}}}.")])
    return value


def check_choice(loss: str, key: str, value: Any, choices: tuple[Any, ...]) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise a ConfigError listing them."""
    if isinstance(value, bool) != isinstance(choices[0], bool) or value not in choices:
        raise ConfigError(
            [
                Problem(
                    f"loss.{key}",
                    value,
                    f"one of {', '.join(repr(c) for c in choices)}",
                    f"Set {{name: {loss}, {key}: {choices[0]!r}}} (the default).",
                )
            ]
        )
    return value


def check_weights(loss: str, key: str, value: Any) -> list[float] | None:
    """Return ``value`` as a list of non-negative floats (or None), else raise a ConfigError."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value]
    ok = isinstance(value, (list, tuple)) and len(value) > 0 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in value
    )
    if not ok:
        raise ConfigError(
            [
                Problem(
                    f"loss.{key}",
                    value,
                    "a non-empty list of non-negative numbers (one per class or output)",
                    f"Set e.g. {{name: {loss}, {key}: [1.0, 2.0]}} or leave it out.",
                )
            ]
        )
    return [float(v) for v in value]


def check_same_shape(loss: str, outputs: torch.Tensor, targets: torch.Tensor) -> None:
    """Raise a DataError unless outputs and targets have exactly the same shape.

    Broadcasting is refused on purpose: outputs (B, 1) against targets (B,)
    would silently broadcast to (B, B) and train on the wrong loss.
    """
    if outputs.shape == targets.shape:
        return
    received = f"outputs of shape {tuple(outputs.shape)} and targets of shape {tuple(targets.shape)}"
    if outputs.numel() == targets.numel():
        fix = (
            f"Reshape the targets to {tuple(outputs.shape)} (targets.view_as(outputs)), "
            "or make the model output the targets' shape."
        )
    else:
        fix = (
            "Make the model output one value per target: check the output size of its last layer "
            "(num_outputs) against the number of target columns."
        )
    raise DataError(f"loss {loss!r}: expected outputs and targets of the same shape; received {received}. {fix}")


def check_tensor_pair(loss: str, outputs: Any, count: int, meaning: str) -> tuple[torch.Tensor, ...]:
    """Return ``outputs`` as a tuple of ``count`` tensors of one shape, else raise a DataError.

    Args:
        loss: the loss's registered name, for the message.
        outputs: what the model returned (a tuple or list of tensors).
        count: how many tensors the loss needs (2 for pairs, 3 for triplets).
        meaning: what they are, e.g. "(anchor, positive, negative) embeddings".
    """
    parts = tuple(outputs) if isinstance(outputs, (tuple, list)) else None
    if parts is None or len(parts) != count or not all(isinstance(p, torch.Tensor) for p in parts):
        received = type(outputs).__name__ if parts is None else f"{len(parts)} items"
        raise DataError(
            f"loss {loss!r}: expected outputs as a tuple of {count} tensors, the {meaning}; received {received}. "
            f"Return a tuple of {count} (B, D) tensors from the model (or the step function)."
        )
    shapes = [tuple(p.shape) for p in parts]
    if len(set(shapes)) != 1 or parts[0].dim() != 2:
        raise DataError(
            f"loss {loss!r}: expected {count} embeddings of one shape (B, D); received shapes {shapes}. "
            "Give every part the same batch size and embedding size."
        )
    return parts


def reduce(per_item: torch.Tensor, reduction: str) -> torch.Tensor:
    """Apply a checked ``reduction`` to per-item losses: their mean, their sum, or themselves."""
    if reduction == "mean":
        return per_item.mean()
    if reduction == "sum":
        return per_item.sum()
    return per_item


# -- profiles: each calls the registered loss, so the plot shows the implementation --------------
MARGIN_AXIS = "margin y·z (z = logit, y = ±1)"
CLASS_MARGIN_AXIS = "margin z_true − z_other (logits of two classes)"
ERROR_AXIS = "error ŷ − y"


def margin_profile(name: str, **options: Any) -> Profile:
    """The loss of one logit z = x with a positive label (y = 1), so x is the margin y·z."""

    def profile(x: torch.Tensor) -> torch.Tensor:
        loss = LOSSES.get({"name": name, "reduction": "none", **options})
        return loss(x, torch.ones_like(x))

    return profile


def class_margin_profile(name: str, **options: Any) -> Profile:
    """The loss of two-class logits (0, x) with true class 1, so x is z_true − z_other."""

    def profile(x: torch.Tensor) -> torch.Tensor:
        loss = LOSSES.get({"name": name, "reduction": "none", **options})
        logits = torch.stack([torch.zeros_like(x), x], dim=1)  # (N, 2)
        return loss(logits, torch.ones(len(x), dtype=torch.long))

    return profile


def error_profile(name: str, **options: Any) -> Profile:
    """The loss of a prediction x against the target 0, so x is the error ŷ − y."""

    def profile(x: torch.Tensor) -> torch.Tensor:
        return LOSSES.get({"name": name, "reduction": "none", **options})(x, torch.zeros_like(x))

    return profile


__all__ = [
    "CLASS_MARGIN_AXIS",
    "ERROR_AXIS",
    "LOSSES",
    "MARGIN_AXIS",
    "REDUCTIONS",
    "check_choice",
    "check_integer",
    "check_number",
    "check_reduction",
    "check_same_shape",
    "check_tensor_pair",
    "check_weights",
    "class_margin_profile",
    "error_profile",
    "margin_profile",
    "reduce",
]
