"""Building blocks: activation functions, weight initialisers and regularisers, each a named component.

``shendu list activations``, ``shendu list initializers`` and ``shendu list
regularizers`` show what is registered; :func:`get_activation` and
:func:`initialize` are what models call, :func:`build_regularization` what
the engine applies around each step.
"""

from __future__ import annotations

from shendu.nn.registry import ACTIVATIONS, INITIALIZERS, REGULARIZERS

# Family modules register their built-ins on import; imported explicitly here.
from shendu.nn import activations as activations
from shendu.nn import initializers as initializers
from shendu.nn import regularizer_settings as regularizer_settings
from shendu.nn import regularizers as regularizers
from shendu.nn.activations import Step, get_activation
from shendu.nn.attention import (
    FeedForward,
    LearnedPositions,
    MultiHeadAttention,
    SinusoidalPositions,
    TransformerBlock,
    attention_weights,
    causal_mask,
    masked_softmax,
)
from shendu.nn.initializers import LAYER_TYPES, RELU_LIKE, auto_initializer, get_initializer, init_problems, initialize
from shendu.nn.regularizers import (
    NORM_LAYERS,
    Regularization,
    build_regularization,
    decayed_parameters,
    regularizer_problems,
)

__all__ = [
    "FeedForward",
    "LearnedPositions",
    "MultiHeadAttention",
    "SinusoidalPositions",
    "TransformerBlock",
    "attention_weights",
    "causal_mask",
    "masked_softmax",
    "ACTIVATIONS",
    "INITIALIZERS",
    "LAYER_TYPES",
    "NORM_LAYERS",
    "REGULARIZERS",
    "RELU_LIKE",
    "Regularization",
    "Step",
    "auto_initializer",
    "build_regularization",
    "decayed_parameters",
    "get_activation",
    "get_initializer",
    "init_problems",
    "initialize",
    "regularizer_problems",
]
