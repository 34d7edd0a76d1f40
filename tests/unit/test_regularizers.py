"""Regularisers: every entry documented; each training-time one against a hand-computed update."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from shendu.errors import ConfigError
from shendu.nn import REGULARIZERS, Regularization, build_regularization, decayed_parameters, regularizer_problems


@pytest.mark.parametrize("name", REGULARIZERS.names())
def test_every_regularizer_is_documented_and_says_where_it_applies(name: str) -> None:
    entry = REGULARIZERS.entry(name)
    assert entry.summary and entry.formula and entry.reference
    assert "Formula" in entry.doc and "Reference" in entry.doc and "Args:" in entry.doc
    assert entry.tags["applies_in"] in ("train", "model", "config")
    if entry.tags["applies_in"] != "train":
        assert entry.tags["key"].split(".")[0] in ("model", "loss", "train")


def _model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))


def test_decayed_parameters_are_the_weight_matrices_only() -> None:
    model = _model()
    decay, exempt = decayed_parameters(model)
    assert [p.shape for p in decay] == [torch.Size([4, 3]), torch.Size([2, 4])]
    assert len(exempt) == 4  # two biases, BN weight and bias


def _step(model: nn.Module, specs: list, lr: float = 0.1) -> tuple[dict, dict]:
    """One SGD step with the given regularisers, applied the way the engine applies them."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    regularization = build_regularization(specs, model, optimizer) or Regularization(model, [], optimizer)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    inputs = torch.randn(8, 3, generator=torch.Generator().manual_seed(1))
    loss = model(inputs).pow(2).mean()
    penalty = regularization.penalty()
    (loss + penalty if penalty is not None else loss).backward()
    grads = {k: v.grad.clone() for k, v in model.named_parameters()}
    regularization.before_step()
    optimizer.step()
    regularization.after_step()
    return before, grads


def test_l1_adds_strength_times_sign_to_the_gradient_of_weights_only() -> None:
    plain, reg = _model(), _model()
    _, plain_grads = _step(plain, [])
    _, grads = _step(reg, [{"name": "l1", "strength": 0.01}])
    start = dict(_model().named_parameters())  # both models started from these values
    for name, grad in grads.items():
        weight = start[name].detach()
        extra = 0.01 * torch.sign(weight) if name.endswith("weight") and weight.dim() == 2 else 0.0
        torch.testing.assert_close(grad, plain_grads[name] + extra)


def test_l2_coupled_adds_strength_times_weight_to_the_gradient() -> None:
    plain, reg = _model(), _model()
    lr, strength = 0.1, 0.5
    before, grads = _step(plain, [], lr)
    _step(reg, [{"name": "l2", "strength": strength}], lr)
    for name, p in reg.named_parameters():
        decayed = name.endswith("weight") and p.dim() == 2
        expected = before[name] - lr * (grads[name] + (strength * before[name] if decayed else 0.0))
        torch.testing.assert_close(p.detach(), expected)


def test_decoupled_weight_decay_shrinks_weights_by_lr_times_strength() -> None:
    plain, reg = _model(), _model()
    lr, strength = 0.1, 0.5
    before, grads = _step(plain, [], lr)
    _step(reg, [{"name": "weight-decay", "strength": strength}], lr)
    for name, p in reg.named_parameters():
        decayed = name.endswith("weight") and p.dim() == 2
        shrink = (1 - lr * strength) if decayed else 1.0
        torch.testing.assert_close(p.detach(), before[name] * shrink - lr * grads[name])


def test_coupled_and_decoupled_differ_under_adam() -> None:
    """Adam divides a coupled decay by its running scale; the decoupled one is not (Loshchilov & Hutter)."""
    results = {}
    for name in ("l2", "weight-decay"):
        torch.manual_seed(0)
        weight = nn.Parameter(torch.tensor([[10.0, 0.01]]))
        model = nn.Sequential(nn.Linear(2, 1, bias=False))
        model[0].weight = weight
        optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
        regularization = build_regularization([{"name": name, "strength": 0.1}], model, optimizer)
        for _ in range(5):
            optimizer.zero_grad()
            model(torch.zeros(1, 2)).sum().backward()  # zero data gradient: only the decay acts
            regularization.before_step()
            optimizer.step()
        results[name] = weight.detach().clone()
    # Coupled under Adam: each weight moves by ~lr per step whatever its size (sign of its gradient).
    assert results["l2"][0, 0] == pytest.approx(10.0 - 0.5, abs=0.01)
    # Decoupled: each weight shrinks by the same factor (1 - lr*strength) per step.
    torch.testing.assert_close(results["weight-decay"], torch.tensor([[10.0, 0.01]]) * (1 - 0.01) ** 5)


def test_max_norm_caps_each_units_incoming_weights() -> None:
    model = nn.Sequential(nn.Linear(3, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[3.0, 4.0, 0.0], [0.1, 0.0, 0.0]]))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    regularization = build_regularization([{"name": "max-norm", "max_norm": 2.0}], model, optimizer)
    regularization.after_step()
    torch.testing.assert_close(model[0].weight.detach(), torch.tensor([[1.2, 1.6, 0.0], [0.1, 0.0, 0.0]]))
    assert math.isclose(float(model[0].weight[0].detach().norm()), 2.0, rel_tol=1e-6)


def test_layer_regularizers_build_their_modules() -> None:
    assert isinstance(REGULARIZERS.get({"name": "dropout", "p": 0.3}), nn.Dropout)
    assert isinstance(REGULARIZERS.get("dropout-2d"), nn.Dropout2d)
    assert isinstance(REGULARIZERS.get({"name": "batch-norm", "num_features": 4, "spatial": True}), nn.BatchNorm2d)
    assert isinstance(REGULARIZERS.get({"name": "layer-norm", "num_features": 4}), nn.LayerNorm)


def test_problems_name_the_key_and_the_right_place() -> None:
    problems = regularizer_problems([{"name": "l1", "strenght": 1}, "dropout", "l3"])
    keys = [p.key for p in problems]
    assert keys == ["train.regularizers.0.strenght", "train.regularizers.1", "train.regularizers.2"]
    assert "model.dropout" in problems[1].fix
    with pytest.raises(ConfigError, match="strength"):
        build_regularization([{"name": "l1", "strength": -1}], _model(), torch.optim.SGD(_model().parameters(), lr=0.1))
