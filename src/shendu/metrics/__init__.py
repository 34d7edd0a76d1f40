"""Metrics: how a model is judged, built on torchmetrics and chosen by name.

``build_metrics(None, "classification", num_classes=10)`` gives the defaults
for a kind of task as a ``torchmetrics.MetricCollection``; ``shendu list
metrics`` shows every entry. Each metric's ``kind`` and ``higher_is_better``
are registry tags, used to pick the best checkpoint and the early-stopping mode.
"""

from __future__ import annotations

from shendu.metrics import classification, regression
from shendu.metrics.classification import confusion_matrix
from shendu.metrics.registry import (
    DEFAULT_METRICS,
    KINDS,
    METRICS,
    build_metrics,
    default_monitor,
    higher_is_better,
    names_of_kind,
)

__all__ = [
    "DEFAULT_METRICS",
    "KINDS",
    "METRICS",
    "build_metrics",
    "classification",
    "confusion_matrix",
    "default_monitor",
    "higher_is_better",
    "names_of_kind",
    "regression",
]
