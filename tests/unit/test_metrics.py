"""Metrics: every entry against scikit-learn, batch accumulation, confusion matrix, lookups."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn import metrics as sk

from shendu.errors import ConfigError, UnknownComponentError
from shendu.metrics import (
    DEFAULT_METRICS,
    KINDS,
    METRICS,
    build_metrics,
    confusion_matrix,
    default_monitor,
    higher_is_better,
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


def _data(name: str, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    kind = METRICS.entry(name).tags["kind"]
    return _classification(size) if kind == "classification" else _regression(size)


def _build(name: str, size: int):
    kind = METRICS.entry(name).tags["kind"]
    return METRICS.get(name, num_classes=size if kind == "classification" else None, num_outputs=size)


@pytest.mark.parametrize("name", METRICS.names())
def test_every_metric_is_tagged_and_documented(name: str) -> None:
    entry = METRICS.entry(name)
    assert entry.tags["kind"] in KINDS
    assert isinstance(entry.tags["higher_is_better"], bool)
    assert entry.summary and entry.formula and "Formula" in entry.doc
    assert set(DEFAULT_METRICS[entry.tags["kind"]]) <= set(names_of_kind(entry.tags["kind"]))
    assert higher_is_better(name) is entry.tags["higher_is_better"]


# Sizes each kind is checked at: 2 and 5 classes; 1 and 3 regression outputs.
SIZES = {"classification": (2, 5), "regression": (1, 3)}
CASES = [(name, size) for name in METRICS.names() for size in SIZES[METRICS.entry(name).tags["kind"]]]


@pytest.mark.parametrize(("name", "size"), CASES, ids=[f"{name}-{size}" for name, size in CASES])
def test_every_metric_matches_scikit_learn(name: str, size: int) -> None:
    kind = METRICS.entry(name).tags["kind"]
    preds, targets = _data(name, size)
    metric = _build(name, size)
    metric.update(preds, targets)
    if kind == "classification":
        expected = _sklearn_classification(name, targets.numpy(), preds.argmax(1).numpy())
    else:
        expected = _sklearn_regression(name, targets.numpy(), preds.numpy())
    assert metric.compute().item() == pytest.approx(expected, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("name", METRICS.names())
def test_every_metric_accumulates_batches_like_one_shot(name: str) -> None:
    size = 5 if METRICS.entry(name).tags["kind"] == "classification" else 3
    preds, targets = _data(name, size)
    whole, batched = _build(name, size), _build(name, size)
    whole.update(preds, targets)
    for start in range(0, len(targets), 64):  # uneven last batch on purpose
        batched.update(preds[start:start + 64], targets[start:start + 64])
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


def test_monitors_and_directions() -> None:
    assert default_monitor("classification") == ("accuracy", "max")
    assert default_monitor("regression") == ("mse", "min")
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
