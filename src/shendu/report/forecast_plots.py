"""The forecast plot of a forecasting run: the held-out tail, actual against the model and the baselines.

matplotlib with the Agg backend, so plotting works without a display.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from shendu.errors import DataError


def _as_columns(values: Any, name: str, length: int | None) -> np.ndarray:
    """(N,) or (N, T) numbers (NumPy, torch or lists) -> float (N, T)."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    array = np.asarray(values, dtype=np.float64)
    array = array[:, None] if array.ndim == 1 else array
    if array.ndim != 2 or (length is not None and array.shape[0] != length):
        expected = f"({length},) or ({length}, T)" if length is not None else "(N,) or (N, T)"
        raise DataError(f"plot_forecast: {name} must have shape {expected}; received shape {array.shape}.")
    return array


def plot_forecast(
    times: Sequence[Any],
    actual: Any,
    forecasts: Mapping[str, Any],
    path: str | Path,
    title: str = "",
    target_names: Sequence[str] | None = None,
) -> Path:
    """A line plot of the held-out tail: the actual series (black) and each forecast, one panel per target.

    Args:
        times: the N time points of the tail (a DatetimeIndex, dates or step numbers).
        actual: (N,) or (N, T) observed values, original scale.
        forecasts: name -> (N,) or (N, T) forecasts of the same steps, e.g.
            {"lstm": ..., "naive": ..., "seasonal naive": ...}; the first is drawn as the model.
        path: the PNG file to write.
        title: the plot's title (e.g. the data set and the horizon).
        target_names: the T target names for the panels' y labels.
    """
    path = Path(path)
    times = list(times)
    actual = _as_columns(actual, "actual", len(times))
    num_targets = actual.shape[1]
    series = {name: _as_columns(values, f"forecasts[{name!r}]", len(times)) for name, values in forecasts.items()}
    for name, values in series.items():
        if values.shape[1] != num_targets:
            raise DataError(f"plot_forecast: forecasts[{name!r}] has {values.shape[1]} targets; actual has {num_targets}.")
    names = list(target_names) if target_names is not None else [f"target {j}" for j in range(num_targets)]
    figure, panels = plt.subplots(num_targets, 1, figsize=(8, 3 + 1.8 * (num_targets - 1)), sharex=True, squeeze=False)
    for j, axes in enumerate(panels[:, 0]):
        axes.plot(times, actual[:, j], color="black", linewidth=2, label="actual")
        for k, (name, values) in enumerate(series.items()):
            style = {"linewidth": 1.8} if k == 0 else {"linewidth": 1.2, "linestyle": "--", "alpha": 0.8}
            axes.plot(times, values[:, j], label=name, **style)
        axes.set_ylabel(names[j] if j < len(names) else f"target {j}")
        axes.grid(alpha=0.3)
    panels[0, 0].legend(fontsize=8)
    panels[0, 0].set_title(f"forecast ({title})" if title else "forecast")
    panels[-1, 0].set_xlabel("time")
    figure.autofmt_xdate()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
