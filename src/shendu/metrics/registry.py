"""The registry of ``shendu.metrics`` and the functions that build metric sets from it.

Kept in its own module so that the family modules (``classification``,
``regression``) can import it without an import cycle through the package
``__init__``. Every entry carries the tags ``kind`` ("classification" or
"regression") and ``higher_is_better``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torchmetrics import MetricCollection

from shendu.errors import ConfigError, Problem
from shendu.registry import Registry

METRICS = Registry("metric", "metrics", supplied=("num_classes", "num_outputs"))

KINDS = ("classification", "regression")
DEFAULT_METRICS = {
    "classification": ["accuracy", "precision", "recall", "f1"],
    "regression": ["mse", "mae", "rmse", "r2"],
}
DEFAULT_MONITORS = {"classification": ("accuracy", "max"), "regression": ("mse", "min")}
# Names a monitor may carry that are not metrics: the loss the engine logs itself.
LOWER_IS_BETTER_EXTRAS = ("loss",)
SPLIT_PREFIXES = ("train.", "val.", "test.")


def _check_kind(kind: Any) -> str:
    if kind not in KINDS:
        raise ValueError(
            f"expected a metric kind in {KINDS}; received {kind!r}. Pass kind='classification' or 'regression'."
        )
    return kind


def names_of_kind(kind: str) -> list[str]:
    """The registered metric names whose ``kind`` tag is ``kind``."""
    _check_kind(kind)
    return [entry.name for entry in METRICS.entries() if entry.tags.get("kind") == kind]


def build_metrics(
    names: Sequence[str | Mapping[str, Any]] | None,
    kind: str,
    num_classes: int | None = None,
    num_outputs: int | None = None,
) -> MetricCollection:
    """Build a ``MetricCollection`` keyed by metric name, for one kind of task.

    ``names`` None gives the kind's defaults (accuracy, precision, recall, f1
    for classification; mse, mae, rmse, r2 for regression). A name may also
    be a mapping ``{"name": "accuracy", "top_k": 5}``. A metric of the other
    kind, a repeated name or an unknown name is an error.
    """
    _check_kind(kind)
    if names is None:
        specs = list(DEFAULT_METRICS[kind])
    else:
        specs = [names] if isinstance(names, (str, Mapping)) else list(names)
    metrics, problems = {}, []
    for spec in specs:
        name, _ = METRICS.split_spec(spec)
        entry = METRICS.entry(name)  # unknown names raise with suggestions
        if entry.tags.get("kind") != kind:
            fitting = ", ".join(names_of_kind(kind))
            problems.append(Problem("metrics", name, f"a {kind} metric", f"Remove it, or choose from: {fitting}."))
        elif name in metrics:
            problems.append(Problem("metrics", name, "each metric once", f"Remove the repeated {name!r}."))
        else:
            metrics[name] = METRICS.get(spec, num_classes=num_classes, num_outputs=num_outputs)
    if problems:
        raise ConfigError(problems)
    if not metrics:
        problem = Problem("metrics", names, "at least one metric name", "Leave metrics out for the defaults.")
        raise ConfigError([problem])
    return MetricCollection(metrics)


def default_monitor(kind: str) -> tuple[str, str]:
    """The metric that picks the best checkpoint by default, and its mode ("max" or "min")."""
    return DEFAULT_MONITORS[_check_kind(kind)]


def higher_is_better(name: str) -> bool:
    """Whether a larger value of metric ``name`` is better.

    Accepts a metric name (``"accuracy"``), one with a split prefix
    (``"val.accuracy"``) and ``"loss"`` (lower is better).
    """
    for prefix in SPLIT_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    if name in LOWER_IS_BETTER_EXTRAS:
        return False
    return bool(METRICS.entry(name).tags["higher_is_better"])


__all__ = [
    "DEFAULT_METRICS",
    "KINDS",
    "METRICS",
    "build_metrics",
    "default_monitor",
    "higher_is_better",
    "names_of_kind",
]
