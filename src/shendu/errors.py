"""The exception types a user of shendu sees.

Every error says what was received, what was expected, and how to fix it.
All derive from :class:`ShenduError`, so ``except shendu.ShenduError`` catches
any of them; each also derives from the closest built-in type so code written
against plain Python keeps working (``except ValueError``).
"""

from __future__ import annotations

from dataclasses import dataclass


class ShenduError(Exception):
    """Base class of every error shendu raises on purpose."""


def describe(received: object, expected: str, fix: str | None = None) -> str:
    """Compose the standard 'received / expected / fix' sentence."""
    message = f"expected {expected}; received {received!r}."
    if fix:
        message += f" {fix}"
    return message


class UnknownComponentError(ShenduError, KeyError):
    """A component name (model, loss, optimizer, ...) that no registry holds."""

    def __init__(self, kind: str, name: str, suggestions: list[str], list_command: str):
        self.kind, self.name, self.suggestions = kind, name, suggestions
        message = f"Unknown {kind} {name!r}."
        if suggestions:
            quoted = [repr(s) for s in suggestions]
            joined = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
            message += f" Did you mean {joined}?"
        message += f" See: {list_command}"
        super().__init__(message)

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.args[0]


@dataclass(frozen=True)
class Problem:
    """One problem found in a configuration."""

    key: str
    received: object
    expected: str
    fix: str

    def __str__(self) -> str:
        return f"{self.key}: expected {self.expected}; received {self.received!r}. Fix: {self.fix}"


class ConfigError(ShenduError, ValueError):
    """A run configuration with one or more problems; all are listed at once."""

    def __init__(self, problems: list[Problem], source: str | None = None):
        self.problems = list(problems)
        where = f" in {source}" if source else ""
        count = len(self.problems)
        header = f"{count} problem{'s' if count != 1 else ''} in the configuration{where}:"
        lines = [header] + [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class DataError(ShenduError, ValueError):
    """Input data that cannot be read or does not fit the task."""


class CheckpointError(ShenduError, RuntimeError):
    """A checkpoint or run directory that is missing, corrupt or incompatible."""


class TrainingDivergedError(ShenduError, FloatingPointError):
    """The loss became NaN or infinite; training stopped before saving it."""

    def __init__(self, step: int, epoch: int, value: float, checkpoint: str | None):
        self.step, self.epoch, self.value, self.checkpoint = step, epoch, value, checkpoint
        kept = (
            f" The last good checkpoint is kept at {checkpoint}."
            if checkpoint
            else " No checkpoint had been written yet."
        )
        super().__init__(
            f"The loss became {value} at step {step} (epoch {epoch}). Expected a finite loss. "
            "Lower the learning rate (e.g. optimizer.lr=1e-4), enable gradient clipping "
            "(train.clip_grad_norm=1.0), or check the inputs for NaN values." + kept
        )
