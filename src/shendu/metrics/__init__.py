"""Metrics: how a model is judged, built on torchmetrics and chosen by name.

``build_metrics(None, "classification", num_classes=10)`` gives the defaults
for a kind of task as a ``torchmetrics.MetricCollection``; ``shendu list
metrics`` shows every entry. Each metric's ``kind`` and ``higher_is_better``
are registry tags, used to pick the best checkpoint and the early-stopping mode.
Kinds: classification, regression, language-model (perplexity),
sequence-to-sequence (bleu, chrf on text), forecasting (mae, rmse, smape,
mase; MASE's ``scale`` is supplied by the task) and multilabel (micro-f1,
macro-f1, hamming-loss, subset-accuracy, label-ranking-ap, ... on logits;
``tune_thresholds`` and ``apply_thresholds`` set per-label thresholds).
"""

from __future__ import annotations

from shendu.metrics import classification, forecasting, multilabel, regression, text
from shendu.metrics.classification import confusion_matrix
from shendu.metrics.forecasting import seasonal_naive_scale
from shendu.metrics.thresholds import apply_thresholds, tune_thresholds
from shendu.metrics.registry import (
    DEFAULT_METRICS,
    DEFAULT_MONITORS,
    KINDS,
    METRICS,
    build_metrics,
    default_monitor,
    higher_is_better,
    kinds_of,
    names_of_kind,
)

__all__ = [
    "DEFAULT_METRICS",
    "DEFAULT_MONITORS",
    "KINDS",
    "METRICS",
    "apply_thresholds",
    "build_metrics",
    "classification",
    "confusion_matrix",
    "default_monitor",
    "forecasting",
    "higher_is_better",
    "kinds_of",
    "multilabel",
    "names_of_kind",
    "regression",
    "seasonal_naive_scale",
    "text",
    "tune_thresholds",
]
