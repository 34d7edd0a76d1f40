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
Reference forecasts on the same windows (naive, seasonal naive, the MASE scale, recursive roll-out) are in
``shendu.data.series_baselines``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from pandas.tseries.frequencies import to_offset

from shendu.data.scaling import safe_scale
from shendu.errors import DataError

MISSING_METHODS = ("interpolate", "ffill", "raise")
TIME_PARTS = ("year", "month", "day", "hour", "minute", "second")  # what pd.to_datetime assembles from columns


@dataclass
class SeriesData:
    """A series ready for windowing: numbers in time order, the target columns first.

    Args:
        values: float32 (N, F): N time steps of F columns; ``values[:, :num_targets]`` are the targets.
        columns: the F column names; a one-hot column is named ``"column=category"``.
        target_columns: the columns to forecast, in order.
        times: each step's time: a DatetimeIndex (a date column), an Index of numbers (a numeric
            time column) or a RangeIndex (no time column: the frame's row order).
        frequency: pandas offset alias of the step ("MS" monthly, "D" daily, "h" hourly, ...), or None.
        filled: per source column, how many missing values were filled.
        categories: per one-hot-encoded source column, its categories in column order.
        irregular_steps: how many consecutive timestamps are not one usual step apart (gaps); 0 if regular.
    """

    values: np.ndarray
    columns: list[str]
    target_columns: list[str]
    times: pd.Index
    frequency: str | None = None
    filled: dict[str, int] = field(default_factory=dict)
    categories: dict[str, list[str]] = field(default_factory=dict)
    irregular_steps: int = 0

    @property
    def num_steps(self) -> int:
        return int(self.values.shape[0])

    @property
    def num_features(self) -> int:
        return int(self.values.shape[1])

    @property
    def num_targets(self) -> int:
        return len(self.target_columns)


def _listing(names: Any) -> str:
    return ", ".join(repr(str(n)) for n in names)


def _check_columns(frame: pd.DataFrame, names: list[str], key: str) -> None:
    unknown = [n for n in names if n not in frame.columns]
    if unknown:
        raise DataError(
            f"{key} names {_listing(unknown)}, which {'is' if len(unknown) == 1 else 'are'} not a column; "
            f"expected columns of the table: {_listing(frame.columns)}. Fix the spelling in {key}."
        )
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DataError(f"{key} lists {_listing(repeated)} more than once; expected each column once.")


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype)


def _to_numbers(series: pd.Series) -> np.ndarray:
    """Numbers (booleans as 0/1) as float64, missing ones NaN."""
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def _time_parts(time_column: str | list[str] | None) -> list[str]:
    if time_column is None:
        return []
    return [str(time_column)] if isinstance(time_column, str) else [str(c) for c in time_column]


def _parse_time_values(frame: pd.DataFrame, parts: list[str]) -> pd.Index:
    """Timestamps (a date column, or year/month/day/... columns), or numbers (one numeric column)."""
    if len(parts) > 1:
        unknown = [p for p in parts if p.lower() not in TIME_PARTS]
        if unknown:
            raise DataError(f"time_column lists several columns, so they must be named {', '.join(TIME_PARTS[:3])} "
                            f"(and optionally hour, minute, second); received {_listing(unknown)}.")
        pieces = frame[parts].rename(columns=str.lower)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pd.DatetimeIndex(pd.to_datetime(pieces, errors="coerce"))
    series = frame[parts[0]]
    if _is_numeric(series) and not pd.api.types.is_bool_dtype(series.dtype):
        return pd.Index(_to_numbers(series) if series.isna().any() else series.to_numpy())
    with warnings.catch_warnings():  # mixed or unusual formats warn before pandas falls back
        warnings.simplefilter("ignore")
        return pd.DatetimeIndex(pd.to_datetime(series.astype(object), errors="coerce"))


def _frequency(times: pd.DatetimeIndex) -> tuple[str | None, int]:
    """(pd.infer_freq alias, 0) when the steps are regular, else (the most common step as an alias, gaps)."""
    if len(times) < 3:
        return None, 0
    with warnings.catch_warnings():  # pandas 3 warns that infer_freq will return an offset
        warnings.simplefilter("ignore")
        inferred = pd.infer_freq(times)
    if inferred is not None:
        return to_offset(inferred).freqstr, 0
    steps = pd.Series(times[1:] - times[:-1])
    usual = steps.mode().iloc[0]
    day = pd.Timedelta(days=1)
    # Whole days as "D" ("7D"), not "24h": pandas 3 no longer treats a day as 24 fixed hours.
    alias = f"{usual // day}D" if usual % day == pd.Timedelta(0) else to_offset(usual).freqstr
    return to_offset(alias).freqstr, int((steps != usual).sum())


def _parse_times(frame: pd.DataFrame, parts: list[str]) -> tuple[pd.Index, np.ndarray, str | None, int]:
    """(times in order, the row order that sorts them, frequency, irregular steps); RangeIndex without parts."""
    if not parts:
        return pd.RangeIndex(len(frame)), np.arange(len(frame)), None, 0
    times = _parse_time_values(frame, parts)
    unreadable = np.flatnonzero(pd.isna(times))
    if len(unreadable):
        row = int(unreadable[0])
        shown = frame[parts].iloc[row].tolist()
        raise DataError(
            f"time_column {_listing(parts)} has {len(unreadable)} value(s) that are missing or not dates, the first "
            f"{shown!r} at frame row {frame.index[row]!r}; expected a time for every row. Fix or drop those rows."
        )
    order = np.argsort(times.to_numpy(), kind="stable")
    times = times[order]
    repeated = np.flatnonzero(times.duplicated())
    if len(repeated):
        first = times[int(repeated[0])]
        rows = [frame.index[r] for r in order[times == first]]
        raise DataError(f"time_column {_listing(parts)} has the time {first} more than once (frame rows "
                        f"{', '.join(map(str, rows))}); expected one row per time step. Aggregate or drop duplicates.")
    frequency, irregular = _frequency(times) if isinstance(times, pd.DatetimeIndex) else (None, 0)
    return times, order, frequency, irregular


def _choose_targets(frame: pd.DataFrame, target_columns: list[str] | None, excluded: list[str]) -> list[str]:
    """The given targets (checked to be numeric), or the only numeric column, or an error naming the choices."""
    if target_columns is None:
        numeric = [c for c in frame.columns if c not in excluded and _is_numeric(frame[c])]
        if len(numeric) == 1:
            return numeric
        raise DataError(
            f"Cannot tell which column to forecast: the table has {len(numeric)} numeric columns "
            f"({_listing(numeric) or 'none'}); expected exactly one, or target_columns naming them. "
            "Set data.series.target_columns, e.g. target_columns=['" + (numeric[-1] if numeric else "value") + "']."
        )
    targets = [str(c) for c in target_columns]
    if not targets:
        raise DataError("target_columns is empty; expected at least one numeric column to forecast.")
    _check_columns(frame, targets, "target_columns")
    text = [c for c in targets if not _is_numeric(frame[c])]
    if text:
        raise DataError(
            f"target column(s) {_listing(text)} hold text or categories; expected numbers to forecast. "
            "Choose numeric target_columns (categorical columns can be features)."
        )
    return targets


def _detect_time_column(frame: pd.DataFrame, excluded: list[str]) -> list[str]:
    """The first non-numeric column whose values are, or all parse as, dates; [] when none does."""
    for column in frame.columns:
        series = frame[column]
        if column in excluded or _is_numeric(series):
            continue
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            return [column]
        present = series.dropna().astype(str)
        if present.empty:
            continue
        with warnings.catch_warnings():  # "could not infer format" is expected for non-date text
            warnings.simplefilter("ignore")
            if pd.isna(pd.to_datetime(present.iloc[:1], errors="coerce")).any():
                continue  # the first value is no date: skip the full parse
            if not pd.isna(pd.to_datetime(present, errors="coerce")).any():
                return [column]
    return []


def _count_missing(column: str, absent: np.ndarray, missing: str, times: pd.Index) -> int:
    """How many values of a column are missing; an error for an empty column, or for any gap with missing='raise'."""
    count = int(absent.sum())
    if count == len(absent):
        raise DataError(f"Column {column!r} has no value at all; expected data. Drop it from the columns used.")
    if count and missing == "raise":
        raise DataError(
            f"Column {column!r} has {count} missing value(s), the first at {times[int(np.flatnonzero(absent)[0])]}; "
            "expected none with missing='raise'. Use missing='interpolate' (linear between neighbours) or 'ffill'."
        )
    return count


def _fill_numbers(block: pd.DataFrame, missing: str, times: pd.Index) -> tuple[np.ndarray, dict[str, int]]:
    """Fill NaN per column: linear in position ("interpolate") or last value ("ffill"); ends from the nearest value."""
    counts = {c: _count_missing(c, block[c].isna().to_numpy(), missing, times) for c in block.columns}
    if missing == "interpolate":  # steps are taken as equally spaced: interpolation by position
        block = block.interpolate(method="linear", limit_area="inside")
    # Leading gaps take the first observed value (back-fill), trailing ones the last (forward-fill).
    block = block.ffill().bfill()
    return block.to_numpy(dtype=np.float64), counts


def _one_hot(frame: pd.DataFrame, columns: list[str], missing: str, times: pd.Index) -> tuple[np.ndarray, list[str], dict, dict]:
    """One 0/1 column per category of each non-numeric column; missing categories carry the last one forward."""
    blocks, names, categories, counts = [], [], {}, {}
    for column in columns:
        series = frame[column]
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            raise DataError(f"Feature column {column!r} holds dates; expected numbers or categories. "
                            "Pass it as time_column, or drop it from feature_columns.")
        text = series.astype(object).where(series.notna(), None)
        counts[column] = _count_missing(column, text.isna().to_numpy(), missing, times)
        text = text.ffill().bfill().astype(str)  # a category cannot be interpolated: keep the last state
        found = sorted(text.unique())
        codes = pd.Categorical(text, categories=found).codes  # (N,)
        blocks.append((codes[:, None] == np.arange(len(found))[None, :]).astype(np.float64))  # (N, K)
        names += [f"{column}={category}" for category in found]
        categories[column] = found
    width = sum(b.shape[1] for b in blocks)
    values = np.concatenate(blocks, axis=1) if blocks else np.zeros((len(frame), width))
    return values, names, categories, counts


def series_from_frame(
    frame: pd.DataFrame,
    *,
    time_column: str | list[str] | None = None,
    target_columns: list[str] | None = None,
    feature_columns: list[str] | None = None,
    missing: str = "interpolate",
) -> SeriesData:
    """Turn a table into a :class:`SeriesData`: rows in time order, targets first, gaps filled, categories one-hot.

    Use it on any table with one row per time step (airline passengers, hourly
    pollution readings). Rows are sorted by time (stable) when there is a time
    column; two rows with the same timestamp are an error naming it. Numeric
    features are used as they are; non-numeric ones are one-hot encoded with
    the categories of the WHOLE table (which categories exist is not a target
    value, so this leaks nothing a forecaster could exploit; a category seen
    only in the test range simply stays 0 during training). Missing numbers
    are filled per column by linear interpolation between their neighbours
    (``missing="interpolate"``), or with the last value (``"ffill"``); gaps at
    the start take the first observed value (back-fill) and gaps at the end the
    last one. Missing categories carry the last category forward. The counts
    are kept in ``SeriesData.filled``.

    The frequency is ``pd.infer_freq`` of the timestamps; when that fails
    (a few missing days, as in daily-min-temperatures) it is the most common
    step, and ``irregular_steps`` counts the steps that differ from it.

    Args:
        frame: the table, one row per time step.
        time_column: a column of dates or numbers giving each row's time; or a list of columns named
            year, month, day (and optionally hour, minute, second), assembled into timestamps, e.g.
            ``["year", "month", "day", "hour"]`` for the Beijing pollution table. None: the first
            non-numeric column whose values all parse as dates, if any; else rows stay in frame order.
        target_columns: numeric columns to forecast. None: the only numeric column (an error naming the
            numeric columns when there are several).
        feature_columns: further input columns (covariates), numeric or categorical. None: none, so the
            series is only its targets (what recursive forecasting needs).
        missing: "interpolate", "ffill" or "raise".
    """
    if missing not in MISSING_METHODS:
        raise DataError(f"missing must be one of {', '.join(MISSING_METHODS)}; received {missing!r}. "
                        "Use missing='interpolate' (the default).")
    frame = frame.rename(columns=str)
    parts = _time_parts(time_column)
    _check_columns(frame, parts, "time_column")
    targets = _choose_targets(frame, target_columns, excluded=parts)
    features = [str(c) for c in feature_columns or []]
    _check_columns(frame, targets + features, "target_columns + feature_columns")
    overlap = [c for c in targets + features if c in parts]
    if overlap:
        raise DataError(f"{_listing(overlap)} is the time column and cannot also be a target or feature.")
    if time_column is None:
        parts = _detect_time_column(frame, excluded=targets + features)
    times, order, frequency, irregular = _parse_times(frame, parts)
    frame = frame.iloc[order].reset_index(drop=True)
    numeric = targets + [c for c in features if _is_numeric(frame[c])]
    categorical = [c for c in features if not _is_numeric(frame[c])]
    numbers = pd.DataFrame({c: _to_numbers(frame[c]) for c in numeric})
    numeric_values, filled = _fill_numbers(numbers, missing, times)
    onehot_values, onehot_names, categories, category_filled = _one_hot(frame, categorical, missing, times)
    values = np.concatenate([numeric_values, onehot_values], axis=1).astype(np.float32)  # (N, F)
    return SeriesData(values, numeric + onehot_names, targets, times, frequency,
                      {**filled, **category_filled}, categories, irregular)


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
