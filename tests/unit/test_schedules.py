"""Schedules: contracts over the registry, closed forms, warmup composition, plateau, exact resume."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch
from torch import nn

from shendu.errors import ConfigError, UnknownComponentError
from shendu.optim import (
    SCHEDULES,
    build_schedule,
    is_metric_schedule,
    schedule_monitor,
)


# -- schedules -------------------------------------------------------------------------------
TOTAL, PER_EPOCH, LR = 40, 5, 0.1
PLATEAU = [1.0, 0.8, 0.7] + [0.7] * 20  # a validation loss per epoch that stops improving


def _optimizer(lr: float = LR) -> torch.optim.Optimizer:
    torch.manual_seed(0)
    return torch.optim.SGD(nn.Linear(2, 1).parameters(), lr=lr, momentum=0.9)


def _lrs(scheduler, optimizer: torch.optim.Optimizer, steps: int, start: int = 0) -> list[float]:
    """The rate used by each optimizer step from step ``start``; a metric schedule steps per epoch on PLATEAU."""
    used = []
    for t in range(start, start + steps):
        used.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if not is_metric_schedule(scheduler):
            scheduler.step()
        elif (t + 1) % PER_EPOCH == 0:
            scheduler.step(PLATEAU[t // PER_EPOCH])
    return used


def _ramp(t: int, warmup: int = 8) -> float:
    return LR * (t + 1) / (warmup + 1)


def _cyclic(t: int, step_size: int, mode: str, gamma: float = 1.0, base: float = LR / 4, top: float = LR) -> float:
    """Smith (2017), section 3.1, written out."""
    cycle = math.floor(1 + t / (2 * step_size))
    x = abs(t / step_size - 2 * cycle + 1)
    scale = {"triangular": 1.0, "triangular2": 1 / 2 ** (cycle - 1), "exp_range": gamma**t}[mode]
    return base + (top - base) * max(0.0, 1 - x) * scale


def _one_cycle(t: int, peak: float = LR, pct: float = 0.25, div: float = 25.0, final: float = 1e4) -> float:
    """torch's OneCycleLR with cosine annealing: up over steps 0..pct*T-1, down over the rest to T-1."""
    turn = pct * TOTAL - 1
    start, low = peak / div, peak / div / final
    if t <= turn:
        return peak + (start - peak) / 2 * (1 + math.cos(math.pi * t / turn))
    return low + (peak - low) / 2 * (1 + math.cos(math.pi * (t - turn) / (TOTAL - 1 - turn)))


# name -> (options, the rate at step t in closed form), with T = 40 steps, E = 5 steps per epoch, lr0 = 0.1
CLOSED_FORMS = {
    "constant": ({}, lambda t: LR),
    "step": ({"step_epochs": 2, "gamma": 0.5}, lambda t: LR * 0.5 ** (t // 10)),
    "multi-step": ({"milestones": [2, 5], "gamma": 0.1}, lambda t: LR * 0.1 ** ((t >= 10) + (t >= 25))),
    "exponential": ({"gamma": 0.5}, lambda t: LR * 0.5 ** (t / PER_EPOCH)),
    "cosine": ({"min_lr": 0.01}, lambda t: 0.01 + 0.5 * (LR - 0.01) * (1 + math.cos(math.pi * t / TOTAL))),
    "polynomial": ({"power": 2.0, "end_lr": 0.001}, lambda t: 0.001 + (LR - 0.001) * (1 - t / TOTAL) ** 2),
    "warmup": (
        {"warmup_steps": 8, "then": {"name": "step", "step_epochs": 1, "gamma": 0.5}},
        lambda t: _ramp(t) if t < 8 else LR * 0.5 ** ((t - 8) // PER_EPOCH),
    ),
    "warmup-cosine": (
        {"warmup_steps": 8, "min_lr_ratio": 0.1},
        lambda t: _ramp(t) if t < 8 else LR * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (t - 8) / (TOTAL - 8)))),
    ),
    "warmup-linear": ({"warmup_steps": 8}, lambda t: _ramp(t) if t < 8 else LR * (TOTAL - t) / (TOTAL - 8)),
    "cyclic": ({"step_size_up": 6, "mode": "triangular2"}, lambda t: _cyclic(t, 6, "triangular2")),
    "one-cycle": ({}, _one_cycle),
}
SPECS = {**{name: {"name": name, **options} for name, (options, _) in CLOSED_FORMS.items()},
         "reduce-on-plateau": {"name": "reduce-on-plateau", "patience": 1, "factor": 0.5}}


def _build(name: str, optimizer: torch.optim.Optimizer | None = None, total: int = TOTAL):
    return build_schedule(SPECS.get(name, name), optimizer or _optimizer(), total, PER_EPOCH)


def test_every_per_step_schedule_has_a_closed_form_in_this_file() -> None:
    metric = {name for name in SCHEDULES.names() if is_metric_schedule(_build(name))}
    assert metric == {"reduce-on-plateau"}
    assert set(SCHEDULES.names()) - metric == set(CLOSED_FORMS)


@pytest.mark.parametrize("name", SCHEDULES.names())
def test_every_schedule_is_documented_and_gives_positive_finite_rates(name: str) -> None:
    entry = SCHEDULES.entry(name)
    assert entry.summary and entry.formula and entry.reference and "Formula" in entry.doc
    optimizer = _optimizer()
    scheduler = _build(name, optimizer)
    assert isinstance(scheduler, torch.optim.lr_scheduler.LRScheduler)
    rates = _lrs(scheduler, optimizer, TOTAL)
    assert all(math.isfinite(r) and r > 0 for r in rates) and max(rates) <= LR + 1e-12


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
def test_every_schedule_matches_its_closed_form(name: str) -> None:
    optimizer = _optimizer()
    rates = _lrs(_build(name, optimizer), optimizer, TOTAL)
    formula = CLOSED_FORMS[name][1]
    assert rates == pytest.approx([formula(t) for t in range(TOTAL)], rel=1e-9, abs=1e-15)


@pytest.mark.parametrize(("mode", "gamma"), [("triangular", 1.0), ("exp_range", 0.9)])
def test_cyclic_modes_follow_smith(mode: str, gamma: float) -> None:
    optimizer = _optimizer()
    spec = {"name": "cyclic", "step_size_up": 4, "mode": mode, "gamma": gamma}
    rates = _lrs(build_schedule(spec, optimizer, TOTAL, PER_EPOCH), optimizer, TOTAL)
    assert rates == pytest.approx([_cyclic(t, 4, mode, gamma) for t in range(TOTAL)], rel=1e-9)


def test_cosine_matches_torch_and_ends_at_the_minimum() -> None:
    ours, theirs = _optimizer(), _optimizer()
    schedule = build_schedule({"name": "cosine", "min_lr": 0.01}, ours, TOTAL, PER_EPOCH)
    reference = torch.optim.lr_scheduler.CosineAnnealingLR(theirs, T_max=TOTAL, eta_min=0.01)
    assert _lrs(schedule, ours, TOTAL) == pytest.approx(_lrs(reference, theirs, TOTAL), rel=1e-9)
    assert ours.param_groups[0]["lr"] == pytest.approx(0.01)  # after the last step


@pytest.mark.parametrize("name", SCHEDULES.names())
def test_every_schedule_resumes_exactly_from_a_json_state(name: str) -> None:
    optimizer = _optimizer()
    scheduler = _build(name, optimizer)
    _lrs(scheduler, optimizer, 13)
    saved = json.loads(json.dumps(scheduler.state_dict(), allow_nan=False))  # strict JSON
    saved_optimizer = copy.deepcopy(optimizer.state_dict())

    fresh_optimizer = _optimizer()
    fresh = _build(name, fresh_optimizer)
    fresh_optimizer.load_state_dict(saved_optimizer)
    fresh.load_state_dict(saved)
    assert fresh.get_last_lr() == scheduler.get_last_lr()
    expected = _lrs(scheduler, optimizer, TOTAL - 13, start=13)
    assert _lrs(fresh, fresh_optimizer, TOTAL - 13, start=13) == expected
    assert fresh_optimizer.param_groups[0]["momentum"] == optimizer.param_groups[0]["momentum"]


FACTOR_SCHEDULES = [entry.name for entry in SCHEDULES.entries() if entry.tags.get("factors") is not None]


@pytest.mark.parametrize("inner", FACTOR_SCHEDULES)
def test_warmup_ramps_linearly_then_follows_any_closed_form_schedule_shifted(inner: str) -> None:
    then = SPECS[inner]
    optimizer = _optimizer()
    rates = _lrs(build_schedule({"name": "warmup", "warmup_steps": 8, "then": then}, optimizer, TOTAL, PER_EPOCH),
                 optimizer, TOTAL)
    alone = _optimizer()
    inner_rates = _lrs(build_schedule(then, alone, TOTAL - 8, PER_EPOCH), alone, TOTAL - 8)
    assert rates[:8] == pytest.approx([_ramp(t) for t in range(8)])
    assert rates[8:] == pytest.approx(inner_rates, rel=1e-12)


@pytest.mark.parametrize(
    ("inner", "reason"),
    [("one-cycle", "pct_start"), ("cyclic", "base_lr"), ("reduce-on-plateau", "once per epoch"),
     ("warmup-cosine", "not a closed-form schedule")],
)
def test_warmup_refuses_schedules_that_are_not_closed_form_with_the_reason(inner: str, reason: str) -> None:
    with pytest.raises(ConfigError, match="schedule.then") as caught:
        build_schedule({"name": "warmup", "then": inner}, _optimizer(), TOTAL, PER_EPOCH)
    assert reason in str(caught.value)


def test_warmup_defaults_to_five_percent_then_constant() -> None:
    optimizer = _optimizer()
    rates = _lrs(build_schedule("warmup", optimizer, 100, 10), optimizer, 100)
    assert rates[:6] == pytest.approx([LR * (t + 1) / 6 for t in range(6)]) and set(rates[5:]) == {LR}


def test_schedules_scale_every_param_group_from_its_own_rate() -> None:
    first, second = nn.Linear(2, 2), nn.Linear(2, 1)
    optimizer = torch.optim.SGD([{"params": first.parameters()}, {"params": second.parameters(), "lr": 0.01}], lr=0.1)
    scheduler = build_schedule({"name": "step", "step_epochs": 1, "gamma": 0.1}, optimizer, TOTAL, PER_EPOCH)
    _lrs(scheduler, optimizer, PER_EPOCH)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.01, 0.001])


def test_one_cycle_cycles_momentum_only_when_the_optimizer_has_it() -> None:
    optimizer = _optimizer(lr=0.2)
    scheduler = build_schedule("one-cycle", optimizer, TOTAL, PER_EPOCH)
    momenta = []
    for _ in range(TOTAL):
        momenta.append(optimizer.param_groups[0]["momentum"])
        optimizer.step()
        scheduler.step()
    assert momenta[0] == pytest.approx(0.95) and momenta[9] == pytest.approx(0.85)
    plain = torch.optim.SGD(nn.Linear(2, 1).parameters(), lr=0.1)  # momentum 0: not switched on
    build_schedule("one-cycle", plain, TOTAL, PER_EPOCH)
    build_schedule("cyclic", plain, TOTAL, PER_EPOCH)
    assert plain.param_groups[0]["momentum"] == 0


def test_multi_step_drops_at_half_and_three_quarters_by_default() -> None:
    optimizer = _optimizer()
    rates = _lrs(build_schedule("multi-step", optimizer, TOTAL, PER_EPOCH), optimizer, TOTAL)
    assert rates[19] == LR and rates[20] == pytest.approx(LR / 10) and rates[30] == pytest.approx(LR / 100)


# -- reduce-on-plateau -------------------------------------------------------------------------
def _epoch_rates(spec: dict, values: list[float]) -> list[float]:
    """The rate after each epoch's ``schedule.step(value)``."""
    optimizer = _optimizer()
    schedule = build_schedule({"name": "reduce-on-plateau", **spec}, optimizer, TOTAL, PER_EPOCH)
    rates = []
    for value in values:
        schedule.step(value)
        rates.append(optimizer.param_groups[0]["lr"])
    return rates


def test_reduce_on_plateau_cuts_after_patience_epochs_without_improvement() -> None:
    # best 1.0, then 0.9; epochs 3-4 are tolerated (patience 2); the third bad epoch in a row cuts.
    rates = _epoch_rates({"patience": 2, "factor": 0.5}, [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95])
    assert rates == pytest.approx([LR] * 4 + [LR / 2] * 3 + [LR / 4])
    floored = _epoch_rates({"patience": 0, "factor": 0.1, "min_lr": 0.02}, [1.0, 1.0, 1.0])
    assert floored == pytest.approx([LR, 0.02, 0.02])


def test_reduce_on_plateau_takes_its_direction_from_the_monitor() -> None:
    accuracy = [0.5, 0.6, 0.6, 0.6, 0.6]
    assert _epoch_rates({"monitor": "val.accuracy", "patience": 2}, accuracy)[3:] == pytest.approx([LR, LR / 10])
    # read as a loss, the rising accuracy is never better than 0.5: the cut comes one epoch earlier
    assert _epoch_rates({"patience": 2}, accuracy)[3] == pytest.approx(LR / 10)
    explicit = _epoch_rates({"monitor": "val.accuracy", "mode": "min", "patience": 2}, accuracy)
    assert explicit[3] == pytest.approx(LR / 10)


def test_metric_schedule_contract() -> None:
    schedule = build_schedule("reduce-on-plateau", _optimizer(), TOTAL, PER_EPOCH)
    assert is_metric_schedule(schedule) and schedule_monitor(schedule) is None and schedule.mode == "min"
    schedule.bind_monitor("val.accuracy")  # what the loop does for monitor None
    assert schedule_monitor(schedule) == "val.accuracy" and schedule.mode == "max"
    named = build_schedule({"name": "reduce-on-plateau", "monitor": "val.loss"}, _optimizer(), TOTAL, PER_EPOCH)
    assert schedule_monitor(named) == "val.loss"
    torch_plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(_optimizer())
    assert is_metric_schedule(torch_plateau) and schedule_monitor(torch_plateau) is None
    cosine = build_schedule("cosine", _optimizer(), TOTAL, PER_EPOCH)
    assert not is_metric_schedule(cosine) and not is_metric_schedule(None) and schedule_monitor(cosine) is None
    fresh = json.loads(json.dumps(schedule.state_dict(), allow_nan=False))
    assert fresh["best"] is None and fresh["monitor"] == "val.accuracy"


# -- bad options ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "key"),
    [
        ({"name": "cosine", "min_lr_ratio": 1.5}, "schedule.min_lr_ratio"),
        ({"name": "cosine", "min_lr_ratio": 0.1, "min_lr": 0.001}, "schedule.min_lr"),
        ({"name": "cosine", "min_lr": 0.5}, "schedule.min_lr"),
        ({"name": "step", "gamma": 2.0}, "schedule.gamma"),
        ({"name": "step", "step_epochs": 0}, "schedule.step_epochs"),
        ({"name": "multi-step", "milestones": []}, "schedule.milestones"),
        ({"name": "multi-step", "milestones": [5, 2]}, "schedule.milestones"),
        ({"name": "polynomial", "power": 0}, "schedule.power"),
        ({"name": "polynomial", "end_lr": -1.0}, "schedule.end_lr"),
        ({"name": "warmup-cosine", "warmup_steps": TOTAL}, "schedule.warmup_steps"),
        ({"name": "warmup", "warmup_steps": 4, "warmup_fraction": 0.1}, "schedule.warmup_fraction"),
        ({"name": "warmup", "then": "cosin"}, "schedule.then"),
        ({"name": "warmup", "then": {"name": "cosine", "min_ratio": 0.1}}, "schedule.then.min_ratio"),
        ({"name": "warmup", "then": 3}, "schedule.then"),
        ({"name": "cyclic", "mode": "triangle"}, "schedule.mode"),
        ({"name": "cyclic", "base_lr": 0.2}, "schedule.base_lr"),
        ({"name": "cyclic", "step_size_up": 0}, "schedule.step_size_up"),
        ({"name": "one-cycle", "pct_start": 0}, "schedule.pct_start"),
        ({"name": "reduce-on-plateau", "factor": 1.0}, "schedule.factor"),
        ({"name": "reduce-on-plateau", "patience": -1}, "schedule.patience"),
        ({"name": "reduce-on-plateau", "mode": "up"}, "schedule.mode"),
        ({"name": "reduce-on-plateau", "monitor": "val.acuracy"}, "schedule.monitor"),
        ({"name": "cosine", "total_steps": 3}, "shendu sets total_steps itself"),
        ({"name": "cosine", "min_ratio": 0.1}, "Did you mean 'min_lr_ratio'"),
    ],
)
def test_bad_schedule_options_are_config_errors_with_a_fix(spec: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key) as caught:
        build_schedule(spec, _optimizer(), TOTAL, PER_EPOCH)
    assert "Fix:" in str(caught.value)


def test_cyclic_refuses_to_cycle_a_momentum_the_optimizer_lacks() -> None:
    plain = torch.optim.SGD(nn.Linear(2, 1).parameters(), lr=0.1)
    with pytest.raises(ConfigError, match="schedule.cycle_momentum"):
        build_schedule({"name": "cyclic", "cycle_momentum": True}, plain, TOTAL, PER_EPOCH)


def test_schedule_objects_pass_through_and_step_counts_are_checked() -> None:
    optimizer = _optimizer()
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 3)
    assert build_schedule(scheduler, optimizer, TOTAL, PER_EPOCH) is scheduler
    assert type(build_schedule(None, optimizer, TOTAL, PER_EPOCH)).__name__ == "FactorSchedule"
    with pytest.raises(ValueError, match="total_steps"):
        build_schedule("cosine", optimizer, 0, PER_EPOCH)
    with pytest.raises(UnknownComponentError, match="cosine"):
        build_schedule("cosin", optimizer, TOTAL, PER_EPOCH)
