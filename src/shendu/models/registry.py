"""The model registry, and the input and option checks every model family shares.

Constructor contract (every model): ``constructor(input_shape, num_outputs,
**options) -> torch.nn.Module``, where ``input_shape`` is the per-sample shape
(``(C, H, W)`` for images, ``(F,)`` for tabular features, ``(T, F)`` for
sequences) and ``forward(x)`` maps ``(B, *input_shape)`` to ``(B, num_outputs)``.
Each entry carries an ``inputs`` tag naming the input kinds it accepts, and
may carry a ``role`` tag when it returns something else (see :func:`model_role`).

Kept apart from the package ``__init__`` so family modules can import it
without an import cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shendu.errors import ConfigError, DataError, Problem
from shendu.registry import Registry

MODELS = Registry("model", "models", supplied=("input_shape", "num_outputs", "vocab_size", "padding_id"))

# Per-sample rank -> input kind; the rank is all a shape says about its kind.
INPUT_KINDS = {1: "tabular", 2: "sequence", 3: "image"}
_LAYOUTS = {"tabular": "(F,)", "sequence": "(T, F)", "image": "(C, H, W)", "tokens": "(T,) token ids"}
ROLES = ("classifier", "language-model", "sequence-to-sequence", "segmentation")


def input_kind(input_shape: Sequence[int]) -> str:
    """``(C, H, W)`` -> ``"image"``, ``(F,)`` -> ``"tabular"``, ``(T, F)`` -> ``"sequence"``."""
    kind = INPUT_KINDS.get(len(input_shape))
    if kind is None:
        raise DataError(
            f"input_shape must be the shape of one sample, (F,) for tabular data, (T, F) for "
            f"sequences or (C, H, W) for images; received {tuple(input_shape)!r}. "
            "Drop the batch axis, or reshape the data to one of these layouts."
        )
    return kind


def models_for(kind: str) -> list[str]:
    """Names of the registered models whose ``inputs`` tag includes ``kind``."""
    return [e.name for e in MODELS.entries() if kind in e.tags.get("inputs", ())]


def model_role(name: str) -> str:
    """What a registered model returns, from its ``role`` tag (one of ``ROLES``).

    "classifier" (the default): (B, num_outputs); "language-model": (B, T, V)
    logits from (B, T) ids; "sequence-to-sequence": (B, T, V) from (source,
    target_in); "segmentation": (B, num_outputs, H, W) logits per pixel from
    (B, C, H, W) images.
    """
    return MODELS.entry(name).tags.get("role", "classifier")


def unsupported_input(model: str, input_shape: tuple[int, ...], accepted: Sequence[str], kind: str | None = None) -> DataError:
    """The error for a model given an input kind it cannot handle, naming models that can."""
    kind = kind or input_kind(input_shape)
    expected = " or ".join(f"{k} inputs of shape {_LAYOUTS[k]}" for k in accepted)
    candidates = models_for(kind)
    if candidates:
        suggestion = "mlp" if "mlp" in candidates else candidates[0]
        fix = f"Use model={suggestion} for {kind} data (models for {kind} inputs: {', '.join(candidates)})."
    else:
        fix = f"No registered model takes {kind} inputs; reshape the data to {_LAYOUTS[accepted[0]]}."
    return DataError(f"{model} expects {expected}; received {input_shape!r}. {fix}")


def check_model_inputs(
    model: str, input_shape: Sequence[int], num_outputs: int, accepted: Sequence[str]
) -> tuple[int, ...]:
    """Check the arguments shendu passes to every model; return ``input_shape`` as a tuple."""
    shape = tuple(input_shape)
    if not shape or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape):
        raise DataError(
            f"{model}: input_shape must hold positive integers, e.g. (1, 28, 28) or (13,); "
            f"received {shape!r}. Pass the shape of one sample without the batch axis."
        )
    if input_kind(shape) not in accepted:
        raise unsupported_input(model, shape, accepted)
    if isinstance(num_outputs, bool) or not isinstance(num_outputs, int) or num_outputs < 1:
        raise DataError(
            f"{model}: num_outputs must be a positive integer (classes or regression targets); "
            f"received {num_outputs!r}. Check the task's targets."
        )
    return shape


# -- option checks: each raises ConfigError naming the key model.<option> -----
def option_error(model: str, key: str, received: Any, expected: str, fix: str) -> ConfigError:
    return ConfigError([Problem(f"model.{key}", received, f"{expected} for model {model!r}", fix)])


def positive_int(model: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise option_error(model, key, value, "a positive integer", f"Set e.g. model.{key}=64.")
    return value


def positive_ints(model: str, key: str, value: Any, allow_empty: bool = False) -> list[int]:
    valid = isinstance(value, Sequence) and not isinstance(value, str)
    valid = valid and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    if not valid or (not allow_empty and len(value) == 0):
        what = "a list of positive integers" + ("" if allow_empty else " (at least one)")
        raise option_error(model, key, value, what, f"Set e.g. model.{key}=[128,64].")
    return list(value)


def probability(model: str, key: str, value: Any) -> float:
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not is_number or not 0.0 <= value < 1.0:
        fix = f"Set e.g. model.{key}=0.2, or 0 to disable."
        raise option_error(model, key, value, "a number in [0, 1)", fix)
    return float(value)


def boolean(model: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise option_error(model, key, value, "true or false", f"Set model.{key}=true or model.{key}=false.")
    return value


def choice(model: str, key: str, value: Any, choices: Sequence[Any]) -> Any:
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise option_error(model, key, value, f"one of {listed}", f"Set e.g. model.{key}={choices[0]}.")
    return value
