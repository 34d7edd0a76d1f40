"""Multi-label parts: the asymmetric loss, the multi-label metrics against scikit-learn, per-label thresholds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn import metrics as sk
from torchmetrics.classification import MultilabelExactMatch

from shendu.errors import ConfigError, DataError
from shendu.losses import AsymmetricLoss, build_loss
from shendu.metrics import (
    DEFAULT_METRICS,
    METRICS,
    apply_thresholds,
    build_metrics,
    default_monitor,
    higher_is_better,
    names_of_kind,
    tune_thresholds,
)

MULTI_LABEL_METRICS = ["hamming-loss", "label-ranking-ap", "macro-f1", "micro-f1", "micro-precision",
                       "micro-recall", "subset-accuracy"]


def _case(num_samples: int = 240, num_labels: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (N, L) that lean towards the truth and 0/1 targets; label 4 has no positive at all."""
    generator = torch.Generator().manual_seed(seed)
    rates = torch.tensor([0.5, 0.3, 0.15, 0.05, 0.0, 0.4])[:num_labels]
    targets = (torch.rand(num_samples, num_labels, generator=generator) < rates).long()
    logits = torch.randn(num_samples, num_labels, generator=generator) * 1.5 + 1.2 * targets - 0.8
    return logits, targets


def _reference_asymmetric(logits, targets, gamma_negative=4.0, gamma_positive=0.0, clip=0.05, eps=1e-8):
    """Ridnik et al.'s reference code (github.com/Alibaba-MIIL/ASL, losses.py, AsymmetricLoss), written out."""
    probabilities = torch.sigmoid(logits)
    negative = (1 - probabilities + clip).clamp(max=1) if clip > 0 else 1 - probabilities
    loss = targets * torch.log(probabilities.clamp(min=eps)) + (1 - targets) * torch.log(negative.clamp(min=eps))
    p_true = probabilities * targets + negative * (1 - targets)
    loss = loss * torch.pow(1 - p_true, gamma_positive * targets + gamma_negative * (1 - targets))
    return -loss.sum()


# -- the asymmetric loss -------------------------------------------------------------------------
def test_asymmetric_without_focusing_or_clip_is_binary_cross_entropy_summed_over_labels() -> None:
    logits, targets = _case()
    plain = {"name": "asymmetric", "gamma_negative": 0.0, "gamma_positive": 0.0, "clip": 0.0}
    labels = targets.float()
    elements = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")  # (N, L)
    # "sum" is the reference's reduction: everything summed.
    torch.testing.assert_close(build_loss({**plain, "reduction": "sum"})(logits, targets), elements.sum())
    # "none": one loss per sample, the sum over its labels; "mean": their mean over samples.
    torch.testing.assert_close(build_loss({**plain, "reduction": "none"})(logits, targets), elements.sum(dim=1))
    torch.testing.assert_close(build_loss(plain)(logits, targets), elements.sum(dim=1).mean())
    bce = build_loss("binary-cross-entropy")(logits, labels)
    torch.testing.assert_close(build_loss(plain)(logits, targets), bce * logits.shape[1])


@pytest.mark.parametrize("options", [{}, {"gamma_positive": 1.0}, {"clip": 0.0}, {"gamma_negative": 2.0, "clip": 0.2}])
def test_asymmetric_equals_the_reference_code_with_its_gradient(options: dict) -> None:
    logits, targets = _case()
    logits, labels = (logits * 3).double(), targets.double()
    ours, theirs = logits.clone().requires_grad_(True), logits.clone().requires_grad_(True)
    value = build_loss({"name": "asymmetric", "reduction": "sum", **options})(ours, labels)
    expected = _reference_asymmetric(theirs, labels, **options)
    torch.testing.assert_close(value, expected)
    value.backward()
    expected.backward()
    torch.testing.assert_close(ours.grad, theirs.grad)


def test_asymmetric_by_hand_for_one_sample_with_two_labels() -> None:
    # z = (0, ln 3), y = (1, 0): the positive has p = 0.5 and costs -log 0.5 (gamma_positive = 0);
    # the negative has p = 0.75, shifted p_m = 0.70, and costs -0.7^4 * log(1 - 0.7).
    logits, targets = torch.tensor([[0.0, math.log(3.0)]]), torch.tensor([[1, 0]])
    expected = math.log(2.0) - 0.7**4 * math.log(0.3)
    assert build_loss("asymmetric")(logits, targets).item() == pytest.approx(expected, rel=1e-6)
    assert AsymmetricLoss()(logits, targets).item() == pytest.approx(0.98222105, rel=1e-6)
    # An easy negative (p <= clip) costs nothing at all.
    assert build_loss("asymmetric")(torch.tensor([[-3.0]]), torch.tensor([[0]])).item() == 0.0


@pytest.mark.parametrize("options", [{}, {"eps": 0.0}, {"clip": 0.0, "eps": 0.0}, {"gamma_negative": 0.5},
                                     {"gamma_positive": 0.5, "gamma_negative": 1.5, "clip": 0.1}])
def test_asymmetric_gradients_are_finite_for_extreme_logits(options: dict) -> None:
    logits = torch.tensor([[50.0, -50.0, 50.0, -50.0, 0.0]], requires_grad=True)
    targets = torch.tensor([[1.0, 1.0, 0.0, 0.0, 1.0]])
    loss = build_loss({"name": "asymmetric", **options})(logits, targets)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    if options.get("eps") == 0.0:
        # Without the floor, a confidently wrong positive (z = -50) still pulls its logit up.
        assert logits.grad[0, 1] < 0 and loss.item() > 50


def test_asymmetric_errors_say_received_expected_and_fix() -> None:
    loss = build_loss("asymmetric")
    with pytest.raises(DataError, match=r"\(4, 3\).*\(4, 2\).*number of target columns"):
        loss(torch.zeros(4, 3), torch.zeros(4, 2))
    with pytest.raises(DataError, match=r"view_as"):
        loss(torch.zeros(4, 3), torch.zeros(12))
    with pytest.raises(ConfigError, match=r"loss\.gamma_positive.*Fix"):
        build_loss({"name": "asymmetric", "gamma_positive": -1})
    with pytest.raises(ConfigError, match=r"loss\.reduction"):
        build_loss({"name": "asymmetric", "reduction": "batchmean"})


# -- metrics ---------------------------------------------------------------------------------------
def _sklearn(name: str, targets: np.ndarray, logits: np.ndarray, thresholds=None) -> float:
    if name == "label-ranking-ap":
        return sk.label_ranking_average_precision_score(targets, logits)
    probabilities = 1 / (1 + np.exp(-logits.astype(np.float64)))
    predicted = (probabilities > (0.5 if thresholds is None else thresholds)).astype(np.int64)
    if name == "hamming-loss":
        return sk.hamming_loss(targets, predicted)
    if name == "subset-accuracy":
        return sk.accuracy_score(targets, predicted)
    average, score = name.split("-")
    scorer = {"f1": sk.f1_score, "precision": sk.precision_score, "recall": sk.recall_score}[score]
    # torchmetrics scores 0/0 as 0 (zero_division=0), every label included: scikit-learn's zero_division=0.
    return scorer(targets, predicted, average=average, zero_division=0)


def test_kind_defaults_monitor_and_directions() -> None:
    assert names_of_kind("multilabel") == MULTI_LABEL_METRICS
    assert DEFAULT_METRICS["multilabel"] == ["micro-f1", "macro-f1", "hamming-loss", "subset-accuracy"]
    assert default_monitor("multilabel") == ("micro-f1", "max")
    assert not higher_is_better("hamming-loss") and not higher_is_better("val.hamming-loss")
    assert all(higher_is_better(name) for name in MULTI_LABEL_METRICS if name != "hamming-loss")
    collection = build_metrics(None, "multilabel", num_outputs=6)
    assert sorted(collection.keys()) == sorted(DEFAULT_METRICS["multilabel"])
    with pytest.raises(ConfigError, match="expected a multilabel metric; received 'f1'"):
        build_metrics(["micro-f1", "f1"], "multilabel", num_outputs=6)


@pytest.mark.parametrize("name", MULTI_LABEL_METRICS)
def test_every_multi_label_metric_equals_scikit_learn_with_an_empty_label(name: str) -> None:
    logits, targets = _case()
    assert targets[:, 4].sum() == 0 and (logits[:, 4] > 0).any()  # no positive, some predicted
    silent = logits.clone()
    silent[:, 4] = -5.0  # no positive and none predicted: the 0/0 case
    for case in (logits, silent):
        metric = METRICS.get(name, num_classes=None, num_outputs=6)
        metric.update(case, targets)
        expected = _sklearn(name, targets.numpy(), case.numpy())
        assert metric.compute().item() == pytest.approx(expected, abs=1e-6)


def test_the_number_of_labels_comes_from_num_outputs_or_num_classes() -> None:
    logits, targets = _case()
    by_outputs = build_metrics(None, "multilabel", num_outputs=6)
    by_classes = build_metrics(None, "multilabel", num_classes=6)
    by_outputs.update(logits, targets)
    by_classes.update(logits, targets)
    for key, value in by_outputs.compute().items():
        torch.testing.assert_close(value, by_classes.compute()[key])
    with pytest.raises(ConfigError, match="num_outputs"):
        build_metrics(None, "multilabel")
    with pytest.raises(ConfigError, match="num_outputs"):
        build_metrics(None, "multilabel", num_classes=5, num_outputs=6)
    with pytest.raises(ConfigError, match="2 classes"):
        build_metrics(None, "multilabel", num_outputs=1)


def test_small_logits_are_read_as_logits_not_probabilities() -> None:
    # Every value lies in [0, 1]: torchmetrics alone would read them as probabilities and threshold at 0.5.
    logits = torch.tensor([[0.2, 0.9], [0.1, 0.0], [0.3, 0.6]])
    targets = torch.tensor([[1, 1], [1, 0], [1, 1]])
    metric = METRICS.get("subset-accuracy", num_classes=None, num_outputs=2)
    metric.update(logits, targets)
    assert metric.compute().item() == 1.0  # logit > 0 means present: every row is right
    plain = MultilabelExactMatch(num_labels=2)
    plain.update(logits, targets)
    assert plain.compute().item() == 0.0  # read as probabilities > 0.5: every row is wrong


def test_metric_input_errors() -> None:
    metric = METRICS.get("micro-f1", num_classes=None, num_outputs=3)
    with pytest.raises(DataError, match=r"\(B, 3\).*\(4, 2\)"):
        metric.update(torch.zeros(4, 2), torch.zeros(4, 2, dtype=torch.long))
    with pytest.raises(DataError, match="0 and 1 only"):
        metric.update(torch.zeros(4, 3), torch.full((4, 3), 0.5))
    with pytest.raises(DataError, match="float logits"):
        metric.update(torch.zeros(4, 3, dtype=torch.long), torch.zeros(4, 3, dtype=torch.long))
    metric.update(torch.zeros(4, 3), torch.ones(4, 3))  # float 0/1 targets are accepted


# -- per-label thresholds ------------------------------------------------------------------------
def test_tuned_thresholds_by_hand() -> None:
    t = torch.tensor
    probabilities = t([[0.1, 0.05, 0.3, 0.3], [0.3, 0.2, 0.6, 0.4], [0.35, 0.3, 0.7, 0.9], [0.8, 0.7, 0.2, 0.6],
                       [0.9, 0.8, 0.4, 0.1]], dtype=torch.float64)
    targets = t([[0, 0, 0, 1], [1, 1, 0, 1], [1, 0, 0, 1], [0, 0, 0, 0], [1, 1, 0, 0]])
    thresholds = tune_thresholds(probabilities, targets)
    # Label 0 (scores 0.1, 0.3, 0.35, 0.8, 0.9; positives 0.3, 0.35, 0.9): F1 at t = 0.05, 0.2, 0.325, 0.575,
    # 0.85 is 6/8, 6/7, 4/6, 2/5, 2/4: the best is the midpoint 0.2.
    # Label 1 (scores 0.05, 0.2, 0.3, 0.7, 0.8; positives 0.2, 0.8): F1 2/3 at t = 0.125 (TP 2, FP 2) ties
    # with 2/3 at t = 0.75 (TP 1, FN 1); 0.75 is closer to 0.5.  Label 2: no positive, keeps 0.5.
    # Label 3 (scores 0.1, 0.3, 0.4, 0.6, 0.9; positives 0.3, 0.4, 0.9): t = 0.2 gives TP 3, FP 1, F1 6/7.
    torch.testing.assert_close(thresholds, t([0.2, 0.75, 0.5, 0.2], dtype=torch.float64))
    # A coarse shared grid: the best grid point per label, ties to the one nearest 0.5.
    coarse = tune_thresholds(probabilities, targets, grid=[0.25, 0.5, 0.75])
    torch.testing.assert_close(coarse, t([0.25, 0.75, 0.5, 0.25], dtype=torch.float64))


def test_tuned_thresholds_do_not_lose_f1_against_one_half() -> None:
    logits, targets = _case(num_samples=400, seed=3)
    thresholds = tune_thresholds(torch.sigmoid(logits), targets)
    assert thresholds.shape == (6,) and thresholds[4] == 0.5  # label 4 has no positive
    scores = {}
    for name, shifted in (("half", logits), ("tuned", apply_thresholds(logits, thresholds))):
        collection = build_metrics(["micro-f1", "macro-f1"], "multilabel", num_outputs=6)
        collection.update(shifted, targets)
        scores[name] = {key: value.item() for key, value in collection.compute().items()}
    # 0.5 is a candidate of every label, so each label's F1 (hence macro-F1) cannot fall; micro-F1 pools the
    # counts and is not guaranteed to rise in general, but does on these data.
    assert scores["tuned"]["macro-f1"] >= scores["half"]["macro-f1"]
    assert scores["tuned"]["micro-f1"] >= scores["half"]["micro-f1"] + 0.01
    # The metrics on shifted logits are scikit-learn's at thresholds p > t_l.
    expected = _sklearn("micro-f1", targets.numpy(), logits.numpy(), thresholds.numpy())
    assert scores["tuned"]["micro-f1"] == pytest.approx(expected, abs=1e-6)


def _micro_f1(probabilities: torch.Tensor, targets: torch.Tensor, thresholds: torch.Tensor) -> float:
    return sk.f1_score(targets.numpy(), (probabilities > thresholds).long().numpy(), average="micro", zero_division=0)


def test_micro_f1_thresholds_raise_micro_f1_to_a_point_no_single_label_improves() -> None:
    logits, targets = _case(num_samples=300, seed=5)
    probabilities = torch.sigmoid(logits).double()
    per_label = tune_thresholds(probabilities, targets)
    pooled = tune_thresholds(probabilities, targets, metric="micro-f1")
    assert pooled[4] == 0.5  # no positive: left alone, as with "f1"
    best = _micro_f1(probabilities, targets, pooled)
    assert best >= _micro_f1(probabilities, targets, per_label) and best > _micro_f1(probabilities, targets, 0.5)
    # A local optimum over the candidates: moving any one label's threshold to any other candidate does not help
    # (label 4, with no positive, is kept at 0.5 by design rather than tuned on data that say nothing about it).
    for label in (0, 1, 2, 3, 5):
        column = probabilities[:, label].sort().values
        for candidate in ((column[1:] + column[:-1]) / 2).tolist():
            moved = pooled.clone()
            moved[label] = candidate
            assert _micro_f1(probabilities, targets, moved) <= best + 1e-12
    grid = torch.arange(0.05, 0.96, 0.05, dtype=torch.float64)
    on_grid = tune_thresholds(probabilities, targets, metric="micro-f1", grid=grid)
    assert all(any(abs(t - g) < 1e-9 for g in grid.tolist()) for t in on_grid.tolist() if t != 0.5)


def test_apply_thresholds_round_trips_through_the_sigmoid() -> None:
    logits, _ = _case()
    logits = logits.double()
    thresholds = torch.tensor([0.5, 0.2, 0.8, 0.05, 0.95, 0.37], dtype=torch.float64)
    shifted = apply_thresholds(logits, thresholds)
    torch.testing.assert_close(shifted + torch.logit(thresholds), logits)
    torch.testing.assert_close(shifted[:, 0], logits[:, 0])  # t = 0.5 leaves a label alone
    assert torch.equal(torch.sigmoid(shifted) > 0.5, torch.sigmoid(logits) > thresholds)
    # The odds are divided by t / (1 - t): sigmoid(shifted) = p (1 - t) / (p (1 - t) + (1 - p) t).
    p = torch.sigmoid(logits)
    torch.testing.assert_close(torch.sigmoid(shifted), p * (1 - thresholds) / (p * (1 - thresholds)
                                                                                + (1 - p) * thresholds))
    extreme = apply_thresholds(torch.zeros(2, 2), [0.0, 1.0])
    assert torch.isfinite(extreme).all() and (extreme[:, 0] > 0).all() and (extreme[:, 1] < 0).all()


def test_threshold_errors() -> None:
    probabilities, targets = torch.rand(5, 3), torch.zeros(5, 3)
    with pytest.raises(DataError, match=r"torch.sigmoid\(logits\)"):
        tune_thresholds(probabilities * 4 - 2, targets)
    with pytest.raises(DataError, match="same shape"):
        tune_thresholds(probabilities, targets[:, :2])
    with pytest.raises(ValueError, match="metric='f1'"):
        tune_thresholds(probabilities, targets, metric="accuracy")
    with pytest.raises(ValueError, match="grid"):
        tune_thresholds(probabilities, targets, grid=[0.5, 1.5])
    with pytest.raises(DataError, match="one threshold per label"):
        apply_thresholds(torch.zeros(5, 3), [0.5, 0.5])
