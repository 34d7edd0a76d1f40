"""Training diagnostics: per-layer gradient norms every N steps, and warnings that say what to change.

Every ``every_steps`` optimizer steps the engine asks :class:`Diagnostics` for
a record of the gradient norm of each weighted layer, the total gradient norm
and the fraction of dead ReLU units, all read back from the device in one
host sync. The record goes to ``metrics.jsonl``; four textbook problems raise
a warning, each once per run, with a concrete change to the config:

- vanishing gradients: the first layer's gradient norm is a tiny fraction of
  the last layer's (deep sigmoid/tanh stacks, poor initialisation);
- exploding gradients: the total norm is huge or not finite;
- dead ReLUs: most units of a ReLU layer output zero for every sample;
- overfitting: validation loss rises for several epochs while training loss falls.

Between diagnostic steps nothing is measured: :meth:`Diagnostics.start_step`
and :meth:`Diagnostics.after_backward` do one integer check and return, and no
hook is attached to the model (a forward hook, even one that returns at once,
moves every module call off PyTorch's fast path: about 3-8 us per ReLU call
measured on CPU, over 5% of a step of a small MLP).

Reference: Glorot & Bengio 2010, Understanding the difficulty of training deep
feedforward neural networks (vanishing gradients in deep sigmoid networks);
Pascanu, Mikolov & Bengio 2013, On the difficulty of training recurrent neural
networks (exploding gradients and clipping); Lu et al. 2019, Dying ReLU and
initialization.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import torch
from torch import nn

from shendu.config import DiagnosticsConfig
from shendu.nn import NORM_LAYERS

# get_activation("relu") builds nn.ReLU; ReLU6 dies the same way. Leaky ReLU,
# ELU and GELU pass gradient for negative inputs, so their units cannot die.
RELU_FAMILY: tuple[type[nn.Module], ...] = (nn.ReLU, nn.ReLU6)

# Norm layers only scale and shift (their weight is 1-d anyway); an embedding's
# gradient touches only the rows of the tokens in the batch, so its norm says
# how often tokens occur, not how well gradient reaches the bottom of the network.
_NOT_FOLLOWED: tuple[type[nn.Module], ...] = (*NORM_LAYERS, nn.Embedding, nn.EmbeddingBag)


def weighted_layers(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """The layers whose weight gradient the diagnostics follow, as (module name, weight).

    A layer is a module with its own ``weight`` parameter of two or more
    dimensions (linear, convolution, bilinear, attention projections), in
    ``model.named_modules()`` order, so the first entry is the layer nearest
    the input for ordinary sequential models. Normalisation layers and
    embeddings are left out; a weight shared by several modules counts once.
    Recurrent layers (``weight_ih_l0``) have no ``weight`` and are not followed.
    """
    layers: list[tuple[str, nn.Parameter]] = []
    seen: set[int] = set()
    for name, module in model.named_modules():
        if isinstance(module, _NOT_FOLLOWED):
            continue
        weight = module._parameters.get("weight")  # own parameter, not a parametrization
        if weight is None or weight.dim() < 2 or id(weight) in seen:
            continue
        seen.add(id(weight))
        layers.append((name or type(module).__name__, weight))
    return layers


def _score_projections(model: nn.Module) -> set[str]:
    """Names of the layers an attention module lists in ``score_projections`` (its query and key projections)."""
    return {
        f"{name}.{child}" if name else child
        for name, module in model.named_modules()
        for child in getattr(module, "score_projections", ())
    }


def _finite_or_none(value: float) -> float | None:
    # metrics.jsonl stays strict JSON (no NaN/Infinity tokens); the warning names the problem.
    return value if math.isfinite(value) else None


def _norm(grad: torch.Tensor) -> torch.Tensor:
    values = grad.coalesce().values() if grad.is_sparse else grad
    return torch.linalg.vector_norm(values).float()


class Diagnostics:
    """Cheap per-layer gradient statistics and warnings with a concrete suggestion.

    Use it through ``train.diagnostics`` (on by default): the engine calls
    :meth:`start_step` before each micro-batch's forward pass,
    :meth:`after_backward` before clipping and the optimizer step, and
    :meth:`end_epoch` with each epoch's record; :meth:`drain` hands the new
    warning messages to the console.

    A step is a diagnostic one when ``global_step % every_steps == 0``
    (optimizer steps taken so far), so steps 1, N+1, 2N+1, ... are measured.
    On those steps forward hooks on the ReLU modules record which units fire
    on the batch (on any micro-batch of the step, under gradient accumulation).
    ReLUs called as functions (``torch.relu`` in ``forward``) cannot be seen.
    Under ``torch.compile`` hooks attached after the first compilation are not
    run, so dead-ReLU fractions are then missing from most records; gradient
    norms are unaffected.

    Formula: grad_norms[l] = ||dL/dW_l||_2 over the weighted layers l;
             grad_norm_total = sqrt(sum over all parameters p of ||dL/dp||_2^2)
             (the quantity train.clip_grad_norm clips);
             first_last_ratio = grad_norms[first] / grad_norms[last], over the
             layers other than attention's query/key projections (their
             gradient passes through the nearly flat softmax logits of an
             untrained model, small at any depth);
             dead_relu_fraction[r] = share of units u of ReLU r with
             output[b, u, ...] <= 0 for every sample b and position.
    Reference: Glorot & Bengio, AISTATS 2010; Pascanu, Mikolov & Bengio, ICML 2013.

    Args:
        model: the model being trained (the module whose parameters the
            optimizer updates, not a compiled wrapper).
        config: thresholds and cadence (``train.diagnostics``).
    """

    def __init__(self, model: nn.Module, config: DiagnosticsConfig | None = None):
        self.config = config if config is not None else DiagnosticsConfig()
        self._every = self.config.every_steps
        self._layers = weighted_layers(model)
        self._scores = _score_projections(model)
        self._parameters = list(model.parameters())  # deduplicated by PyTorch
        self._relus = [(name, m) for name, m in model.named_modules() if isinstance(m, RELU_FAMILY)]
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._step: int | None = None  # the diagnostic step the hooks are recording
        self._fired: dict[str, torch.Tensor] = {}  # ReLU call -> (units,) bool: fired on some sample
        self._calls: dict[str, int] = {}  # calls of each ReLU module in this forward pass
        self.warnings: list[dict[str, Any]] = []
        self._warned: set[str] = set()
        self._pending: list[str] = []
        self._previous: tuple[float, float] | None = None  # (train loss, val loss) of the last epoch
        self._rise_start: tuple[float, float] | None = None
        self._rising = 0

    # -- steps -----------------------------------------------------------------
    def start_step(self, global_step: int) -> None:
        """Before a micro-batch's forward pass: attach the ReLU hooks if this step is a diagnostic one.

        Args:
            global_step: optimizer steps taken so far.
        """
        if global_step % self._every:
            return
        if self._step != global_step:  # first micro-batch of this optimizer step
            self._fired = {}
            self._step = global_step
        if not self._handles:
            self._handles = [m.register_forward_hook(partial(self._record_units, name)) for name, m in self._relus]
        self._calls = {}

    def _record_units(self, name: str, module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        if self._step is None or not isinstance(output, torch.Tensor) or output.dim() < 2:
            return
        # A module called twice in one forward (one ReLU object reused after
        # each block) gives one entry per call: the outputs differ in shape.
        count = self._calls[name] = self._calls.get(name, 0) + 1
        key = name if count == 1 else f"{name} (call {count})"
        other_dims = [d for d in range(output.dim()) if d != 1]
        fired = output.detach().amax(dim=other_dims) > 0  # (units,): features of (B, F), channels of (B, C, ...)
        previous = self._fired.get(key)
        self._fired[key] = fired if previous is None or previous.shape != fired.shape else previous | fired

    def _remove_hooks(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def after_backward(self, global_step: int) -> dict[str, Any] | None:
        """With the accumulated gradients, before clipping: the diagnostics record on diagnostic steps, else None.

        The record (JSON-serialisable, strict: non-finite values become null)::

            {"kind": "diagnostics", "step": global_step + 1,
             "grad_norms": {layer: norm}, "grad_norm_total": float,
             "first_last_ratio": float or None, "dead_relu_fraction": {relu: fraction}}

        ``first_last_ratio`` is None when fewer than two weighted layers have
        a gradient or the last layer's norm is zero. Warnings found are queued
        for :meth:`drain`. Call it after ``GradScaler.unscale_`` under fp16,
        or the norms include the loss scale.

        Args:
            global_step: optimizer steps taken so far (the same number given to start_step).
        """
        if global_step % self._every:
            return None
        self._remove_hooks()
        fired, self._fired, self._step = self._fired, {}, None
        step = global_step + 1
        norms, total, dead = self._measure(fired)
        names = [name for name in norms if name not in self._scores]
        ratio = None
        if len(names) >= 2 and norms[names[-1]] > 0:
            ratio = _finite_or_none(norms[names[0]] / norms[names[-1]])
        self._check_gradients(step, norms, total, dead)
        if ratio is not None and ratio < self.config.vanishing_ratio:
            self._warn_vanishing(step, names[0], names[-1], ratio)
        return {
            "kind": "diagnostics",
            "step": step,
            "grad_norms": {name: _finite_or_none(value) for name, value in norms.items()},
            "grad_norm_total": _finite_or_none(total),
            "first_last_ratio": ratio,
            "dead_relu_fraction": dead,
        }

    def _measure(self, fired: dict[str, torch.Tensor]) -> tuple[dict[str, float], float, dict[str, float]]:
        """Layer norms, total norm and dead fractions, read back in one host sync."""
        grads = [p.grad for p in self._parameters if p.grad is not None]
        position = {id(p): i for i, p in enumerate(p for p in self._parameters if p.grad is not None)}
        layers = [(name, position[id(w)]) for name, w in self._layers if id(w) in position]
        values = [_norm(g) for g in grads] + [1.0 - f.float().mean() for f in fired.values()]
        if not values:
            return {}, 0.0, {}
        device = values[0].device
        numbers = torch.stack([v.to(device) for v in values]).tolist()  # the one host sync
        parameter_norms, fractions = numbers[: len(grads)], numbers[len(grads):]
        norms = {name: parameter_norms[i] for name, i in layers}
        return norms, math.hypot(*parameter_norms), dict(zip(fired, fractions))

    def _check_gradients(self, step: int, norms: dict[str, float], total: float, dead: dict[str, float]) -> None:
        config = self.config
        if not math.isfinite(total):
            bad = [name for name, value in norms.items() if not math.isfinite(value)]
            where = f" (layers: {', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''})" if bad else ""
            self._warn("exploding", {"step": step}, (
                f"Non-finite gradients at step {step}: the total gradient norm is {total}{where}. "
                "Clip the gradients (train.clip_grad_norm=1.0), lower the learning rate (optimizer.lr ten "
                "times smaller), add normalisation (model.batch_norm=true), and check the inputs for NaN or inf."
            ))
        elif total > config.exploding_norm:
            self._warn("exploding", {"step": step}, (
                f"Exploding gradients at step {step}: the total gradient norm is {total:.1e} "
                f"(threshold {config.exploding_norm:.0e}). Clip the gradients (train.clip_grad_norm=1.0), "
                "lower the learning rate (optimizer.lr ten times smaller), or add normalisation (model.batch_norm=true)."
            ))
        dying = {name: f for name, f in dead.items() if f > config.dead_fraction}
        if dying:
            worst = max(dying, key=dying.get)
            others = f" (and {len(dying) - 1} more ReLU layers)" if len(dying) > 1 else ""
            self._warn("dead-relu", {"step": step}, (
                f"Dead ReLUs at step {step}: {dying[worst]:.0%} of the units of {worst}{others} output zero "
                f"for every sample of the batch (threshold {config.dead_fraction:.0%}); they no longer learn. "
                "Use leaky-relu or elu (model.activation=leaky-relu), a lower learning rate (optimizer.lr), "
                "or He initialisation (model.init=he-normal)."
            ))

    def _warn_vanishing(self, step: int, first: str, last: str, ratio: float) -> None:
        self._warn("vanishing", {"step": step}, (
            f"Vanishing gradients at step {step}: the first layer's ({first}) gradient norm is {ratio:.1e} "
            f"of the last layer's ({last}) (threshold {self.config.vanishing_ratio:.0e}). Use relu-like "
            "activations with He initialisation (model.activation=relu, model.init=he-normal), add batch "
            "normalisation (model.batch_norm=true) or residual connections, or use fewer layers."
        ))

    # -- epochs ----------------------------------------------------------------
    def end_epoch(self, record: dict[str, Any]) -> None:
        """After an epoch: warn once when validation loss rose for ``overfit_epochs`` epochs while training loss fell.

        Args:
            record: the engine's epoch record, ``{"epoch", "train": {"loss"}, "val": {"loss", ...}}``;
                epochs without a validation loss are skipped.
        """
        train = (record.get("train") or {}).get("loss")
        val = (record.get("val") or {}).get("loss")
        if train is None or val is None:
            return
        previous, self._previous = self._previous, (float(train), float(val))
        if previous is not None and val > previous[1] and train < previous[0]:
            if self._rising == 0:
                self._rise_start = previous
            self._rising += 1
        else:
            self._rising, self._rise_start = 0, None
        if self._rising < self.config.overfit_epochs:
            return
        epoch, (train_0, val_0) = record.get("epoch"), self._rise_start
        self._warn("overfitting", {"epoch": epoch}, (
            f"Overfitting at epoch {epoch}: the validation loss rose for {self._rising} epochs in a row "
            f"({val_0:.4g} -> {val:.4g}) while the training loss fell ({train_0:.4g} -> {train:.4g}). "
            f"Stop early and keep the best epoch (train.early_stopping.patience={self.config.overfit_epochs}), "
            "regularise more (model.dropout=0.3 where the model takes it, or optimizer.weight_decay=1e-4), "
            "augment the data (data.augment) or train on more data."
        ))

    # -- warnings and state ----------------------------------------------------
    def _warn(self, kind: str, where: dict[str, Any], message: str) -> None:
        # Once per kind and run: a problem that persists would otherwise flood the console.
        if kind in self._warned:
            return
        self._warned.add(kind)
        self.warnings.append({"kind": kind, **where, "message": message})
        self._pending.append(message)

    def drain(self) -> list[str]:
        """The warning messages issued since the last call, oldest first."""
        messages, self._pending = self._pending, []
        return messages

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state for exact resume: warnings issued and the overfitting history."""
        return {
            "warned": sorted(self._warned),
            "warnings": [dict(w) for w in self.warnings],
            "previous": list(self._previous) if self._previous is not None else None,
            "rise_start": list(self._rise_start) if self._rise_start is not None else None,
            "rising": self._rising,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved; messages not yet drained are not restored."""
        self._warned = set(state["warned"])
        self.warnings = [dict(w) for w in state["warnings"]]
        self._previous = tuple(state["previous"]) if state["previous"] is not None else None
        self._rise_start = tuple(state["rise_start"]) if state["rise_start"] is not None else None
        self._rising = int(state["rising"])
        self._pending = []

    def close(self) -> None:
        """Detach the hooks from the model (only attached during a diagnostic step)."""
        self._remove_hooks()
        self._fired, self._step = {}, None
