"""Regression: features (or an image) in, one or more real values out."""

from shendu.tasks.base import SupervisedTask
from shendu.tasks.registry import TASKS


@TASKS.register("regression", summary="Predict one or more real values (MSE on standardised targets).",
                formula="z = (y - mean_train) / std_train; loss = mean((f(x) - z)^2); prediction = f(x) * std_train + mean_train",
                reference="Goodfellow, Bengio & Courville, Deep Learning (2016), section 5.1.4", inputs=("tabular", "image"))
def regression() -> SupervisedTask:
    """Predict one or more real-valued targets.

    Targets are standardised with train statistics for training (so one
    learning rate suits any scale); metrics (MSE, MAE, RMSE, R²) are reported
    on the original scale, and predictions are returned on it. Several target
    columns make a multi-output regression. Default model: ``mlp``; loss: ``mse``.
    """
    return SupervisedTask(
        name="regression", target_kind="regression", input_kinds=("tabular", "image"),
        default_models={"tabular": {"name": "mlp"}, "image": {"name": "cnn"}}, default_loss={"name": "mse"},
    )
