"""Classification metrics over torchmetrics: accuracy, macro precision, recall and F1, and the 0-1 loss.

Every constructor is ``(num_classes, num_outputs=None, **options) ->
torchmetrics.Metric``. ``update(preds, targets)`` takes logits or
probabilities of shape (B, C) (or predicted labels (B,)) and int64 targets
(B,). Two-class problems are treated as multi-class with C = 2 and averaged
the same way, so every classification task reports the same definitions.

Averaging: accuracy and the 0-1 loss count every sample once (micro); precision, recall and
F1 are computed per class and then averaged with equal weight per class
(macro), so a rare class counts as much as a common one. Classes that appear
neither in the targets nor in the predictions are left out of the average,
as in scikit-learn.
"""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics import Metric
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassF1Score,
    MulticlassHammingDistance,
    MulticlassPrecision,
    MulticlassRecall,
)
from torchmetrics.functional.classification import multiclass_confusion_matrix

from shendu.errors import ConfigError, DataError, Problem
from shendu.metrics.registry import METRICS


def _num_classes(metric: str, num_classes: Any) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ConfigError(
            [
                Problem(
                    "metrics",
                    f"{metric} with num_classes={num_classes!r}",
                    "num_classes, an integer >= 2, from the task's data",
                    "Build classification metrics with build_metrics(..., num_classes=C).",
                )
            ]
        )
    return num_classes


def _multiclass(metric_class: type[Metric], metric: str, num_classes: Any, ignore_index: Any, **options: Any) -> Metric:
    """Build a torchmetrics multi-class metric after checking the options every classification metric shares."""
    if ignore_index is not None and (isinstance(ignore_index, bool) or not isinstance(ignore_index, int)):
        raise ConfigError(
            [
                Problem(
                    "metrics",
                    f"{metric} with ignore_index={ignore_index!r}",
                    "an integer class index or null",
                    f"Set {{name: {metric}, ignore_index: -100}} or remove ignore_index.",
                )
            ]
        )
    return metric_class(num_classes=_num_classes(metric, num_classes), ignore_index=ignore_index, **options)


@METRICS.register(
    "accuracy",
    formula="accuracy = (1 / B) * sum_i [argmax(p_i) == y_i]",
    reference="scikit-learn accuracy_score; torchmetrics MulticlassAccuracy(average='micro')",
    kind="classification",
    higher_is_better=True,
)
def accuracy(
    num_classes: int | None = None, num_outputs: int | None = None, top_k: int = 1, ignore_index: int | None = None
) -> Metric:
    """Accuracy: the fraction of samples whose predicted class is the true class.

    The headline number of balanced classification. Every sample counts
    once (micro average), so on imbalanced data it mostly reflects the
    common classes: read it next to macro F1. ``top_k=5`` gives top-5
    accuracy (the true class among the 5 highest scores).

    Formula: accuracy = (1 / B) * sum_i [argmax(p_i) == y_i]

    Args:
        num_classes: the number of classes C (set by shendu from the data).
        num_outputs: unused; accepted so every metric is built the same way.
        top_k: count a hit when the true class is among the k highest scores.
        ignore_index: targets equal to this are skipped.
    """
    return _multiclass(MulticlassAccuracy, "accuracy", num_classes, ignore_index, top_k=top_k, average="micro")


@METRICS.register(
    "precision",
    formula="precision = (1 / C) * sum_c TP_c / (TP_c + FP_c)",
    reference="scikit-learn precision_score(average='macro')",
    kind="classification",
    higher_is_better=True,
)
def precision(
    num_classes: int | None = None, num_outputs: int | None = None, ignore_index: int | None = None
) -> Metric:
    """Precision, macro-averaged: of the samples predicted as a class, the fraction that are that class.

    High precision means few false alarms. Computed per class and averaged
    with equal weight per class (macro), also for two classes.

    Formula: precision = (1 / C) * sum_c TP_c / (TP_c + FP_c)  (0 where nothing is predicted as c)

    Args:
        num_classes: the number of classes C (set by shendu from the data).
        num_outputs: unused; accepted so every metric is built the same way.
        ignore_index: targets equal to this are skipped.
    """
    return _multiclass(MulticlassPrecision, "precision", num_classes, ignore_index, average="macro")


@METRICS.register(
    "recall",
    formula="recall = (1 / C) * sum_c TP_c / (TP_c + FN_c)",
    reference="scikit-learn recall_score(average='macro')",
    kind="classification",
    higher_is_better=True,
)
def recall(num_classes: int | None = None, num_outputs: int | None = None, ignore_index: int | None = None) -> Metric:
    """Recall, macro-averaged: of the samples of a class, the fraction predicted as that class.

    High recall means few misses. Computed per class and averaged with
    equal weight per class (macro), which makes it the balanced accuracy.

    Formula: recall = (1 / C) * sum_c TP_c / (TP_c + FN_c)

    Args:
        num_classes: the number of classes C (set by shendu from the data).
        num_outputs: unused; accepted so every metric is built the same way.
        ignore_index: targets equal to this are skipped.
    """
    return _multiclass(MulticlassRecall, "recall", num_classes, ignore_index, average="macro")


@METRICS.register(
    "f1",
    formula="f1 = (1 / C) * sum_c 2 * P_c * R_c / (P_c + R_c)",
    reference="van Rijsbergen, Information Retrieval, 1979; scikit-learn f1_score(average='macro')",
    kind="classification",
    higher_is_better=True,
)
def f1(num_classes: int | None = None, num_outputs: int | None = None, ignore_index: int | None = None) -> Metric:
    """F1 score, macro-averaged: the harmonic mean of precision and recall per class, averaged over classes.

    The single number to watch on imbalanced data: a class the model
    ignores scores 0 and pulls the average down however rare it is.

    Formula: f1 = (1 / C) * sum_c 2 * P_c * R_c / (P_c + R_c) = (1 / C) * sum_c 2 TP_c / (2 TP_c + FP_c + FN_c)
    Reference: C. J. van Rijsbergen, "Information Retrieval", 1979.

    Args:
        num_classes: the number of classes C (set by shendu from the data).
        num_outputs: unused; accepted so every metric is built the same way.
        ignore_index: targets equal to this are skipped.
    """
    return _multiclass(MulticlassF1Score, "f1", num_classes, ignore_index, average="macro")


@METRICS.register(
    "zero-one-loss",
    formula="zero_one_loss = (1 / B) * sum_i [argmax(p_i) != y_i] = 1 - accuracy",
    reference="scikit-learn zero_one_loss; torchmetrics MulticlassHammingDistance(average='micro')",
    kind="classification",
    higher_is_better=False,
)
def zero_one_loss(
    num_classes: int | None = None, num_outputs: int | None = None, ignore_index: int | None = None
) -> Metric:
    """0-1 loss: the fraction of samples misclassified, 1 - accuracy; lower is better.

    The loss that classification really cares about, and the error rate of
    papers ("top-1 error"). It cannot be trained on directly (its gradient is
    zero almost everywhere), which is why training minimises a surrogate such
    as 'cross-entropy' or 'hinge'; watch this to see what the surrogate buys.

    Formula: zero_one_loss = (1 / B) * sum_i [argmax(p_i) != y_i] = 1 - accuracy

    Args:
        num_classes: the number of classes C (set by shendu from the data).
        num_outputs: unused; accepted so every metric is built the same way.
        ignore_index: targets equal to this are skipped.
    """
    # For one label per sample, the micro Hamming distance is exactly the misclassified fraction.
    return _multiclass(MulticlassHammingDistance, "zero-one-loss", num_classes, ignore_index, average="micro")


def confusion_matrix(preds: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Count matrix (C, C): entry [i, j] is the number of samples of true class i predicted as j.

    Args:
        preds: logits or probabilities (B, C), or predicted labels (B,).
        targets: true class indices (B,), int64.
        num_classes: the number of classes C.
    """
    num_classes = _num_classes("confusion_matrix", num_classes)
    if preds.dim() == 2 and preds.shape[1] != num_classes:
        raise DataError(
            f"confusion_matrix: expected preds of shape (B, {num_classes}) or (B,); received shape "
            f"{tuple(preds.shape)}. Pass the model's class scores, or argmax labels."
        )
    return multiclass_confusion_matrix(preds, targets, num_classes=num_classes)
