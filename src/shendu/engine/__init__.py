"""The training engine: the loop, devices and precision, checkpoints, early stopping, progress."""

from shendu.engine.device import autocast, place, resolve_device, resolve_precision
from shendu.engine.early_stopping import EarlyStopping
from shendu.engine.loop import FitResult, Trainer, fit
from shendu.engine.progress import Progress

__all__ = ["EarlyStopping", "FitResult", "Progress", "Trainer", "autocast", "fit", "place", "resolve_device", "resolve_precision"]
