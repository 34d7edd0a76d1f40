"""Reference forecasts on the windows of ``shendu.data.series.make_windows``, and the recursive roll-out.

A forecaster is only worth its training if it beats the forecasts that need no
training at all. These compute them for the same forecast origins as the
model's windows, in the original scale, flattened time-major like the window
targets: (M, H * T), step h of target j at h * T + j.

- :func:`naive_forecast`: the last observed value, repeated (random walk);
- :func:`seasonal_naive_forecast`: the value one season earlier;
- :func:`seasonal_naive_scale`: the in-sample error of the (seasonal) naive
  forecast, the denominator of MASE;
- :func:`recursive_forecast`: a one-step model rolled forward H steps on its own predictions.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from shendu.errors import DataError


def _check_positive(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise DataError(f"{name} must be a positive integer; received {value!r}.")
    return int(value)


def _series_and_origins(values: torch.Tensor | np.ndarray, origins: torch.Tensor | np.ndarray,
                        num_targets: int) -> tuple[torch.Tensor, torch.Tensor]:
    """values as a 2-D tensor with at least num_targets columns; origins as int64 inside 1..N."""
    values = torch.as_tensor(values)
    if values.ndim != 2:
        raise DataError(f"values must be the (N, F) series; received shape {tuple(values.shape)}.")
    _check_positive(num_targets, "num_targets")
    if num_targets > values.shape[1]:
        raise DataError(f"num_targets={num_targets} exceeds the {values.shape[1]} columns of values.")
    origins = torch.as_tensor(origins, dtype=torch.int64, device=values.device).reshape(-1)
    if len(origins) and (origins.min() < 1 or origins.max() > values.shape[0]):
        raise DataError(f"origins must lie in 1..{values.shape[0]} (an observed step before each); received "
                        f"origins from {int(origins.min())} to {int(origins.max())}.")
    return values, origins


def naive_forecast(values: torch.Tensor | np.ndarray, origins: torch.Tensor | np.ndarray, horizon: int,
                   num_targets: int) -> torch.Tensor:
    """The last observed value repeated for every step: y_hat[t + h] = y[t - 1] for h = 0..H-1.

    The random-walk forecast: the bar any model must clear, and a hard one on
    series that wander (prices, levels); MASE with season None divides by its
    in-sample error.

    Args:
        values: (N, F) series in the original scale, target columns first.
        origins: (M,) forecast origins t from ``make_windows``.
        horizon: H, steps forecast per origin.
        num_targets: T, the leading target columns.

    Returns:
        (M, H * T), time-major.
    """
    values, origins = _series_and_origins(values, origins, num_targets)
    horizon = _check_positive(horizon, "horizon")
    last = values[origins - 1, :num_targets]  # (M, T)
    return last.unsqueeze(1).expand(-1, horizon, -1).reshape(len(origins), horizon * num_targets)


def seasonal_naive_forecast(values: torch.Tensor | np.ndarray, origins: torch.Tensor | np.ndarray, horizon: int,
                            num_targets: int, season: int) -> torch.Tensor:
    """The value one season earlier: y_hat[t + h] = y[t - m + (h mod m)] for h = 0..H-1, season m.

    The benchmark for seasonal series (monthly airline passengers: the same
    month last year). Each step takes the most recent observation in the same
    phase of the season that is known at the origin, so horizons longer than
    one season repeat the last observed season.

    Args:
        values: (N, F) series in the original scale, target columns first.
        origins: (M,) forecast origins t; each needs t >= m.
        horizon: H, steps forecast per origin.
        num_targets: T, the leading target columns.
        season: m, the seasonal period in steps (``infer_season``).

    Returns:
        (M, H * T), time-major.
    """
    values, origins = _series_and_origins(values, origins, num_targets)
    horizon, season = _check_positive(horizon, "horizon"), _check_positive(season, "season")
    if len(origins) and int(origins.min()) < season:
        raise DataError(
            f"The seasonal naive forecast with season={season} needs {season} observed steps before each origin; "
            f"the earliest origin is {int(origins.min())}. Use lookback >= season, or a smaller season."
        )
    phase = torch.arange(horizon, device=origins.device) % season  # (H,)
    index = origins[:, None] - season + phase[None, :]  # (M, H)
    return values[index, :num_targets].reshape(len(origins), horizon * num_targets)  # (M, H, T) -> (M, H*T)


def recursive_forecast(predict_one: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor, horizon: int,
                       num_targets: int) -> torch.Tensor:
    """Roll a one-step model forward: predict step t, append it to the window, drop the oldest step, repeat H times.

    Use it to get an H-step forecast from a model trained with horizon 1. It
    needs every input column to be a target: a covariate's future value is not
    known at the origin, so there is nothing honest to feed back for it (train
    a direct model, horizon H outputs at once, instead). Errors compound over
    the steps, which is why direct forecasting often wins at long horizons.
    Run it under ``torch.no_grad()`` when evaluating; inputs and predictions
    share one scale (e.g. both standardised).

    Args:
        predict_one: (M, L, T) windows -> (M, T) next-step predictions (a model in eval mode).
        inputs: (M, L, F) windows with F == num_targets.
        horizon: H, steps to roll forward.
        num_targets: T.

    Returns:
        (M, H * T), time-major.
    """
    horizon, num_targets = _check_positive(horizon, "horizon"), _check_positive(num_targets, "num_targets")
    if inputs.ndim != 3:
        raise DataError(f"recursive_forecast expects (M, L, F) windows; received shape {tuple(inputs.shape)}.")
    num_windows, _, num_features = inputs.shape
    if num_features != num_targets:
        raise DataError(
            f"recursive_forecast feeds each prediction back as the next input, so every input column must be a "
            f"target; received {num_features} input columns and num_targets={num_targets} "
            f"({num_features - num_targets} covariates, whose future values are unknown). Use direct forecasting "
            "(a model with horizon outputs) for series with covariates, or drop the feature columns."
        )
    window, steps = inputs, []
    for _ in range(horizon):  # H model calls, each on all M windows at once
        step = predict_one(window)
        if step.numel() != num_windows * num_targets:
            raise DataError(f"predict_one must return (M, T) = ({num_windows}, {num_targets}) next-step predictions; "
                            f"received shape {tuple(step.shape)}. Use a model trained with horizon 1.")
        step = step.reshape(num_windows, 1, num_targets).to(window.dtype)  # (M, 1, T)
        steps.append(step)
        window = torch.cat([window[:, 1:], step], dim=1)  # (M, L, T): oldest step out, prediction in
    return torch.cat(steps, dim=1).reshape(num_windows, horizon * num_targets)  # (M, H, T) -> (M, H*T)
