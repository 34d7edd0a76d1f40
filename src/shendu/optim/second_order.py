"""Second-order optimizers: steps that use the loss's curvature, for small models and full batches.

'lbfgs' estimates the inverse Hessian from recent gradients; 'newton' builds
the exact Hessian. Both re-evaluate the loss during a step, so they are
stepped with a closure (see :func:`shendu.optim.needs_closure`)::

    def closure(backward: bool = True) -> torch.Tensor:
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)   # the current batch, current weights
        if backward:
            loss.backward()
        return loss                               # with its graph when backward=False

    optimizer.step(closure)

LBFGS calls ``closure()``; Newton calls ``closure(backward=False)`` for a
differentiable loss, then again under ``torch.no_grad()`` in its line search.
Both take one parameter group (registry tag ``single_group``) and have no
weight decay (add an L2 term to the loss instead).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from shendu.errors import ConfigError, Problem
from shendu.optim.first_order import Optimizer, Params
from shendu.optim.registry import OPTIMIZERS, check_choice, check_count, check_flag, check_number

Closure = Callable[..., torch.Tensor]

# Hessian rows computed per batched backward: bounds the vmapped activations' memory at ~1024 copies.
HESSIAN_ROWS_PER_PASS = 1024
# Levenberg–Marquardt: multiply the damping by this until H + damping * I is positive definite.
# 4 rather than 10: the damping lands within 4x of the need, and on a network's loss a smaller
# damping means a step closer to Newton's (the tiny MLP test converges ~4x faster than with 10).
DAMPING_GROWTH, DAMPING_TRIES = 4.0, 30
# Armijo backtracking: accept a step when loss <= loss0 + SUFFICIENT_DECREASE * step * slope.
SUFFICIENT_DECREASE, BACKTRACK, LINE_SEARCH_TRIES = 1e-4, 0.5, 30


def _single_group(name: str, params: Params) -> list[Any]:
    """The params as a list, refusing several param groups: these optimizers treat all weights as one vector."""
    params = list(params)
    groups = [p for p in params if isinstance(p, dict)]
    if len(groups) > 1:
        raise ConfigError(
            [
                Problem(
                    "optimizer",
                    f"{name} with {len(groups)} parameter groups",
                    "one parameter group: a flat list of parameters",
                    f"{name} has one learning rate and no weight decay: pass model.parameters(), or use "
                    f"build_optimizer({{name: {name}}}, model), which builds one group.",
                )
            ]
        )
    return params


@OPTIMIZERS.register(
    "lbfgs",
    formula="d = -H_k g, H_k the inverse-Hessian estimate from the last m pairs "
    "(s = w_k+1 - w_k, y = g_k+1 - g_k) by the two-loop recursion; w += lr * t * d, t from the line search",
    reference="Liu & Nocedal, On the limited memory BFGS method for large scale optimization, "
    "Mathematical Programming 1989",
    single_group=True,
)
def lbfgs(
    params: Params,
    lr: float = 1.0,
    max_iter: int = 20,
    history_size: int = 100,
    line_search_fn: str | None = "strong_wolfe",
    tolerance_grad: float = 1e-7,
    tolerance_change: float = 1e-9,
) -> Optimizer:
    """L-BFGS: quasi-Newton steps from a low-rank inverse-Hessian estimate, for full-batch problems.

    Use it for deterministic, full-batch losses of small and medium models
    (curve fits, logistic regression, physics-informed networks, style
    transfer): it converges in far fewer steps than gradient descent without
    forming the Hessian. It needs the same loss at every evaluation, so it
    does badly on noisy mini-batches. One ``step(closure)`` runs up to
    ``max_iter`` iterations and calls the closure about 1.25 * max_iter times.
    The default line search is strong Wolfe (torch's default is none, which
    with lr = 1 often diverges on networks).

    Formula: d = -H_k g, where H_k applies the inverse-Hessian estimate built
    from the last m = history_size pairs (s = w_k+1 - w_k, y = g_k+1 - g_k) by
    the two-loop recursion; w += lr * t * d with t from the line search.
    Reference: D. C. Liu & J. Nocedal, "On the limited memory BFGS method for
    large scale optimization", Mathematical Programming 45, 1989.

    Args:
        params: the tensors to optimise, as one group (no per-group options).
        lr: step length scale (> 0); 1 is the quasi-Newton step.
        max_iter: iterations per ``step(closure)`` (a positive integer).
        history_size: m, the number of (s, y) pairs kept (a positive integer).
        line_search_fn: "strong_wolfe" or null (a fixed step lr).
        tolerance_grad: stop the step when the largest |g| is below this.
        tolerance_change: stop when the loss or the step changes less than this.
    """
    lr = check_number("optimizer", "lbfgs", "lr", lr, positive=True, example="1.0")
    return torch.optim.LBFGS(
        _single_group("lbfgs", params),
        lr=lr,
        max_iter=check_count("optimizer", "lbfgs", "max_iter", max_iter, example="20"),
        history_size=check_count("optimizer", "lbfgs", "history_size", history_size, example="100"),
        line_search_fn=check_choice("optimizer", "lbfgs", "line_search_fn", line_search_fn, ("strong_wolfe", None)),
        tolerance_grad=check_number("optimizer", "lbfgs", "tolerance_grad", tolerance_grad, example="1e-7"),
        tolerance_change=check_number("optimizer", "lbfgs", "tolerance_change", tolerance_change, example="1e-9"),
    )


class Newton(torch.optim.Optimizer):
    """Damped Newton's method over all parameters as one vector; see the 'newton' registry entry.

    Each ``step(closure)`` stores the gradient at the starting point in
    ``p.grad`` and, in ``state[first parameter]``, the damping it used and
    the accepted step length (0 when the line search found no decrease).
    """

    def __init__(self, params: Params, lr: float, damping: float, line_search: bool, max_parameters: int):
        super().__init__(_single_group("newton", params), {"lr": lr, "damping": damping, "line_search": line_search})
        count = sum(p.numel() for p in self.param_groups[0]["params"] if p.requires_grad)
        if count > max_parameters:
            gigabytes = count * count * 8 / 1e9
            raise ConfigError(
                [
                    Problem(
                        "optimizer.max_parameters",
                        count,
                        f"a model with at most max_parameters={max_parameters} trainable parameters: newton "
                        f"builds the full n x n Hessian ({count} x {count} here)",
                        f"Use {{name: lbfgs}} for a model this size, or a smaller model, or set "
                        f"max_parameters: {count} knowing the Hessian takes n^2 memory ({gigabytes:.1f} GB "
                        "in float64 for the solve) and one batched backward per 1024 of its rows.",
                    )
                ]
            )

    def step(self, closure: Closure | None = None) -> torch.Tensor:  # type: ignore[override]
        if closure is None:
            raise TypeError(
                "newton needs a closure: call optimizer.step(closure) with closure(backward: bool = True) -> loss, "
                "which recomputes the loss of the current batch (see shendu.optim.needs_closure)."
            )
        group = self.param_groups[0]
        params = [p for p in group["params"] if p.requires_grad]
        with torch.enable_grad():
            loss = closure(backward=False)
            gradient, hessian = gradient_and_hessian(loss, params)
        direction, damping = damped_newton_direction(hessian, gradient, group["damping"])
        if group["line_search"]:
            step_length = _backtrack(closure, params, loss.item(), gradient, direction, group["lr"])
        else:
            step_length = group["lr"]
            _move(params, [p.detach().clone() for p in params], direction, step_length)
        for parameter, piece in zip(params, _unflatten(gradient, params)):
            parameter.grad = piece  # the gradient at the start point, for clipping and logging
        self.state[params[0]].update(damping=damping, step_length=step_length)
        return loss.detach()


def gradient_and_hessian(loss: torch.Tensor, params: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """The (n,) gradient and (n, n) Hessian of a scalar ``loss`` w.r.t. ``params``, flattened in order.

    Double backward: the gradient with ``create_graph=True``, then Hessian
    rows H[i] = d(g . e_i)/dw by a vmapped backward over rows of the identity
    (``torch.autograd.grad(..., is_grads_batched=True)``). This works on a
    loss from any closure, unlike ``torch.func.hessian``, which needs the loss
    as a pure function of a parameter vector.
    """
    grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
    gradient = torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, params)])
    n = gradient.numel()
    if not gradient.requires_grad:  # the loss is linear in the parameters
        return gradient.detach(), gradient.new_zeros(n, n)
    identity = torch.eye(n, dtype=gradient.dtype, device=gradient.device)
    rows = []
    for start in range(0, n, HESSIAN_ROWS_PER_PASS):
        basis = identity[start : start + HESSIAN_ROWS_PER_PASS]  # (r, n)
        parts = torch.autograd.grad(
            gradient, params, grad_outputs=basis, is_grads_batched=True, retain_graph=True, allow_unused=True
        )
        # allow_unused gives None for a parameter the gradient does not depend on: its columns are 0.
        rows.append(
            torch.cat(
                [
                    (part if part is not None else basis.new_zeros(len(basis), p.numel())).reshape(len(basis), -1)
                    for part, p in zip(parts, params)
                ],
                dim=1,
            )
        )
    return gradient.detach(), torch.cat(rows).detach()


def damped_newton_direction(
    hessian: torch.Tensor, gradient: torch.Tensor, damping: float
) -> tuple[torch.Tensor, float]:
    """d = -(H + damping * I)^-1 g, and the damping used.

    Levenberg–Marquardt style: when H + damping * I is not positive definite
    (Cholesky fails: a saddle or a concave region), the damping grows
    fourfold until it is, which turns the step toward gradient descent with
    step 1 / damping. So d is always a descent direction (g . d < 0).
    """
    if not (bool(torch.isfinite(hessian).all()) and bool(torch.isfinite(gradient).all())):
        raise FloatingPointError(
            "newton: the gradient or Hessian of the loss is not finite at the current parameters. "
            "Lower optimizer.lr, keep line_search on, or check the data for NaN/inf."
        )
    # float64: near the optimum H is nearly singular and a float32 Cholesky loses its small eigenvalues.
    matrix = hessian.double()
    matrix = (matrix + matrix.T) / 2  # symmetric up to rounding; Cholesky reads one triangle
    identity = torch.eye(len(matrix), dtype=torch.float64, device=matrix.device)
    for _ in range(DAMPING_TRIES):
        factor, info = torch.linalg.cholesky_ex(matrix + damping * identity)
        if int(info) == 0:
            direction = -torch.cholesky_solve(gradient.double().unsqueeze(1), factor).squeeze(1)
            return direction.to(gradient.dtype), damping
        damping *= DAMPING_GROWTH
    raise FloatingPointError(f"newton: H + damping * I is not positive definite even at damping {damping:.3g}.")


def _unflatten(vector: torch.Tensor, params: list[torch.Tensor]) -> list[torch.Tensor]:
    return [piece.view_as(p) for piece, p in zip(vector.split([p.numel() for p in params]), params)]


@torch.no_grad()
def _move(params: list[torch.Tensor], start: list[torch.Tensor], direction: torch.Tensor, length: float) -> None:
    for parameter, origin, piece in zip(params, start, _unflatten(direction, params)):
        parameter.copy_(origin + length * piece)


@torch.no_grad()
def _backtrack(
    closure: Closure,
    params: list[torch.Tensor],
    loss: float,
    gradient: torch.Tensor,
    direction: torch.Tensor,
    lr: float,
) -> float:
    """Backtracking Armijo line search from step length ``lr``; returns the accepted length (0: no step)."""
    start = [p.detach().clone() for p in params]
    slope = float(gradient @ direction)  # < 0: d is a descent direction
    length = lr
    for _ in range(LINE_SEARCH_TRIES):
        _move(params, start, direction, length)
        value = float(closure(backward=False))
        if math.isfinite(value) and value <= loss + SUFFICIENT_DECREASE * length * slope:
            return length
        length *= BACKTRACK
    _move(params, start, direction, 0.0)  # no decrease found (at a minimum up to rounding): stay
    return 0.0


@OPTIMIZERS.register(
    "newton",
    formula="d = -(H + lambda * I)^-1 g, H the exact Hessian; lambda grown x4 until H + lambda I is positive "
    "definite; w += t * d, t = lr halved until loss(w + t d) <= loss(w) + 1e-4 t g.d (Armijo)",
    reference="Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, chapters 3 (line search) and 10 "
    "(Levenberg–Marquardt)",
    single_group=True,
)
def newton(
    params: Params, lr: float = 1.0, damping: float = 1e-4, line_search: bool = True, max_parameters: int = 5000
) -> Optimizer:
    """Newton's method: step to the minimum of the local quadratic model, with the exact Hessian.

    Use it for small models trained on a full batch (logistic regression,
    small curve fits, teaching): near the optimum it converges quadratically,
    reaching machine precision in a handful of steps where gradient descent
    needs hundreds. Each step costs the n x n Hessian (n = parameter count),
    so it refuses models above ``max_parameters``; use 'lbfgs' for those.
    The Hessian comes from double backward: the gradient with create_graph,
    then its rows by a vmapped backward (torch.autograd.grad with
    is_grads_batched=True), 1024 rows per pass. The solve is a float64
    Cholesky of H + damping * I; if that fails (H not positive definite:
    a saddle or concave region of a network's loss), the damping grows
    fourfold until it succeeds (Levenberg–Marquardt), so every step is a
    descent direction. Each step starts again from the configured damping.

    Formula: d = -(H + lambda * I)^-1 g; w += t * d, where t starts at lr and
    halves until loss(w + t d) <= loss(w) + 1e-4 * t * (g . d) (Armijo).
    Reference: J. Nocedal & S. J. Wright, "Numerical Optimization", 2nd ed.,
    Springer 2006, chapters 3 and 10; K. Levenberg 1944; D. Marquardt 1963.

    Args:
        params: the tensors to optimise, as one group (no per-group options).
        lr: the first step length tried (> 0); 1 is the full Newton step.
        damping: lambda (> 0), added to the Hessian's diagonal; grown x4 when needed.
        line_search: backtrack from lr (Armijo) until the loss decreases enough;
            off takes the step t = lr unchecked.
        max_parameters: the largest parameter count accepted; the Hessian has n^2 entries.
    """
    lr = check_number("optimizer", "newton", "lr", lr, positive=True, example="1.0")
    damping = check_number("optimizer", "newton", "damping", damping, positive=True, example="1e-4")
    line_search = check_flag("optimizer", "newton", "line_search", line_search)
    max_parameters = check_count("optimizer", "newton", "max_parameters", max_parameters, example="5000")
    return Newton(params, lr=lr, damping=damping, line_search=line_search, max_parameters=max_parameters)


__all__ = ["Newton", "damped_newton_direction", "gradient_and_hessian", "lbfgs", "newton"]
