"""Optimizers and schedules: contracts over both registries, torch references, exact resume."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch
from torch import nn

from shendu.errors import ConfigError, UnknownComponentError
from shendu.optim import OPTIMIZERS, SCHEDULES, build_optimizer, build_schedule, parameter_groups


def _least_squares() -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed, well-conditioned convex problem: y = X w_true with small weights, as in a fresh network."""
    generator = torch.Generator().manual_seed(0)
    design = torch.randn(64, 8, generator=generator)
    return design, design @ (0.1 * torch.randn(8, generator=generator))


# -- optimizers ----------------------------------------------------------------------
@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_every_optimizer_decreases_a_convex_loss_with_its_defaults(name: str) -> None:
    design, targets = _least_squares()
    weights = torch.zeros(8, requires_grad=True)
    optimizer = OPTIMIZERS.get(name, params=[weights])
    assert isinstance(optimizer, torch.optim.Optimizer)

    def loss() -> torch.Tensor:
        return ((design @ weights - targets) ** 2).mean()

    initial = loss().item()
    for _ in range(100):
        optimizer.zero_grad()
        loss().backward()
        optimizer.step()
    final = loss().item()
    assert math.isfinite(final) and final < 0.1 * initial, f"{name}: {initial:.4g} -> {final:.4g}"


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_every_optimizer_is_documented_and_accepts_param_groups(name: str) -> None:
    entry = OPTIMIZERS.entry(name)
    assert entry.summary and entry.formula and entry.reference
    assert "Formula" in entry.doc and "Reference" in entry.doc and "Args:" in entry.doc
    first, second = torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)
    optimizer = OPTIMIZERS.get(name, params=[{"params": [first]}, {"params": [second], "lr": 0.5}])
    assert [group["lr"] for group in optimizer.param_groups][1] == 0.5


def test_adam_matches_torch_adam() -> None:
    design, targets = _least_squares()
    ours, theirs = torch.zeros(8, requires_grad=True), torch.zeros(8, requires_grad=True)
    our_optimizer = OPTIMIZERS.get({"name": "adam", "lr": 0.01, "betas": [0.8, 0.99]}, params=[ours])
    their_optimizer = torch.optim.Adam([theirs], lr=0.01, betas=(0.8, 0.99))
    for _ in range(20):
        for weights, optimizer in ((ours, our_optimizer), (theirs, their_optimizer)):
            optimizer.zero_grad()
            ((design @ weights - targets) ** 2).mean().backward()
            optimizer.step()
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("name", "torch_class", "settings"),
    [
        ("sgd", torch.optim.SGD, {"lr": 0.01, "momentum": 0.0}),
        ("momentum", torch.optim.SGD, {"lr": 0.01, "momentum": 0.9}),
        ("nesterov", torch.optim.SGD, {"lr": 0.01, "momentum": 0.9, "nesterov": True}),
        ("adamw", torch.optim.AdamW, {"lr": 1e-3, "weight_decay": 0.01}),
        ("amsgrad", torch.optim.Adam, {"lr": 1e-3, "amsgrad": True}),
        ("adadelta", torch.optim.Adadelta, {"lr": 1.0}),
    ],
)
def test_defaults_are_the_documented_ones(name: str, torch_class: type, settings: dict) -> None:
    optimizer = OPTIMIZERS.get(name, params=[torch.zeros(1, requires_grad=True)])
    assert type(optimizer) is torch_class
    for key, value in settings.items():
        assert optimizer.defaults[key] == value, key


def _small_network() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 6), nn.LayerNorm(6), nn.Linear(6, 2)
    )


def test_biases_and_norm_parameters_get_no_weight_decay() -> None:
    model = _small_network()
    optimizer = build_optimizer({"name": "sgd", "lr": 0.1, "weight_decay": 0.05}, model)
    groups = {group["weight_decay"]: {id(p) for p in group["params"]} for group in optimizer.param_groups}
    linear_weights = {id(model[i].weight) for i in (0, 3, 5)}
    assert groups[0.05] == linear_weights
    others = {id(p) for p in model.parameters()} - linear_weights
    assert groups[0.0] == others and len(others) == 7


def test_weight_decay_groups_use_the_optimizer_default_and_can_be_switched_off() -> None:
    model = _small_network()
    assert {g["weight_decay"] for g in build_optimizer("adamw", model).param_groups} == {0.01, 0.0}
    assert len(build_optimizer("adam", model).param_groups) == 1  # no decay: one group
    everything = build_optimizer({"name": "adamw", "decay_biases_and_norms": True}, model)
    assert len(everything.param_groups) == 1 and everything.param_groups[0]["weight_decay"] == 0.01
    model[0].weight.requires_grad_(False)
    frozen = build_optimizer({"name": "adamw"}, model)
    assert id(model[0].weight) not in {id(p) for g in frozen.param_groups for p in g["params"]}
    assert parameter_groups(model, 0.1)[0]["weight_decay"] == 0.1


def test_build_optimizer_passes_objects_through_and_defaults_to_adamw() -> None:
    model = _small_network()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    assert build_optimizer(optimizer, model) is optimizer
    assert type(build_optimizer(None, model)) is torch.optim.AdamW


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        ({"name": "adam", "lr": -1.0}, "optimizer.lr"),
        ({"name": "adam", "lr": 0}, "optimizer.lr"),
        ({"name": "adam", "betas": [0.9]}, "optimizer.betas"),
        ({"name": "sgd", "nesterov": True}, "optimizer.nesterov"),
        ({"name": "momentum", "momentum": 1.5}, "optimizer.momentum"),
        ({"name": "adamw", "weight_decay": -0.1}, "optimizer.weight_decay"),
        ({"name": "adam", "lrr": 0.1}, "Did you mean 'lr'"),
        ({"name": "adam", "params": []}, "shendu sets params itself"),
        ({"name": "adam", "decay_biases_and_norms": "yes"}, "decay_biases_and_norms"),
    ],
)
def test_bad_optimizer_options_are_config_errors(spec: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        build_optimizer(spec, _small_network())


def test_unknown_optimizer_suggests_names() -> None:
    with pytest.raises(UnknownComponentError, match="Did you mean 'adam'"):
        build_optimizer("adamm", _small_network())


# -- schedules -------------------------------------------------------------------------
TOTAL, PER_EPOCH = 40, 5


def _optimizer(lr: float = 0.1) -> torch.optim.Optimizer:
    torch.manual_seed(0)
    return torch.optim.SGD(nn.Linear(2, 1).parameters(), lr=lr, momentum=0.9)


def _lrs(scheduler, optimizer: torch.optim.Optimizer, steps: int) -> list[float]:
    """The learning rate used by each of ``steps`` optimizer steps."""
    used = []
    for _ in range(steps):
        used.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return used


@pytest.mark.parametrize("name", SCHEDULES.names())
def test_every_schedule_gives_positive_finite_rates_and_is_documented(name: str) -> None:
    entry = SCHEDULES.entry(name)
    assert entry.summary and entry.formula and "Formula" in entry.doc
    optimizer = _optimizer()
    scheduler = build_schedule(name, optimizer, TOTAL, PER_EPOCH)
    assert isinstance(scheduler, torch.optim.lr_scheduler.LRScheduler)
    rates = _lrs(scheduler, optimizer, TOTAL)
    assert all(math.isfinite(r) and r > 0 for r in rates)
    assert max(rates) <= 0.1 + 1e-12


@pytest.mark.parametrize("name", SCHEDULES.names())
def test_every_schedule_resumes_exactly_from_a_json_state(name: str) -> None:
    optimizer = _optimizer()
    scheduler = build_schedule(name, optimizer, TOTAL, PER_EPOCH)
    _lrs(scheduler, optimizer, 13)
    saved = json.loads(json.dumps(scheduler.state_dict()))
    saved_optimizer = copy.deepcopy(optimizer.state_dict())

    fresh_optimizer = _optimizer()
    fresh = build_schedule(name, fresh_optimizer, TOTAL, PER_EPOCH)
    fresh_optimizer.load_state_dict(saved_optimizer)
    fresh.load_state_dict(saved)
    assert fresh.get_last_lr() == scheduler.get_last_lr()
    remaining = TOTAL - 13
    expected = _lrs(scheduler, optimizer, remaining)
    assert _lrs(fresh, fresh_optimizer, remaining) == expected
    assert fresh_optimizer.param_groups[0]["momentum"] == optimizer.param_groups[0]["momentum"]


def test_constant_is_the_default_and_keeps_the_rate() -> None:
    optimizer = _optimizer()
    assert set(_lrs(build_schedule(None, optimizer, TOTAL, PER_EPOCH), optimizer, TOTAL)) == {0.1}


def test_cosine_ends_at_the_minimum_and_halves_in_the_middle() -> None:
    optimizer = _optimizer()
    scheduler = build_schedule({"name": "cosine", "min_lr_ratio": 0.1}, optimizer, TOTAL, PER_EPOCH)
    rates = _lrs(scheduler, optimizer, TOTAL)
    assert rates[0] == pytest.approx(0.1)
    assert rates[TOTAL // 2] == pytest.approx(0.1 * (0.1 + 0.9 * 0.5))
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.01)  # after the last step
    assert all(a >= b for a, b in zip(rates, rates[1:]))


@pytest.mark.parametrize("name", ["warmup-cosine", "warmup-linear"])
def test_warmup_starts_low_and_peaks_at_the_base_rate(name: str) -> None:
    optimizer = _optimizer()
    scheduler = build_schedule({"name": name, "warmup_steps": 8}, optimizer, TOTAL, PER_EPOCH)
    rates = _lrs(scheduler, optimizer, TOTAL)
    assert rates[0] == pytest.approx(0.1 / 9)
    assert all(a < b for a, b in zip(rates[:8], rates[1:9]))
    assert rates[8] == pytest.approx(0.1) and max(rates) == pytest.approx(0.1)
    assert all(a > b for a, b in zip(rates[8:], rates[9:]))
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
    default = build_schedule(name, _optimizer(), 100, 10)
    assert default.lr_lambdas[0].warmup_steps == 5  # warmup_fraction 0.05 of 100


def test_step_decay_drops_by_gamma_at_the_epoch_boundary() -> None:
    optimizer = _optimizer()
    scheduler = build_schedule({"name": "step-decay", "step_epochs": 2, "gamma": 0.5}, optimizer, TOTAL, PER_EPOCH)
    rates = _lrs(scheduler, optimizer, TOTAL)
    assert rates[9] == pytest.approx(0.1) and rates[10] == pytest.approx(0.05) and rates[20] == pytest.approx(0.025)


def test_exponential_multiplies_by_gamma_per_epoch() -> None:
    optimizer = _optimizer()
    rates = _lrs(build_schedule({"name": "exponential", "gamma": 0.5}, optimizer, TOTAL, PER_EPOCH), optimizer, TOTAL)
    for epoch in range(TOTAL // PER_EPOCH):
        assert rates[epoch * PER_EPOCH] == pytest.approx(0.1 * 0.5**epoch)


def test_one_cycle_rises_to_the_configured_rate_and_cycles_momentum() -> None:
    optimizer = _optimizer(lr=0.2)
    scheduler = build_schedule("one-cycle", optimizer, TOTAL, PER_EPOCH)
    momenta = []
    rates = []
    for _ in range(TOTAL):
        rates.append(optimizer.param_groups[0]["lr"])
        momenta.append(optimizer.param_groups[0]["momentum"])
        optimizer.step()
        scheduler.step()
    peak = rates.index(max(rates))
    assert rates[0] == pytest.approx(0.2 / 25) and max(rates) == pytest.approx(0.2)
    assert peak == round(0.25 * TOTAL) - 1
    assert rates[-1] == pytest.approx(0.2 / 25 / 1e4)
    assert min(momenta) == pytest.approx(0.85) and momenta[peak] == pytest.approx(0.85)
    plain = torch.optim.SGD(nn.Linear(2, 1).parameters(), lr=0.1)  # momentum 0: not switched on
    build_schedule("one-cycle", plain, TOTAL, PER_EPOCH)
    assert plain.param_groups[0]["momentum"] == 0


def test_schedules_scale_every_param_group_from_its_own_rate() -> None:
    first, second = nn.Linear(2, 2), nn.Linear(2, 1)
    optimizer = torch.optim.SGD([{"params": first.parameters()}, {"params": second.parameters(), "lr": 0.01}], lr=0.1)
    scheduler = build_schedule({"name": "step-decay", "step_epochs": 1, "gamma": 0.1}, optimizer, TOTAL, PER_EPOCH)
    _lrs(scheduler, optimizer, PER_EPOCH)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.01, 0.001])


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        ({"name": "cosine", "min_lr_ratio": 1.5}, "schedule.min_lr_ratio"),
        ({"name": "step-decay", "gamma": 2.0}, "schedule.gamma"),
        ({"name": "step-decay", "step_epochs": 0}, "schedule.step_epochs"),
        ({"name": "warmup-cosine", "warmup_steps": TOTAL}, "schedule.warmup_steps"),
        ({"name": "one-cycle", "pct_start": 0}, "schedule.pct_start"),
        ({"name": "cosine", "total_steps": 3}, "shendu sets total_steps itself"),
        ({"name": "cosine", "min_ratio": 0.1}, "Did you mean 'min_lr_ratio'"),
    ],
)
def test_bad_schedule_options_are_config_errors(spec: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        build_schedule(spec, _optimizer(), TOTAL, PER_EPOCH)


def test_schedule_objects_pass_through_and_step_counts_are_checked() -> None:
    optimizer = _optimizer()
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 3)
    assert build_schedule(scheduler, optimizer, TOTAL, PER_EPOCH) is scheduler
    with pytest.raises(ValueError, match="total_steps"):
        build_schedule("cosine", optimizer, 0, PER_EPOCH)
    with pytest.raises(UnknownComponentError, match="cosine"):
        build_schedule("cosin", optimizer, TOTAL, PER_EPOCH)
