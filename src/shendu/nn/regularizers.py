"""Regularisers: everything that trades training fit for generalisation, each by name.

Regularisation acts in three places, and each entry says where (its
``applies_in`` tag):

- ``train``: chosen in ``train.regularizers`` and applied by the engine around
  every optimizer step: ``l1`` (a penalty added to the loss), ``l2`` (coupled
  weight decay, added to the gradient), ``weight-decay`` (decoupled,
  AdamW-style, applied to the weights) and ``max-norm`` (a constraint applied
  after the step).
- ``model``: layers a model inserts when its options ask: ``dropout``,
  ``dropout-2d``, ``batch-norm``, ``layer-norm`` (``model.dropout=0.3``,
  ``model.spatial_dropout=0.1``, ``model.batch_norm=true``,
  ``model.layer_norm=true``).
- ``config``: settings with their own key: ``label-smoothing``
  (``loss.label_smoothing``), ``early-stopping`` (``train.early_stopping``),
  ``gradient-clipping`` (``train.clip_grad_norm`` / ``train.clip_grad_value``).

Weights only: like the optimizers' parameter groups, penalties and decay
skip biases, every 1-D parameter and normalisation layers, whose shrinking
does not simplify the function the network computes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from shendu.errors import ConfigError, Problem
from shendu.nn.registry import REGULARIZERS

NORM_LAYERS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm, nn.RMSNorm)


def decayed_parameters(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """Split trainable parameters into (weights to regularise, exempt ones).

    Exempt: biases, every parameter with at most one dimension, and all
    parameters of normalisation layers (BatchNorm, LayerNorm, GroupNorm,
    RMSNorm); they set offsets and scales, and pulling them toward zero fights
    the normalisation instead of simplifying the model.
    """
    in_norm = {id(p) for m in model.modules() if isinstance(m, NORM_LAYERS) for p in m.parameters(recurse=False)}
    decay, exempt = [], []
    for name, parameter in model.named_parameters():  # shared parameters appear once
        if not parameter.requires_grad:
            continue
        skip = parameter.dim() <= 1 or name.endswith("bias") or id(parameter) in in_norm
        (exempt if skip else decay).append(parameter)
    return decay, exempt


def _strength(name: str, value: Any, example: str) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
    if not ok:
        raise ConfigError(
            [Problem(f"train.regularizers.{name}.strength", value, "a number >= 0",
                     f"Set {{name: {name}, strength: {example}}}.")]
        )
    return float(value)


# -- training-time regularisers: objects the engine calls around each step ------------
class TrainingRegularizer:
    """What the engine calls; each regulariser overrides the one place it acts."""

    # True when, under a closure optimizer, the rule acts through closure_penalty instead of before_step.
    in_loss_for_closures = False

    def penalty(self, weights: Sequence[torch.Tensor]) -> torch.Tensor | None:
        """A term added to the loss before backward (None: nothing)."""
        return None

    def closure_penalty(self, weights: Sequence[torch.Tensor]) -> torch.Tensor | None:
        """The penalty for optimizers that re-evaluate the loss (lbfgs, newton), which never see
        gradients edited between backward and step: gradient-side rules must be loss terms here."""
        return self.penalty(weights)

    def before_step(self, weights: Sequence[torch.Tensor], learning_rates: Sequence[float]) -> None:
        """Called with the accumulated gradients, before clipping and optimizer.step()."""

    def after_step(self, weights: Sequence[torch.Tensor]) -> None:
        """Called after optimizer.step() (constraints)."""


class L1Penalty(TrainingRegularizer):
    def __init__(self, strength: float):
        self.strength = strength

    def penalty(self, weights: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.strength * sum(w.abs().sum() for w in weights)


class CoupledWeightDecay(TrainingRegularizer):
    def __init__(self, strength: float):
        self.strength = strength

    in_loss_for_closures = True

    def closure_penalty(self, weights: Sequence[torch.Tensor]) -> torch.Tensor:
        return 0.5 * self.strength * sum(w.pow(2).sum() for w in weights)

    @torch.no_grad()
    def before_step(self, weights: Sequence[torch.Tensor], learning_rates: Sequence[float]) -> None:
        grads = [w.grad for w in weights if w.grad is not None]
        values = [w for w in weights if w.grad is not None]
        if grads:
            torch._foreach_add_(grads, values, alpha=self.strength)


class DecoupledWeightDecay(TrainingRegularizer):
    def __init__(self, strength: float):
        self.strength = strength

    @torch.no_grad()
    def before_step(self, weights: Sequence[torch.Tensor], learning_rates: Sequence[float]) -> None:
        for weight, lr in zip(weights, learning_rates):
            weight.mul_(1.0 - lr * self.strength)


class MaxNormConstraint(TrainingRegularizer):
    def __init__(self, max_norm: float):
        self.max_norm = max_norm

    @torch.no_grad()
    def after_step(self, weights: Sequence[torch.Tensor]) -> None:
        for weight in weights:
            # Row i of a (out, in, ...) weight is the incoming vector of unit i.
            flat = weight.view(weight.shape[0], -1)
            norms = flat.norm(dim=1, keepdim=True).clamp_min(1e-12)
            flat.mul_((self.max_norm / norms).clamp(max=1.0))


@REGULARIZERS.register(
    "l1",
    formula="loss = data_loss + strength * sum_i |w_i|",
    reference="Tibshirani 1996, Regression Shrinkage and Selection via the Lasso; "
    "Goodfellow, Bengio & Courville, Deep Learning (2016), section 7.1.2",
    applies_in="train",
)
def l1(strength: float = 1e-5) -> TrainingRegularizer:
    """L1 penalty: adds strength times the sum of absolute weights to the loss, driving many to exactly zero.

    Use it when you want a sparse model (feature selection in a first layer,
    a model to prune later). Its gradient strength * sign(w) is the same size
    for small and large weights, so small ones are pushed all the way to 0,
    unlike L2 which only shrinks them. The logged training loss is the data
    loss without the penalty, so it stays comparable with the validation loss.

    Formula: loss = data_loss + strength * sum_i |w_i|   (weights only, no biases or norms)
    Reference: Tibshirani 1996 (the lasso); Goodfellow et al., Deep Learning, 7.1.2.

    Args:
        strength: the penalty weight lambda (1e-5); typical 1e-6 to 1e-3.
    """
    return L1Penalty(_strength("l1", strength, "1e-5"))


@REGULARIZERS.register(
    "l2",
    formula="g = dloss/dw + strength * w   (= gradient of loss + strength/2 * ||w||^2)",
    reference="Krogh & Hertz 1992, A Simple Weight Decay Can Improve Generalization; "
    "Goodfellow, Bengio & Courville, Deep Learning (2016), section 7.1.1",
    applies_in="train",
)
def l2(strength: float = 1e-4) -> TrainingRegularizer:
    """L2 regularisation (coupled weight decay): strength * w added to each weight's gradient.

    The classic weight decay: identical to adding strength/2 * ||w||^2 to the
    loss. It is added to the gradient *before* the optimizer sees it, so
    adaptive optimizers (Adam, RMSprop) divide it by their running scale and
    weights with large gradients are decayed less: that is why AdamW's
    decoupled form (``weight-decay``) usually works better with Adam. With
    plain SGD both are the same up to a factor of the learning rate.
    (``optimizer.weight_decay`` of sgd/adam/rmsprop is this coupled form;
    adamw's is the decoupled one.)

    Formula: g = dloss/dw + strength * w   (weights only, no biases or norms)
    Reference: Krogh & Hertz, NeurIPS 1992; Goodfellow et al., Deep Learning, 7.1.1.

    Args:
        strength: lambda (1e-4); typical 1e-5 to 1e-3.
    """
    return CoupledWeightDecay(_strength("l2", strength, "1e-4"))


@REGULARIZERS.register(
    "weight-decay",
    formula="w = w - lr * strength * w   (before the optimizer's own update, outside its gradient)",
    reference="Loshchilov & Hutter 2019, Decoupled Weight Decay Regularization (ICLR)",
    applies_in="train",
)
def weight_decay(strength: float = 0.01) -> TrainingRegularizer:
    """Decoupled weight decay (AdamW style): shrink each weight by lr * strength, apart from the gradient.

    Use it with adaptive optimizers, where it regularises every weight by the
    same relative amount whatever its gradient history (AdamW's rule, here
    for any optimizer: SGDW, RMSpropW, ...). The learning rate of the weight's
    parameter group at that step is used, so it follows the schedule.

    Formula: w = w - lr * strength * w, then the optimizer's update
    Reference: Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.

    Args:
        strength: the decay rate (0.01, AdamW's default); typical 1e-4 to 0.1.
    """
    return DecoupledWeightDecay(_strength("weight-decay", strength, "0.01"))


@REGULARIZERS.register(
    "max-norm",
    formula="after each step: w_j = w_j * min(1, c / ||w_j||)  (w_j: the incoming weights of unit j)",
    reference="Srivastava, Hinton, Krizhevsky, Sutskever & Salakhutdinov 2014, Dropout (JMLR), section 5.1",
    applies_in="train",
)
def max_norm(max_norm: float = 3.0) -> TrainingRegularizer:
    """Max-norm constraint: after every step, rescale each unit's incoming weight vector to norm at most c.

    Bounds the weights without penalising them inside the ball, so large
    learning rates cannot blow them up; Srivastava et al. pair it with dropout
    (c between 3 and 4). Applied to every weight matrix and convolution
    kernel (one vector per output unit or filter).

    Formula: w_j = w_j * min(1, c / ||w_j||_2) after each optimizer step
    Reference: Srivastava et al., "Dropout", JMLR 2014, section 5.1.

    Args:
        max_norm: c, the largest allowed norm (3.0).
    """
    ok = isinstance(max_norm, (int, float)) and not isinstance(max_norm, bool) and max_norm > 0
    if not ok:
        raise ConfigError([Problem("train.regularizers.max-norm.max_norm", max_norm, "a number > 0",
                                   "Set {name: max-norm, max_norm: 3.0}.")])
    return MaxNormConstraint(float(max_norm))


# -- building what the engine applies -----------------------------------------------------
def regularizer_problems(specs: Sequence[Any], section: str = "train.regularizers") -> list[Problem]:
    """Every problem with ``train.regularizers`` without building: unknown names, bad options,
    and regularisers that are configured elsewhere (with the key to use)."""
    found: list[Problem] = []
    for index, spec in enumerate(specs):
        key = f"{section}.{index}"
        problems = REGULARIZERS.problems(spec, key)
        if problems:
            found += problems
            continue
        if isinstance(spec, (str, Mapping)):
            entry = REGULARIZERS.entry(REGULARIZERS.split_spec(spec)[0])
            if entry.tags.get("applies_in") != "train":
                found.append(Problem(key, entry.name, "a training-time regularizer (l1, l2, weight-decay, max-norm)",
                                     f"{entry.name} is set with {entry.tags['key']}; move it there."))
    return found


class Regularization:
    """The training-time regularisers of a run, bound to the model's weights.

    The engine calls :meth:`penalty` (added to the loss before backward),
    :meth:`before_step` (after backward, before clipping and the optimizer)
    and :meth:`after_step` (after the optimizer).
    """

    def __init__(self, model: nn.Module, regularizers: Sequence[TrainingRegularizer], optimizer: torch.optim.Optimizer,
                 closure: bool = False):
        self.regularizers, self.closure = list(regularizers), closure
        group_of = {id(p): group for group in optimizer.param_groups for p in group["params"]}
        # Weights the optimizer does not update (frozen) are not regularised either.
        self.weights = [w for w in decayed_parameters(model)[0] if id(w) in group_of]
        self._groups = [group_of[id(w)] for w in self.weights]
        method = "closure_penalty" if closure else "penalty"
        self.has_penalty = any(getattr(type(r), method) is not getattr(TrainingRegularizer, method) for r in self.regularizers)

    def penalty(self) -> torch.Tensor | None:
        """The loss term of every penalty; with ``closure=True`` coupled L2 is one too."""
        terms = [r.closure_penalty(self.weights) if self.closure else r.penalty(self.weights) for r in self.regularizers]
        terms = [t for t in terms if t is not None]
        return sum(terms) if terms else None

    def before_step(self) -> None:
        learning_rates = [group["lr"] for group in self._groups]
        for regularizer in self.regularizers:
            if not (self.closure and regularizer.in_loss_for_closures):
                regularizer.before_step(self.weights, learning_rates)

    def after_step(self) -> None:
        for regularizer in self.regularizers:
            regularizer.after_step(self.weights)


def build_regularization(specs: Sequence[Any], model: nn.Module, optimizer: torch.optim.Optimizer,
                         closure: bool = False) -> Regularization | None:
    """Build ``train.regularizers`` for ``model``; None when there are none.

    ``closure=True`` for optimizers that re-evaluate the loss (lbfgs, newton):
    coupled L2 then enters the loss as strength/2 * ||w||^2, the same rule.
    """
    if not specs:
        return None
    problems = regularizer_problems(specs)
    if problems:
        raise ConfigError(problems)
    built = [spec if isinstance(spec, TrainingRegularizer) else REGULARIZERS.get(spec) for spec in specs]
    return Regularization(model, built, optimizer, closure)


__all__ = [
    "NORM_LAYERS",
    "Regularization",
    "TrainingRegularizer",
    "build_regularization",
    "decayed_parameters",
    "regularizer_problems",
]
