"""Tests of the training diagnostics: gradient-norm records and the four warnings."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from shendu.config import DiagnosticsConfig
from shendu.engine.diagnostics import Diagnostics, weighted_layers
from shendu.models import build_model


@pytest.fixture(scope="module")
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    """256 standardised samples of scikit-learn's 8x8 digits: real data, small and offline."""
    from sklearn.datasets import load_digits

    features, labels = load_digits(return_X_y=True)
    x = torch.tensor(features[:256], dtype=torch.float32)
    x = (x - x.mean(0)) / (x.std(0) + 1e-8)
    return x, torch.tensor(labels[:256])


def small_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(4, 8), nn.ReLU(), nn.BatchNorm1d(8), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3)
    ).double()


def diagnostic_step(diagnostics: Diagnostics, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                    global_step: int = 0, scale: float = 1.0) -> dict | None:
    model.zero_grad(set_to_none=True)
    diagnostics.start_step(global_step)
    loss = nn.functional.cross_entropy(model(x), y) * scale
    loss.backward()
    return diagnostics.after_backward(global_step)


def test_weighted_layers_skip_norms_embeddings_and_shared_weights():
    model = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 4), nn.LayerNorm(4), nn.Conv1d(4, 4, 1), nn.Linear(4, 4))
    model[4].weight = model[1].weight  # tied
    assert [name for name, _ in weighted_layers(model)] == ["1", "3"]
    assert [name for name, _ in weighted_layers(nn.Linear(2, 2))] == ["Linear"]


def test_record_matches_hand_computed_norms_and_is_strict_json():
    model = small_model()
    diagnostics = Diagnostics(model, DiagnosticsConfig(every_steps=3))
    x, y = torch.randn(16, 4, dtype=torch.float64), torch.randint(0, 3, (16,))
    record = diagnostic_step(diagnostics, model, x, y)
    expected = {name: model[int(name)].weight.grad.norm().item() for name in ("0", "3", "5")}
    assert record["kind"] == "diagnostics" and record["step"] == 1
    assert list(record["grad_norms"]) == ["0", "3", "5"]
    for name, value in expected.items():
        assert record["grad_norms"][name] == pytest.approx(value, rel=1e-5)
    total = torch.cat([p.grad.flatten() for p in model.parameters()]).norm().item()
    assert record["grad_norm_total"] == pytest.approx(total, rel=1e-5)
    assert record["first_last_ratio"] == pytest.approx(expected["0"] / expected["5"], rel=1e-5)
    outputs = [model[:2](x), model[:5](x)]
    for name, output in zip(("1", "4"), outputs):
        assert record["dead_relu_fraction"][name] == pytest.approx((output <= 0).all(0).double().mean().item())
    json.dumps(record, allow_nan=False)
    assert diagnostics.drain() == []


def test_records_only_every_n_steps_and_hooks_only_while_measuring():
    model = small_model()
    diagnostics = Diagnostics(model, DiagnosticsConfig(every_steps=3))
    x, y = torch.randn(8, 4, dtype=torch.float64), torch.randint(0, 3, (8,))
    steps = [step + 1 for step in range(7) if diagnostic_step(diagnostics, model, x, y, step) is not None]
    assert steps == [1, 4, 7]
    diagnostics.start_step(3)
    assert model[1]._forward_hooks  # attached for the diagnostic step only
    diagnostics.close()
    assert not model[1]._forward_hooks and not model[4]._forward_hooks


def test_dead_units_accumulate_over_micro_batches():
    model = nn.Sequential(nn.Linear(1, 2, bias=False), nn.ReLU())
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0], [-1.0]]))
    diagnostics = Diagnostics(model, DiagnosticsConfig(every_steps=1))
    for batch in (torch.ones(3, 1), -torch.ones(3, 1)):  # unit 0 fires on the first, unit 1 on the second
        diagnostics.start_step(5)
        model(batch).sum().backward()
    assert diagnostics.after_backward(5)["dead_relu_fraction"] == {"1": 0.0}


def test_deep_sigmoid_mlp_has_vanishing_gradients_and_warns(digits):
    torch.manual_seed(0)
    model = build_model({"name": "mlp", "hidden_sizes": [32] * 9, "activation": "sigmoid"}, (64,), 10)
    diagnostics = Diagnostics(model, DiagnosticsConfig())
    record = diagnostic_step(diagnostics, model, *digits, global_step=50)
    assert len(record["grad_norms"]) == 10
    assert record["first_last_ratio"] < 1e-2
    messages = diagnostics.drain()
    assert len(messages) == 1 and messages[0].startswith("Vanishing gradients at step 51")
    assert "model.init=he-normal" in messages[0]
    assert diagnostics.warnings == [{"kind": "vanishing", "step": 51, "message": messages[0]}]


def test_deep_relu_mlp_with_he_init_does_not_warn(digits):
    torch.manual_seed(0)
    spec = {"name": "mlp", "hidden_sizes": [32] * 9, "activation": "relu", "init": "he-normal"}
    model = build_model(spec, (64,), 10)
    diagnostics = Diagnostics(model, DiagnosticsConfig())
    record = diagnostic_step(diagnostics, model, *digits)
    assert record["first_last_ratio"] > 1e-1
    assert diagnostics.drain() == [] and diagnostics.warnings == []


def test_untrained_gpt_does_not_warn_of_vanishing_gradients():
    # Query/key projections of an untrained transformer get ~1% of the head's
    # gradient (the softmax logits are nearly flat), at any depth: not vanishing.
    torch.manual_seed(0)
    spec = {"name": "gpt", "num_layers": 4, "embedding_size": 192, "num_heads": 6}
    model = build_model(spec, (64,), 65, input_kind="tokens", vocab_size=65, padding_id=0)
    diagnostics = Diagnostics(model, DiagnosticsConfig())
    tokens = torch.randint(4, 65, (8, 64))
    diagnostics.start_step(0)
    logits = model(tokens)
    nn.functional.cross_entropy(logits[:, :-1].reshape(-1, 65), tokens[:, 1:].reshape(-1)).backward()
    record = diagnostics.after_backward(0)
    norms = record["grad_norms"]
    assert norms["blocks.0.self_attention.query_projection"] < 0.05 * norms["blocks.0.self_attention.value_projection"]
    assert record["first_last_ratio"] > 0.1
    assert diagnostics.drain() == [] and diagnostics.warnings == []


@pytest.mark.parametrize("scale", [1e8, math.inf])
def test_exploding_gradients_warn(scale):
    model = small_model()
    diagnostics = Diagnostics(model, DiagnosticsConfig())
    x, y = torch.randn(16, 4, dtype=torch.float64), torch.randint(0, 3, (16,))
    record = diagnostic_step(diagnostics, model, x, y, scale=scale)
    json.dumps(record, allow_nan=False)
    (message,) = diagnostics.drain()
    assert "train.clip_grad_norm=1.0" in message and "optimizer.lr" in message
    assert [w["kind"] for w in diagnostics.warnings] == ["exploding"]
    if math.isinf(scale):
        assert record["grad_norm_total"] is None and message.startswith("Non-finite gradients at step 1")


def test_dead_relus_warn_with_the_fraction():
    model = small_model()
    with torch.no_grad():
        model[3].bias[:6] = -1e3  # 6 of the 8 units of the second ReLU never fire
    diagnostics = Diagnostics(model, DiagnosticsConfig())
    x, y = torch.randn(16, 4, dtype=torch.float64), torch.randint(0, 3, (16,))
    record = diagnostic_step(diagnostics, model, x, y)
    assert record["dead_relu_fraction"]["4"] == pytest.approx(0.75)
    (message,) = diagnostics.drain()
    assert message.startswith("Dead ReLUs at step 1: 75% of the units of 4") and "leaky-relu" in message


def test_dead_channels_of_convolutions():
    conv = nn.Conv2d(1, 4, 1)
    with torch.no_grad():
        conv.bias.copy_(torch.tensor([-1e3, -1e3, -1e3, 1e3]))
    model = nn.Sequential(conv, nn.ReLU6())
    diagnostics = Diagnostics(model, DiagnosticsConfig())
    diagnostics.start_step(0)
    model(torch.randn(2, 1, 3, 3)).sum().backward()
    assert diagnostics.after_backward(0)["dead_relu_fraction"] == {"1": 0.75}


def epochs(train: list[float], val: list[float]) -> list[dict]:
    return [{"epoch": i + 1, "train": {"loss": t}, "val": {"loss": v}} for i, (t, v) in enumerate(zip(train, val))]


def test_overfitting_warns_once_after_rising_val_loss():
    diagnostics = Diagnostics(nn.Linear(2, 2), DiagnosticsConfig(overfit_epochs=3))
    records = epochs([1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2], [1.0, 0.9, 0.95, 1.0, 1.1, 1.2, 1.3])
    warned_at = []
    for record in records:
        diagnostics.end_epoch(record)
        if diagnostics.drain():
            warned_at.append(record["epoch"])
    assert warned_at == [5]
    assert diagnostics.warnings[0]["kind"] == "overfitting" and diagnostics.warnings[0]["epoch"] == 5
    assert "(0.9 -> 1.1)" in diagnostics.warnings[0]["message"]
    assert "train.early_stopping.patience=3" in diagnostics.warnings[0]["message"]


def test_no_overfitting_warning_for_falling_or_interrupted_val_loss():
    diagnostics = Diagnostics(nn.Linear(2, 2), DiagnosticsConfig(overfit_epochs=3))
    falling = epochs([1.0, 0.8, 0.6, 0.5, 0.4], [1.0, 0.9, 0.8, 0.7, 0.6])
    interrupted = epochs([1.0, 0.8, 0.6, 0.5, 0.4, 0.3], [1.0, 1.1, 1.2, 1.0, 1.1, 1.2])
    for record in falling + interrupted + [{"epoch": 12, "train": {"loss": 0.1}}]:
        diagnostics.end_epoch(record)
    assert diagnostics.drain() == [] and diagnostics.warnings == []


def test_each_warning_kind_once_and_state_dict_round_trip_keeps_it():
    model = small_model()
    config = DiagnosticsConfig(every_steps=1, overfit_epochs=1)
    diagnostics = Diagnostics(model, config)
    x, y = torch.randn(16, 4, dtype=torch.float64), torch.randint(0, 3, (16,))
    diagnostic_step(diagnostics, model, x, y, 0, scale=1e8)
    diagnostic_step(diagnostics, model, x, y, 1, scale=1e9)
    diagnostics.end_epoch({"epoch": 1, "train": {"loss": 1.0}, "val": {"loss": 1.0}})
    assert len(diagnostics.drain()) == 1  # exploding, once
    state = json.loads(json.dumps(diagnostics.state_dict(), allow_nan=False))

    resumed = Diagnostics(model, config)
    resumed.load_state_dict(state)
    assert resumed.state_dict() == state
    diagnostic_step(resumed, model, x, y, 2, scale=1e9)
    assert resumed.drain() == []  # already warned before the checkpoint
    resumed.end_epoch({"epoch": 2, "train": {"loss": 0.9}, "val": {"loss": 1.1}})  # rise from the saved epoch 1
    (message,) = resumed.drain()
    assert message.startswith("Overfitting at epoch 2")
    assert [w["kind"] for w in resumed.warnings] == ["exploding", "overfitting"]


def test_model_without_weighted_layers_or_relus():
    model = nn.Sequential(nn.Tanh())
    diagnostics = Diagnostics(model, DiagnosticsConfig(every_steps=1))
    diagnostics.start_step(0)
    model(torch.randn(2, 3, requires_grad=True)).sum().backward()
    record = diagnostics.after_backward(0)
    assert record["grad_norms"] == {} and record["first_last_ratio"] is None and record["dead_relu_fraction"] == {}
    single = nn.Linear(3, 2)
    record = diagnostic_step(Diagnostics(single), single, torch.randn(4, 3), torch.randint(0, 2, (4,)))
    assert record["first_last_ratio"] is None and list(record["grad_norms"]) == ["Linear"]
    assert Diagnostics(single).drain() == []
