"""Optimizers: contracts over the registry, torch references, newton, parameter groups, exact resume."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from shendu.errors import ConfigError, UnknownComponentError
from shendu.optim import (
    OPTIMIZERS,
    build_optimizer,
    needs_closure,
    parameter_groups,
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
