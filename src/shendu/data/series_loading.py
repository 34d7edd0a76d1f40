"""A time series from any table source -> lookback windows, time-ordered splits and baselines.

:func:`load_series` reads the table a source gives (``csv``, the catalogue's
time series), orders it in time, holds out the last ``data.series.test_size``
steps (and ``val_size`` before them), fits per-column standardisation on the
training range only, cuts windows (``shendu.data.series.make_windows``) and
computes the naive and seasonal-naive forecasts of every held-out window, so
the task can always report them beside the model. :class:`SeriesPreprocessing`
is what the run stores to forecast from new history at predict time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from shendu.data.catalog import with_hints
from shendu.data.loading import DataBundle
from shendu.data.registry import DATASETS
from shendu.data.series import SeriesScaling, infer_season, make_windows, series_from_frame, tail_split
from shendu.data.series_baselines import naive_forecast, seasonal_naive_forecast
from shendu.data.sources import resolve_source
from shendu.data.splits import Split
from shendu.errors import ConfigError, DataError, Problem
from shendu.metrics.forecasting import seasonal_naive_scale


@dataclass
class SeriesPreprocessing:
    """A forecasting run's data settings: columns, window sizes and the training-range scaling.

    Args:
        columns: the F input columns, target columns first (one-hot columns as ``"column=category"``).
        target_columns: the forecast columns.
        source_columns: the table columns read (targets, then covariates), for reading new history.
        time_column: the time column(s) of the table, or None (row order).
        categories: per one-hot source column, its categories.
        lookback, horizon, strategy, season: ``data.series`` as used.
        scaling: per-column standardisation fitted on the training range (None: ``data.scaling=none``).
        frequency: the pandas offset alias of one step, when known.
    """

    columns: list[str]
    target_columns: list[str]
    source_columns: list[str]
    time_column: Any
    categories: dict[str, list[str]]
    lookback: int
    horizon: int
    strategy: str
    season: int | None
    scaling: SeriesScaling | None
    frequency: str | None = None

    input_kind = "sequence"
    target_kind = "forecasting"
    class_names = None
    normalization = None  # what photometric augmentations read; a series has none

    @property
    def input_shape(self) -> tuple[int, int]:
        return (self.lookback, len(self.columns))

    @property
    def model_horizon(self) -> int:
        """Steps the model outputs: the horizon (direct) or 1 (recursive, rolled forward)."""
        return self.horizon if self.strategy == "direct" else 1

    @property
    def target_names(self) -> list[str]:
        """Names of the model's outputs, time-major: ``Passengers@t+1``, ``Passengers@t+2``, ..."""
        return [f"{c}@t+{h + 1}" for h in range(self.model_horizon) for c in self.target_columns]

    @property
    def feature_names(self) -> list[str]:
        return list(self.columns)

    def summary(self) -> dict[str, Any]:
        return {"lookback": self.lookback, "horizon": self.horizon, "strategy": self.strategy, "season": self.season,
                "scaling": "standard (training range)" if self.scaling is not None else "none",
                "columns": self.columns, "frequency": self.frequency}

    def scale(self, values: np.ndarray | torch.Tensor) -> Any:
        return values if self.scaling is None else self.scaling.transform(values)

    def decode_targets(self, scaled: torch.Tensor) -> torch.Tensor:
        """Model outputs (B, H * T), time-major, back to the original scale of the target columns."""
        if self.scaling is None:
            return scaled
        steps = scaled.reshape(scaled.shape[0], -1, len(self.target_columns))  # (B, H, T)
        return torch.as_tensor(self.scaling.inverse_targets(steps)).reshape(scaled.shape)

    def read_history(self, frame: pd.DataFrame) -> Any:
        """A table of recent history (same columns as training) -> its :class:`SeriesData` in the run's columns."""
        missing = [c for c in self.source_columns if c not in frame.columns]
        if missing:
            raise DataError(f"The history table lacks column(s) {', '.join(missing)}; the run reads "
                            f"{', '.join(self.source_columns)}. Give a table with those columns.")
        data = series_from_frame(frame, time_column=self.time_column, target_columns=self.target_columns,
                                 feature_columns=[c for c in self.source_columns if c not in self.target_columns] or None)
        if data.columns != self.columns:
            extra = [c for c in self.columns if c not in data.columns]
            for column in extra:  # a category absent from the new history is an all-zero one-hot column
                if "=" not in column:
                    raise DataError(f"The history table has no column {column!r}; the run reads {self.columns}.")
            values = np.zeros((data.num_steps, len(self.columns)), dtype=np.float32)
            for index, column in enumerate(self.columns):
                if column in data.columns:
                    values[:, index] = data.values[:, data.columns.index(column)]
            data.values, data.columns = values, list(self.columns)
        return data

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "series", "columns": self.columns, "target_columns": self.target_columns,
                "source_columns": self.source_columns, "time_column": self.time_column, "categories": self.categories,
                "lookback": self.lookback, "horizon": self.horizon, "strategy": self.strategy, "season": self.season,
                "scaling": self.scaling.to_dict() if self.scaling is not None else None, "frequency": self.frequency}

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> SeriesPreprocessing:
        scaling = record.get("scaling")
        return cls(record["columns"], record["target_columns"], record["source_columns"], record.get("time_column"),
                   record.get("categories", {}), record["lookback"], record["horizon"], record["strategy"],
                   record.get("season"), SeriesScaling.from_dict(scaling) if scaling is not None else None,
                   record.get("frequency"))


def _table(config: Any) -> tuple[str, Any, pd.DataFrame, dict[str, Any]]:
    """The source's rows as one DataFrame (its split files concatenated in order) with target columns restored."""
    name = resolve_source(config)
    config = with_hints(config, name)
    entry = DATASETS.entry(name)
    if entry.tags.get("input_kind") not in (None, "tabular") or "regression" not in entry.tags.get("target_kinds", ("regression",)):
        raise DataError(f"Dataset {name!r} is not a table of numbers; forecasting reads a CSV with one row per time "
                        "step (e.g. data.source=airline-passengers, or data.path=series.csv data.target=COLUMN).")
    raw = entry.constructor(config, target_kind="regression")
    frames = []
    for split in ("train", "val", "test"):
        part = raw.splits.get(split)
        if part is None:
            continue
        frame = part.inputs.reset_index(drop=True).copy()
        targets = np.asarray(part.targets, dtype=np.float64).reshape(len(frame), -1)
        for index, column in enumerate(raw.target_names or []):
            frame[column] = targets[:, index]
        frames.append(frame)
    return name, config, pd.concat(frames, ignore_index=True), raw.description


def _size(value: Any, fallback: float) -> float | int:
    return fallback if value is None else value


def load_series(config: Any, *, seed: int, preprocessing: SeriesPreprocessing | None = None) -> Any:
    """Read, order, split, scale and window a series for ``time-series-forecasting``; return a DataBundle.

    ``bundle.extras`` holds, per held-out split: ``actual`` (M, H * T) targets
    on the original scale, ``origins`` (M,), ``baselines`` {"naive", "seasonal-naive"}
    forecasts (M, H * T), plus ``times`` (every step's time), ``season`` and
    ``mase_scale`` (the in-sample seasonal-naive MAE of the training range).
    """
    series_config = config.series
    name, config, frame, raw_description = _table(config)
    targets = [config.target] if isinstance(config.target, str) else config.target
    time_column = config.time_column
    features = [c for c in (config.features or []) if c not in (targets or []) and c != time_column] or None
    if preprocessing is not None:
        data = preprocessing.read_history(frame)
    else:
        data = series_from_frame(frame, time_column=time_column, target_columns=targets, feature_columns=features,
                                 missing=series_config.missing)
    season = preprocessing.season if preprocessing is not None else (series_config.season or infer_season(data.frequency))
    ranges = tail_split(data.num_steps, test_size=_size(series_config.test_size, config.test_fraction),
                        val_size=_size(series_config.val_size, config.val_fraction),
                        min_train_steps=series_config.lookback + series_config.horizon)
    if preprocessing is None:
        if series_config.strategy == "recursive" and data.num_features != data.num_targets:
            raise ConfigError([Problem("data.series.strategy", "recursive", "direct forecasting with covariates",
                                       f"Covariates {data.columns[data.num_targets:]} have no known future to feed "
                                       "back; set data.series.strategy=direct, or drop data.features.")])
        scaling = SeriesScaling.fit(data.values, ranges["train"], data.num_targets) if config.scaling != "none" else None
        preprocessing = SeriesPreprocessing(
            data.columns, data.target_columns, [*data.target_columns, *(features or [])], time_column, data.categories,
            series_config.lookback, series_config.horizon, series_config.strategy, season, scaling, data.frequency)
    scaled = torch.as_tensor(np.asarray(preprocessing.scale(data.values), dtype=np.float32))
    original = torch.as_tensor(data.values, dtype=torch.float32)
    lookback, num_targets = preprocessing.lookback, data.num_targets
    splits, extras = {}, {"times": [str(t) for t in data.times], "season": season, "held_out": {}}
    for split, target_range in ranges.items():
        if target_range[1] <= target_range[0]:
            continue
        horizon = preprocessing.model_horizon if split == "train" else preprocessing.horizon
        inputs, window_targets, origins = make_windows(scaled, lookback=lookback, horizon=horizon, num_targets=num_targets,
                                                       target_range=target_range,
                                                       stride=series_config.stride if split == "train" else 1)
        splits[split] = Split(inputs.contiguous(), window_targets, origins)
        if split != "train":
            extras["held_out"][split] = _held_out(original, origins, preprocessing.horizon, num_targets, season)
    train_targets = original[ranges["train"][0]:ranges["train"][1], :num_targets]
    extras["mase_scale"] = _mase_scale(train_targets, season)
    description = {**raw_description, "source": name, "target_kind": "forecasting", "seed": seed,
                   "steps": data.num_steps, "ranges": {k: list(v) for k, v in ranges.items()},
                   "samples": {k: len(v) for k, v in splits.items()}, "filled_missing": data.filled,
                   "splits": {k: f"steps {v[0]}..{v[1] - 1} in time order" for k, v in ranges.items()},
                   "preprocessing_options": preprocessing.summary()}
    if "val" not in splits:
        raise DataError(f"The series has {data.num_steps} steps: too few for a validation range of windows with "
                        f"lookback {lookback}. Lower data.series.lookback or set data.series.val_size.")
    return DataBundle(
        train=splits["train"], val=splits["val"], test=splits.get("test"), input_kind="sequence",
        input_shape=preprocessing.input_shape, class_names=None, target_names=preprocessing.target_names,
        feature_names=preprocessing.columns, preprocessing=preprocessing, description=description, extras=extras)


def _mase_scale(train_targets: torch.Tensor, season: int | None) -> float | None:
    """MASE's denominator: the in-sample seasonal-naive MAE of the training range (the mean over target
    columns when there are several); None when it is undefined (a constant series), and MASE is left out."""
    try:
        return sum(seasonal_naive_scale(train_targets[:, j], season or 1) for j in range(train_targets.shape[1])) / (
            train_targets.shape[1])
    except DataError:
        return None


def _held_out(original: torch.Tensor, origins: torch.Tensor, horizon: int, num_targets: int,
              season: int | None) -> dict[str, Any]:
    """Actual targets and baseline forecasts (original scale) of the windows at ``origins``."""
    positions = origins[:, None] + torch.arange(horizon)[None, :]  # (M, H)
    actual = original[positions][:, :, :num_targets].reshape(len(origins), -1)  # (M, H * T), time-major
    baselines = {"naive": naive_forecast(original, origins, horizon, num_targets)}
    if season is not None and int(origins.min()) >= season:
        baselines["seasonal-naive"] = seasonal_naive_forecast(original, origins, horizon, num_targets, season)
    return {"actual": actual, "origins": origins, "baselines": baselines}


__all__ = ["SeriesPreprocessing", "load_series"]
