"""Multi-label metrics over torchmetrics, and per-label decision thresholds tuned on validation data.

Every constructor is ``(num_classes=None, num_outputs=None) ->
torchmetrics.Metric``. ``update(preds, targets)`` takes LOGITS (B, L), one
per label (never probabilities), and targets (B, L) of 0/1 (integer,
boolean, or floats equal to 0 or 1).

The number of labels L is ``num_outputs``, which the task supplies through
``build_metrics(None, "multilabel", num_outputs=L)`` (the model's output
size, one logit per label). A task that lists its labels as class names may
pass ``num_classes=L`` instead; if both are given they must agree.

A label is predicted present when its logit is > 0, i.e. sigmoid(logit) >
0.5. The sigmoid is decided here, not by torchmetrics: torchmetrics 1.9 applies
it only when some value of the batch lies outside [0, 1], a test made per
batch, so a batch of small logits (all in [0, 1]) would silently be read as
probabilities. Thresholded metrics therefore receive the hard 0/1 decisions
``logit > 0`` and the ranking metric receives sigmoid(logit) in float64.

Per-label thresholds t_l are applied by the task by shifting the logits
(:func:`apply_thresholds`): the metrics' threshold is then 0.5 on
sigmoid(logit - logit(t_l)), which is sigmoid(logit) > t_l. The thresholds
come from :func:`tune_thresholds` on validation data, never on the test split
(both live in ``shendu.metrics.thresholds``).

Averaging: micro pools the TP, FP and FN counts of all labels; macro computes
each label's score and averages with equal weight per label, every label
included. A score 0/0 (a label with no positive in the targets and none
predicted, for F1 and recall; nothing predicted, for precision) counts 0,
torchmetrics' ``zero_division=0``, as scikit-learn's ``zero_division=0``.
"""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics import Metric
from torchmetrics.classification import (
    MultilabelExactMatch,
    MultilabelF1Score,
    MultilabelHammingDistance,
    MultilabelPrecision,
    MultilabelRankingAveragePrecision,
    MultilabelRecall,
)
from torchmetrics.wrappers.abstract import WrapperMetric

from shendu.errors import ConfigError, DataError, Problem
from shendu.metrics.registry import METRICS



def _num_labels(metric: str, num_classes: Any, num_outputs: Any) -> int:
    """L from ``num_outputs`` (or ``num_classes`` when it is the only one given), checked >= 2."""
    given = [n for n in (num_outputs, num_classes) if n is not None]
    valid = bool(given) and all(isinstance(n, int) and not isinstance(n, bool) and n >= 2 for n in given)
    if not valid or len(set(given)) > 1:
        received = f"{metric} with num_outputs={num_outputs!r}, num_classes={num_classes!r}"
        raise ConfigError([Problem(
            "metrics", received, "num_outputs, the number of labels L >= 2, from the task's data",
            "Build multi-label metrics with build_metrics(..., 'multilabel', num_outputs=L); "
            "with a single label, use classification with 2 classes.",
        )])
    return given[0]


def _check_labels(metric: str, num_labels: int, preds: torch.Tensor, targets: torch.Tensor) -> None:
    if preds.dim() != 2 or preds.shape[1] != num_labels or targets.shape != preds.shape:
        raise DataError(
            f"{metric} expects logits (B, {num_labels}) and 0/1 targets of the same shape; received "
            f"{tuple(preds.shape)} and {tuple(targets.shape)}. Pass one logit and one target column per label."
        )
    if not preds.is_floating_point():
        raise DataError(
            f"{metric} expects float logits (B, {num_labels}); received {preds.dtype}. "
            "Pass the model's raw outputs, not 0/1 decisions."
        )
    if ((targets != 0) & (targets != 1)).any():
        raise DataError(
            f"{metric} expects targets of 0 and 1 only (label absent / present); received values "
            f"{torch.unique(targets).tolist()[:8]}. Binarise the targets, e.g. (targets > 0.5).long()."
        )


class FromLogits(WrapperMetric):
    """A torchmetrics multi-label metric fed from logits: hard decisions logit > 0, or sigmoid scores to rank.

    Composition rather than a subclass per torchmetrics class: the wrapped
    metric keeps its own states, reset and synchronisation.

    Args:
        metric: the torchmetrics multi-label metric.
        name: the registered name, for error messages.
        num_labels: L, checked on every update.
        scores: True to pass sigmoid(logits) (ranking metrics); False to pass the decisions logit > 0.
    """

    def __init__(self, metric: Metric, name: str, num_labels: int, scores: bool = False):
        super().__init__()
        self.metric, self.metric_name, self.num_labels, self.scores = metric, name, num_labels, scores

    @property
    def higher_is_better(self) -> bool | None:  # type: ignore[override]
        return self.metric.higher_is_better

    def _inputs(self, preds: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _check_labels(self.metric_name, self.num_labels, preds, targets)
        preds = torch.sigmoid(preds.double()) if self.scores else (preds > 0).long()
        return preds, targets.long()

    def update(self, preds: torch.Tensor, targets: torch.Tensor) -> None:
        self.metric.update(*self._inputs(preds, targets))

    def forward(self, preds: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.metric(*self._inputs(preds, targets))

    def compute(self) -> torch.Tensor:
        return self.metric.compute()

    def reset(self) -> None:
        self.metric.reset()
        super().reset()


def _decisions(metric_class: type[Metric], name: str, num_classes: Any, num_outputs: Any, **options: Any) -> Metric:
    num_labels = _num_labels(name, num_classes, num_outputs)
    return FromLogits(metric_class(num_labels=num_labels, **options), name, num_labels)


@METRICS.register(
    "micro-f1",
    formula="micro_f1 = 2 * TP / (2 * TP + FP + FN), TP, FP, FN summed over all labels",
    reference="scikit-learn f1_score(average='micro'); torchmetrics MultilabelF1Score(average='micro')",
    kind="multilabel",
    higher_is_better=True,
)
def micro_f1(num_classes: int | None = None, num_outputs: int | None = None) -> Metric:
    """Micro-averaged F1 over labels: F1 of all (sample, label) decisions pooled together.

    The headline number of multi-label classification: every label
    decision counts once, so common labels weigh more (read it next to
    macro-f1). Empty predictions score 0, not a free pass.

    Formula: micro_f1 = 2 * TP / (2 * TP + FP + FN), with TP, FP, FN summed over all labels

    Args:
        num_classes: L, accepted when num_outputs is not given.
        num_outputs: the number of labels L (set by shendu from the data).
    """
    return _decisions(MultilabelF1Score, "micro-f1", num_classes, num_outputs, average="micro")


@METRICS.register(
    "macro-f1",
    formula="macro_f1 = (1 / L) * sum_l 2 * TP_l / (2 * TP_l + FP_l + FN_l), 0/0 counting 0",
    reference="scikit-learn f1_score(average='macro', zero_division=0)",
    kind="multilabel",
    higher_is_better=True,
)
def macro_f1(num_classes: int | None = None, num_outputs: int | None = None) -> Metric:
    """Macro-averaged F1 over labels: each label's F1, averaged with equal weight per label.

    Use it to see the rare labels: a label the model never predicts scores 0
    and pulls the average down however rare it is. Every label is in the
    average, also one with no positive in the data (it scores 0 then, as
    with scikit-learn's zero_division=0).

    Formula: macro_f1 = (1 / L) * sum_l 2 * TP_l / (2 * TP_l + FP_l + FN_l)

    Args:
        num_classes: L, accepted when num_outputs is not given.
        num_outputs: the number of labels L (set by shendu from the data).
    """
    return _decisions(MultilabelF1Score, "macro-f1", num_classes, num_outputs, average="macro")


@METRICS.register(
    "micro-precision",
    formula="micro_precision = TP / (TP + FP), summed over all labels",
    reference="scikit-learn precision_score(average='micro')",
    kind="multilabel",
    higher_is_better=True,
)
def micro_precision(num_classes: int | None = None, num_outputs: int | None = None) -> Metric:
    """Micro-averaged precision over labels: of all labels predicted present, the fraction truly present.

    High precision means few spurious tags. Raising the thresholds raises it
    at the cost of micro-recall.

    Formula: micro_precision = TP / (TP + FP), with TP, FP summed over all labels (0 if nothing is predicted)

    Args:
        num_classes: L, accepted when num_outputs is not given.
        num_outputs: the number of labels L (set by shendu from the data).
    """
    return _decisions(MultilabelPrecision, "micro-precision", num_classes, num_outputs, average="micro")


@METRICS.register(
    "micro-recall",
    formula="micro_recall = TP / (TP + FN), summed over all labels",
    reference="scikit-learn recall_score(average='micro')",
    kind="multilabel",
    higher_is_better=True,
)
def micro_recall(num_classes: int | None = None, num_outputs: int | None = None) -> Metric:
    """Micro-averaged recall over labels: of all labels truly present, the fraction predicted present.

    High recall means few missed tags. Lowering the thresholds raises it at
    the cost of micro-precision.

    Formula: micro_recall = TP / (TP + FN), with TP, FN summed over all labels

    Args:
        num_classes: L, accepted when num_outputs is not given.
        num_outputs: the number of labels L (set by shendu from the data).
    """
    return _decisions(MultilabelRecall, "micro-recall", num_classes, num_outputs, average="micro")


@METRICS.register(
    "hamming-loss",
    formula="hamming_loss = (1 / (B * L)) * sum_i sum_l [y_hat_il != y_il]",
    reference="scikit-learn hamming_loss; torchmetrics MultilabelHammingDistance(average='micro')",
    kind="multilabel",
    higher_is_better=False,
)
def hamming_loss(num_classes: int | None = None, num_outputs: int | None = None) -> Metric:
    """Hamming loss: the fraction of (sample, label) decisions that are wrong; lower is better.

    Easy to read, but on sparse labels a model that predicts nothing
    already scores low (with 3 positives out of 80 labels, 3 / 80 =
    0.0375): judge it next to micro-f1.

    Formula: hamming_loss = (1 / (B * L)) * sum_i sum_l [y_hat_il != y_il]

    Args:
        num_classes: L, accepted when num_outputs is not given.
        num_outputs: the number of labels L (set by shendu from the data).
    """
    return _decisions(MultilabelHammingDistance, "hamming-loss", num_classes, num_outputs, average="micro")


@METRICS.register(
    "subset-accuracy",
    formula="subset_accuracy = (1 / B) * sum_i [y_hat_i == y_i for every label]",
    reference="scikit-learn accuracy_score on label indicator matrices; torchmetrics MultilabelExactMatch",
    kind="multilabel",
    higher_is_better=True,
)
def subset_accuracy(num_classes: int | None = None, num_outputs: int | None = None) -> Metric:
    """Subset accuracy (exact match): the fraction of samples whose whole label set is predicted exactly.

    The strictest multi-label score: one wrong label out of L makes the
    sample wrong. It falls quickly as L grows; use it when the label set is
    what matters as a whole.

    Formula: subset_accuracy = (1 / B) * sum_i [y_hat_il == y_il for every label l]

    Args:
        num_classes: L, accepted when num_outputs is not given.
        num_outputs: the number of labels L (set by shendu from the data).
    """
    return _decisions(MultilabelExactMatch, "subset-accuracy", num_classes, num_outputs)


@METRICS.register(
    "label-ranking-ap",
    formula="lrap = (1 / B) * sum_i (1 / |Y_i|) * sum_{l in Y_i} |{k in Y_i: s_ik >= s_il}| / |{k: s_ik >= s_il}|",
    reference="Tsoumakas, Katakis & Vlahavas, Mining Multi-label Data, 2010; "
    "scikit-learn label_ranking_average_precision_score",
    kind="multilabel",
    higher_is_better=True,
)
def label_ranking_ap(num_classes: int | None = None, num_outputs: int | None = None) -> Metric:
    """Label-ranking average precision: how high each sample ranks its true labels among all its labels.

    Independent of any threshold: it judges the scores' order within each
    sample, so it shows what a model has learnt before thresholds are tuned.
    1 means every true label outranks every false one. A sample with no
    true label (or only true labels) scores 1, as in scikit-learn.

    Formula: lrap = (1 / B) * sum_i (1 / |Y_i|) * sum_{l in Y_i} |{k in Y_i: s_ik >= s_il}| / |{k: s_ik >= s_il}|,
    Y_i the true labels of sample i and s_i its scores.

    Args:
        num_classes: L, accepted when num_outputs is not given.
        num_outputs: the number of labels L (set by shendu from the data).
    """
    num_labels = _num_labels("label-ranking-ap", num_classes, num_outputs)
    metric = MultilabelRankingAveragePrecision(num_labels=num_labels)
    return FromLogits(metric, "label-ranking-ap", num_labels, scores=True)


__all__ = ["FromLogits"]
