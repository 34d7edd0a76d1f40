"""Plots written into a run's ``plots/``: loss and metric curves per epoch, confusion matrix.

matplotlib with the Agg backend, so plotting works without a display.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
from matplotlib.ticker import MaxNLocator  # noqa: E402


def plot_history(history: Sequence[dict], directory: str | Path, within: Sequence[dict] = ()) -> list[Path]:
    """``loss.png`` (train and val loss per epoch) and one ``<metric>.png`` per val metric.

    ``within``: validation records from inside epochs (``train.val_every_steps``,
    fractional ``epoch``); their values join the val curve, drawn without markers.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if not history:
        return []
    epochs = [record["epoch"] for record in history]
    written = []
    last = history[-1].get("val", {})
    names = ["loss"] + [n for n, v in last.items() if n != "loss" and isinstance(v, (int, float))]  # not text samples
    for name in names:
        figure, axes = plt.subplots(figsize=(6, 4))
        for split in ("train", "val"):
            values = [record.get(split, {}).get(name) for record in history]
            if any(v is not None for v in values):
                axes.plot(epochs, [float("nan") if v is None else v for v in values], marker="o", label=split)
                if split == "val" and within:
                    points = [(r["epoch"], r["val"].get(name)) for r in within] + list(zip(epochs, values))
                    points = sorted(((e, v) for e, v in points if isinstance(v, (int, float))), key=lambda p: p[0])
                    if points:
                        axes.plot(*zip(*points), color=axes.lines[-1].get_color(), alpha=0.5, linewidth=1)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel("epoch")
        axes.set_ylabel(name)
        axes.set_title(f"{name} per epoch")
        axes.grid(alpha=0.3)
        axes.legend()
        figure.tight_layout()
        path = directory / f"{name}.png"
        figure.savefig(path, dpi=100)
        plt.close(figure)
        written.append(path)
    return written


def plot_confusion_matrix(matrix: Sequence[Sequence[int]], class_names: Sequence[str], path: str | Path, title: str = "") -> Path:
    """A confusion matrix heat map: rows are true classes, columns predicted classes."""
    path = Path(path)
    size = max(4.0, 0.45 * len(class_names) + 2)
    figure, axes = plt.subplots(figsize=(size, size))
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes, fraction=0.046)
    ticks = range(len(class_names))
    axes.set_xticks(ticks, labels=class_names, rotation=45 if len(class_names) > 6 else 0, ha="right")
    axes.set_yticks(ticks, labels=class_names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(f"confusion matrix ({title})" if title else "confusion matrix")
    if len(class_names) <= 20:
        peak = max(max(row) for row in matrix) or 1
        for i, row in enumerate(matrix):
            for j, count in enumerate(row):
                axes.text(j, i, str(count), ha="center", va="center", fontsize=8,
                          color="white" if count > peak / 2 else "black")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
