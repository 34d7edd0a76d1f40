"""The registry of ``shendu.metrics`` and the functions that build metric sets from it.

Kept in its own module so that the family modules (``classification``,
``regression``, ``text``, ``forecasting``, ``multilabel``) can import it without an import
cycle through the package ``__init__``. Every entry carries the tags ``kind``
(the kind of task it judges, or a tuple of kinds when it serves several) and
``higher_is_better``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from torchmetrics import MetricCollection

from shendu.errors import ConfigError, Problem
from shendu.registry import Registry

# "scale" is MASE's in-sample naive error, measured on the training series by the task.
# Multi-label metrics read the number of labels L from "num_outputs" (or "num_classes" when only it is given).
METRICS = Registry("metric", "metrics", supplied=("num_classes", "num_outputs", "scale"))

KINDS = ("classification", "regression", "language-model", "sequence-to-sequence", "forecasting", "multilabel")
DEFAULT_METRICS = {
    "classification": ["accuracy", "precision", "recall", "f1"],
    "regression": ["mse", "mae", "rmse", "r2"],
    "language-model": ["perplexity"],
    "sequence-to-sequence": ["bleu", "chrf"],
    "forecasting": ["mae", "rmse", "smape", "mase"],
    "multilabel": ["micro-f1", "macro-f1", "hamming-loss", "subset-accuracy"],
}
DEFAULT_MONITORS = {
    "classification": ("accuracy", "max"),
    "regression": ("mse", "min"),
    "language-model": ("perplexity", "min"),
    "sequence-to-sequence": ("bleu", "max"),
    "forecasting": ("rmse", "min"),
    "multilabel": ("micro-f1", "max"),
}
# Names a monitor may carry that are not metrics: the loss the engine logs itself.
LOWER_IS_BETTER_EXTRAS = ("loss",)
SPLIT_PREFIXES = ("train.", "val.", "test.")


def _check_kind(kind: Any) -> str:
    if kind not in KINDS:
        listed = ", ".join(repr(k) for k in KINDS)
        raise ValueError(f"expected a metric kind, one of {listed}; received {kind!r}. Pass e.g. kind='classification'.")
    return kind


def kinds_of(name: str) -> tuple[str, ...]:
    """The kinds of task metric ``name`` serves, its own kind first: ``kinds_of("mae") == ("regression", "forecasting")``."""
    entry = METRICS.entry(name)
    tagged = entry.tags.get("kind", ())
    tagged = (tagged,) if isinstance(tagged, str) else tuple(tagged)
    return tuple(dict.fromkeys(tagged))


def names_of_kind(kind: str) -> list[str]:
    """The registered metric names that serve ``kind`` (sorted)."""
    _check_kind(kind)
    return [name for name in METRICS.names() if kind in kinds_of(name)]


def _supplied_for(constructor: Any, supplied: Mapping[str, Any]) -> dict[str, Any]:
    """The supplied values ``constructor`` takes by name (``scale`` only reaches MASE)."""
    parameters = inspect.signature(constructor).parameters
    return {key: value for key, value in supplied.items() if key in parameters}


def _check_supplied(supplied: Mapping[str, Any]) -> None:
    extra = sorted(set(supplied) - set(METRICS.supplied))
    if extra:
        raise TypeError(
            f"build_metrics: unexpected supplied value(s) {extra}; expected only {list(METRICS.supplied)}. "
            "Pass metric options inside the spec instead, e.g. {'name': 'perplexity', 'ignore_index': 0}."
        )


def build_metrics(
    names: Sequence[str | Mapping[str, Any]] | None,
    kind: str,
    num_classes: int | None = None,
    num_outputs: int | None = None,
    **supplied: Any,
) -> MetricCollection:
    """Build a ``MetricCollection`` keyed by metric name, for one kind of task.

    ``names`` None gives the kind's defaults (``DEFAULT_METRICS[kind]``: e.g.
    accuracy, precision, recall, f1 for classification; perplexity for a
    language model; bleu, chrf for sequence-to-sequence; mae, rmse, smape,
    mase for forecasting; micro-f1, macro-f1, hamming-loss, subset-accuracy
    for multilabel). A name may also be a mapping ``{"name":
    "accuracy", "top_k": 5}``. A metric of another kind, a repeated name or
    an unknown name is an error.

    Args:
        names: metric names or mappings; None for the kind's defaults.
        kind: one of ``KINDS``.
        num_classes: the number of classes (classification); passed to every constructor.
        num_outputs: the number of outputs (multilabel: the number of labels L); passed to every constructor.
        **supplied: further values the task measures on the data, passed only to the
            constructors that take them: ``scale`` (MASE's in-sample naive MAE).
    """
    _check_kind(kind)
    _check_supplied(supplied)
    if names is None:
        specs = list(DEFAULT_METRICS[kind])
    else:
        specs = [names] if isinstance(names, (str, Mapping)) else list(names)
    metrics, problems = {}, []
    for spec in specs:
        name, _ = METRICS.split_spec(spec)
        entry = METRICS.entry(name)  # unknown names raise with suggestions
        if kind not in kinds_of(name):
            fitting = ", ".join(names_of_kind(kind))
            problems.append(Problem("metrics", name, f"a {kind} metric", f"Remove it, or choose from: {fitting}."))
        elif name in metrics:
            problems.append(Problem("metrics", name, "each metric once", f"Remove the repeated {name!r}."))
        else:
            extra = _supplied_for(entry.constructor, supplied)
            metrics[name] = METRICS.get(spec, num_classes=num_classes, num_outputs=num_outputs, **extra)
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
    "DEFAULT_MONITORS",
    "KINDS",
    "METRICS",
    "build_metrics",
    "default_monitor",
    "higher_is_better",
    "kinds_of",
    "names_of_kind",
]
