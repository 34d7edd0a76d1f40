"""The pictures of ``shendu explain``: one function per plottable kind, each ``(entry, path) -> Plot``.

Imported only when a plot is drawn, so ``import shendu`` does not pay for
matplotlib. Every curve is computed by calling the registered component itself
(the activation module, the built schedule, the optimizer, the loss's profile,
the initializer), never a re-typed formula.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import torch  # noqa: E402
from torch import nn  # noqa: E402

from shendu.nn import get_initializer  # noqa: E402
from shendu.optim import build_schedule, is_metric_schedule  # noqa: E402
from shendu.registry import Entry  # noqa: E402
from shendu.report.optimizer_paths import TEST_FUNCTIONS, best_path  # noqa: E402


class Plot(NamedTuple):
    """What a plot function made: the PNG (None when the entry cannot be drawn) and notes for the text."""

    path: Path | None
    notes: str = ""


def plot_options(entry: Entry) -> dict:
    """Options to build ``entry`` with for its plot: the tag ``explain_options``, else none (the defaults).

    An entry whose defaults cannot be built, or draw a dull picture, may carry
    the tag, e.g. warmup with ``explain_options={"then": {"name": "cosine"}}``.
    """
    return dict(entry.tags.get("explain_options", {}))


def _options_note(options: dict) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in options.items()) if options else "default options"


def _save(figure: plt.Figure, path: Path) -> Path:
    figure.tight_layout()
    # Light PNG compression: slightly larger files, less time (the tests draw every entry).
    figure.savefig(path, dpi=100, pil_kwargs={"compress_level": 1})
    plt.close(figure)
    return path


# -- activations -----------------------------------------------------------------------
# Inputs are (N, 3) rows (x, 0, 0): elementwise activations see x in column 0; softmax-like
# ones (which mix a row) show component 0 with the other two logits fixed at 0.
NUM_LOGITS = 3


def activation_curves(module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """f(x), f'(x) by autograd, and whether f mixes the entries of a row (softmax-like)."""
    inputs = torch.zeros(len(x), NUM_LOGITS, dtype=torch.float64)
    inputs[:, 0] = x
    inputs.requires_grad_(True)
    outputs = module.to(torch.float64)(inputs.clone())  # clone: in-place activations may not write to a leaf
    values = outputs[:, 0]
    if outputs.requires_grad:
        # Row i of the output depends only on row i of the input, so the summed gradient is f'(x_i).
        derivative = torch.autograd.grad(values.sum(), inputs)[0][:, 0]
    else:
        derivative = torch.zeros_like(x)  # e.g. a step: the comparison passes no gradient
    mixes = not torch.allclose(outputs[:, 1], outputs[:1, 1].expand(len(x)))
    return values.detach(), derivative.detach(), mixes


def plot_activation(entry: Entry, path: Path) -> Plot:
    """f(x) and f'(x) on [-5, 5]."""
    x = torch.linspace(-5, 5, 1001, dtype=torch.float64)
    options = plot_options(entry)
    values, derivative, mixes = activation_curves(entry.constructor(**options), x)
    figure, axes = plt.subplots(figsize=(7, 4.5))
    axes.plot(x, values, label="f(x)", linewidth=2)
    axes.plot(x, derivative, label="f'(x) (autograd)", linestyle="--")
    axes.axhline(0, color="grey", linewidth=0.5)
    axes.axvline(0, color="grey", linewidth=0.5)
    title = entry.name
    if mixes:
        title += f": component 1 of ({', '.join(['x'] + ['0'] * (NUM_LOGITS - 1))}), other logits fixed at 0"
    notes = f"Plot: f and f' on [-5, 5] with {_options_note(options)}."
    if not derivative.any():
        axes.text(0.02, 0.95, "f'(x) = 0 almost everywhere: no gradient flows", transform=axes.transAxes, va="top")
        notes += " The derivative is 0 almost everywhere, so no gradient reaches earlier layers."
    axes.set_title(title)
    axes.set_xlabel("x")
    axes.grid(alpha=0.3)
    axes.legend(loc="best")
    return Plot(_save(figure, path), notes)


# -- schedules -----------------------------------------------------------------------------
BASE_LR = 0.1
STEPS_PER_EPOCH = 100
EPOCHS = 10
METRIC_EPOCHS = 40  # a metric-driven schedule needs room for plateaus plus its patience


def _simulated_validation_loss(lr: float, previous: float, generator: torch.Generator) -> float:
    """A validation loss that falls towards a floor set by the lr (lower lr, lower floor), plus noise.

    Once the gap to the floor is below the noise it plateaus, which is what a
    reduce-on-plateau schedule waits for; a drop in lr then lowers the floor.
    """
    floor = 0.2 + 3.0 * lr
    noise = 0.004 * float(torch.randn((), generator=generator, dtype=torch.float64))
    return floor + 0.5 * (previous - floor) + noise


def schedule_run(name: str, options: dict | None = None) -> tuple[list[float], list[float], int]:
    """The lr before each optimizer step, the simulated validation loss per epoch ([] unless the
    schedule is metric-driven), and the steps per epoch, for a run from lr ``BASE_LR``."""

    def build(epochs: int) -> tuple[torch.optim.Optimizer, object]:
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=BASE_LR)
        spec = {"name": name, **(options or {})}
        return optimizer, build_schedule(spec, optimizer, epochs * STEPS_PER_EPOCH, STEPS_PER_EPOCH)

    optimizer, schedule = build(EPOCHS)
    metric = is_metric_schedule(schedule)
    epochs = EPOCHS
    if metric:
        epochs = METRIC_EPOCHS
        optimizer, schedule = build(epochs)
    generator = torch.Generator().manual_seed(0)
    rates, losses, loss = [], [], 2.0
    for _ in range(epochs):
        for _ in range(STEPS_PER_EPOCH):
            rates.append(optimizer.param_groups[0]["lr"])
            optimizer.step()  # no gradients: changes nothing, but keeps torch's step-order check satisfied
            if not metric:
                schedule.step()
        if metric:
            loss = _simulated_validation_loss(optimizer.param_groups[0]["lr"], loss, generator)
            losses.append(loss)
            schedule.step(loss)
    return rates, losses, STEPS_PER_EPOCH


def plot_schedule(entry: Entry, path: Path) -> Plot:
    """The learning rate over a run (base lr 0.1, 100 steps per epoch), epochs marked."""
    options = plot_options(entry)
    rates, losses, steps_per_epoch = schedule_run(entry.name, options)
    epochs = len(rates) // steps_per_epoch
    figure, axes = plt.subplots(figsize=(8, 4.5))
    position = torch.arange(len(rates), dtype=torch.float64) / steps_per_epoch
    axes.plot(position, rates, color="tab:blue", linewidth=2, label="learning rate")
    for epoch in range(1, epochs):
        axes.axvline(epoch, color="grey", linewidth=0.4, alpha=0.5)
    axes.set_xlabel(f"epoch ({steps_per_epoch} optimizer steps each)")
    axes.set_ylabel("learning rate", color="tab:blue")
    axes.set_xlim(0, epochs)
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3, axis="y")
    title = f"{entry.name}: learning rate over {epochs} epochs, base lr {BASE_LR:g}"
    notes = f"Plot: base lr {BASE_LR:g}, {epochs} epochs x {steps_per_epoch} steps, {_options_note(options)}."
    if losses:
        loss_axes = axes.twinx()
        loss_axes.plot(range(1, epochs + 1), losses, color="tab:orange", marker="o", markersize=3,
                       label="simulated validation loss")
        loss_axes.set_ylabel("validation loss (simulated)", color="tab:orange")
        title += "\n(stepped once per epoch with a simulated validation loss that plateaus)"
        notes += " The schedule is stepped once per epoch with a simulated validation loss."
        lines = axes.get_lines()[:1] + loss_axes.get_lines()
        axes.legend(lines, [line.get_label() for line in lines], loc="center right")
    axes.set_title(title)
    return Plot(_save(figure, path), notes)


# -- optimizers -------------------------------------------------------------------------------
def plot_optimizer(entry: Entry, path: Path) -> Plot:
    """Its path beside plain SGD's on Rosenbrock and an ill-conditioned quadratic, over contour lines."""
    figure, panels = plt.subplots(1, len(TEST_FUNCTIONS), figsize=(13, 5.2))
    notes = []
    for axes, function in zip(panels, TEST_FUNCTIONS):
        (x0, x1), (y0, y1) = function.x_range, function.y_range
        grid_x, grid_y = torch.meshgrid(torch.linspace(x0, x1, 200, dtype=torch.float64),
                                        torch.linspace(y0, y1, 200, dtype=torch.float64), indexing="xy")
        surface = function(torch.stack([grid_x, grid_y], dim=-1))
        levels = torch.logspace(-1, float(torch.log10(surface.max())), 16).tolist()
        axes.contour(grid_x, grid_y, surface, levels=levels, colors="0.65", linewidths=0.6)
        names = [entry.name] if entry.name == "sgd" else [entry.name, "sgd"]
        for name, style in zip(names, ("-", ":")):
            route = best_path(name, function)
            axes.plot(route.points[:, 0], route.points[:, 1], style, marker=".", markersize=3, linewidth=1.3,
                      label=f"{route.label}: {route.summary(function)}")
            notes.append(f"{function.name}: {route.label}, {route.summary(function)}")
        axes.plot(*function.start, "o", color="black", label="start")
        axes.plot(*function.minimum, "*", color="gold", markersize=14, markeredgecolor="black", label="minimum")
        axes.set_xlim(x0, x1)
        axes.set_ylim(y0, y1)
        axes.set_title(f"{function.name}: {function.formula}", fontsize=10)
        axes.set_xlabel("x")
        axes.set_ylabel("y")
        axes.legend(fontsize=8, loc="lower right")
    figure.suptitle(f"{entry.name} beside plain SGD, the same step budget, a learning rate chosen per function")
    text = ("Plot (lr per function: the default if it nearly reaches the minimum, else the smallest grid lr\n"
            "within 1% of the best progress; at most the same number of steps each):\n  ")
    return Plot(_save(figure, path), text + "\n  ".join(notes))


# -- losses ----------------------------------------------------------------------------------------
DEFAULT_PROFILE_RANGE = (-3.0, 3.0)


def plot_loss(entry: Entry, path: Path) -> Plot:
    """The loss along its profile axis (tags ``profile``, ``profile_axis``, ``profile_labels``), and its slope."""
    profile = entry.tags.get("profile")
    if profile is None:
        return Plot(None, f"No plot: loss {entry.name!r} was registered without the 'profile' and 'profile_axis' "
                          "tags (profile(x) -> loss at each x); register it with them to get one.")
    low, high = entry.tags.get("profile_range", DEFAULT_PROFILE_RANGE)
    x = torch.linspace(low, high, 301, dtype=torch.float64, requires_grad=True)
    values = profile(x)
    curves = values if values.dim() == 2 else values.unsqueeze(1)  # (N, k)
    labels = list(entry.tags.get("profile_labels") or [entry.name] * curves.shape[1])
    slopes = None
    if curves.requires_grad:
        slopes = [torch.autograd.grad(curves[:, j].sum(), x, retain_graph=True, allow_unused=True)[0]
                  for j in range(curves.shape[1])]
        slopes = None if any(s is None for s in slopes) else slopes
    figure, panels = plt.subplots(1, 2 if slopes else 1, figsize=(12 if slopes else 7, 4.5), squeeze=False)
    axis_label = entry.tags.get("profile_axis", "x")
    x = x.detach()
    for j, label in enumerate(labels):
        panels[0, 0].plot(x, curves[:, j].detach(), linewidth=2, label=label)
        if slopes:
            panels[0, 1].plot(x, slopes[j].detach(), linestyle="--", label=label)
    panels[0, 0].set_title(f"{entry.name}: loss along its profile")
    panels[0, 0].set_ylabel("loss")
    if slopes:
        panels[0, 1].set_title("slope d loss / d x (autograd): the gradient the model receives")
    for axes in panels[0]:
        axes.set_xlabel(axis_label)
        axes.grid(alpha=0.3)
        axes.axhline(0, color="grey", linewidth=0.5)
        if curves.shape[1] > 1:
            axes.legend()
    finite = torch.isfinite(curves.detach()).all()
    note = f"Plot: loss against {axis_label} on [{low:g}, {high:g}] with default options."
    return Plot(_save(figure, path), note + ("" if finite else " Not finite at some points (gaps in the curve)."))


# -- initializers ----------------------------------------------------------------------------------------
FAN = 256


def initialized_weight(name: str, options: dict | None = None) -> torch.Tensor:
    """The weight of a fresh ``nn.Linear(256, 256)`` filled by initializer ``name`` (seeded, global RNG untouched)."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        layer = nn.Linear(FAN, FAN)  # 'default' keeps this layer's own initialisation
        get_initializer({"name": name, **(options or {})})(layer.weight)
    return layer.weight.detach()


def plot_initializer(entry: Entry, path: Path) -> Plot:
    """A histogram of one 256x256 weight, with its measured std and the theoretical one marked.

    The theoretical std comes from the entry's tag ``std``: a function
    ``std(fan_in, fan_out, **options) -> float`` (options as the constructor's),
    e.g. ``std=lambda fan_in, fan_out, gain=1.0: gain * (2 / (fan_in + fan_out)) ** 0.5``.
    """
    options = plot_options(entry)
    weight = initialized_weight(entry.name, options).flatten()
    std = float(weight.std())
    figure, axes = plt.subplots(figsize=(7, 4.5))
    spread = float(weight.max() - weight.min())
    axes.hist(weight.numpy(), bins=100 if spread > 0 else 1, color="tab:blue", alpha=0.75)
    for sign in (-1, 1):
        axes.axvline(float(weight.mean()) + sign * std, color="tab:orange", linestyle="--",
                     label=f"measured std {std:.4g}" if sign > 0 else None)
    notes = f"Plot: a {FAN}x{FAN} weight (fan_in = fan_out = {FAN}), {_options_note(options)}; measured std {std:.4g}"
    theory = entry.tags.get("std")
    if theory is not None:
        expected = float(theory(FAN, FAN, **options))
        for sign in (-1, 1):
            axes.axvline(sign * expected, color="black", linestyle=":",
                         label=f"theoretical std {expected:.4g}" if sign > 0 else None)
        notes += f", theoretical {expected:.4g}"
    axes.set_title(f"{entry.name}: weights of a {FAN}x{FAN} layer")
    axes.set_xlabel("weight value")
    axes.set_ylabel("count")
    axes.legend()
    return Plot(_save(figure, path), notes + ".")


# -- augmentations ----------------------------------------------------------------------------------------
def plot_augmentation(entry: Entry, path: Path) -> Plot:
    """The augmentation on a demo batch: before (top row) and after three seeded draws.

    Image ops show coloured digits, text ops sentences, series ops line
    plots (see ``shendu.report.augmentation_plots``). Options come from the
    tag ``explain_options`` (e.g. the synonym table of synonym-replacement).
    """
    from shendu.report.augmentation_plots import augmentation_figure

    options = plot_options(entry)
    figure, note = augmentation_figure(entry, options)
    if options:
        note += f" Options: {_options_note(options)}."
    return Plot(_save(figure, path), note)
