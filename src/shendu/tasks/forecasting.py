"""Time-series forecasting: the last ``lookback`` steps in, the next ``horizon`` steps out, beside two baselines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from shendu.data.batching import evaluation_batches
from shendu.data.series_baselines import recursive_forecast
from shendu.data.series_loading import load_series
from shendu.data.formats import load_table
from shendu.engine.device import autocast, to_device
from shendu.errors import ConfigError, DataError, Problem
from shendu.metrics import build_metrics
from shendu.tasks.base import SupervisedTask
from shendu.tasks.registry import TASKS


def forecast_metrics(mase_scale: float | None) -> Any:
    """MAE, RMSE, sMAPE and MASE (MASE only when the training series gives it a scale)."""
    if mase_scale is None:
        return build_metrics(["mae", "rmse", "smape"], "forecasting")
    return build_metrics(None, "forecasting", scale=mase_scale)


class ForecastingTask(SupervisedTask):
    """Windows (B, lookback, F) -> (B, horizon * targets) on standardised values; metrics on the original scale."""

    def load_data(self, data_config: Any, seed: int, preprocessing: Any = None) -> Any:
        if data_config.stream:
            raise ConfigError([Problem("data.stream", True, "false for forecasting",
                                       "A series is windowed in memory; set data.stream=false.")])
        if data_config.split not in ("auto", "time"):
            raise ConfigError([Problem("data.split", data_config.split, "time (or auto) for forecasting",
                                       "Forecasts are tested on the last steps only; a shuffled split would "
                                       "train on the future. Set data.split=time.")])
        return load_series(data_config, seed=seed, preprocessing=preprocessing)

    def num_outputs(self, data: Any) -> int:
        return len(self.stored(data).target_names)

    def monitor(self) -> tuple[str, str]:
        return "val.rmse", "min"

    def make_step(self, loss_fn: nn.Module, augment_specs: list | None = None, num_classes: int | None = None, *,
                  input_kind: str | None = None, normalization: Any = None):
        """The supervised step, with augmentations checked against "series" (jitter, scaling, window slicing)."""
        return super().make_step(loss_fn, augment_specs, None, input_kind="series")

    def forecast(self, model: nn.Module, inputs: torch.Tensor, preprocessing: Any) -> torch.Tensor:
        """Scaled forecasts (B, horizon * T): one pass (direct), or the one-step model rolled forward (recursive)."""
        if preprocessing.strategy == "direct":
            return model(inputs)
        return recursive_forecast(model, inputs, preprocessing.horizon, len(preprocessing.target_columns))

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: Any, loss_fn: nn.Module, bundle: Any, batch_size: int,
                 device: torch.device, precision: str = "fp32") -> dict[str, Any]:
        """Loss on the scaled targets; MAE, RMSE, sMAPE and MASE of the forecasts on the original scale."""
        was_training = model.training
        model.eval()
        preprocessing = bundle.preprocessing
        metrics = forecast_metrics(bundle.extras["mase_scale"]).to(device)
        total, count = torch.zeros((), device=device, dtype=torch.float64), 0
        for batch in evaluation_batches(split, batch_size):
            inputs, targets = to_device(batch, device)
            with autocast(precision, device):
                outputs = self.forecast(model, inputs, preprocessing).float()
            total += loss_fn(outputs, targets).double() * len(targets)
            count += len(targets)
            metrics.update(preprocessing.decode_targets(outputs.cpu()).to(device),
                           preprocessing.decode_targets(targets.cpu()).to(device))
        model.train(was_training)
        result = {"loss": float(total / max(count, 1))}
        result.update({name: float(value) for name, value in metrics.compute().items()})
        return result

    def _baseline_metrics(self, held_out: dict[str, Any], scale: Any) -> dict[str, dict[str, float]]:
        scores = {}
        for name, forecast in held_out["baselines"].items():
            metrics = forecast_metrics(scale)
            metrics.update(forecast.float().contiguous(), held_out["actual"].float().contiguous())
            scores[name] = {metric: float(value) for metric, value in metrics.compute().items()}
        return scores

    def finish(self, model: nn.Module, bundle: Any, run_dir: Any, config: Any, device: torch.device,
               metrics: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Naive and seasonal-naive scores on the same windows, and the forecast plot of the held-out tail."""
        baselines = {split: self._baseline_metrics(held_out, bundle.extras["mase_scale"])
                     for split, held_out in bundle.extras["held_out"].items()}
        name = "test" if bundle.test is not None else "val"
        split, held_out = getattr(bundle, name), bundle.extras["held_out"][name]
        was_training = model.training
        model.eval()
        with torch.no_grad():
            forecast = bundle.preprocessing.decode_targets(
                self.forecast(model, split.inputs.to(device), bundle.preprocessing).float().cpu())
        model.train(was_training)
        facts: dict[str, Any] = {"baselines": baselines, "season": bundle.extras["season"]}
        if config.output.plots:
            from shendu.report.forecast_plots import plot_forecast  # matplotlib only when plotting

            horizon, num_targets = bundle.preprocessing.horizon, len(bundle.preprocessing.target_columns)
            chosen = torch.arange(0, len(forecast), horizon)  # non-overlapping origins tile the tail
            steps = (held_out["origins"][chosen, None] + torch.arange(horizon)).reshape(-1)
            keep = steps < len(bundle.extras["times"])
            times = [bundle.extras["times"][int(s)] for s in steps[keep]]
            series = {"model": forecast, **held_out["baselines"]}
            curves = {key: value[chosen].reshape(-1, num_targets)[keep][:, 0].numpy() for key, value in series.items()}
            actual = held_out["actual"][chosen].reshape(-1, num_targets)[keep][:, 0].numpy()
            path = run_dir.plots / f"forecast-{name}.png"
            plot_forecast(pd.Index(times), actual, curves, path,
                          f"{bundle.preprocessing.target_columns[0]}: {name} tail, horizon {horizon}")
            facts["forecast_plot"] = str(path)
        return facts

    def predict(self, model: nn.Module, preprocessing: Any, inputs: Any = None, *, config: Any = None,
                batch_size: int = 256, **options: Any) -> list[dict[str, Any]]:
        """Forecast the ``horizon`` steps after the end of a history table (a CSV path or a DataFrame
        with the run's columns, at least ``lookback`` rows): one dict per future step."""
        if options:
            raise TypeError(f"forecasting predictions take no options; received {', '.join(options)}. "
                            "Pass only the history table (a CSV path or a DataFrame).")
        if isinstance(inputs, (list, tuple)) and len(inputs) == 1:
            inputs = inputs[0]
        frame = inputs if isinstance(inputs, pd.DataFrame) else load_table(Path(inputs)).frame if inputs else None
        if frame is None:
            raise DataError("Forecasting needs the recent history: pass a CSV path (or a DataFrame) with the run's "
                            f"columns {preprocessing.source_columns} and at least {preprocessing.lookback} rows.")
        data = preprocessing.read_history(frame)
        if data.num_steps < preprocessing.lookback:
            raise DataError(f"The history has {data.num_steps} rows; the run looks back {preprocessing.lookback} "
                            "steps. Give at least that many rows.")
        window = torch.as_tensor(preprocessing.scale(data.values[-preprocessing.lookback:]), dtype=torch.float32)[None]
        device = next(model.parameters()).device
        model.eval()
        with torch.no_grad():
            forecast = preprocessing.decode_targets(self.forecast(model, window.to(device), preprocessing).float().cpu())
        steps = forecast.reshape(preprocessing.horizon, len(preprocessing.target_columns))
        return [{"step": h + 1, **{c: float(v) for c, v in zip(preprocessing.target_columns, row)}}
                for h, row in enumerate(steps)]


@TASKS.register("time-series-forecasting", summary="Forecast the next H steps of a series from its last L steps.",
                formula="x = z-scored values[t-L:t]; y_hat[t:t+H] = f(x) (direct) or f applied H times to its own "
                        "forecasts (recursive); loss = MSE on z-scored targets",
                reference="Hyndman & Athanasopoulos, Forecasting: Principles and Practice (3rd ed.), ch. 5 and 9; "
                          "Bai, Kolter & Koltun 2018 (TCN)", inputs=("series",))
def time_series_forecasting() -> ForecastingTask:
    """Forecast a univariate or multivariate series (CSV, one row per time step).

    ``data.target`` names the column(s) to forecast, ``data.features`` extra
    input columns (covariates), ``data.time_column`` the time. Splits are
    always time-ordered: the last ``data.series.test_size`` steps are held
    out, the ``val_size`` steps before them validate. Windows of
    ``data.series.lookback`` steps predict ``horizon`` steps directly, or
    one step rolled forward (``strategy: recursive``). Values are
    standardised with training-range statistics; metrics (MAE, RMSE, sMAPE,
    MASE) are on the original scale, and the naive (last value) and
    seasonal-naive (value one season earlier) forecasts of the same windows
    are always scored beside the model. A plot of forecast against actual
    over the held-out tail is written to ``plots/``. Default model: ``mlp``
    on the flattened window; also ``lstm``, ``gru``, ``tcn``,
    ``transformer-encoder``.
    """
    return ForecastingTask(
        name="time-series-forecasting", target_kind="forecasting", input_kinds=("sequence",),
        default_models={"sequence": {"name": "mlp"}}, default_loss={"name": "mse"},
    )
