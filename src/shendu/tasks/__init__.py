"""Task types: each binds a data schema to a default model, loss, metrics and predictions."""

from shendu.tasks import (  # noqa: F401  (registers built-ins)
    forecasting,
    image_classification,
    multilabel_classification,
    regression,
    sequence_to_sequence,
    tabular_classification,
    text_classification,
    text_generation,
)
from shendu.tasks.base import SupervisedTask
from shendu.tasks.registry import TASKS

__all__ = ["TASKS", "SupervisedTask"]
