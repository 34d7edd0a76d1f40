"""Losses: a contract over every registered loss, torch references and hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from shendu.errors import ConfigError, DataError, UnknownComponentError
from shendu.losses import LOSSES, build_loss


def _generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def _classification_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    generator = _generator()
    return torch.randn(8, 5, generator=generator), torch.randint(0, 5, (8,), generator=generator)


def _binary_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    generator = _generator()
    return torch.randn(8, 3, generator=generator), torch.randint(0, 2, (8, 3), generator=generator).float()


def _regression_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    generator = _generator()
    return torch.randn(8, 2, generator=generator) * 2, torch.randn(8, 2, generator=generator)


# Every registered loss needs an input maker here: a new loss without one fails the contract test.
INPUT_MAKERS = {
    "cross-entropy": _classification_inputs,
    "binary-cross-entropy": _binary_inputs,
    "mse": _regression_inputs,
    "mae": _regression_inputs,
    "huber": _regression_inputs,
}


@pytest.mark.parametrize("name", LOSSES.names())
def test_every_loss_gives_a_finite_scalar_with_a_gradient(name: str) -> None:
    if name not in INPUT_MAKERS:
        pytest.fail(f"loss {name!r} is registered but has no input maker in INPUT_MAKERS; add one.")
    outputs, targets = INPUT_MAKERS[name]()
    outputs.requires_grad_(True)
    loss = LOSSES.get(name)(outputs, targets)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    assert outputs.grad is not None and torch.isfinite(outputs.grad).all() and outputs.grad.abs().sum() > 0


@pytest.mark.parametrize("name", LOSSES.names())
def test_every_loss_is_documented_and_reduces(name: str) -> None:
    entry = LOSSES.entry(name)
    assert entry.summary and entry.formula and entry.reference
    assert "Formula" in entry.doc and "Args:" in entry.doc
    outputs, targets = INPUT_MAKERS[name]()
    per_item = build_loss({"name": name, "reduction": "none"})(outputs, targets)
    total = build_loss({"name": name, "reduction": "sum"})(outputs, targets)
    mean = build_loss(name)(outputs, targets)
    torch.testing.assert_close(per_item.sum(), total)
    torch.testing.assert_close(per_item.mean(), mean)


# -- references against torch.nn.functional -------------------------------------------
def test_cross_entropy_matches_torch_with_weights_smoothing_and_ignore_index() -> None:
    outputs, targets = _classification_inputs()
    targets[2] = -1
    weights = [1.0, 2.0, 0.5, 1.5, 3.0]
    loss = build_loss(
        {"name": "cross-entropy", "class_weights": weights, "label_smoothing": 0.1, "ignore_index": -1}
    )
    expected = F.cross_entropy(
        outputs, targets, weight=torch.tensor(weights), label_smoothing=0.1, ignore_index=-1
    )
    torch.testing.assert_close(loss(outputs, targets), expected)


def test_cross_entropy_accepts_class_probabilities_and_per_pixel_classes() -> None:
    outputs, targets = _classification_inputs()
    soft = F.one_hot(targets, 5).float() * 0.8 + 0.04
    torch.testing.assert_close(build_loss("cross-entropy")(outputs, soft), F.cross_entropy(outputs, soft))
    pixels = torch.randn(2, 3, 4, 4, generator=_generator())
    labels = torch.randint(0, 3, (2, 4, 4), generator=_generator())
    torch.testing.assert_close(build_loss("cross-entropy")(pixels, labels), F.cross_entropy(pixels, labels))


def test_cross_entropy_class_weights_follow_the_outputs_dtype_and_stay_out_of_state_dict() -> None:
    loss = build_loss({"name": "cross-entropy", "class_weights": [1.0, 2.0, 3.0, 4.0, 5.0]})
    assert "class_weights" in dict(loss.named_buffers()) and "class_weights" not in loss.state_dict()
    outputs, targets = _classification_inputs()
    value = loss(outputs.to(torch.float64), targets)
    assert value.dtype == torch.float64


def test_binary_cross_entropy_matches_torch_with_pos_weight() -> None:
    outputs, targets = _binary_inputs()
    loss = build_loss({"name": "binary-cross-entropy", "pos_weight": [1.0, 2.0, 3.0]})
    expected = F.binary_cross_entropy_with_logits(outputs, targets, pos_weight=torch.tensor([1.0, 2.0, 3.0]))
    torch.testing.assert_close(loss(outputs, targets), expected)
    # Integer 0/1 labels are accepted and read as floats.
    expected = F.binary_cross_entropy_with_logits(outputs, targets)
    torch.testing.assert_close(build_loss("binary-cross-entropy")(outputs, targets.long()), expected)


@pytest.mark.parametrize(
    ("spec", "reference"),
    [
        ("mse", F.mse_loss),
        ("mae", F.l1_loss),
        ("huber", F.huber_loss),
        ({"name": "huber", "delta": 0.5}, lambda o, t: F.huber_loss(o, t, delta=0.5)),
    ],
)
def test_regression_losses_match_torch(spec: object, reference) -> None:
    outputs, targets = _regression_inputs()
    torch.testing.assert_close(build_loss(spec)(outputs, targets), reference(outputs, targets))


# -- hand-computed values ----------------------------------------------------------------
def test_hand_computed_values() -> None:
    # softmax([0, ln 3]) = [0.25, 0.75]; the true class 1 gives -ln 0.75.
    logits = torch.tensor([[0.0, math.log(3.0)]])
    assert build_loss("cross-entropy")(logits, torch.tensor([1])).item() == pytest.approx(-math.log(0.75))
    # Weighted mean: (2 * ln 2 + 1 * ln 2) / (2 + 1) = ln 2 for two zero-logit samples.
    zeros = torch.zeros(2, 2)
    weighted = build_loss({"name": "cross-entropy", "class_weights": [2.0, 1.0]})(zeros, torch.tensor([0, 1]))
    assert weighted.item() == pytest.approx(math.log(2.0))
    # sigmoid(0) = 0.5 whatever the label: ln 2; with pos_weight 3 on a positive: 3 ln 2.
    assert build_loss("binary-cross-entropy")(torch.zeros(1), torch.ones(1)).item() == pytest.approx(math.log(2.0))
    weighted_bce = build_loss({"name": "binary-cross-entropy", "pos_weight": 3.0})(torch.zeros(1), torch.ones(1))
    assert weighted_bce.item() == pytest.approx(3 * math.log(2.0))
    outputs, targets = torch.tensor([1.0, 2.0, -0.5]), torch.tensor([0.0, 0.0, 0.0])
    assert build_loss("mse")(outputs, targets).item() == pytest.approx((1 + 4 + 0.25) / 3)
    assert build_loss("mae")(outputs, targets).item() == pytest.approx((1 + 2 + 0.5) / 3)
    # delta 1: |e| = 1 -> 0.5; |e| = 2 -> 1 * (2 - 0.5) = 1.5; |e| = 0.5 -> 0.125.
    assert build_loss("huber")(outputs, targets).item() == pytest.approx((0.5 + 1.5 + 0.125) / 3)


# -- errors ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["mse", "mae", "huber", "binary-cross-entropy"])
def test_regression_shape_mismatch_is_a_clear_error(name: str) -> None:
    with pytest.raises(DataError, match=r"\(4, 1\).*\(4,\).*view_as"):
        build_loss(name)(torch.zeros(4, 1), torch.zeros(4))
    with pytest.raises(DataError, match="number of target columns"):
        build_loss(name)(torch.zeros(4, 3), torch.zeros(4, 1))


def test_cross_entropy_errors_say_what_to_do() -> None:
    loss = build_loss("cross-entropy")
    with pytest.raises(DataError, match="binary-cross-entropy"):
        loss(torch.zeros(4), torch.zeros(4, dtype=torch.long))
    with pytest.raises(DataError, match=r"squeeze\(1\)"):
        loss(torch.zeros(4, 3), torch.zeros(4, 1, dtype=torch.long))
    with pytest.raises(DataError, match=r"targets.long\(\)"):
        loss(torch.zeros(4, 3), torch.zeros(4))
    with pytest.raises(DataError, match="one entry per class"):
        weighted = build_loss({"name": "cross-entropy", "class_weights": [1.0, 2.0]})
        weighted(torch.zeros(4, 3), torch.zeros(4, dtype=torch.long))


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "huber", "delta": 0},
        {"name": "mse", "reduction": "average"},
        {"name": "cross-entropy", "label_smoothing": 1.5},
        {"name": "cross-entropy", "class_weights": [1.0, -1.0]},
        {"name": "binary-cross-entropy", "pos_weight": "high"},
    ],
)
def test_bad_options_are_config_errors(spec: dict) -> None:
    key = next(k for k in spec if k != "name")
    with pytest.raises(ConfigError, match=f"loss.{key}"):
        build_loss(spec)


def test_misspelt_option_and_name_get_suggestions() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'label_smoothing'"):
        build_loss({"name": "cross-entropy", "label_smothing": 0.1})
    with pytest.raises(UnknownComponentError, match="cross-entropy"):
        build_loss("cross-entropie")


def test_a_module_is_returned_unchanged() -> None:
    module = torch.nn.MSELoss()
    assert build_loss(module) is module
