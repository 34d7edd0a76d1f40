"""The registries of ``shendu.optim`` (optimizers, schedules) and their option checks.

Kept in their own module so that the family modules (``optimizers``,
``schedules``) can import them without an import cycle through the package
``__init__``.
"""

from __future__ import annotations

import inspect
from typing import Any

from shendu.errors import ConfigError, Problem
from shendu.registry import Entry, Registry

OPTIMIZERS = Registry("optimizer", "optimizers", supplied=("params",))
SCHEDULES = Registry("schedule", "schedules", supplied=("optimizer", "total_steps", "steps_per_epoch"))


def check_number(
    section: str,
    name: str,
    key: str,
    value: Any,
    *,
    minimum: float = 0.0,
    maximum: float | None = None,
    positive: bool = False,
    example: str,
) -> float:
    """Return ``value`` as a float if it is a number in range, else raise a ConfigError.

    The range is ``minimum <= value`` (``> 0`` when ``positive``) and
    ``value < maximum`` when a maximum is given. ``section`` is the config key
    ("optimizer", "schedule") used in the message.
    """
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    in_range = is_number and value >= minimum and not (positive and value <= 0)
    if in_range and maximum is not None:
        in_range = value < maximum
    if not in_range:
        low = "> 0" if positive else f">= {minimum}"
        expected = f"a number {low}" + (f" and < {maximum}" if maximum is not None else "")
        raise ConfigError(
            [Problem(f"{section}.{key}", value, expected, f"Set {{name: {name}, {key}: {example}}}.")]
        )
    return float(value)


def check_lr_and_decay(name: str, lr: Any, weight_decay: Any) -> tuple[float, float]:
    """The two options every optimizer shares: ``lr > 0`` and ``weight_decay >= 0``."""
    lr = check_number("optimizer", name, "lr", lr, positive=True, example="0.001")
    weight_decay = check_number("optimizer", name, "weight_decay", weight_decay, example="0.0001")
    return lr, weight_decay


def check_flag(section: str, name: str, key: str, value: Any, example: str = "true") -> bool:
    """Return ``value`` if it is a bool (YAML ``true``/``false``), else raise a ConfigError."""
    if not isinstance(value, bool):
        fix = f"Set {{name: {name}, {key}: {example}}}."
        raise ConfigError([Problem(f"{section}.{key}", value, "true or false", fix)])
    return value


def check_count(section: str, name: str, key: str, value: Any, *, minimum: int = 1, example: str) -> int:
    """Return ``value`` if it is an integer >= ``minimum`` (bools are not counts), else raise a ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        expected = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ConfigError([Problem(f"{section}.{key}", value, expected, f"Set {{name: {name}, {key}: {example}}}.")])
    return value


def check_choice(section: str, name: str, key: str, value: Any, choices: tuple[Any, ...]) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise a ConfigError listing them."""
    # Compare types too: 1 == True, and a YAML 1 is not the choice true.
    if not any(type(value) is type(choice) and value == choice for choice in choices):
        listed = ", ".join("null" if c is None else repr(c) for c in choices)
        fix = f"Set {{name: {name}, {key}: {'null' if choices[0] is None else choices[0]}}}."
        raise ConfigError([Problem(f"{section}.{key}", value, f"one of {listed}", fix)])
    return value


def check_betas(name: str, betas: Any) -> tuple[float, float]:
    """Adam-family ``betas``: two numbers in [0, 1); YAML/JSON lists become a tuple."""
    ok = (
        isinstance(betas, (list, tuple))
        and len(betas) == 2
        and all(isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1 for b in betas)
    )
    if not ok:
        raise ConfigError(
            [
                Problem(
                    "optimizer.betas",
                    betas,
                    "two numbers in [0, 1): the decay rates of the first and second moments",
                    f"Set {{name: {name}, betas: [0.9, 0.999]}}.",
                )
            ]
        )
    return float(betas[0]), float(betas[1])


def default_of(entry: Entry, key: str, fallback: Any = None) -> Any:
    """The default value of ``key`` in ``entry``'s constructor, or ``fallback``."""
    parameter = inspect.signature(entry.constructor).parameters.get(key)
    if parameter is None or parameter.default is inspect.Parameter.empty:
        return fallback
    return parameter.default


__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "check_betas",
    "check_choice",
    "check_count",
    "check_flag",
    "check_lr_and_decay",
    "check_number",
    "default_of",
]
