"""Optimizer paths on 2-D test functions, for ``shendu explain <optimizer>``.

Two classic surfaces: Rosenbrock's curved valley and an ill-conditioned
quadratic bowl (curvatures 1 and 50), where plain gradient descent zig-zags
across the steep direction while crawling along the shallow one. Each
optimizer is run from the same start for the same number of steps; its
learning rate is chosen from a fixed grid (see :func:`best_path`) so that the
path stays on the plotted area and does about as well as the best rate, since
a default lr meant for neural networks can be far off for a 2-D toy.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass

import torch

from shendu.optim import OPTIMIZERS, needs_closure

# Candidate learning rates, 1e-4 to 3 in steps of about sqrt(10).
LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0)
# A step shorter than this ends a path: the optimizer has converged (Newton, L-BFGS).
CONVERGED = 1e-10


@dataclass(frozen=True)
class TestFunction:
    """A 2-D function to minimise, with where to start, where its minimum is and the area to draw."""

    name: str
    formula: str
    function: Callable[[torch.Tensor], torch.Tensor]  # (..., 2) -> (...)
    start: tuple[float, float]
    minimum: tuple[float, float]
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    steps: int

    def __call__(self, point: torch.Tensor) -> torch.Tensor:
        return self.function(point)

    def inside(self, x: float, y: float, margin: float = 0.1) -> bool:
        """Whether (x, y) lies within the drawn area widened by ``margin`` of its size (False for NaN)."""
        (x0, x1), (y0, y1) = self.x_range, self.y_range
        dx, dy = margin * (x1 - x0), margin * (y1 - y0)
        return x0 - dx <= x <= x1 + dx and y0 - dy <= y <= y1 + dy


def _rosenbrock(point: torch.Tensor) -> torch.Tensor:
    x, y = point[..., 0], point[..., 1]
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def _ill_conditioned(point: torch.Tensor) -> torch.Tensor:
    x, y = point[..., 0], point[..., 1]
    return 0.5 * (x**2 + 50 * y**2)


ROSENBROCK = TestFunction(
    "Rosenbrock", "f = (1 - x)^2 + 100 (y - x^2)^2", _rosenbrock,
    start=(-1.5, 2.0), minimum=(1.0, 1.0), x_range=(-2.0, 2.0), y_range=(-1.0, 3.0), steps=200,
)
ILL_CONDITIONED = TestFunction(
    "ill-conditioned quadratic", "f = (x^2 + 50 y^2) / 2", _ill_conditioned,
    start=(-4.0, 1.5), minimum=(0.0, 0.0), x_range=(-4.5, 4.5), y_range=(-2.0, 2.0), steps=60,
)
TEST_FUNCTIONS = (ROSENBROCK, ILL_CONDITIONED)


@dataclass(frozen=True)
class Path2D:
    """An optimizer's path: the points visited (steps + 1, 2), the lr used (None if it takes none)."""

    optimizer: str
    lr: float | None
    points: torch.Tensor

    @property
    def label(self) -> str:
        return self.optimizer if self.lr is None else f"{self.optimizer} (lr {self.lr:g})"


def lr_option(name: str) -> tuple[bool, float | None]:
    """Whether optimizer ``name`` has an ``lr`` option, and its numeric default (None if it has none)."""
    parameter = inspect.signature(OPTIMIZERS.entry(name).constructor).parameters.get("lr")
    if parameter is None:
        return False, None
    default = parameter.default
    is_number = isinstance(default, (int, float)) and not isinstance(default, bool)
    return True, float(default) if is_number else None


def optimizer_path(name: str, function: TestFunction, lr: float | None, steps: int | None = None) -> torch.Tensor:
    """The points (at most steps + 1, 2) optimizer ``name`` visits minimising ``function`` from its start.

    Stops early when a step leaves the drawn area (the path is then rejected by
    :func:`best_path`) or no longer moves the point (converged). Closure
    optimizers (lbfgs, newton) are stepped through the closure contract of
    :func:`shendu.optim.needs_closure`; the others with backward() then step().
    """
    point = torch.tensor(function.start, dtype=torch.float64, requires_grad=True)
    options = {} if lr is None else {"lr": lr}
    optimizer = OPTIMIZERS.get({"name": name, **options}, params=[point])

    def closure(backward: bool = True) -> torch.Tensor:
        optimizer.zero_grad()
        loss = function(point)
        if backward:
            loss.backward()
        return loss

    with_closure = needs_closure(optimizer)
    path = [tuple(function.start)]
    for _ in range(steps or function.steps):
        if with_closure:
            optimizer.step(closure)
        else:
            closure()
            optimizer.step()
        if not _extend(path, point, function):
            break
    return torch.tensor(path, dtype=torch.float64)


def _extend(path: list[tuple[float, float]], point: torch.Tensor, function: TestFunction) -> bool:
    """Append ``point`` to ``path``; False when the path should stop (left the area, or converged)."""
    x, y = point.tolist()  # python floats: per-step checks on tensors would cost more than the step
    previous_x, previous_y = path[-1]
    path.append((x, y))
    return function.inside(x, y) and abs(x - previous_x) + abs(y - previous_y) >= CONVERGED


def optimizer_paths(name: str, function: TestFunction, rates: list[float]) -> list[torch.Tensor]:
    """One path per learning rate, as :func:`optimizer_path` would give.

    Optimizers stepped with plain backward() run every rate at once, as one
    param group per rate (a group's update depends only on its own parameter),
    which costs one forward/backward per step instead of one per rate. A path
    that stops is left out of the loss, so its parameter gets no gradient and
    torch's optimizers skip it.
    """
    probe = OPTIMIZERS.get({"name": name, "lr": rates[0]}, params=[torch.zeros(2, requires_grad=True)])
    if needs_closure(probe):  # L-BFGS takes a single param group
        return [optimizer_path(name, function, lr) for lr in rates]
    points = [torch.tensor(function.start, dtype=torch.float64, requires_grad=True) for _ in rates]
    optimizer = OPTIMIZERS.get({"name": name}, params=[{"params": [p], "lr": lr} for p, lr in zip(points, rates)])
    paths = [[tuple(function.start)] for _ in rates]
    running = list(range(len(rates)))
    for _ in range(function.steps):
        optimizer.zero_grad()
        function(torch.stack([points[i] for i in running])).sum().backward()
        optimizer.step()
        running = [i for i in running if _extend(paths[i], points[i], function)]
        if not running:
            break
    return [torch.tensor(path, dtype=torch.float64) for path in paths]


@functools.lru_cache(maxsize=64)  # sgd is drawn beside every optimizer: search its rate once per process
def best_path(name: str, function: TestFunction) -> Path2D:
    """The path of ``name`` at a learning rate that does well on ``function``.

    Every grid rate (and the optimizer's default) is run; of those whose path
    stays on the drawn area, the ones that end within 1% of the best progress
    from the start qualify, and the default lr is taken if it qualifies, else
    the smallest qualifying rate (the calmest path that does as well).
    Falls back to the smallest rate when no path stays on the area.
    """
    has_lr, default = lr_option(name)
    if not has_lr:
        return Path2D(name, None, optimizer_path(name, function, None))
    start, lowest = (float(function(torch.tensor(p, dtype=torch.float64))) for p in (function.start, function.minimum))
    if default is not None:
        points = optimizer_path(name, function, default)
        if function.inside(*points[-1].tolist()) and float(function(points[-1])) <= lowest + 0.01 * (start - lowest):
            return Path2D(name, default, points)  # no rate can beat it by more than 1% of the progress
    rates = list(dict.fromkeys(([] if default is None else [default]) + sorted(LEARNING_RATES)))
    runs = {lr: (points, float(function(points[-1])))
            for lr, points in zip(rates, optimizer_paths(name, function, rates))
            if function.inside(*points[-1].tolist())}
    if not runs:
        lr = min(LEARNING_RATES)
        return Path2D(name, lr, optimizer_path(name, function, lr))
    best = min(value for _, value in runs.values())
    good = [lr for lr, (_, value) in runs.items() if value <= best + 0.01 * (start - best)]
    lr = default if default in good else min(good)
    return Path2D(name, lr, runs[lr][0])
