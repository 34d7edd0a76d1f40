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
    """An optimizer's path: the points visited (steps + 1, 2), the lr used (None if it takes none),
    and how many times it evaluated f (L-BFGS and line searches evaluate it several times a step)."""

    optimizer: str
    lr: float | None
    points: torch.Tensor
    evaluations: int

    @property
    def steps(self) -> int:
        return len(self.points) - 1

    @property
    def label(self) -> str:
        return self.optimizer if self.lr is None else f"{self.optimizer} (lr {self.lr:g})"

    def summary(self, function: TestFunction) -> str:
        """``f = 0.0479 after 200 steps`` (plus the evaluations where they are more than the steps)."""
        extra = f" ({self.evaluations} evaluations of f)" if self.evaluations > self.steps else ""
        return f"f = {float(function(self.points[-1])):.3g} after {self.steps} steps{extra}"


def lr_option(name: str) -> tuple[bool, float | None]:
    """Whether optimizer ``name`` has an ``lr`` option, and its numeric default (None if it has none)."""
    parameter = inspect.signature(OPTIMIZERS.entry(name).constructor).parameters.get("lr")
    if parameter is None:
        return False, None
    default = parameter.default
    is_number = isinstance(default, (int, float)) and not isinstance(default, bool)
    return True, float(default) if is_number else None


def optimizer_path(name: str, function: TestFunction, lr: float | None) -> Path2D:
    """The path of optimizer ``name`` minimising ``function`` from its start, for at most ``function.steps`` steps.

    Stops early when a step leaves the drawn area (the path is then rejected by
    :func:`best_path`) or no longer moves the point (converged). Closure
    optimizers (lbfgs, newton) are stepped through the closure contract of
    :func:`shendu.optim.needs_closure`; the others with backward() then step().
    """
    point = torch.tensor(function.start, dtype=torch.float64, requires_grad=True)
    options = {} if lr is None else {"lr": lr}
    optimizer = OPTIMIZERS.get({"name": name, **options}, params=[point])
    evaluations = 0

    def closure(backward: bool = True) -> torch.Tensor:
        nonlocal evaluations
        evaluations += 1
        optimizer.zero_grad()
        loss = function(point)
        if backward:
            loss.backward()
        return loss

    with_closure = needs_closure(optimizer)
    path = [tuple(function.start)]
    for _ in range(function.steps):
        if with_closure:
            optimizer.step(closure)
        else:
            closure()
            optimizer.step()
        if not _extend(path, point, function):
            break
    return Path2D(name, lr, torch.tensor(path, dtype=torch.float64), evaluations)


def _extend(path: list[tuple[float, float]], point: torch.Tensor, function: TestFunction) -> bool:
    """Append ``point`` to ``path``; False when the path should stop (left the area, or converged)."""
    x, y = point.tolist()  # python floats: per-step checks on tensors would cost more than the step
    previous_x, previous_y = path[-1]
    path.append((x, y))
    return function.inside(x, y) and abs(x - previous_x) + abs(y - previous_y) >= CONVERGED


def optimizer_paths(name: str, function: TestFunction, rates: list[float]) -> list[Path2D]:
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
    return [Path2D(name, lr, torch.tensor(path, dtype=torch.float64), len(path) - 1) for lr, path in zip(rates, paths)]


@functools.lru_cache(maxsize=64)  # sgd is drawn beside every optimizer: search its rate once per process
def best_path(name: str, function: TestFunction) -> Path2D:
    """The path of ``name`` at a learning rate that does well on ``function``.

    The optimizer's default lr is kept when it gets within 1% of the way from
    the start to the minimum. Otherwise every grid rate is run; of those whose
    path stays on the drawn area, the ones that end within 1% of the best
    progress qualify, and the smallest qualifying rate is taken (the calmest
    path that does about as well). Falls back to the smallest rate when no
    path stays on the area.
    """
    has_lr, default = lr_option(name)
    if not has_lr:
        return optimizer_path(name, function, None)

    def value(path: Path2D) -> float:
        return float(function(path.points[-1]))

    def stays(path: Path2D) -> bool:
        return function.inside(*path.points[-1].tolist())

    start, lowest = (float(function(torch.tensor(p, dtype=torch.float64))) for p in (function.start, function.minimum))
    if default is not None:
        path = optimizer_path(name, function, default)
        if stays(path) and value(path) <= lowest + 0.01 * (start - lowest):
            return path  # no rate can beat it by more than 1% of the progress
    runs = [path for path in optimizer_paths(name, function, sorted(LEARNING_RATES)) if stays(path)]
    if not runs:
        return optimizer_path(name, function, min(LEARNING_RATES))
    best = min(value(path) for path in runs)
    return next(path for path in runs if value(path) <= best + 0.01 * (start - best))
