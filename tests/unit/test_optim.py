"""Optimizers and schedules: contracts over both registries, torch/sklearn oracles, closed forms, exact resume."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch
from torch import nn

from shendu.errors import ConfigError, UnknownComponentError
from shendu.optim import (
    OPTIMIZERS,
    SCHEDULES,
    build_optimizer,
    build_schedule,
    is_metric_schedule,
    needs_closure,
    parameter_groups,
    schedule_monitor,
)
from shendu.optim.second_order import gradient_and_hessian


def _least_squares() -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed, well-conditioned convex problem: y = X w_true with small weights, as in a fresh network."""
    generator = torch.Generator().manual_seed(0)
    design = torch.randn(64, 8, generator=generator)
    return design, design @ (0.1 * torch.randn(8, generator=generator))


def _minimise(optimizer: torch.optim.Optimizer, loss_fn, steps: int) -> None:
    """``steps`` optimizer steps on ``loss_fn()``, through the closure contract where the optimizer needs it."""

    def closure(backward: bool = True) -> torch.Tensor:
        optimizer.zero_grad()
        loss = loss_fn()
        if backward:
            loss.backward()
        return loss

    for _ in range(steps):
        if needs_closure(optimizer):
            optimizer.step(closure)
        else:
            closure()
            optimizer.step()


# -- optimizers: contracts over the registry ------------------------------------------
@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_every_optimizer_is_documented(name: str) -> None:
    entry = OPTIMIZERS.entry(name)
    assert entry.summary and entry.formula and entry.reference
    assert "Formula" in entry.doc and "Reference" in entry.doc and "Args:" in entry.doc


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_every_optimizer_decreases_a_convex_loss_with_its_defaults(name: str) -> None:
    design, targets = _least_squares()
    weights = torch.zeros(8, requires_grad=True)
    optimizer = OPTIMIZERS.get(name, params=[weights])
    assert isinstance(optimizer, torch.optim.Optimizer)

    def loss() -> torch.Tensor:
        return ((design @ weights - targets) ** 2).mean()

    initial = loss().item()
    _minimise(optimizer, loss, 5 if needs_closure(optimizer) else 500)
    final = loss().item()
    assert math.isfinite(final) and final < 0.1 * initial, f"{name}: {initial:.4g} -> {final:.4g}"


# Learning rates for the tiny MLP where the default is tuned for bigger models; new entries use their default.
MLP_LR = {"sgd": 0.3, "momentum": 0.1, "nesterov": 0.1, "adagrad": 0.1, "adam": 0.03, "adamw": 0.03,
          "amsgrad": 0.03, "adamax": 0.1, "radam": 0.1, "nadam": 0.01}


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_every_optimizer_trains_a_tiny_mlp(name: str) -> None:
    """2-8-1 tanh MLP on 64 points of sin(x1) cos(x2): the loss drops 10x in 200 steps (closure: 100x in 10)."""
    generator = torch.Generator().manual_seed(0)
    inputs = torch.rand(64, 2, generator=generator) * 4 - 2
    targets = torch.sin(inputs[:, :1]) * torch.cos(inputs[:, 1:])
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    spec = {"name": name, "lr": MLP_LR[name]} if name in MLP_LR else name
    optimizer = build_optimizer(spec, model)

    def loss() -> torch.Tensor:
        return ((model(inputs) - targets) ** 2).mean()

    initial = loss().item()
    closure = needs_closure(optimizer)
    _minimise(optimizer, loss, 10 if closure else 200)
    final = loss().item()
    assert final < initial / (100 if closure else 10), f"{name}: {initial:.4g} -> {final:.4g}"


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_every_optimizer_accepts_param_groups_or_refuses_them_clearly(name: str) -> None:
    first, second = torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)
    groups = [{"params": [first]}, {"params": [second], "lr": 0.5}]
    if OPTIMIZERS.entry(name).tags.get("single_group"):
        with pytest.raises(ConfigError, match="one parameter group") as caught:
            OPTIMIZERS.get(name, params=groups)
        assert "model.parameters()" in str(caught.value)
        assert len(OPTIMIZERS.get(name, params=[{"params": [first, second]}]).param_groups) == 1
    else:
        optimizer = OPTIMIZERS.get(name, params=groups)
        assert [group["lr"] for group in optimizer.param_groups][1] == 0.5



@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_every_optimizer_resumes_bitwise_from_a_checkpoint(name: str, tmp_path) -> None:
    from shendu.run import load_checkpoint, save_checkpoint

    inputs = torch.linspace(-2, 2, 32).unsqueeze(1)
    targets = torch.sin(2 * inputs)

    def fresh() -> tuple[nn.Module, torch.optim.Optimizer]:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(1, 6), nn.Tanh(), nn.Linear(6, 1))
        return model, build_optimizer(name, model)

    model, optimizer = fresh()
    _minimise(optimizer, lambda: ((model(inputs) - targets) ** 2).mean(), 3)
    save_checkpoint(tmp_path / "last", model.state_dict(), {"optimizer": optimizer.state_dict()}, {})
    model_state, training, _ = load_checkpoint(tmp_path / "last")
    resumed, resumed_optimizer = fresh()
    resumed.load_state_dict(model_state)
    resumed_optimizer.load_state_dict(training["optimizer"])
    _minimise(optimizer, lambda: ((model(inputs) - targets) ** 2).mean(), 3)
    _minimise(resumed_optimizer, lambda: ((resumed(inputs) - targets) ** 2).mean(), 3)
    for ours, theirs in zip(model.parameters(), resumed.parameters()):
        assert torch.equal(ours, theirs)


def test_only_lbfgs_and_newton_need_a_closure() -> None:
    built = {name: OPTIMIZERS.get(name, params=[torch.zeros(1, requires_grad=True)]) for name in OPTIMIZERS.names()}
    assert {name for name, optimizer in built.items() if needs_closure(optimizer)} == {"lbfgs", "newton"}
    with pytest.raises(TypeError, match="needs a closure"):
        built["newton"].step()


# -- optimizers against torch ------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "torch_class", "settings"),
    [
        ({"name": "adam", "lr": 0.01, "betas": [0.8, 0.99]}, torch.optim.Adam, {"lr": 0.01, "betas": (0.8, 0.99)}),
        ({"name": "radam", "lr": 0.01}, torch.optim.RAdam, {"lr": 0.01}),
        ({"name": "radam", "lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}, torch.optim.RAdam,
         {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
        ({"name": "adamax", "lr": 0.01, "betas": [0.8, 0.99]}, torch.optim.Adamax, {"lr": 0.01, "betas": (0.8, 0.99)}),
    ],
)
def test_adam_family_matches_torch(spec: dict, torch_class: type, settings: dict) -> None:
    design, targets = _least_squares()
    ours, theirs = torch.zeros(8, requires_grad=True), torch.zeros(8, requires_grad=True)
    our_optimizer, their_optimizer = OPTIMIZERS.get(spec, params=[ours]), torch_class([theirs], **settings)
    for weights, optimizer in ((ours, our_optimizer), (theirs, their_optimizer)):
        _minimise(optimizer, lambda w=weights: ((design @ w - targets) ** 2).mean(), 20)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


def test_lbfgs_matches_torch_lbfgs_on_a_small_network() -> None:
    generator = torch.Generator().manual_seed(1)
    inputs, targets = torch.randn(32, 3, generator=generator), torch.randn(32, 1, generator=generator)
    models = []
    for build in (lambda p: build_optimizer({"name": "lbfgs", "history_size": 10}, p),
                  lambda p: torch.optim.LBFGS(p.parameters(), history_size=10, line_search_fn="strong_wolfe")):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 1))
        _minimise(build(model), lambda m=model: ((m(inputs) - targets) ** 2).mean(), 3)
        models.append(model)
    for ours, theirs in zip(models[0].parameters(), models[1].parameters()):
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
        ("radam", torch.optim.RAdam, {"lr": 1e-3, "decoupled_weight_decay": False}),
        ("adamax", torch.optim.Adamax, {"lr": 2e-3}),
        ("lbfgs", torch.optim.LBFGS, {"lr": 1.0, "history_size": 100, "line_search_fn": "strong_wolfe"}),
    ],
)
def test_defaults_are_the_documented_ones(name: str, torch_class: type, settings: dict) -> None:
    optimizer = OPTIMIZERS.get(name, params=[torch.zeros(1, requires_grad=True)])
    assert type(optimizer) is torch_class
    for key, value in settings.items():
        assert optimizer.defaults[key] == value, key


# -- newton ------------------------------------------------------------------------------------
def _logistic_problem() -> tuple[torch.Tensor, torch.Tensor]:
    """200 x 5 standard-normal inputs, labels drawn from a logistic model: not separable, a finite optimum."""
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(200, 5, generator=generator, dtype=torch.float64)
    logits = inputs @ torch.tensor([1.5, -2.0, 0.5, 0.0, 1.0], dtype=torch.float64) + 0.3
    return inputs, torch.bernoulli(torch.sigmoid(logits), generator=generator)


def _steps_to_converge(spec: dict, limit: int, tolerance: float = 1e-6) -> tuple[int, nn.Linear]:
    """Optimizer steps until the gradient's largest entry is below ``tolerance`` (limit + 1: not reached)."""
    inputs, labels = _logistic_problem()
    model = nn.Linear(5, 1).double()
    nn.init.zeros_(model.weight), nn.init.zeros_(model.bias)
    optimizer = build_optimizer(spec, model)

    def loss() -> torch.Tensor:
        return nn.functional.binary_cross_entropy_with_logits(model(inputs).squeeze(1), labels)

    for steps in range(limit + 1):
        gradient = torch.autograd.grad(loss(), list(model.parameters()))
        if max(float(g.abs().max()) for g in gradient) < tolerance:
            return steps, model
        _minimise(optimizer, loss, 1)
    return limit + 1, model


def test_newton_solves_logistic_regression_in_few_steps_where_gradient_descent_needs_hundreds() -> None:
    from sklearn.linear_model import LogisticRegression

    newton_steps, model = _steps_to_converge({"name": "newton"}, limit=10)
    descent_steps, _ = _steps_to_converge({"name": "sgd", "lr": 1.0}, limit=200)
    assert newton_steps <= 10 and descent_steps > 200, (newton_steps, descent_steps)
    inputs, labels = _logistic_problem()
    # C = inf: no penalty (sklearn 1.8 deprecates penalty=None for it)
    reference = LogisticRegression(C=math.inf, tol=1e-10, max_iter=1000).fit(inputs.numpy(), labels.numpy())
    assert model.weight.detach().numpy() == pytest.approx(reference.coef_, abs=1e-4)
    assert model.bias.item() == pytest.approx(reference.intercept_[0], abs=1e-4)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")  # inside torch.func
def test_newton_hessian_matches_torch_func_hessian() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).double()
    inputs = torch.randn(10, 3, dtype=torch.float64)
    params = list(model.parameters())
    _, hessian = gradient_and_hessian(model(inputs).pow(2).mean(), params)
    names, shapes = [name for name, _ in model.named_parameters()], [p.shape for p in params]

    def loss_of(flat: torch.Tensor) -> torch.Tensor:
        pieces = dict(zip(names, (piece.view(s) for piece, s in zip(flat.split([s.numel() for s in shapes]), shapes))))
        return torch.func.functional_call(model, pieces, (inputs,)).pow(2).mean()

    reference = torch.func.hessian(loss_of)(torch.cat([p.detach().reshape(-1) for p in params]))
    torch.testing.assert_close(hessian, reference)


def test_newton_raises_damping_at_a_saddle_and_still_descends() -> None:
    point = torch.tensor([1.0, 0.1], dtype=torch.float64, requires_grad=True)
    optimizer = OPTIMIZERS.get({"name": "newton", "damping": 1e-4}, params=[point])

    def saddle() -> torch.Tensor:  # Hessian diag(2, -2 + 12 y^2): indefinite near y = 0
        return point[0] ** 2 - point[1] ** 2 + point[1] ** 4

    before = saddle().item()
    _minimise(optimizer, saddle, 1)
    assert optimizer.state[point]["damping"] > 1.0 and saddle().item() < before
    _minimise(optimizer, saddle, 20)
    assert point.detach().abs().tolist() == pytest.approx([0.0, math.sqrt(0.5)], abs=1e-6)


def test_newton_refuses_models_beyond_max_parameters_naming_the_count_and_the_fix() -> None:
    model = nn.Linear(100, 60)  # 6060 parameters
    with pytest.raises(ConfigError, match="optimizer.max_parameters") as caught:
        build_optimizer("newton", model)
    message = str(caught.value)
    assert "6060" in message and "5000" in message and "lbfgs" in message and "n^2" in message
    assert build_optimizer({"name": "newton", "max_parameters": 6060}, model).param_groups[0]["lr"] == 1.0


# -- building for a model ----------------------------------------------------------------------
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


@pytest.mark.parametrize("name", ["lbfgs", "newton"])
def test_closure_optimizers_build_one_group_for_a_model_and_refuse_weight_decay(name: str) -> None:
    model = _small_network()
    optimizer = build_optimizer(name, model)
    assert len(optimizer.param_groups) == 1 and len(optimizer.param_groups[0]["params"]) == 10
    with pytest.raises(ConfigError, match="optimizer.weight_decay") as caught:
        build_optimizer({"name": name, "weight_decay": 0.01}, model)
    assert "L2 term" in str(caught.value)


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
        ({"name": "radam", "decoupled_weight_decay": "yes"}, "optimizer.decoupled_weight_decay"),
        ({"name": "adamax", "eps": 0}, "optimizer.eps"),
        ({"name": "lbfgs", "line_search_fn": "wolfe"}, "optimizer.line_search_fn"),
        ({"name": "lbfgs", "history_size": 0}, "optimizer.history_size"),
        ({"name": "lbfgs", "max_iter": True}, "optimizer.max_iter"),
        ({"name": "newton", "damping": 0}, "optimizer.damping"),
        ({"name": "newton", "line_search": 1}, "optimizer.line_search"),
        ({"name": "newton", "max_parameters": 0}, "optimizer.max_parameters"),
    ],
)
def test_bad_optimizer_options_are_config_errors_with_a_fix(spec: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key) as caught:
        build_optimizer(spec, _small_network())
    assert "Fix:" in str(caught.value) or "Did you mean" in str(caught.value)


def test_unknown_optimizer_suggests_names() -> None:
    with pytest.raises(UnknownComponentError, match="Did you mean 'adam'"):
        build_optimizer("adamm", _small_network())


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

