"""Building blocks: activation functions and weight initialisers, each a named component.

``shendu list activations`` and ``shendu list initializers`` show what is
registered; :func:`get_activation` and :func:`initialize` are what models call.
"""

from __future__ import annotations

from shendu.nn.registry import ACTIVATIONS, INITIALIZERS

# Family modules register their built-ins on import; imported explicitly here.
from shendu.nn import activations as activations
from shendu.nn import initializers as initializers
from shendu.nn.activations import Step, get_activation
from shendu.nn.initializers import RELU_LIKE, auto_initializer, get_initializer, initialize

__all__ = [
    "ACTIVATIONS",
    "INITIALIZERS",
    "RELU_LIKE",
    "Step",
    "auto_initializer",
    "get_activation",
    "get_initializer",
    "initialize",
]
