"""Regression metrics over torchmetrics: MSE, MAE, RMSE and R^2.

Every constructor is ``(num_classes=None, num_outputs=None) ->
torchmetrics.Metric``. ``update(preds, targets)`` takes float tensors of the
same shape, (B, T) for T outputs (or (B,)). With several outputs, MSE, MAE
and RMSE pool every element (equivalently, for MSE and MAE, the plain mean of
the per-output values) and R^2 is the plain mean of the per-output R^2.
"""

from __future__ import annotations

from torchmetrics import Metric
from torchmetrics.regression import MeanAbsoluteError, MeanSquaredError, R2Score

from shendu.metrics.registry import METRICS


@METRICS.register(
    "mse",
    formula="mse = (1 / N) * sum (y_hat - y)^2 over all N = B * T elements",
    reference="scikit-learn mean_squared_error(multioutput='uniform_average')",
    kind="regression",
    higher_is_better=False,
)
def mse(num_classes: int | None = None, num_outputs: int | None = None) -> Metric:
    """Mean squared error: the average squared difference between prediction and target.

    The quantity the 'mse' loss minimises, in squared target units; large
    errors dominate it.

    Formula: mse = (1 / N) * sum (y_hat - y)^2 over all N = B * T elements

    Args:
        num_classes: unused; accepted so every metric is built the same way.
        num_outputs: the number of outputs T; every element is pooled.
    """
    return MeanSquaredError()


@METRICS.register(
    "mae",
    formula="mae = (1 / N) * sum |y_hat - y| over all N = B * T elements",
    reference="scikit-learn mean_absolute_error(multioutput='uniform_average')",
    kind=("regression", "forecasting"),
    higher_is_better=False,
)
def mae(num_classes: int | None = None, num_outputs: int | None = None) -> Metric:
    """Mean absolute error: the average absolute difference between prediction and target.

    In the targets' own units and robust to a few large errors: "off by
    2.3 on average" is easy to read.

    Formula: mae = (1 / N) * sum |y_hat - y| over all N = B * T elements

    Args:
        num_classes: unused; accepted so every metric is built the same way.
        num_outputs: the number of outputs T; every element is pooled.
    """
    return MeanAbsoluteError()


@METRICS.register(
    "rmse",
    formula="rmse = sqrt((1 / N) * sum (y_hat - y)^2) over all N = B * T elements",
    reference="scikit-learn root_mean_squared_error (for one output)",
    kind=("regression", "forecasting"),
    higher_is_better=False,
)
def rmse(num_classes: int | None = None, num_outputs: int | None = None) -> Metric:
    """Root mean squared error: the square root of MSE, back in the targets' units.

    With several outputs it is the square root of the pooled MSE (not the
    mean of per-output RMSEs), so rmse^2 == mse always holds.

    Formula: rmse = sqrt((1 / N) * sum (y_hat - y)^2) over all N = B * T elements

    Args:
        num_classes: unused; accepted so every metric is built the same way.
        num_outputs: the number of outputs T; every element is pooled.
    """
    return MeanSquaredError(squared=False)


@METRICS.register(
    "r2",
    formula="r2 = 1 - sum (y - y_hat)^2 / sum (y - mean(y))^2, averaged over outputs",
    reference="scikit-learn r2_score(multioutput='uniform_average')",
    kind="regression",
    higher_is_better=True,
)
def r2(num_classes: int | None = None, num_outputs: int | None = None) -> Metric:
    """Coefficient of determination R^2: the fraction of the targets' variance the model explains.

    1 is perfect, 0 is no better than always predicting the mean, and it
    is negative for worse. Unit-free, so it compares across datasets. With
    several outputs it is the unweighted mean of the per-output R^2. It
    needs at least two samples.

    Formula: r2 = 1 - sum (y - y_hat)^2 / sum (y - mean(y))^2

    Args:
        num_classes: unused; accepted so every metric is built the same way.
        num_outputs: the number of outputs T (the shape decides; kept for uniformity).
    """
    return R2Score(multioutput="uniform_average")
