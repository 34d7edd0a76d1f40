"""Time series for forecasting: a table into one (N, F) array, tail splits, scaling and sliding windows.

The path a forecasting task takes, from a DataFrame read with the usual readers:

    series = series_from_frame(frame, time_column="Month", target_columns=["Passengers"])
    ranges = tail_split(series.num_steps, test_size=24, val_size=12)   # {"train": (0, 108), ...}
    scaling = SeriesScaling.fit(series.values, ranges["train"], series.num_targets)
    values = torch.from_numpy(scaling.transform(series.values))        # (N, F)
    inputs, targets, origins = make_windows(values, lookback=24, horizon=12,
                                            num_targets=series.num_targets, target_range=ranges["test"])

Splits are by time only: the held-out test range is the last steps of the series, validation the steps just
before it, training the rest. A window belongs to the range that holds all of its target steps; its inputs may
reach back into the earlier range, which is honest: at the forecast origin those are past observations.
Reading the table (``series_from_frame``, ``SeriesData``) is in ``shendu.data.series_frame`` and re-exported here.
Reference forecasts on the same windows (naive, seasonal naive, the MASE scale, recursive roll-out) are in
``shendu.data.series_baselines``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from pandas.tseries.frequencies import to_offset

from shendu.data.scaling import safe_scale
from shendu.data.series_frame import (
    MISSING_METHODS,
    TIME_PARTS,
    SeriesData,
    series_from_frame,
)
from shendu.errors import DataError

# Steps in one natural cycle, per pandas offset family (before dividing by a multiple such as "3MS").
_CYCLE_STEPS = {"MS": 12, "ME": 12, "BMS": 12, "BME": 12, "CBMS": 12, "CBME": 12, "SMS": 24, "SME": 24,
                "QS": 4, "QE": 4, "BQS": 4, "BQE": 4, "W": 52, "D": 7, "B": 5, "C": 5}
_DAY_NANOSECONDS = 86_400 * 10**9


def infer_season(frequency: str | None) -> int | None:
    """The seasonal period m in steps for a pandas frequency alias: monthly 12, quarterly 4, weekly 52, daily 7, hourly 24.

    The period seasonal-naive forecasts and the MASE scale compare against
    (y[t] with y[t - m]). Daily data gets 7, the weekly cycle of human activity
    (traffic, sales, electricity): a yearly cycle of 365 needs more than a year
    of lookback and is a deliberate choice, made with ``data.series.season=365``.
    Sub-daily steps get the number of steps per day (hourly 24, 30min 48);
    business days 5. A multiple divides the cycle when it can ("3MS" -> 4,
    "2h" -> 12); yearly or odd steps give None (no season).

    Args:
        frequency: an offset alias such as "MS", "W-SUN", "D", "h", "15min"; None gives None.
    """
    if frequency is None:
        return None
    try:
        offset = to_offset(frequency)
    except ValueError:
        raise DataError(f"frequency {frequency!r} is not a pandas offset alias; expected e.g. 'MS', 'D' or 'h'.") from None
    base = offset.rule_code.split("-")[0]  # the anchor goes: "W-SUN" -> "W", "QS-OCT" -> "QS"
    cycle = _CYCLE_STEPS.get(base)
    if cycle is None and base in ("h", "min", "s", "ms", "us", "ns"):
        cycle = _DAY_NANOSECONDS // pd.Timedelta(to_offset(base)).value
    if cycle is None or cycle % offset.n or cycle // offset.n < 2:
        return None
    return cycle // offset.n


def _size(value: Any, num_steps: int, key: str) -> int:
    """A fraction strictly between 0 and 1 of num_steps (at least 1), or a whole count >= 0."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        value_ok = False
    else:
        value_ok = (0 < value < 1) or (value >= 0 and float(value).is_integer())
    if not value_ok:
        raise DataError(f"{key} must be a fraction strictly between 0 and 1 or a whole number of steps >= 0; "
                        f"received {value!r}. Use e.g. {key}=0.2 or {key}=24.")
    if 0 < value < 1:
        return max(1, math.floor(value * num_steps + 0.5))
    return int(value)


def tail_split(num_steps: int, *, test_size: float, val_size: float = 0,
               min_train_steps: int = 1) -> dict[str, tuple[int, int]]:
    """Time-ordered ranges of step indices: train [0, a), val [a, b), test [b, N) with the test range the LAST steps.

    Use it for any forecasting evaluation: a random split would let the model
    see the future of the steps it is tested on. Fractions are of the whole
    series, rounded half up and at least one step; an empty validation range
    (val_size=0) is (a, a).

    Args:
        num_steps: N, the length of the series.
        test_size: held-out tail: a fraction (0 < x < 1) of N or a number of steps.
        val_size: validation steps just before the tail: a fraction or a number of steps.
        min_train_steps: the fewest steps that must remain for training (e.g. lookback + horizon).
    """
    if isinstance(num_steps, bool) or not isinstance(num_steps, (int, np.integer)) or num_steps < 1:
        raise DataError(f"num_steps must be a positive integer; received {num_steps!r}.")
    test = _size(test_size, num_steps, "test_size")
    val = _size(val_size, num_steps, "val_size")
    train = num_steps - test - val
    if train < min_train_steps:
        raise DataError(
            f"test_size={test_size!r} ({test} steps) and val_size={val_size!r} ({val} steps) leave {max(train, 0)} "
            f"of the {num_steps} steps for training; expected at least {min_train_steps}. "
            "Lower test_size or val_size, or use a longer series."
        )
    return {"train": (0, train), "val": (train, train + val), "test": (train + val, num_steps)}


@dataclass
class SeriesScaling:
    """Standardise each column with the mean and standard deviation of the training range: z = (x - mean) / std.

    Fitting on the training range only keeps the statistics of the held-out
    tail out of the model (a trending series has a very different test mean).
    Forecasts come back to the original scale with :meth:`inverse_targets`:
    y = z * std + mean for the target columns. A constant column gets std 1.

    Args:
        mean: (F,) per-column means.
        std: (F,) per-column standard deviations (population, ddof=0).
        num_targets: the first num_targets columns are the targets.
    """

    mean: np.ndarray
    std: np.ndarray
    num_targets: int

    @classmethod
    def fit(cls, values: np.ndarray | torch.Tensor, train_range: tuple[int, int], num_targets: int) -> SeriesScaling:
        """Statistics of ``values[start:end]`` (N, F) for the train range (start, end)."""
        start, end = train_range
        train = values[start:end]
        train = np.asarray(train.detach().cpu() if isinstance(train, torch.Tensor) else train, dtype=np.float64)  # (n, F)
        if train.ndim != 2 or len(train) == 0:
            raise DataError(f"SeriesScaling.fit needs (N, F) values and a non-empty train range; received values of "
                            f"shape {tuple(values.shape)} and train_range={train_range!r}.")
        return cls(train.mean(axis=0), safe_scale(train.std(axis=0)), int(num_targets))

    def _apply(self, values: Any, mean: np.ndarray, std: np.ndarray, inverse: bool) -> Any:
        if isinstance(values, torch.Tensor):
            dtype = values.dtype if values.is_floating_point() else torch.float32
            mean_t = torch.as_tensor(mean, dtype=dtype, device=values.device)
            std_t = torch.as_tensor(std, dtype=dtype, device=values.device)
            return values * std_t + mean_t if inverse else (values - mean_t) / std_t
        array = np.asarray(values)
        dtype = array.dtype if np.issubdtype(array.dtype, np.floating) else np.float32
        result = array * std + mean if inverse else (array - mean) / std
        return result.astype(dtype)

    def transform(self, values: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """(..., F) values -> standardised, same type (NumPy or torch) and float dtype."""
        if values.shape[-1] != len(self.mean):
            raise DataError(f"SeriesScaling was fitted on {len(self.mean)} columns; received values with "
                            f"{values.shape[-1]} in the last dimension.")
        return self._apply(values, self.mean, self.std, inverse=False)

    def inverse_targets(self, scaled: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Standardised targets -> original scale; the last dimension is k * num_targets, time-major.

        Accepts (..., T) target rows and the flattened (M, H * T) outputs of a
        forecaster (step h, target j at position h * T + j).
        """
        width = scaled.shape[-1]
        if width % self.num_targets:
            raise DataError(f"inverse_targets expects a last dimension that is a multiple of num_targets="
                            f"{self.num_targets}; received shape {tuple(scaled.shape)}.")
        repeats = width // self.num_targets
        mean = np.tile(self.mean[: self.num_targets], repeats)
        std = np.tile(self.std[: self.num_targets], repeats)
        return self._apply(scaled, mean, std, inverse=True)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able lists, for a run directory."""
        return {"mean": [float(m) for m in self.mean], "std": [float(s) for s in self.std],
                "num_targets": self.num_targets}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SeriesScaling:
        """The inverse of :meth:`to_dict`."""
        mean, std = np.asarray(data["mean"], dtype=np.float64), np.asarray(data["std"], dtype=np.float64)
        num_targets = int(data["num_targets"])
        if mean.shape != std.shape or mean.ndim != 1 or not 1 <= num_targets <= len(mean):
            raise DataError(f"Saved series scaling is inconsistent: {len(mean)} means, {len(std)} stds, "
                            f"num_targets={num_targets}; expected equal lengths >= num_targets >= 1.")
        return cls(mean, std, num_targets)


def _positive(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise DataError(f"{name} must be a positive integer; received {value!r}.")
    return int(value)


def make_windows(values: torch.Tensor | np.ndarray, *, lookback: int, horizon: int, num_targets: int,
                 target_range: tuple[int, int], stride: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sliding windows: the past ``lookback`` steps of every column as inputs, the next ``horizon`` target steps as targets.

    For a forecast origin t: inputs = values[t - lookback : t] (all F
    columns), targets = values[t : t + horizon, :num_targets] flattened
    time-major (step h, target j at h * num_targets + j). A window is kept
    when t - lookback >= 0 and all its target steps lie in [start, end) of
    ``target_range``; origins run from the first such t in steps of
    ``stride``. Inputs are a strided view of ``values`` (no copy; index them
    to make batches); targets are a new tensor.

    Args:
        values: (N, F) series, target columns first.
        lookback: L, input steps per window.
        horizon: H, target steps per window.
        num_targets: T, how many leading columns are targets.
        target_range: (start, end), e.g. ``tail_split(...)["test"]``.
        stride: steps between consecutive origins.

    Returns:
        inputs (M, L, F), targets (M, H * T), origins (M,) int64 (the t of each window).
    """
    values = torch.as_tensor(values)
    if values.ndim != 2:
        raise DataError(f"make_windows expects values of shape (N, F); received shape {tuple(values.shape)}.")
    num_steps, num_features = values.shape
    lookback, horizon, stride = _positive(lookback, "lookback"), _positive(horizon, "horizon"), _positive(stride, "stride")
    num_targets = _positive(num_targets, "num_targets")
    if num_targets > num_features:
        raise DataError(f"num_targets={num_targets} exceeds the {num_features} columns of values.")
    start, end = (int(v) for v in target_range)
    if not 0 <= start <= end <= num_steps:
        raise DataError(f"target_range must satisfy 0 <= start <= end <= {num_steps}; received {target_range!r}.")
    first, last = max(start, lookback), end - horizon  # inclusive bounds of the origin t
    if first > last:
        raise DataError(
            f"No window fits in target_range {target_range!r} ({end - start} steps): each window needs "
            f"lookback={lookback} earlier steps and horizon={horizon} target steps inside the range, so the range "
            f"must hold at least {horizon} steps starting at step {lookback} or later. Lower lookback or horizon, "
            "or enlarge the split (test_size / val_size)."
        )
    origins = torch.arange(first, last + 1, stride, dtype=torch.int64)  # (M,)
    starts = slice(first - lookback, last - lookback + 1, stride)
    inputs = values.unfold(0, lookback, 1)[starts].transpose(1, 2)  # (N-L+1, F, L) -> (M, L, F)
    targets = values[:, :num_targets].unfold(0, horizon, 1)[first : last + 1 : stride]  # (M, T, H)
    targets = targets.transpose(1, 2).reshape(len(origins), horizon * num_targets)  # (M, H, T) -> (M, H*T)
    return inputs, targets, origins


__all__ = ["MISSING_METHODS", "TIME_PARTS", "SeriesData", "SeriesScaling", "infer_season", "make_windows",
           "series_from_frame", "tail_split"]
