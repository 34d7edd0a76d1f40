"""What every augmentation shares: option checks, batch checks and the per-sample ``p`` mask.

Every augmentation draws its randomness from the global torch RNG on the
batch's device (``torch.rand(..., device=batch.device)``): the engine saves
and restores that state with each checkpoint, so ``torch.manual_seed(s)``
before a run makes every augmented batch reproducible, including after a
resume. Draws are made for the whole batch at once, never per sample.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import torch

from shendu.errors import ConfigError, DataError, Problem

INPUT_KINDS = ("image", "tabular", "text", "series")


def option_problem(name: str, option: str, value: Any, expected: str, example: str) -> ConfigError:
    """A ConfigError for one bad option of augmentation ``name``."""
    key = f"data.augment[{name}].{option}"
    return ConfigError([Problem(key, value, expected, f"Set {option}={example}.")])


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_number_pair(value: Any) -> bool:
    """A list or tuple of two finite numbers."""
    return isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2 and all(map(is_number, value))


def check_probability(name: str, p: Any) -> float:
    if not is_number(p) or not 0.0 <= p <= 1.0:
        raise option_problem(name, "p", p, "a probability between 0 and 1", "0.5")
    return float(p)


def check_number(name: str, option: str, value: Any, low: float, high: float = math.inf, example: str = "0.1",
                 include_low: bool = True) -> float:
    """A number in [low, high] (or (low, high] when ``include_low`` is False)."""
    if not is_number(value) or not (value >= low if include_low else value > low) or value > high:
        bracket = "[" if include_low else "("
        raise option_problem(name, option, value, f"a number in {bracket}{low:g}, {high:g}]", example)
    return float(value)


def check_integer(name: str, option: str, value: Any, low: int, example: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise option_problem(name, option, value, f"an integer >= {low}", example)
    return value


def check_range(name: str, option: str, value: Any, low: float, high: float, example: str) -> tuple[float, float]:
    """A pair [a, b] with low < a <= b <= high."""
    if not is_number_pair(value) or not low < value[0] <= value[1] <= high:
        raise option_problem(name, option, value, f"a pair [low, high] with {low:g} < low <= high <= {high:g}", example)
    return float(value[0]), float(value[1])


def symmetric_range(name: str, option: str, value: Any, center: float, low: float, high: float,
                    example: str) -> tuple[float, float]:
    """A number d -> [max(low, center - d), center + d], or a pair [a, b] inside [low, high].

    How torchvision reads jitter strengths and rotation degrees: brightness 0.4
    means a factor in [0.6, 1.4] (brightness 1.5: [0, 2.5]); degrees 15 means
    an angle in [-15, 15]. center + d must stay within ``high``.
    """
    if is_number(value):
        if value < 0 or center + value > high:
            raise option_problem(name, option, value, f"a number in [0, {high - center:g}], or a pair [low, high]",
                                 example)
        return max(low, center - value), center + value
    if not is_number_pair(value) or not low <= value[0] <= value[1] <= high:
        raise option_problem(name, option, value,
                             f"a non-negative number, or a pair [low, high] with {low:g} <= low <= high <= {high:g}",
                             example)
    return float(value[0]), float(value[1])


def check_choice(name: str, option: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise option_problem(name, option, value, f"one of {', '.join(map(repr, choices))}", repr(choices[0]))
    return value


# -- batches -----------------------------------------------------------------------------
def _shape(batch: Any) -> Any:
    return tuple(batch.shape) if isinstance(batch, torch.Tensor) else type(batch).__name__


def check_images(batch: Any, name: str) -> None:
    """Raise a DataError unless ``batch`` is a floating-point (B, C, H, W) tensor."""
    if not isinstance(batch, torch.Tensor) or batch.ndim != 4 or not batch.is_floating_point():
        dtype = f" of dtype {batch.dtype}" if isinstance(batch, torch.Tensor) else ""
        raise DataError(
            f"Augmentation {name!r} expects an image batch shaped (B, C, H, W) of floats; received {_shape(batch)}"
            f"{dtype}. Image augmentations apply to image data only: remove {name!r} from data.augment "
            "(shendu list augmentations shows what applies to which data)."
        )


def check_series(batch: Any, name: str) -> torch.Tensor:
    """A floating-point (B, T, F) batch; (B, T) is read as one feature and returned as (B, T, 1)."""
    if isinstance(batch, torch.Tensor) and batch.is_floating_point() and batch.ndim in (2, 3):
        return batch if batch.ndim == 3 else batch.unsqueeze(-1)
    raise DataError(
        f"Augmentation {name!r} expects a time-series batch shaped (B, T, F) (or (B, T)) of floats; received "
        f"{_shape(batch)}. Series augmentations apply to windows of a time series only: remove {name!r} "
        "from data.augment for other data."
    )


def check_tokens(batch: Any, name: str) -> None:
    """Raise a DataError unless ``batch`` is an integer (B, T) tensor of token ids."""
    if not isinstance(batch, torch.Tensor) or batch.ndim != 2 or batch.is_floating_point() or batch.dtype == torch.bool:
        dtype = f" of dtype {batch.dtype}" if isinstance(batch, torch.Tensor) else ""
        raise DataError(
            f"Augmentation {name!r} expects token ids shaped (B, T) as an integer tensor, padded at the end; "
            f"received {_shape(batch)}{dtype}. Tokenise the text first (text tasks do), or remove {name!r} "
            "from data.augment."
        )


def sample_mask(batch: torch.Tensor, p: float) -> torch.Tensor:
    """(B,) bools: which samples an op with probability ``p`` applies to (one draw per sample)."""
    return torch.rand(batch.shape[0], device=batch.device) < p


def where_samples(mask: torch.Tensor, changed: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """Per sample: ``changed`` where ``mask`` is True, else ``original`` (exactly, bit for bit)."""
    return torch.where(mask.view(-1, *([1] * (original.ndim - 1))), changed, original)


def with_probability(p: float, changed: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """``changed`` for each sample with probability ``p``, else ``original``; the mask is drawn after ``changed``.

    At p == 1 nothing is drawn and ``changed`` is returned as it is.
    """
    return changed if p == 1.0 else where_samples(sample_mask(original, p), changed, original)


@functools.lru_cache(maxsize=64)
def _constant(values: tuple, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    with torch.inference_mode(False):  # an inference tensor could not be saved for a later backward pass
        return torch.tensor(values, dtype=dtype, device=device)


def constant(values: tuple, like: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """A small constant tensor (nested tuples of numbers) on ``like``'s device, in ``dtype`` (default ``like``'s).

    Made once per device and dtype, then reused: ``torch.tensor(..., device="cuda")`` in every
    training step would be a blocking host-to-device copy, i.e. a host sync per step. Do not
    modify the result in place.
    """
    return _constant(values, like.device, like.dtype if dtype is None else dtype)


__all__ = [
    "INPUT_KINDS", "option_problem", "is_number", "is_number_pair", "check_probability", "check_number",
    "check_integer", "check_range", "symmetric_range", "check_choice", "check_images", "check_series", "check_tokens",
    "sample_mask", "where_samples", "with_probability", "constant",
]
