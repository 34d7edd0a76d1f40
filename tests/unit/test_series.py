"""shendu.data.series and series_baselines: windows, tail splits, scaling, baselines, and the forecast plot."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from shendu.data.series import (
    SeriesScaling,
    infer_season,
    make_windows,
    series_from_frame,
    tail_split,
)
from shendu.data.series_baselines import (
    naive_forecast,
    recursive_forecast,
    seasonal_naive_forecast,
)
from shendu.errors import DataError
from shendu.report.forecast_plots import plot_forecast

TIMESERIES = Path("/work/shared/data/timeseries")


def _arange(num_steps: int = 10) -> torch.Tensor:
    return torch.arange(num_steps, dtype=torch.float32)[:, None]  # (N, 1): y[t] = t


# -- windows -------------------------------------------------------------------------------
def test_windows_of_an_arange_series():
    inputs, targets, origins = make_windows(_arange(), lookback=3, horizon=2, num_targets=1, target_range=(0, 10))
    assert origins.tolist() == [3, 4, 5, 6, 7, 8]
    assert inputs.shape == (6, 3, 1) and targets.shape == (6, 2)
    assert inputs[0, :, 0].tolist() == [0, 1, 2] and targets[0].tolist() == [3, 4]
    assert inputs[-1, :, 0].tolist() == [5, 6, 7] and targets[-1].tolist() == [8, 9]


def test_windows_keep_targets_inside_the_range_and_read_inputs_before_it():
    inputs, targets, origins = make_windows(_arange(), lookback=3, horizon=2, num_targets=1, target_range=(6, 10))
    assert origins.tolist() == [6, 7, 8]
    assert inputs[0, :, 0].tolist() == [3, 4, 5]  # past observations from before the range
    assert targets.tolist() == [[6, 7], [7, 8], [8, 9]]


def test_windows_with_stride():
    inputs, targets, origins = make_windows(_arange(), lookback=3, horizon=2, num_targets=1,
                                            target_range=(0, 10), stride=2)
    assert origins.tolist() == [3, 5, 7]
    assert inputs[:, :, 0].tolist() == [[0, 1, 2], [2, 3, 4], [4, 5, 6]]
    assert targets.tolist() == [[3, 4], [5, 6], [7, 8]]


def test_multivariate_windows_target_first_time_major():
    values = torch.stack([torch.arange(8.0), 100 + torch.arange(8.0), 200 + torch.arange(8.0)], dim=1)  # (8, 3)
    inputs, targets, origins = make_windows(values, lookback=2, horizon=3, num_targets=1, target_range=(0, 8))
    assert origins.tolist() == [2, 3, 4, 5]
    assert inputs[0].tolist() == [[0, 100, 200], [1, 101, 201]]  # every column is an input
    assert targets[0].tolist() == [2, 3, 4]  # only the target column
    _, targets, _ = make_windows(values, lookback=2, horizon=3, num_targets=2, target_range=(0, 8))
    assert targets[0].tolist() == [2, 102, 3, 103, 4, 104]  # step h, target j at h * T + j


def test_windows_error_when_none_fits():
    with pytest.raises(DataError, match=r"lookback=3.*horizon=3"):
        make_windows(_arange(), lookback=3, horizon=3, num_targets=1, target_range=(8, 10))
    with pytest.raises(DataError, match="lookback must be a positive integer"):
        make_windows(_arange(), lookback=0, horizon=1, num_targets=1, target_range=(0, 10))


# -- splits and seasons --------------------------------------------------------------------
def test_tail_split_counts_and_fractions():
    assert tail_split(144, test_size=24, val_size=12) == {"train": (0, 108), "val": (108, 120), "test": (120, 144)}
    assert tail_split(100, test_size=0.2, val_size=0.1) == {"train": (0, 70), "val": (70, 80), "test": (80, 100)}
    assert tail_split(144, test_size=0.15)["test"] == (122, 144)  # 21.6 rounds to 22
    assert tail_split(10, test_size=3)["val"] == (7, 7)  # no validation range


@pytest.mark.parametrize("sizes", [{"test_size": 1.5}, {"test_size": -1}, {"test_size": True}, {"test_size": "24"}])
def test_tail_split_rejects_bad_sizes(sizes):
    with pytest.raises(DataError, match="test_size must be"):
        tail_split(100, **sizes)


def test_tail_split_error_when_too_little_is_left_for_training():
    with pytest.raises(DataError, match="leave 4 of the 20 steps for training; expected at least 10"):
        tail_split(20, test_size=10, val_size=6, min_train_steps=10)


@pytest.mark.parametrize("frequency, season", [
    ("MS", 12), ("ME", 12), ("QS-OCT", 4), ("W-SUN", 52), ("D", 7), ("B", 5), ("h", 24), ("30min", 48),
    ("3MS", 4), ("2h", 12), ("YS-JAN", None), ("5MS", None), (None, None),
])
def test_infer_season(frequency, season):
    assert infer_season(frequency) == season


# -- scaling -------------------------------------------------------------------------------
def test_scaling_fits_train_only_and_round_trips():
    values = np.array([[1, 10, 5], [3, 20, 5], [5, 30, 5], [100, 1000, 9]], dtype=np.float32)  # (4, 3)
    scaling = SeriesScaling.fit(values, (0, 3), num_targets=2)
    np.testing.assert_allclose(scaling.mean, [3, 20, 5])
    np.testing.assert_allclose(scaling.std, [np.std([1, 3, 5]), np.std([10, 20, 30]), 1.0])  # constant -> 1
    scaled = scaling.transform(values)
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled[:3, 0], (np.array([1, 3, 5]) - 3) / np.std([1, 3, 5]), rtol=1e-6)
    restored = SeriesScaling.from_dict(json.loads(json.dumps(scaling.to_dict())))
    flat = torch.from_numpy(scaled[:2, :2]).reshape(1, 4)  # one window, horizon 2, 2 targets, time-major
    torch.testing.assert_close(restored.inverse_targets(flat), torch.tensor([[1.0, 10, 3, 20]]))
    with pytest.raises(DataError, match="multiple of num_targets=2"):
        restored.inverse_targets(torch.zeros(1, 3))


# -- baselines -----------------------------------------------------------------------------
def test_naive_forecast_repeats_the_last_observation():
    values = torch.stack([torch.arange(10.0), -torch.arange(10.0)], dim=1)  # (10, 2)
    forecast = naive_forecast(values, torch.tensor([5, 7]), horizon=3, num_targets=2)
    assert forecast.tolist() == [[4, -4, 4, -4, 4, -4], [6, -6, 6, -6, 6, -6]]


def test_naive_forecast_is_the_previous_target_on_windows():
    _, targets, origins = make_windows(_arange(), lookback=2, horizon=1, num_targets=1, target_range=(0, 10))
    torch.testing.assert_close(naive_forecast(_arange(), origins, 1, 1), targets - 1)


def _airline_like(num_steps: int = 48) -> torch.Tensor:
    t = torch.arange(num_steps, dtype=torch.float32)
    return (100 + 2 * t + 10 * (t % 12))[:, None]  # trend plus a 12-month pattern


def test_seasonal_naive_horizon_12_season_12():
    values = _airline_like()
    forecast = seasonal_naive_forecast(values, torch.tensor([24, 30]), horizon=12, num_targets=1, season=12)
    assert forecast.shape == (2, 12)
    torch.testing.assert_close(forecast[0], values[12:24, 0])  # the same months one year earlier
    torch.testing.assert_close(forecast[1], values[18:30, 0])
    # y[t + h] - forecast = 2 * 12: the seasonal pattern cancels, only one year of trend is left
    torch.testing.assert_close(values[24:36, 0] - forecast[0], torch.full((12,), 24.0))


def test_seasonal_naive_longer_than_one_season_repeats_the_last_season():
    values = _airline_like()
    forecast = seasonal_naive_forecast(values, torch.tensor([24]), horizon=14, num_targets=1, season=12)
    assert forecast[0, 12:].tolist() == values[12:14, 0].tolist()  # steps 12, 13 reuse months 12, 13


def test_seasonal_naive_error_when_season_exceeds_origin():
    with pytest.raises(DataError, match="season=12 needs 12 observed steps.*earliest origin is 5"):
        seasonal_naive_forecast(_airline_like(), torch.tensor([5, 30]), horizon=3, num_targets=1, season=12)


def test_recursive_forecast_with_a_known_linear_model():
    def halve_last(window):  # y[t] = 0.5 * y[t - 1]
        return 0.5 * window[:, -1, :]

    inputs = torch.tensor([[[3.0], [8.0]], [[1.0], [-4.0]]])  # (2, 2, 1)
    torch.testing.assert_close(recursive_forecast(halve_last, inputs, 3, 1),
                               torch.tensor([[4.0, 2.0, 1.0], [-2.0, -1.0, -0.5]]))

    def extrapolate(window):  # y[t] = 2 y[t-1] - y[t-2]: continues any straight line
        return 2 * window[:, -1] - window[:, -2]

    inputs, _, _ = make_windows(_arange(), lookback=3, horizon=1, num_targets=1, target_range=(0, 4))
    assert recursive_forecast(extrapolate, inputs, 5, 1).tolist() == [[3, 4, 5, 6, 7]]


def test_recursive_forecast_refuses_covariates():
    with pytest.raises(DataError, match="direct forecasting"):
        recursive_forecast(lambda w: w[:, -1, :1], torch.zeros(2, 3, 2), 2, 1)


# -- frames --------------------------------------------------------------------------------
def test_gaps_are_interpolated_or_carried_forward():
    frame = pd.DataFrame({"value": [np.nan, 2.0, np.nan, np.nan, 8.0, np.nan]})
    series = series_from_frame(frame)
    assert series.values[:, 0].tolist() == [2, 2, 4, 6, 8, 8] and series.filled == {"value": 4}
    assert series_from_frame(frame, missing="ffill").values[:, 0].tolist() == [2, 2, 2, 2, 8, 8]
    assert isinstance(series.times, pd.RangeIndex) and series.frequency is None
    with pytest.raises(DataError, match="'value' has 4 missing value"):
        series_from_frame(frame, missing="raise")


def test_categorical_feature_is_one_hot_and_targets_come_first():
    frame = pd.DataFrame({"wind": ["b", "a", None, "b"], "level": [1.0, 2.0, 3.0, 4.0], "load": [5, 6, 7, 8]})
    series = series_from_frame(frame, target_columns=["load"], feature_columns=["wind", "level"])
    assert series.columns == ["load", "level", "wind=a", "wind=b"] and series.num_targets == 1
    assert series.categories == {"wind": ["a", "b"]} and series.filled["wind"] == 1
    expected = [[5, 1, 0, 1], [6, 2, 1, 0], [7, 3, 1, 0], [8, 4, 0, 1]]  # the missing wind keeps "a"
    assert series.values.tolist() == expected and series.values.dtype == np.float32


def test_rows_are_sorted_by_time_and_frequency_inferred():
    frame = pd.DataFrame({"Month": ["2000-03", "2000-01", "2000-02", "2000-04"], "sales": [3, 1, 2, 4]})
    series = series_from_frame(frame)  # the date column is found by itself
    assert series.values[:, 0].tolist() == [1, 2, 3, 4]
    assert series.times[0] == pd.Timestamp("2000-01-01") and series.frequency == "MS"
    numbered = series_from_frame(pd.DataFrame({"year": [2002, 2000, 2001], "sales": [3.0, 1.0, 2.0]}),
                                 time_column="year")
    assert numbered.times.tolist() == [2000, 2001, 2002] and numbered.values[:, 0].tolist() == [1, 2, 3]
    assert numbered.frequency is None and numbered.columns == ["sales"]
    parts = pd.DataFrame({"year": [2010] * 3, "month": [1] * 3, "day": [1] * 3, "hour": [2, 0, 1], "x": [2, 0, 1]})
    hourly = series_from_frame(parts, time_column=["year", "month", "day", "hour"])
    assert hourly.values[:, 0].tolist() == [0, 1, 2] and hourly.frequency == "h"


def test_duplicate_timestamp_is_an_error_naming_it():
    frame = pd.DataFrame({"day": ["2000-01-01", "2000-01-02", "2000-01-02"], "value": [1, 2, 3]})
    with pytest.raises(DataError, match=r"2000-01-02 00:00:00 more than once \(frame rows 1, 2\)"):
        series_from_frame(frame, time_column="day")


def test_several_numeric_columns_need_target_columns():
    frame = pd.DataFrame({"a": [1, 2], "b": [3.0, 4.0]})
    with pytest.raises(DataError, match="2 numeric columns \\('a', 'b'\\)"):
        series_from_frame(frame)
    with pytest.raises(DataError, match="'c'.*not a column"):
        series_from_frame(frame, target_columns=["c"])


needs_data = pytest.mark.skipif(not TIMESERIES.is_dir(), reason="shared time-series CSVs are not present")


@needs_data
def test_real_airline_csv():
    from shendu.data.formats import read_table

    series = series_from_frame(read_table(TIMESERIES / "airline-passengers.csv"), time_column="Month")
    assert series.values.shape == (144, 1) and series.values[0, 0] == 112
    assert series.frequency == "MS" and infer_season(series.frequency) == 12
    assert series.times[-1] == pd.Timestamp("1960-12-01")


@needs_data
def test_real_daily_csv_with_two_missing_days():
    from shendu.data.formats import read_table

    series = series_from_frame(read_table(TIMESERIES / "daily-min-temperatures.csv"))
    assert series.values.shape == (3650, 1) and series.irregular_steps == 2  # no 1984-12-31, 1988-12-31
    assert series.frequency == "D" and infer_season(series.frequency) == 7


@needs_data
def test_real_pollution_csv():
    from shendu.data.formats import read_table

    frame = read_table(TIMESERIES / "pollution.csv")
    series = series_from_frame(frame, time_column=["year", "month", "day", "hour"], target_columns=["pm2.5"],
                               feature_columns=["TEMP", "cbwd"])
    assert series.frequency == "h" and infer_season(series.frequency) == 24
    assert series.columns == ["pm2.5", "TEMP", "cbwd=NE", "cbwd=NW", "cbwd=SE", "cbwd=cv"]
    assert series.filled["pm2.5"] == int(frame["pm2.5"].isna().sum()) > 0
    assert not np.isnan(series.values).any()
    assert series.values[0, 0] == frame["pm2.5"].dropna().iloc[0]  # leading gap back-filled
    assert (series.values[:, 2:].sum(axis=1) == 1).all()


# -- plot ----------------------------------------------------------------------------------
def test_plot_forecast_writes_a_png(tmp_path):
    times = pd.date_range("1960-01-01", periods=12, freq="MS")
    actual = np.arange(12.0)
    path = plot_forecast(times, actual, {"model": actual + 1, "naive": torch.full((12,), 5.0)},
                         tmp_path / "plots" / "forecast.png", title="airline")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    two = plot_forecast(range(12), np.stack([actual, -actual], 1), {"model": np.zeros((12, 2))},
                        tmp_path / "two.png", target_names=["a", "b"])
    assert two.stat().st_size > 0
    with pytest.raises(DataError, match="forecasts\\['model'\\] must have shape"):
        plot_forecast(times, actual, {"model": np.zeros(5)}, tmp_path / "bad.png")
