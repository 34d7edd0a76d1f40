"""Early stopping and best-value tracking on a monitored metric."""

from __future__ import annotations

import math


def improves(value: float, best: float | None, mode: str, min_delta: float = 0.0) -> bool:
    """Whether ``value`` beats ``best`` by more than ``min_delta`` in direction ``mode``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


class EarlyStopping:
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    When to use it: whenever validation performance can get worse with more
    training (overfitting); it also saves time on runs that have converged.
    Prechelt, "Early Stopping — But When?" (1998).
    """

    def __init__(self, monitor: str, mode: str, patience: int, min_delta: float = 0.0):
        if mode not in ("min", "max"):
            raise ValueError(
                f"early stopping mode must be 'min' or 'max'; received {mode!r}. "
                "Set train.early_stopping.mode=min for losses and errors, max for accuracies."
            )
        self.monitor, self.mode, self.patience, self.min_delta = monitor, mode, patience, min_delta
        self.best: float | None = None
        self.bad_epochs = 0

    def update(self, value: float) -> bool:
        """Record one epoch's value; return True when training should stop."""
        if improves(value, self.best, self.mode, self.min_delta):
            self.best, self.bad_epochs = value, 0
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience

    def state_dict(self) -> dict:
        return {"best": self.best, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.bad_epochs = state["best"], state["bad_epochs"]
