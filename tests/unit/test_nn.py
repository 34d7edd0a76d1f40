"""shendu.nn: every activation against its formula, every initializer, and initialize()."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from shendu.errors import UnknownComponentError
from shendu.nn import (
    ACTIVATIONS,
    INITIALIZERS,
    auto_initializer,
    get_activation,
    get_initializer,
    initialize,
)

X = torch.linspace(-5.0, 5.0, 41, dtype=torch.float64).reshape(1, 41)
MATRIX = torch.tensor([[-2.0, 0.5, 3.0, 1.0], [0.0, 0.0, -1.0, 7.0]], dtype=torch.float64)
SELU_SCALE, SELU_ALPHA = 1.0507009873554805, 1.6732632423543772


def _softplus(x, beta=1.0):
    return torch.log1p(torch.exp(beta * x)) / beta


# name -> (options, input, formula written out by hand)
REFERENCES = {
    "identity": ({}, X, lambda x: x),
    "step": ({}, X, lambda x: (x > 0).double()),
    "sigmoid": ({}, X, lambda x: 1 / (1 + torch.exp(-x))),
    "tanh": ({}, X, lambda x: (torch.exp(x) - torch.exp(-x)) / (torch.exp(x) + torch.exp(-x))),
    "relu": ({}, X, lambda x: torch.where(x > 0, x, torch.zeros_like(x))),
    "leaky-relu": ({}, X, lambda x: torch.where(x > 0, x, 0.01 * x)),
    "elu": ({"alpha": 0.5}, X, lambda x: torch.where(x > 0, x, 0.5 * (torch.exp(x) - 1))),
    "selu": ({}, X, lambda x: SELU_SCALE * torch.where(x > 0, x, SELU_ALPHA * (torch.exp(x) - 1))),
    "gelu": ({}, X, lambda x: 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))),
    "silu": ({}, X, lambda x: x / (1 + torch.exp(-x))),
    "softplus": ({"beta": 2.0}, X, lambda x: _softplus(x, 2.0)),
    "mish": ({}, X, lambda x: x * torch.tanh(_softplus(x))),
    "softmax": ({}, MATRIX, lambda x: torch.exp(x) / torch.exp(x).sum(-1, keepdim=True)),
    "log-softmax": ({}, MATRIX, lambda x: x - torch.log(torch.exp(x).sum(-1, keepdim=True))),
    "hard-sigmoid": ({}, X, lambda x: torch.clamp(x + 3, 0, 6) / 6),
}


def test_every_activation_has_a_reference():
    assert sorted(REFERENCES) == ACTIVATIONS.names()


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_activation_matches_formula(name):
    options, x, formula = REFERENCES[name]
    module = get_activation({"name": name, **options})
    assert isinstance(module, nn.Module)
    torch.testing.assert_close(module(x), formula(x), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ACTIVATIONS.names())
def test_activation_contract(name):
    entry = ACTIVATIONS.entry(name)
    assert entry.summary and entry.formula and entry.reference
    module = get_activation(name)
    x = torch.randn(2, 3, 4, 5)
    y = module(x)
    assert y.shape == x.shape and y.dtype == x.dtype and torch.isfinite(y).all()
    assert get_activation(name) is not module  # a fresh module per call


def test_activation_options_and_torch_references():
    x = torch.randn(64, generator=torch.Generator().manual_seed(0))
    leaky = get_activation({"name": "leaky-relu", "negative_slope": 0.2})
    torch.testing.assert_close(leaky(x), nn.functional.leaky_relu(x, 0.2))
    gelu_tanh = get_activation({"name": "gelu", "approximate": "tanh"})
    expected = 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    torch.testing.assert_close(gelu_tanh(x), expected)
    softmax0 = get_activation({"name": "softmax", "dim": 0})
    torch.testing.assert_close(softmax0(MATRIX).sum(0), torch.ones(4, dtype=torch.float64))


def test_step_has_a_zero_gradient():
    x = torch.randn(5, requires_grad=True)
    y = get_activation("step")(x)
    y.sum().backward()  # stays in the graph (a step network trains without crashing) ...
    assert torch.equal(x.grad, torch.zeros(5))  # ... but nothing below a step learns


def test_get_activation_accepts_modules_and_copies_them():
    prelu = nn.PReLU()
    first, second = get_activation(prelu), get_activation(prelu)
    assert isinstance(first, nn.PReLU) and first is not prelu and first is not second


def test_get_activation_errors():
    with pytest.raises(UnknownComponentError, match="relu"):
        get_activation("rellu")
    with pytest.raises(ValueError, match="negative_slope"):
        get_activation({"name": "leaky-relu", "negative_slope": -1})
    with pytest.raises(ValueError, match="approximate"):
        get_activation({"name": "gelu", "approximate": "fast"})
    with pytest.raises(ValueError, match="torch.nn.Module"):
        get_activation(42)


# -- initializers ----------------------------------------------------------------
@pytest.mark.parametrize("name", INITIALIZERS.names())
@pytest.mark.parametrize("layer", [nn.Linear(20, 30), nn.Conv2d(3, 8, 3), nn.Conv1d(4, 6, 5)], ids=str)
def test_initializer_runs_in_place(name, layer):
    entry = INITIALIZERS.entry(name)
    assert entry.summary and entry.formula and entry.reference
    torch.manual_seed(0)
    weight = layer.weight
    init = get_initializer(name)
    init(weight)
    assert layer.weight is weight and weight.shape == layer.weight.shape
    assert torch.isfinite(weight).all()


def _big_linear(fan_in=1000, fan_out=2000):
    torch.manual_seed(0)
    return nn.Linear(fan_in, fan_out).weight  # (fan_out, fan_in)


@pytest.mark.parametrize(
    "spec, expected_std",
    [
        ("he-normal", math.sqrt(2 / 1000)),
        ("he-uniform", math.sqrt(2 / 1000)),
        ({"name": "he-normal", "mode": "fan_out"}, math.sqrt(2 / 2000)),
        ("lecun-normal", math.sqrt(1 / 1000)),
        ("xavier-uniform", math.sqrt(2 / 3000)),
        ({"name": "xavier-normal", "gain": 2.0}, 2 * math.sqrt(2 / 3000)),
        ("normal", 0.01),
        ({"name": "uniform", "a": -1.0, "b": 1.0}, 1 / math.sqrt(3)),
    ],
    ids=str,
)
def test_initializer_standard_deviation(spec, expected_std):
    weight = _big_linear()
    get_initializer(spec)(weight)
    assert weight.std().item() == pytest.approx(expected_std, rel=0.01)
    assert abs(weight.mean().item()) < 0.01 * expected_std + 1e-4


def test_he_normal_on_convolution_uses_fan_in_of_the_kernel():
    torch.manual_seed(0)
    weight = nn.Conv2d(32, 256, 3).weight  # fan_in = 32 * 3 * 3
    get_initializer("he-normal")(weight)
    assert weight.std().item() == pytest.approx(math.sqrt(2 / 288), rel=0.02)


def test_bounded_and_exact_initializers():
    weight = _big_linear(50, 40)
    get_initializer({"name": "uniform", "a": 0.1, "b": 0.3})(weight)
    assert 0.1 <= weight.min().item() and weight.max().item() <= 0.3
    get_initializer("he-uniform")(weight)
    assert weight.abs().max().item() <= math.sqrt(6 / 50)
    get_initializer({"name": "constant", "value": 0.25})(weight)
    assert torch.all(weight == 0.25)
    get_initializer("zeros")(weight)
    assert torch.all(weight == 0)
    get_initializer({"name": "orthogonal", "gain": 2.0})(weight)  # (40, 50): rows orthogonal
    torch.testing.assert_close(weight @ weight.T, 4 * torch.eye(40), atol=1e-4, rtol=0)


def test_initializer_option_errors():
    with pytest.raises(ValueError, match="std"):
        get_initializer({"name": "normal", "std": -1})
    with pytest.raises(ValueError, match="smaller than b"):
        get_initializer({"name": "uniform", "a": 1, "b": 0})
    with pytest.raises(ValueError, match="mode"):
        get_initializer({"name": "he-normal", "mode": "fan_avg"})
    with pytest.raises(UnknownComponentError, match="he-normal"):
        get_initializer("he-norml")
    with pytest.raises(ValueError, match="callable"):
        get_initializer(3.0)


@pytest.mark.parametrize(
    "activation, expected",
    [
        ("relu", "he-normal"),
        ({"name": "leaky-relu", "negative_slope": 0.2}, "he-normal"),
        ("elu", "he-normal"),
        ("gelu", "he-normal"),
        ("silu", "he-normal"),
        ("mish", "he-normal"),
        (nn.ReLU(), "he-normal"),
        (nn.GELU(), "he-normal"),
        ("selu", "lecun-normal"),
        ("tanh", "xavier-uniform"),
        ("sigmoid", "xavier-uniform"),
        ("identity", "xavier-uniform"),
        (nn.Tanh(), "xavier-uniform"),
        (None, "xavier-uniform"),
    ],
    ids=str,
)
def test_auto_initializer_choice(activation, expected):
    assert auto_initializer(activation) == expected


def test_auto_initializer_rejects_unknown_activation():
    with pytest.raises(UnknownComponentError, match="relu"):
        auto_initializer("reluu")


def _network():
    return nn.Sequential(
        nn.Conv2d(3, 64, 3), nn.BatchNorm2d(64), nn.ReLU(),
        nn.Flatten(), nn.Linear(64, 1000), nn.LayerNorm(1000),
    )


def test_initialize_auto_uses_he_for_relu_and_xavier_for_tanh():
    torch.manual_seed(0)
    model = _network()
    with torch.no_grad():
        for module in (model[1], model[5]):
            module.weight.uniform_(2, 3)
            module.bias.uniform_(2, 3)
    assert initialize(model, "auto", activation="relu") is model
    assert model[0].weight.std().item() == pytest.approx(math.sqrt(2 / 27), rel=0.05)
    assert model[4].weight.std().item() == pytest.approx(math.sqrt(2 / 64), rel=0.02)
    assert torch.all(model[0].bias == 0) and torch.all(model[4].bias == 0)
    # Normalisation layers are left as they are (a ResNet's zero-initialised residual BN stays zero).
    assert torch.all(model[1].weight >= 2) and torch.all(model[5].bias >= 2)
    initialize(model, "auto", activation="tanh")
    assert model[4].weight.std().item() == pytest.approx(math.sqrt(2 / 1064), rel=0.02)


def test_initialize_with_mapping_callable_and_default():
    model = _network()
    initialize(model, {"name": "normal", "std": 0.5})
    assert model[4].weight.std().item() == pytest.approx(0.5, rel=0.05)

    def ones(weight):
        weight.fill_(1.0)

    initialize(model, ones)
    assert torch.all(model[0].weight == 1) and torch.all(model[4].weight == 1)

    torch.manual_seed(1)
    untouched = _network()
    before = {k: v.clone() for k, v in untouched.state_dict().items()}
    initialize(untouched, "default")
    for key, value in untouched.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_initialize_covers_all_convolution_ranks():
    model = nn.Sequential(nn.Conv1d(2, 3, 3), nn.Conv3d(2, 3, 3), nn.ConvTranspose2d(2, 3, 3))
    initialize(model, "zeros")
    for module in model:
        assert torch.all(module.weight == 0) and torch.all(module.bias == 0)


def test_initialize_reaches_weight_normed_layers():
    # A parametrized weight is computed from its pieces (direction v, scale g): the
    # initialiser must set those, not fill the computed tensor that is thrown away.
    from torch.nn.utils.parametrizations import weight_norm

    torch.manual_seed(0)
    model = nn.Sequential(weight_norm(nn.Conv1d(16, 64, 3)), nn.ReLU(), weight_norm(nn.Linear(64, 256)))
    initialize(model, {"name": "constant", "value": 0.25})
    for module in (model[0], model[2]):
        assert torch.allclose(module.weight, torch.full_like(module.weight, 0.25))
        assert torch.all(module.bias == 0)
    initialize(model, "he-normal")
    assert model[2].weight.std().item() == pytest.approx(math.sqrt(2 / 64), rel=0.05)
    assert model[2].parametrizations.weight.original0.grad_fn is None  # still a leaf parameter


def test_initialize_per_layer_type_override():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(50, 16), nn.Conv1d(16, 32, 3), nn.Flatten(), nn.Linear(32 * 6, 500),
                          nn.GRU(8, 8, num_layers=2))
    embedding_before = model[0].weight.clone()
    initialize(model, {"default": "he-normal", "linear": "zeros", "recurrent": {"name": "constant", "value": 0.5}})
    assert torch.equal(model[0].weight, embedding_before) is False  # default he-normal reached the embedding
    assert model[1].weight.std().item() == pytest.approx(math.sqrt(2 / (16 * 3)), rel=0.1)
    assert torch.all(model[3].weight == 0)
    gru = dict(model[4].named_parameters())
    assert all(torch.all(v == 0.5) for k, v in gru.items() if k.startswith("weight"))
    assert all(torch.all(v == 0) for k, v in gru.items() if k.startswith("bias"))


def test_initialize_auto_keeps_embedding_and_recurrent_defaults():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(50, 16), nn.LSTM(16, 8))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    initialize(model, "auto", activation="relu")
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_initialize_rejects_unknown_layer_type():
    with pytest.raises(ValueError, match=r"unknown layer type.*'dense'.*'default', 'linear', 'conv'"):
        initialize(nn.Linear(2, 2), {"dense": "he-normal"})


@pytest.mark.parametrize("name", [n for n in INITIALIZERS.names() if n != "default"])
def test_every_initializer_matches_its_stated_standard_deviation(name):
    """Each initializer's `std` tag is its definition; a 1000 x 1000 weight must match it within 5%."""
    entry = INITIALIZERS.entry(name)
    assert "std" in entry.tags, f"{name} needs a std(fan_in, fan_out, **options) tag"
    torch.manual_seed(0)
    weight = torch.empty(1000, 1000)
    get_initializer(name)(weight)
    expected = entry.tags["std"](1000, 1000)
    if expected == 0:
        assert weight.std().item() == 0
    else:
        assert weight.std().item() == pytest.approx(expected, rel=0.05)


@pytest.mark.parametrize("name", ACTIVATIONS.names())
def test_every_activation_passes_gradcheck_in_float64(name):
    """Analytical gradients equal finite differences, at points away from kinks (x = 0)."""
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(4, 5, dtype=torch.float64, generator=generator)
    inputs = torch.where(inputs.abs() < 0.1, inputs.sign() * 0.1 + inputs, inputs)  # keep clear of x = 0
    inputs.requires_grad_(True)
    activation = get_activation(name).double()
    assert torch.autograd.gradcheck(activation, (inputs,), eps=1e-6, atol=1e-5)
