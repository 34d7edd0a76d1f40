"""Metrics: every entry against scikit-learn (or sacrebleu, or the formula), batch accumulation, lookups."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sacrebleu
import torch
import torch.nn.functional as F
from sklearn import metrics as sk

from shendu.errors import ConfigError, UnknownComponentError
from shendu.metrics import (
    DEFAULT_METRICS,
    DEFAULT_MONITORS,
    KINDS,
    METRICS,
    build_metrics,
    confusion_matrix,
    default_monitor,
    higher_is_better,
    kinds_of,
    names_of_kind,
)


def _classification(num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits that are right about 60% of the time, so no metric is trivially 0 or 1."""
    generator = torch.Generator().manual_seed(num_classes)
    targets = torch.randint(0, num_classes, (300,), generator=generator)
    logits = torch.randn(300, num_classes, generator=generator)
    logits[torch.arange(300), targets] += 1.0
    return logits, targets


def _regression(num_outputs: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(num_outputs)
    targets = torch.randn(200, num_outputs, generator=generator) * torch.arange(1, num_outputs + 1)
    return targets + 0.5 * torch.randn(200, num_outputs, generator=generator), targets


def _sklearn_classification(name: str, labels: np.ndarray, predicted: np.ndarray) -> float:
    if name == "accuracy":
        return sk.accuracy_score(labels, predicted)
    if name == "zero-one-loss":
        return sk.zero_one_loss(labels, predicted)
    scorer = {"precision": sk.precision_score, "recall": sk.recall_score, "f1": sk.f1_score}[name]
    return scorer(labels, predicted, average="macro", zero_division=0)


def _sklearn_regression(name: str, targets: np.ndarray, preds: np.ndarray) -> float:
    if name == "rmse":  # documented: the square root of the pooled MSE
        return math.sqrt(sk.mean_squared_error(targets, preds))
    scorer = {"mse": sk.mean_squared_error, "mae": sk.mean_absolute_error, "r2": sk.r2_score}[name]
    return scorer(targets, preds, multioutput="uniform_average")


def _language_model(vocab_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(vocab_size)
    targets = torch.randint(0, vocab_size, (40, 7), generator=generator)
    return torch.randn(40, 7, vocab_size, generator=generator), targets


# Prediction / reference pairs with partial n-gram overlap, a perfect match and an empty prediction.
SENTENCES = [
    ("the cat sat on the mat .", "the cat sat on the mat ."),
    ("a dog ran in the park", "the dog ran through the park"),
    ("It is raining today.", "It rains today."),
    ("", "nothing was predicted here"),
    ("we will meet at noon tomorrow", "we meet tomorrow at noon"),
    ("the quick brown fox", "a quick brown fox jumps"),
    ("colourless green ideas sleep", "colorless green ideas sleep furiously"),
    ("one two three four five six", "one two three four five six seven"),
]


def _sentences(count: int) -> tuple[list[str], list[str]]:
    pairs = [SENTENCES[i % len(SENTENCES)] for i in range(count)]
    return [p for p, _ in pairs], [r for _, r in pairs]


def _forecasts(horizon: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(horizon)
    targets = 10 + 3 * torch.randn(150, horizon, generator=generator)
    return targets + torch.randn(150, horizon, generator=generator), targets


def _multilabel(num_labels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (B, L) that lean towards the truth, and 0/1 targets whose last label has no positive."""
    generator = torch.Generator().manual_seed(num_labels)
    rates = torch.linspace(0.5, 0.1, num_labels)
    rates[-1] = 0.0
    targets = (torch.rand(300, num_labels, generator=generator) < rates).long()
    return torch.randn(300, num_labels, generator=generator) + 1.5 * (2 * targets - 1) - 0.5, targets


def _sklearn_multilabel(name: str, targets: np.ndarray, logits: np.ndarray) -> float:
    if name == "label-ranking-ap":
        return sk.label_ranking_average_precision_score(targets, logits)
    predicted = (logits > 0).astype(np.int64)
    if name == "hamming-loss":
        return sk.hamming_loss(targets, predicted)
    if name == "subset-accuracy":  # accuracy_score on indicator matrices is the exact-match ratio
        return sk.accuracy_score(targets, predicted)
    average, scorer = name.split("-")
    scorer = {"f1": sk.f1_score, "precision": sk.precision_score, "recall": sk.recall_score}[scorer]
    return scorer(targets, predicted, average=average, zero_division=0)  # torchmetrics' zero_division=0


FORECAST_SCALE = 2.5  # the supplied seasonal-naive MAE for mase
DATA = {"classification": _classification, "regression": _regression, "language-model": _language_model,
        "sequence-to-sequence": _sentences, "forecasting": _forecasts, "multilabel": _multilabel}


def _reference(name: str, kind: str, preds, targets) -> float:
    if kind == "classification":
        return _sklearn_classification(name, targets.numpy(), preds.argmax(1).numpy())
    if kind == "regression":
        return _sklearn_regression(name, targets.numpy(), preds.numpy())
    if kind == "language-model":
        return math.exp(F.cross_entropy(preds.reshape(-1, preds.shape[-1]).double(), targets.reshape(-1)).item())
    if kind == "sequence-to-sequence":
        scorer = {"bleu": sacrebleu.corpus_bleu, "chrf": sacrebleu.corpus_chrf}[name]
        return scorer(preds, [targets]).score
    if kind == "multilabel":
        return _sklearn_multilabel(name, targets.numpy(), preds.numpy())
    y, f = targets.double().numpy(), preds.double().numpy()
    if name == "smape":
        return float(np.mean(2 * np.abs(y - f) / (np.abs(y) + np.abs(f)))) * 100
    return sk.mean_absolute_error(y, f) / FORECAST_SCALE  # mase


def _data(name: str, size: int):
    return DATA[kinds_of(name)[0]](size)


def _build(name: str, size: int):
    kind = kinds_of(name)[0]
    supplied = {"scale": FORECAST_SCALE} if name == "mase" else {}
    return METRICS.get(name, num_classes=size if kind == "classification" else None, num_outputs=size, **supplied)


@pytest.mark.parametrize("name", METRICS.names())
def test_every_metric_is_tagged_and_documented(name: str) -> None:
    entry = METRICS.entry(name)
    assert kinds_of(name) and set(kinds_of(name)) <= set(KINDS)
    assert isinstance(entry.tags["higher_is_better"], bool)
    assert entry.summary and entry.formula and "Formula" in entry.doc
    for kind in kinds_of(name):
        assert name in names_of_kind(kind)
    assert higher_is_better(name) is entry.tags["higher_is_better"]


def test_every_kind_has_registered_defaults_and_a_monitor() -> None:
    assert set(DEFAULT_METRICS) == set(KINDS) == set(DEFAULT_MONITORS)
    for kind in KINDS:
        assert set(DEFAULT_METRICS[kind]) <= set(names_of_kind(kind))
        name, mode = default_monitor(kind)
        assert name in DEFAULT_METRICS[kind] and mode == ("max" if higher_is_better(name) else "min")


# Sizes each kind is checked at: classes; regression outputs; vocabulary; sentence pairs; horizon; labels.
SIZES = {"classification": (2, 5), "regression": (1, 3), "language-model": (5, 11),
         "sequence-to-sequence": (3, 8), "forecasting": (1, 4), "multilabel": (2, 5)}
CASES = [(name, size) for name in METRICS.names() for size in SIZES[kinds_of(name)[0]]]


@pytest.mark.parametrize(("name", "size"), CASES, ids=[f"{name}-{size}" for name, size in CASES])
def test_every_metric_matches_its_reference(name: str, size: int) -> None:
    kind = kinds_of(name)[0]
    preds, targets = _data(name, size)
    metric = _build(name, size)
    metric.update(preds, targets)
    expected = _reference(name, kind, preds, targets)
    assert metric.compute().item() == pytest.approx(expected, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("name", METRICS.names())
def test_every_metric_accumulates_batches_like_one_shot(name: str) -> None:
    size = SIZES[kinds_of(name)[0]][-1]
    preds, targets = _data(name, size)
    whole, batched = _build(name, size), _build(name, size)
    whole.update(preds, targets)
    step = 3 if isinstance(preds, list) else 64  # uneven last batch on purpose
    for start in range(0, len(targets), step):
        batched.update(preds[start:start + step], targets[start:start + step])
    torch.testing.assert_close(batched.compute(), whole.compute())


def test_regression_metrics_accept_one_dimensional_and_column_outputs() -> None:
    preds, targets = _regression(1)
    column, flat = build_metrics(None, "regression", num_outputs=1), build_metrics(None, "regression", num_outputs=1)
    column.update(preds, targets)
    flat.update(preds[:, 0], targets[:, 0])
    expected = sk.root_mean_squared_error(targets.numpy(), preds.numpy())
    assert column.compute()["rmse"].item() == pytest.approx(expected, rel=1e-5)
    for key, value in column.compute().items():
        torch.testing.assert_close(value, flat.compute()[key])


def test_top_k_accuracy() -> None:
    logits, targets = _classification(5)
    metric = METRICS.get({"name": "accuracy", "top_k": 2}, num_classes=5, num_outputs=None)
    metric.update(logits, targets)
    expected = sk.top_k_accuracy_score(targets.numpy(), logits.numpy(), k=2, labels=range(5))
    assert metric.compute().item() == pytest.approx(expected)


def test_confusion_matrix_matches_scikit_learn() -> None:
    logits, targets = _classification(5)
    matrix = confusion_matrix(logits, targets, 5)
    expected = sk.confusion_matrix(targets.numpy(), logits.argmax(1).numpy(), labels=range(5))
    assert matrix.shape == (5, 5)
    np.testing.assert_array_equal(matrix.numpy(), expected)
    np.testing.assert_array_equal(confusion_matrix(logits.argmax(1), targets, 5).numpy(), expected)


def test_build_metrics_defaults_and_collection() -> None:
    logits, targets = _classification(5)
    collection = build_metrics(None, "classification", num_classes=5)
    assert sorted(collection.keys()) == sorted(DEFAULT_METRICS["classification"])
    collection.update(logits, targets)
    values = collection.compute()
    assert values["accuracy"].item() == pytest.approx(sk.accuracy_score(targets, logits.argmax(1)))
    chosen = build_metrics(["mae", {"name": "r2"}], "regression", num_outputs=2)
    assert sorted(chosen.keys()) == ["mae", "r2"]
    assert names_of_kind("regression") == ["mae", "mse", "r2", "rmse"]


def test_build_metrics_errors() -> None:
    with pytest.raises(ConfigError, match="expected a regression metric; received 'accuracy'"):
        build_metrics(["accuracy", "mse"], "regression")
    with pytest.raises(ConfigError, match="each metric once"):
        build_metrics(["mse", "mse"], "regression")
    with pytest.raises(ConfigError, match="num_classes"):
        build_metrics(None, "classification")
    with pytest.raises(UnknownComponentError, match="Did you mean 'accuracy'"):
        build_metrics(["acuracy"], "classification", num_classes=3)
    with pytest.raises(ValueError, match="kind"):
        build_metrics(None, "segmentation")
    with pytest.raises(ConfigError, match="expected a forecasting metric; received 'r2'"):
        build_metrics(["mae", "r2"], "forecasting")
    with pytest.raises(ConfigError, match="expected a sequence-to-sequence metric; received 'perplexity'"):
        build_metrics(["bleu", "perplexity"], "sequence-to-sequence")
    with pytest.raises(TypeError, match="unexpected supplied value"):
        build_metrics(None, "regression", scael=2.0)


def test_supplied_values_reach_only_the_constructors_that_take_them() -> None:
    collection = build_metrics(["mae", "mase"], "forecasting", scale=4.0)
    collection.update(torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 6.0]]))
    values = collection.compute()
    assert values["mae"].item() == pytest.approx(3.0) and values["mase"].item() == pytest.approx(0.75)
    assert sorted(build_metrics(["mse"], "regression", scale=4.0).keys()) == ["mse"]


def test_monitors_and_directions() -> None:
    assert default_monitor("classification") == ("accuracy", "max")
    assert default_monitor("regression") == ("mse", "min")
    assert default_monitor("language-model") == ("perplexity", "min")
    assert default_monitor("sequence-to-sequence") == ("bleu", "max")
    assert default_monitor("forecasting") == ("rmse", "min")
    assert default_monitor("multilabel") == ("micro-f1", "max")
    assert not higher_is_better("val.hamming-loss") and higher_is_better("val.subset-accuracy")
    assert not higher_is_better("val.perplexity") and higher_is_better("val.chrf") and not higher_is_better("mase")
    assert higher_is_better("accuracy") and higher_is_better("val.f1") and higher_is_better("r2")
    assert not higher_is_better("mse") and not higher_is_better("val.loss") and not higher_is_better("loss")
    with pytest.raises(UnknownComponentError):
        higher_is_better("val.accuracyy")


def test_zero_one_loss_is_one_minus_accuracy_and_lower_is_better() -> None:
    logits, targets = _classification(5)
    targets[:7] = -1
    errors = METRICS.get({"name": "zero-one-loss", "ignore_index": -1}, num_classes=5, num_outputs=None)
    accuracy = METRICS.get({"name": "accuracy", "ignore_index": -1}, num_classes=5, num_outputs=None)
    errors.update(logits, targets)
    accuracy.update(logits, targets)
    torch.testing.assert_close(errors.compute(), 1 - accuracy.compute())
    kept = targets != -1
    expected = sk.zero_one_loss(targets[kept].numpy(), logits[kept].argmax(1).numpy())
    assert errors.compute().item() == pytest.approx(expected, rel=1e-6)
    # Two wrong out of four, by hand.
    hand = METRICS.get("zero-one-loss", num_classes=3, num_outputs=None)
    hand.update(torch.tensor([0, 1, 2, 2]), torch.tensor([0, 2, 1, 2]))
    assert hand.compute().item() == pytest.approx(0.5)
    assert not higher_is_better("zero-one-loss") and not higher_is_better("val.zero-one-loss")
    assert "zero-one-loss" not in DEFAULT_METRICS["classification"]
    logits, targets = _classification(5)
    collection = build_metrics(["accuracy", "zero-one-loss"], "classification", num_classes=5)
    collection.update(logits, targets)
    values = collection.compute()
    torch.testing.assert_close(values["zero-one-loss"], 1 - values["accuracy"])
