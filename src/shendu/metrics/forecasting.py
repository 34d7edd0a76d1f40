"""Forecasting metrics: sMAPE and MASE (MAE and RMSE are the regression ones, reused).

``update(preds, targets)`` takes float tensors of the same shape, (B, H) for
B forecast windows of horizon H (or (B,)), on the original scale of the
series (the task undoes any normalisation first). Every element is pooled.

MASE needs one number measured on the training series, ``scale``: the
in-sample MAE of the seasonal-naive forecast (:func:`seasonal_naive_scale`).
The task passes it with ``build_metrics(..., scale=...)``; it is never a
config option.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torchmetrics import Metric

from shendu.errors import ConfigError, DataError, Problem
from shendu.metrics.registry import METRICS


def _check_pair(metric: str, preds: torch.Tensor, targets: torch.Tensor) -> None:
    if preds.shape != targets.shape or not preds.is_floating_point():
        raise DataError(
            f"{metric} expects float predictions and targets of the same shape (B, H); received "
            f"{tuple(preds.shape)} ({preds.dtype}) and {tuple(targets.shape)}. "
            "Pass the forecasts and the true future values, on the original scale."
        )


def seasonal_naive_scale(series: torch.Tensor, season: int = 1) -> float:
    """MASE's scale: the in-sample MAE of the seasonal-naive forecast y_hat_t = y_(t - m).

    Measured on the training part of the series only, so that the scale does
    not see the future. ``season=1`` is the plain naive (random-walk) forecast;
    use the period (7 for daily data with a weekly cycle, 12 for monthly) for
    seasonal series.

    Formula: scale = (1 / (n - m)) * sum_{t = m+1..n} |y_t - y_(t - m)|

    Args:
        series: the training series, (N,).
        season: the seasonal period m >= 1.
    """
    if isinstance(season, bool) or not isinstance(season, int) or season < 1:
        raise ValueError(f"season must be a positive integer; received {season!r}. Use 1, or the period (e.g. 12).")
    if series.dim() != 1 or len(series) <= season:
        raise DataError(
            f"seasonal_naive_scale expects one training series (N,) with N > season = {season}; received shape "
            f"{tuple(series.shape)}. Pass the training part of one series."
        )
    scale = (series[season:] - series[:-season]).double().abs().mean().item()
    if not math.isfinite(scale) or scale == 0:
        raise DataError(
            f"the seasonal-naive MAE of the training series is {scale}: MASE is undefined for a series the "
            "naive forecast fits exactly (a constant one). Use mae or smape instead."
        )
    return scale


class SymmetricMeanAbsolutePercentageError(Metric):
    """sMAPE accumulated over batches; a term with y = f = 0 counts 0 (a perfect forecast of zero)."""

    full_state_update = False
    higher_is_better = False
    is_differentiable = False

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.add_state("total", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.zeros((), dtype=torch.int64), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, targets: torch.Tensor) -> None:
        _check_pair("smape", preds, targets)
        preds, targets = preds.double(), targets.double()
        denominator = targets.abs() + preds.abs()
        terms = 2 * (targets - preds).abs() / denominator.clamp_min(torch.finfo(torch.float64).tiny)
        self.total += torch.where(denominator > 0, terms, torch.zeros_like(terms)).sum()
        self.count += targets.numel()

    def compute(self) -> torch.Tensor:
        return (100 * self.total / self.count).float()


class MeanAbsoluteScaledError(Metric):
    """MASE accumulated over batches: the pooled MAE divided by a fixed ``scale``."""

    full_state_update = False
    higher_is_better = False
    is_differentiable = False

    def __init__(self, scale: float, **kwargs: Any):
        super().__init__(**kwargs)
        self.scale = scale
        self.add_state("total", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.zeros((), dtype=torch.int64), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, targets: torch.Tensor) -> None:
        _check_pair("mase", preds, targets)
        self.total += (preds.double() - targets.double()).abs().sum()
        self.count += targets.numel()

    def compute(self) -> torch.Tensor:
        return (self.total / self.count / self.scale).float()


@METRICS.register(
    "smape",
    formula="smape = (100 / n) * sum 2 * |y - f| / (|y| + |f|), a 0/0 term counting 0; range 0..200",
    reference="Makridakis 1993; the M3 / M4 competitions",
    kind="forecasting",
    higher_is_better=False,
)
def smape(num_classes: int | None = None, num_outputs: int | None = None) -> Metric:
    """Symmetric mean absolute percentage error: the error relative to the size of forecast and truth.

    Unit-free, so it compares across series of different sizes (the M4
    competition's headline metric). It ranges 0..200; where the truth is
    near zero a small absolute miss becomes a large percentage, and a pair
    with y = f = 0 (a 0/0 term) counts as 0, a perfect forecast.

    Formula: smape = (100 / n) * sum 2 * |y - f| / (|y| + |f|)

    Args:
        num_classes: unused; accepted so every metric is built the same way.
        num_outputs: the horizon H; every element is pooled.
    """
    return SymmetricMeanAbsolutePercentageError()


@METRICS.register(
    "mase",
    formula="mase = mae / scale, scale = (1 / (n - m)) * sum_t |y_t - y_(t - m)| on the training series",
    reference="Hyndman & Koehler 2006, Another look at measures of forecast accuracy",
    kind="forecasting",
    higher_is_better=False,
)
def mase(num_classes: int | None = None, num_outputs: int | None = None, scale: Any = None) -> Metric:
    """Mean absolute scaled error: the forecast's MAE relative to the seasonal-naive forecast's in-sample MAE.

    Below 1 the model beats "repeat the last season" as measured on the
    training data; above 1 it does worse. Unit-free, defined where the
    series crosses zero (unlike percentage errors), and the standard choice
    to compare across series.

    Formula: mase = mae / scale, scale = (1 / (n - m)) * sum_{t = m+1..n} |y_t - y_(t - m)|

    Args:
        num_classes: unused; accepted so every metric is built the same way.
        num_outputs: the horizon H; every element is pooled.
        scale: supplied by the task: ``seasonal_naive_scale(training_series, season)``.
    """
    if isinstance(scale, torch.Tensor) and scale.numel() == 1:
        scale = scale.item()
    valid = isinstance(scale, (int, float)) and not isinstance(scale, bool) and math.isfinite(scale) and scale > 0
    if not valid:
        raise ConfigError([Problem(
            "metrics", f"mase with scale={scale!r}", "scale, a positive number measured on the training series",
            "Build it with build_metrics(..., scale=shendu.metrics.forecasting.seasonal_naive_scale(train_series, "
            "season)), or leave mase out.",
        )])
    return MeanAbsoluteScaledError(float(scale))
