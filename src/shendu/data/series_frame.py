"""Reading a table into a :class:`SeriesData`: time order, target choice, gap filling and one-hot categories.

``series_from_frame`` takes a DataFrame with one row per time step (read with the usual readers) and returns
the numbers a forecaster windows: rows sorted by the time column (a date column, a numeric column, or
year/month/day/... columns assembled into timestamps; detected when not given), the target columns first,
missing values filled per ``MISSING_METHODS``, non-numeric features one-hot encoded, and the step frequency
inferred. Splitting, scaling and windowing of the result are in ``shendu.data.series``, which re-exports
``SeriesData``, ``series_from_frame`` and ``MISSING_METHODS``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

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
