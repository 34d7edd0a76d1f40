"""Tabular classification: a row of features in, one of C classes out."""

from shendu.tasks.base import SupervisedTask
from shendu.tasks.registry import TASKS


@TASKS.register("tabular-classification", summary="Assign each row of features one of C classes.",
                formula="x = standardise(features); p = softmax(f(x)); loss = -mean(log p[y]); prediction = argmax p",
                reference="Goodfellow, Bengio & Courville, Deep Learning (2016), section 6.2.2.3", inputs=("tabular",))
def tabular_classification() -> SupervisedTask:
    """Assign each row of features one of C classes.

    Data: a CSV (target column by name; numeric and categorical features) or a
    bundled set (iris, wine, breast-cancer). Features are standardised with
    train statistics. Default model: ``mlp``; loss: ``cross-entropy``.
    """
    return SupervisedTask(
        name="tabular-classification", target_kind="classification", input_kinds=("tabular",),
        default_models={"tabular": {"name": "mlp"}}, default_loss={"name": "cross-entropy"},
    )
