"""shendu (深度, "deep"): deep learning end to end on PyTorch.

Every concept a textbook names is a registered, documented, tested component;
every task trains from one command on the user's own data.

    import shendu
    run = shendu.train("configs/digits-mlp.yaml")
    print(run.metrics["test"]["accuracy"])
    shendu.load(run.path).predict(images)
"""

from shendu.api import Run, demo, evaluate, explain, load, train, validate
from shendu.config import RunConfig
from shendu.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    ShenduError,
    TrainingDivergedError,
    UnknownComponentError,
)

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DataError",
    "Run",
    "RunConfig",
    "ShenduError",
    "TrainingDivergedError",
    "UnknownComponentError",
    "__version__",
    "demo",
    "evaluate",
    "explain",
    "load",
    "train",
    "validate",
]
