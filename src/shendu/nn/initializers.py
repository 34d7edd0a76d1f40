"""Weight initialisers: how a layer's weights are drawn before training starts.

Every entry's constructor takes keyword options and returns a callable
``init(weight) -> None`` that fills a weight tensor in place (under
``torch.no_grad()``). :func:`initialize` applies one to every linear and
convolution layer of a model, zeroes their biases and resets normalisation
layers; ``"auto"`` picks the initialiser that suits the activation.

The variance-preserving rules (Xavier, He, LeCun) keep the scale of
activations and gradients roughly constant from layer to layer, which is what
lets deep networks start training at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize

from shendu.errors import Problem
from shendu.nn.registry import ACTIVATIONS, INITIALIZERS

Initializer = Callable[[torch.Tensor], None]

# Activations whose negative half is (nearly) cut off: He et al.'s factor 2 applies.
RELU_LIKE = ("relu", "leaky-relu", "elu", "gelu", "silu", "mish")
_RELU_LIKE_MODULES = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Mish)
_NONLINEARITIES = ("relu", "leaky_relu", "linear", "tanh", "sigmoid", "selu")
_MODES = ("fan_in", "fan_out")
_GLOROT = "Glorot & Bengio 2010, Understanding the difficulty of training deep feedforward neural networks"


def _number(initializer: str, key: str, value: Any, positive: bool = False) -> float:
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not is_number or (positive and value <= 0) or not math.isfinite(value):
        kind = "a positive number" if positive else "a finite number"
        raise ValueError(
            f"initializer {initializer!r}: {key} must be {kind}; received {value!r}. "
            f"Set e.g. {{name: {initializer}, {key}: 1.0}}."
        )
    return float(value)


def _choice(initializer: str, key: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(
            f"initializer {initializer!r}: {key} must be one of {list(choices)}; received {value!r}. "
            f"Use e.g. {key}={choices[0]!r}."
        )
    return value


def _filler(fill: Callable[..., Any], **options: Any) -> Initializer:
    """Wrap a ``torch.nn.init`` function as ``init(weight) -> None`` with fixed options."""

    def init(weight: torch.Tensor) -> None:
        with torch.no_grad():
            fill(weight, **options)

    return init


# -- the standard deviation each rule gives a (fan_out, fan_in) weight: `std` tags, drawn by `shendu explain`
def _xavier_std(fan_in: int, fan_out: int, gain: float = 1.0, **_: Any) -> float:
    return gain * math.sqrt(2.0 / (fan_in + fan_out))


def _he_std(fan_in: int, fan_out: int, mode: str = "fan_in", nonlinearity: str = "relu", **_: Any) -> float:
    return nn.init.calculate_gain(nonlinearity) / math.sqrt(fan_in if mode == "fan_in" else fan_out)


def _lecun_std(fan_in: int, fan_out: int, **_: Any) -> float:
    return 1.0 / math.sqrt(fan_in)


def _normal_std(fan_in: int, fan_out: int, std: float = 0.01, **_: Any) -> float:
    return std


def _uniform_std(fan_in: int, fan_out: int, a: float = -0.05, b: float = 0.05, **_: Any) -> float:
    return (b - a) / math.sqrt(12.0)


def _orthogonal_std(fan_in: int, fan_out: int, gain: float = 1.0, **_: Any) -> float:
    # The rows (or columns, whichever are fewer) are orthonormal, times gain.
    return gain / math.sqrt(max(fan_in, fan_out))


def _zero_std(fan_in: int, fan_out: int, **_: Any) -> float:
    return 0.0


def keep_default(weight: torch.Tensor) -> None:
    """Leave the weight as PyTorch initialised it (the ``default`` initializer)."""


@INITIALIZERS.register("default", formula="unchanged", reference="PyTorch nn.Linear.reset_parameters")
def default() -> Initializer:
    """Keep PyTorch's own initialisation (Kaiming uniform with a=sqrt(5)); change nothing.

    Use it to compare against shendu's choices, or when a model sets up its own
    weights. :func:`initialize` leaves biases and normalisation layers alone too.

    Formula: W ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))  (PyTorch's reset_parameters)
    """
    return keep_default


@INITIALIZERS.register("zeros", formula="W = 0", reference="-", std=_zero_std)
def zeros() -> Initializer:
    """All weights zero: a symmetry-breaking counter-example, not for hidden layers.

    Every unit of a zero-initialised hidden layer computes and learns the same
    thing, so the layer behaves as one unit. Fine for a final linear layer or a
    residual branch that should start as the identity.

    Formula: W = 0
    """
    return _filler(nn.init.zeros_)


@INITIALIZERS.register("constant", formula="W = value", reference="-", std=_zero_std)
def constant(value: float = 0.0) -> Initializer:
    """Every weight set to one value (a teaching counter-example, like zeros).

    Formula: W = value

    Args:
        value: the constant.
    """
    return _filler(nn.init.constant_, val=_number("constant", "value", value))


@INITIALIZERS.register("normal", formula="W ~ N(mean, std^2)", reference="-", std=_normal_std)
def normal(mean: float = 0.0, std: float = 0.01) -> Initializer:
    """Weights drawn from a normal distribution with a fixed standard deviation.

    The pre-2010 habit (std=0.01; DCGAN uses std=0.02). A fixed scale ignores
    layer width, so deep stacks vanish or explode: prefer xavier or he.

    Formula: W ~ N(mean, std^2)

    Args:
        mean: the mean.
        std: the standard deviation (0.01).
    """
    mean = _number("normal", "mean", mean)
    std = _number("normal", "std", std, positive=True)
    return _filler(nn.init.normal_, mean=mean, std=std)


@INITIALIZERS.register("uniform", formula="W ~ U(a, b)", reference="-", std=_uniform_std)
def uniform(a: float = -0.05, b: float = 0.05) -> Initializer:
    """Weights drawn uniformly from [a, b] (the Keras RandomUniform default range).

    Formula: W ~ U(a, b)

    Args:
        a: lower bound.
        b: upper bound, greater than a.
    """
    a, b = _number("uniform", "a", a), _number("uniform", "b", b)
    if a >= b:
        raise ValueError(
            f"initializer 'uniform': a must be smaller than b; received a={a}, b={b}. "
            "Set e.g. {name: uniform, a: -0.05, b: 0.05}."
        )
    return _filler(nn.init.uniform_, a=a, b=b)


@INITIALIZERS.register(
    "xavier-uniform",
    formula="W ~ U(-g*sqrt(6/(fan_in+fan_out)), +g*sqrt(6/(fan_in+fan_out)))",
    reference=_GLOROT,
    std=_xavier_std,
)
def xavier_uniform(gain: float = 1.0) -> Initializer:
    """Xavier/Glorot uniform: variance 2/(fan_in+fan_out), for tanh, sigmoid and linear layers.

    Keeps the variance of activations (forward) and gradients (backward) about
    constant across layers with symmetric, near-linear activations.

    Formula: W ~ U(-gain * sqrt(6 / (fan_in + fan_out)), +gain * sqrt(6 / (fan_in + fan_out)))
    Reference: Glorot & Bengio, AISTATS 2010.

    Args:
        gain: scale factor (e.g. 5/3 for tanh, see torch.nn.init.calculate_gain).
    """
    gain = _number("xavier-uniform", "gain", gain, positive=True)
    return _filler(nn.init.xavier_uniform_, gain=gain)


@INITIALIZERS.register(
    "xavier-normal",
    formula="W ~ N(0, g^2 * 2/(fan_in+fan_out))",
    reference=_GLOROT,
    std=_xavier_std,
)
def xavier_normal(gain: float = 1.0) -> Initializer:
    """Xavier/Glorot normal: the normal-distribution form of xavier-uniform.

    Formula: W ~ N(0, gain^2 * 2 / (fan_in + fan_out))
    Reference: Glorot & Bengio, AISTATS 2010.

    Args:
        gain: scale factor.
    """
    gain = _number("xavier-normal", "gain", gain, positive=True)
    return _filler(nn.init.xavier_normal_, gain=gain)


def _kaiming(name: str, distribution: str, mode: str, nonlinearity: str) -> Initializer:
    mode = _choice(name, "mode", mode, _MODES)
    nonlinearity = _choice(name, "nonlinearity", nonlinearity, _NONLINEARITIES)
    fill = nn.init.kaiming_normal_ if distribution == "normal" else nn.init.kaiming_uniform_
    return _filler(fill, mode=mode, nonlinearity=nonlinearity)


@INITIALIZERS.register(
    "he-normal",
    formula="W ~ N(0, 2/fan_in)",
    reference="He, Zhang, Ren & Sun 2015, Delving Deep into Rectifiers",
    std=_he_std,
)
def he_normal(mode: str = "fan_in", nonlinearity: str = "relu") -> Initializer:
    """He/Kaiming normal: variance 2/fan_in, the initialiser for ReLU networks.

    A ReLU zeroes half its inputs, halving the variance each layer; the factor 2
    restores it, so very deep ReLU networks (30+ layers) still train.

    Formula: W ~ N(0, std^2), std = gain / sqrt(fan), gain = sqrt(2) for relu
             (std = sqrt(2 / fan_in) with the defaults)
    Reference: He et al., ICCV 2015.

    Args:
        mode: "fan_in" (preserve forward variance) or "fan_out" (backward).
        nonlinearity: torch gain name: relu, leaky_relu, linear, tanh, sigmoid, selu.
    """
    return _kaiming("he-normal", "normal", mode, nonlinearity)


@INITIALIZERS.register(
    "he-uniform",
    formula="W ~ U(-sqrt(6/fan_in), +sqrt(6/fan_in))",
    reference="He, Zhang, Ren & Sun 2015, Delving Deep into Rectifiers",
    std=_he_std,
)
def he_uniform(mode: str = "fan_in", nonlinearity: str = "relu") -> Initializer:
    """He/Kaiming uniform: the uniform form of he-normal (same variance 2/fan_in).

    Formula: W ~ U(-bound, bound), bound = gain * sqrt(3 / fan), gain = sqrt(2) for relu
    Reference: He et al., ICCV 2015.

    Args:
        mode: "fan_in" or "fan_out".
        nonlinearity: torch gain name: relu, leaky_relu, linear, tanh, sigmoid, selu.
    """
    return _kaiming("he-uniform", "uniform", mode, nonlinearity)


@INITIALIZERS.register(
    "lecun-normal",
    formula="W ~ N(0, 1/fan_in)",
    reference="LeCun, Bottou, Orr & Mueller 1998, Efficient BackProp; Klambauer et al. 2017 (SELU)",
    std=_lecun_std,
)
def lecun_normal() -> Initializer:
    """LeCun normal: variance 1/fan_in, the initialiser self-normalising (selu) networks need.

    Formula: W ~ N(0, 1 / fan_in)
    Reference: LeCun et al., "Efficient BackProp", 1998; Klambauer et al., NeurIPS 2017.
    """
    return _kaiming("lecun-normal", "normal", "fan_in", "linear")


@INITIALIZERS.register(
    "orthogonal",
    formula="W = gain * Q, Q from the QR decomposition of a Gaussian matrix",
    reference="Saxe, McClelland & Ganguli 2014, Exact solutions to the nonlinear dynamics of learning",
    std=_orthogonal_std,
)
def orthogonal(gain: float = 1.0) -> Initializer:
    """Orthogonal: a (semi-)orthogonal weight matrix, so every singular value equals gain.

    Preserves norms exactly through linear layers; popular for recurrent
    weights and reinforcement-learning policies.

    Formula: W = gain * Q, where Q R = A, A ~ N(0, 1) (weights flattened to 2-D)
    Reference: Saxe, McClelland & Ganguli, ICLR 2014.

    Args:
        gain: scale factor.
    """
    gain = _number("orthogonal", "gain", gain, positive=True)
    return _filler(nn.init.orthogonal_, gain=gain)


# -- applying one to a model ----------------------------------------------------
def get_initializer(spec: Any) -> Initializer:
    """Build an initialiser from a name, a ``{name: ..., **options}`` mapping or a callable."""
    init = INITIALIZERS.get(spec)
    if not callable(init):
        raise ValueError(
            f"an initializer must be a name, a mapping with a 'name' key or a callable "
            f"init(weight); received {spec!r}. Use e.g. 'he-normal' (see: shendu list initializers)."
        )
    return init


def _activation_name(activation: Any) -> str | None:
    if activation is None:
        return None
    if isinstance(activation, str):
        return activation
    if isinstance(activation, Mapping):
        return str(activation.get("name"))
    if isinstance(activation, _RELU_LIKE_MODULES):
        return "relu"
    if isinstance(activation, nn.SELU):
        return "selu"
    return None


def auto_initializer(activation: Any = None) -> str:
    """The initialiser ``"auto"`` stands for, given the activation that follows the layers.

    He normal for relu-like activations (relu, leaky-relu, elu, gelu, silu,
    mish), LeCun normal for selu (which self-normalises only with it), and
    Xavier uniform otherwise (tanh, sigmoid, linear, or no activation given).
    """
    name = _activation_name(activation)
    if name is not None and name not in ACTIVATIONS:
        raise ACTIVATIONS.unknown(name)
    if name in RELU_LIKE:
        return "he-normal"
    if name == "selu":
        return "lecun-normal"
    return "xavier-uniform"


# Layer types a per-type ``init`` mapping may name, in the order they are matched.
LAYER_TYPES: dict[str, tuple[type[nn.Module], ...]] = {
    "linear": (nn.Linear, nn.Bilinear),
    "conv": (nn.modules.conv._ConvNd,),
    "embedding": (nn.Embedding, nn.EmbeddingBag),
    "recurrent": (nn.RNNBase,),
}


def _layer_type(module: nn.Module) -> str | None:
    for name, types in LAYER_TYPES.items():
        if isinstance(module, types):
            return name
    return None


def _weights_and_biases(module: nn.Module) -> tuple[list[str], list[torch.Tensor]]:
    """The names of the matrices an initialiser fills, and the biases zeroed, for one layer.

    Recurrent layers hold one weight_ih/weight_hh (and bias) per layer and
    direction; everything else has ``weight`` and maybe ``bias``.
    """
    if isinstance(module, nn.RNNBase):
        named = dict(module.named_parameters(recurse=False))
        return [n for n in named if n.startswith("weight")], [p for n, p in named.items() if n.startswith("bias")]
    bias = getattr(module, "bias", None)
    return ["weight"], [bias] if isinstance(bias, torch.Tensor) else []


def _fill(module: nn.Module, name: str, init: Callable[[torch.Tensor], Any]) -> None:
    """Fill ``module.<name>`` in place; a parametrized weight (weight norm, spectral norm) is
    drawn as a whole and assigned, so the parametrization stores its own pieces (direction
    and scale) from it: filling the computed tensor in place would change nothing."""
    if parametrize.is_parametrized(module, name):
        value = torch.empty_like(getattr(module, name))
        init(value)
        setattr(module, name, value)
    else:
        init(getattr(module, name))


def _per_layer_specs(spec: Any, activation: Any) -> dict[str, Any]:
    """Normalise ``spec`` to one initialiser spec per layer type.

    ``"he-normal"``, ``{name: normal, std: 0.02}`` or a callable apply to every
    layer type; a mapping keyed by layer types (``{default: he-normal,
    linear: xavier-uniform, embedding: {name: normal, std: 0.02}}``) overrides
    per type, and ``default`` (else "auto") covers the types it does not name.
    """
    is_per_type = isinstance(spec, Mapping) and "name" not in spec
    if not is_per_type:
        chosen = {key: spec for key in LAYER_TYPES}
    else:
        unknown = sorted(set(spec) - set(LAYER_TYPES) - {"default"})
        if unknown:
            raise ValueError(
                f"model.init: unknown layer type(s) {unknown}; expected keys among "
                f"{['default', *LAYER_TYPES]} (or a mapping with a 'name' key for one initializer). "
                "Write e.g. init: {default: he-normal, linear: xavier-uniform}."
            )
        chosen = {key: spec.get(key, spec.get("default", "auto")) for key in LAYER_TYPES}
    return {key: _auto_for(key, activation) if isinstance(s, str) and s == "auto" else s for key, s in chosen.items()}


def _auto_for(layer_type: str, activation: Any) -> str:
    # Embeddings (N(0, 1)) and recurrent layers (U(-1/sqrt(h), 1/sqrt(h))) keep
    # PyTorch's defaults under "auto": the fan-based rules assume a layer
    # followed by `activation`, which neither is.
    return "default" if layer_type in ("embedding", "recurrent") else auto_initializer(activation)


def init_problems(spec: Any, section: str = "model.init") -> list[Problem]:
    """Problems with a ``model.init`` spec, without building: unknown initializers, options or layer types."""
    if isinstance(spec, Mapping) and "name" not in spec:
        unknown = sorted(set(spec) - set(LAYER_TYPES) - {"default"})
        found = [Problem(f"{section}.{key}", spec[key], f"a layer type among {['default', *LAYER_TYPES]}",
                         "Write e.g. init: {default: he-normal, linear: xavier-uniform}.") for key in unknown]
        for key in sorted(set(spec) - set(unknown)):
            found += init_problems(spec[key], f"{section}.{key}")
        return found
    if isinstance(spec, str) and spec == "auto":
        return []
    return INITIALIZERS.problems(spec, section)


def initialize(model: nn.Module, spec: Any = "auto", activation: Any = None) -> nn.Module:
    """Initialise every layer of ``model`` an initialiser fits, in place, and return it.

    Linear and bilinear layers, all convolutions (1-3 d, transposed too),
    embeddings and recurrent layers (each weight_ih / weight_hh matrix) get
    the initialiser; their biases are set to zero. Normalisation layers keep
    their weight 1 and bias 0 from construction (so a ResNet's zero-initialised
    residual BN stays zero). ``"default"`` changes nothing for that layer type.

    Args:
        model: the module to initialise.
        spec: an initializer name, mapping or callable, "auto" (see
            :func:`auto_initializer`), or a per-layer-type mapping with keys
            among ``default``, ``linear``, ``conv``, ``embedding``,
            ``recurrent``: ``{default: he-normal, linear: xavier-uniform}``.
        activation: the activation used between the layers; guides "auto".
    """
    inits = {key: get_initializer(s) for key, s in _per_layer_specs(spec, activation).items()}
    with torch.no_grad():
        for module in model.modules():
            kind = _layer_type(module)
            if kind is None or inits[kind] is keep_default:
                continue
            weights, biases = _weights_and_biases(module)
            for name in weights:
                _fill(module, name, inits[kind])
            for bias in biases:
                bias.zero_()
    return model
