"""Building an optimizer for a model, and the closure contract of second-order optimizers.

The optimizers themselves are registered by family: ``first_order`` (sgd,
momentum, nesterov), ``adaptive`` (rmsprop, adagrad, adadelta), ``adam``
(adam, adamw, amsgrad, nadam, radam, adamax) and ``second_order`` (lbfgs,
newton). :func:`build_optimizer` builds one for a model from a config spec
and keeps weight decay off biases and normalisation layers;
:func:`needs_closure` says whether it is stepped with ``step(closure)``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from shendu.errors import ConfigError, Problem
from shendu.nn import decayed_parameters
from shendu.optim.registry import OPTIMIZERS, default_of
from shendu.optim.second_order import Newton

# Spec options that build_optimizer reads itself; they never reach the optimizer's constructor.
BUILD_OPTIONS = ("decay_biases_and_norms",)


def needs_closure(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``optimizer`` must be stepped as ``optimizer.step(closure)`` (lbfgs and newton).

    The closure has the signature ``closure(backward: bool = True) -> loss``:
    it zeroes the gradients, computes the loss of the current batch from the
    current parameters, calls ``loss.backward()`` when ``backward`` is True
    and returns the loss (with its graph when ``backward`` is False). LBFGS
    calls ``closure()``; Newton calls ``closure(backward=False)``, and again
    under ``torch.no_grad()`` in its line search. Every other optimizer is
    stepped with the plain ``loss.backward(); optimizer.step()``.
    """
    return isinstance(optimizer, (torch.optim.LBFGS, Newton))


# -- building for a model ----------------------------------------------------------
def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Split a model's trainable parameters into a decayed group and a ``weight_decay=0`` group.

    Biases, every 1-D parameter and the parameters of normalisation layers
    are not decayed (the same split the L1/L2 regularizers use:
    :func:`shendu.nn.decayed_parameters`). Empty groups are left out.
    """
    decay, no_decay = decayed_parameters(model)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [group for group in groups if group["params"]]


def build_optimizer(spec: Any, model: nn.Module) -> torch.optim.Optimizer:
    """Build the optimizer for ``model`` from a name, a mapping or an optimizer object.

    A spec is ``"adam"`` or ``{"name": "adamw", "lr": 3e-4, ...}``; an
    optimizer object is returned unchanged and None means 'adamw'. When the
    weight decay (the spec's, or the optimizer's default) is above 0, biases
    and normalisation parameters go to a group with weight_decay 0 (see
    :func:`parameter_groups`); the spec option ``decay_biases_and_norms: true``
    decays every parameter instead. Optimizers without weight decay (lbfgs,
    newton) get one flat group, as LBFGS requires, and refuse a weight_decay.
    """
    if spec is None:
        spec = "adamw"
    if not isinstance(spec, (str, Mapping)):
        return spec
    name, options = OPTIMIZERS.split_spec(spec)
    decay_all = options.pop("decay_biases_and_norms", False)
    if not isinstance(decay_all, bool):
        raise ConfigError(
            [Problem("optimizer.decay_biases_and_norms", decay_all, "true or false", "Set it to false (the default).")]
        )
    entry = OPTIMIZERS.entry(name)
    if "weight_decay" in options and "weight_decay" not in inspect.signature(entry.constructor).parameters:
        raise ConfigError(
            [
                Problem(
                    "optimizer.weight_decay",
                    options["weight_decay"],
                    f"no weight_decay: {name!r} has no weight decay",
                    "Remove weight_decay and add an L2 term wd * sum(w^2) to the loss, "
                    "or choose an optimizer with weight decay (adamw, sgd).",
                )
            ]
        )
    OPTIMIZERS.check({"name": name, **options}, "optimizer")
    weight_decay = options.get("weight_decay", default_of(entry, "weight_decay", 0.0))
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise ConfigError(
            [
                Problem(
                    "optimizer",
                    name,
                    "a model with at least one trainable parameter",
                    "Check the model: all of its parameters are frozen (requires_grad=False) or it has none.",
                )
            ]
        )
    split = not decay_all and isinstance(weight_decay, (int, float)) and weight_decay > 0
    params = parameter_groups(model, weight_decay) if split else trainable
    return entry.constructor(params, **options)
