"""Choosing which rows go where: random, stratified, grouped and time-ordered carves.

These functions work on plain arrays (class indices, group values, time keys)
and return row positions, so ``shendu.data.splits`` (whole train / val / test
splits) and ``shendu.data.folds`` (k-fold cross-validation) share them.

- random: a seeded uniform choice of rows;
- stratified: each class keeps its share (scikit-learn's ``train_test_split``
  with ``stratify``), falling back to random, said so, when a class is too small;
- group: whole groups are chosen (rows sharing a group value never straddle two
  splits), in a seeded order, until the chosen sample count is closest to the
  requested one;
- time: the latest rows by time are chosen; nothing is shuffled.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from shendu.errors import DataError

SEED_MODULUS = 2**32  # scikit-learn and numpy take seeds in [0, 2**32)


def choose_rows(
    targets: np.ndarray, count: int, seed: int, stratify: bool
) -> tuple[np.ndarray, np.ndarray, str]:
    """Pick ``count`` rows at random (stratified by class when asked).

    Returns (rest, chosen, how), both index arrays sorted, and a few words on how
    they were chosen (stratification falls back to a plain random choice when a
    class is too small to be split, and says so).
    """
    rows = np.arange(len(targets))
    random_state = seed % SEED_MODULUS
    how = "random"
    if stratify:
        try:
            rest, chosen = train_test_split(rows, test_size=count, stratify=targets, random_state=random_state)
            return np.sort(rest), np.sort(chosen), "stratified"
        except ValueError as error:
            how = f"random (stratification impossible: {error})"
    rest, chosen = train_test_split(rows, test_size=count, random_state=random_state)
    return np.sort(rest), np.sort(chosen), how


def group_codes(groups: np.ndarray) -> tuple[np.ndarray, int]:
    """Group values (any type; a missing value is a group of its own) -> codes 0..G-1 and G."""
    codes, uniques = pd.factorize(pd.Series(groups, dtype=object), use_na_sentinel=False)
    return np.asarray(codes, dtype=np.int64), len(uniques)


def choose_groups(groups: np.ndarray, count: int, seed: int, label: str, what: str) -> tuple[np.ndarray, np.ndarray, str]:
    """Pick whole groups, in a seeded random order, until about ``count`` rows are chosen.

    The number of groups taken (at least one, leaving at least one) is the one
    whose total sample count is closest to ``count``. Returns (rest, chosen, how),
    both sorted.
    """
    codes, num_groups = group_codes(groups)
    if num_groups < 2:
        raise DataError(
            f"Cannot carve a {what} split by group: {label} holds {num_groups} distinct group(s) here; expected at "
            f"least 2 (one for {what}, one left for training). Use data with more groups, or data.split=random."
        )
    order = np.random.default_rng(seed % SEED_MODULUS).permutation(num_groups)
    cumulative = np.cumsum(np.bincount(codes, minlength=num_groups)[order])[:-1]  # leave >= 1 group
    taken = int(np.argmin(np.abs(cumulative - count))) + 1
    mask = np.isin(codes, order[:taken])
    how = f"by group ({label}: {taken} of {num_groups} groups)"
    return np.flatnonzero(~mask), np.flatnonzero(mask), how


def time_order(times: np.ndarray | None, length: int) -> np.ndarray:
    """Row positions from earliest to latest (stable: ties keep their row order); None = row order."""
    if times is None:
        return np.arange(length)
    return np.argsort(times, kind="stable")


def carve_rows(
    count: int, *, method: str, seed: int, targets: np.ndarray, groups: np.ndarray | None = None,
    times: np.ndarray | None = None, label: str = "the groups", what: str = "test",
) -> tuple[np.ndarray, np.ndarray, str]:
    """Rows (rest, chosen) with about ``count`` chosen, by ``method``; and how they were chosen.

    random / stratified / group: both sorted by position. time: both in time
    order, the chosen rows being the latest ``count``.
    """
    if method == "time":
        order = time_order(times, len(targets))
        return order[:-count], order[-count:], "the latest samples in time"
    if method == "group":
        return choose_groups(groups, count, seed, label, what)
    return choose_rows(targets, count, seed, stratify=method == "stratified")


def carve_count(fraction: float, available: int, what: str) -> int:
    """How many samples a ``fraction`` carve takes; an error when that leaves nothing to train on."""
    count = math.ceil(fraction * available - 1e-9)  # 0.15 / 0.85 * 170 is 30.000000000000004
    if available < 2 or count >= available:
        raise DataError(
            f"Cannot carve a {what} split of {fraction:g} from {available} training samples; expected at least 2 "
            f"samples with some left for training. Add data or lower data.{what}_fraction."
        )
    return count


# -- time keys --------------------------------------------------------------------
def time_keys(series: pd.Series, column: str, where: str) -> np.ndarray:
    """A time column -> sortable keys: float64 for numbers, datetime64[ns] for dates and times.

    Numbers stay numbers (years, epoch seconds, step counters); anything else is
    parsed as ISO 8601 dates, then, failing that, element by element. A missing
    or unparseable value is an error naming its row.
    """
    numbers = pd.to_numeric(series, errors="coerce")
    if numbers.notna().all():
        return numbers.to_numpy(dtype=np.float64)
    parsed = pd.to_datetime(series, errors="coerce", format="ISO8601")
    if parsed.isna().any() and series.notna().all():
        with warnings.catch_warnings():  # pandas warns when it falls back to per-element parsing
            warnings.simplefilter("ignore", UserWarning)
            parsed = pd.to_datetime(series, errors="coerce", format="mixed")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        row = int(bad[0])
        raise DataError(
            f"Time column {column!r} in {where}: row {row} (0-based data row) holds {series.iloc[row]!r}, which is "
            f"neither a number nor a date; {len(bad)} such row(s). Expected dates (e.g. 1981-01-31) or numbers in every "
            "row. Fix or remove those rows, or leave data.time_column unset to keep the file's row order."
        )
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return parsed.to_numpy(dtype="datetime64[ns]")


def format_time(value: Any) -> str:
    """A time key for people: ``1988-12-31``, ``1988-12-31T06:00:00`` or ``1749``."""
    if isinstance(value, np.datetime64):
        text = np.datetime_as_string(value, unit="s")
        return text[:-9] if text.endswith("T00:00:00") else text
    return f"{float(value):g}"


def time_range(times: np.ndarray | None, indices: np.ndarray) -> str:
    """``1949-01-01 .. 1958-12-01`` (by time key), or ``rows 0..99`` (row order of the source)."""
    if len(indices) == 0:
        return "empty"
    if times is None:
        return f"rows {int(indices.min())}..{int(indices.max())}"
    return f"{format_time(times.min())} .. {format_time(times.max())}"


__all__ = [
    "choose_rows", "choose_groups", "group_codes", "carve_rows", "carve_count", "time_order",
    "time_keys", "format_time", "time_range",
]
