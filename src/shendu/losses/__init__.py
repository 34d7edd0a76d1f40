"""Losses: what training minimises, each a named, documented ``nn.Module``.

Choose one by name (``"cross-entropy"``), by mapping
(``{"name": "huber", "delta": 0.5}``) or pass a module; ``shendu list losses``
shows them all. Every loss's ``forward(outputs, targets)`` returns a scalar by
default (``reduction="mean"``) and checks that the shapes fit together.
"""

from __future__ import annotations

from shendu.losses import classification, regression
from shendu.losses.classification import BinaryCrossEntropyLoss, CrossEntropyLoss
from shendu.losses.registry import LOSSES, build_loss
from shendu.losses.regression import HuberLoss, MeanAbsoluteErrorLoss, MeanSquaredErrorLoss

__all__ = [
    "LOSSES",
    "BinaryCrossEntropyLoss",
    "CrossEntropyLoss",
    "HuberLoss",
    "MeanAbsoluteErrorLoss",
    "MeanSquaredErrorLoss",
    "build_loss",
    "classification",
    "regression",
]
