"""The registry of ``shendu.losses`` and the option checks every loss shares.

Kept in its own module so that the family modules (``classification``,
``regression``) can import it without an import cycle through the package
``__init__``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from shendu.errors import ConfigError, DataError, Problem
from shendu.registry import Registry

LOSSES = Registry("loss", "losses")

REDUCTIONS = ("mean", "sum", "none")


def build_loss(spec: Any) -> nn.Module:
    """Build a loss from a name, a ``{"name": ..., **options}`` mapping or a module.

    Unlike a bare ``LOSSES.get``, a misspelt option is reported with the
    options the loss accepts (``loss.label_smothing: no such option ...``).
    """
    LOSSES.check(spec, "loss")
    return LOSSES.get(spec)


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
    example: str,
) -> float:
    """Return ``value`` as a float if minimum <= value (< maximum; > 0 if positive), else raise."""
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not is_number or value < minimum or (maximum is not None and value >= maximum) or (positive and value <= 0):
        bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum})"
        bound = "> 0" if positive else bound
        raise ConfigError(
            [Problem(f"loss.{key}", value, f"a number {bound}", f"Set {{name: {loss}, {key}: {example}}}.")]
        )
    return float(value)


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


__all__ = [
    "LOSSES",
    "REDUCTIONS",
    "build_loss",
    "check_number",
    "check_reduction",
    "check_same_shape",
    "check_weights",
]
