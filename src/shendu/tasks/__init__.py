"""Task types: each binds a data schema to a default model, loss, metrics and predictions."""

from shendu.tasks import image_classification, regression, tabular_classification  # noqa: F401  (registers built-ins)
from shendu.tasks.base import SupervisedTask
from shendu.tasks.registry import TASKS

__all__ = ["TASKS", "SupervisedTask"]
