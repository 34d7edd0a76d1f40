"""Progress display: a live bar on a terminal, plain lines elsewhere.

The bar reads the running loss from a device tensor only when it refreshes
(every half second on a terminal, every 30 s in plain-line mode), so training
steps carry no host synchronisation.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import TextIO

import torch


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"


def format_metrics(metrics: Mapping[str, float], prefix: str = "") -> str:
    return "  ".join(f"{prefix}{k} {v}" if isinstance(v, int) else f"{prefix}{k} {v:.4g}"
                     for k, v in metrics.items() if isinstance(v, (int, float)))


class Progress:
    """Per-epoch progress: loss, the last main metric, samples/s and ETA.

    Args:
        mode: "bar" (redraws one line), "lines" (a line every ``line_interval`` s),
            "none", or "auto" (bar on a terminal, lines otherwise).
        stream: where to write (stderr by default, so stdout stays parseable).
    """

    def __init__(self, mode: str = "auto", stream: TextIO | None = None, line_interval: float = 30.0):
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "bar" if getattr(self.stream, "isatty", lambda: False)() else "lines"
        self.mode = mode
        self.interval = 0.5 if mode == "bar" else line_interval
        self.main_metric: str | None = None

    def start_epoch(self, epoch: int, epochs: int, num_batches: int, batch_size: int, start: int = 0) -> None:
        self.epoch, self.epochs, self.num_batches, self.batch_size = epoch, epochs, num_batches, batch_size
        self.start_batch = start
        self.started = self.last_refresh = time.monotonic()

    def update(self, batch: int, losses: torch.Tensor) -> None:
        """Called after every batch; draws only when the refresh interval has passed."""
        if self.mode == "none":
            return
        current = time.monotonic()
        if current - self.last_refresh < self.interval:
            return
        self.last_refresh = current
        done = batch + 1 - self.start_batch
        elapsed = current - self.started
        rate = done * self.batch_size / max(elapsed, 1e-9)
        remaining = (self.num_batches - batch - 1) * elapsed / max(done, 1)
        loss = losses[: batch + 1].mean().item()
        width = 24
        filled = int(width * (batch + 1) / self.num_batches)
        bar = "#" * filled + "." * (width - filled)
        text = (
            f"epoch {self.epoch + 1}/{self.epochs} [{bar}] {batch + 1}/{self.num_batches} "
            f"loss {loss:.4f}{self._metric_text()}  {rate:,.0f} samples/s  ETA {_duration(remaining)}"
        )
        if self.mode == "bar":
            self.stream.write("\r" + text.ljust(110))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def _metric_text(self) -> str:
        return f"  {self.main_metric}" if self.main_metric else ""

    def end_epoch(self, record: Mapping, monitor: str | None, improved: bool) -> None:
        if self.mode == "none":
            return
        parts = [f"epoch {record['epoch']}/{self.epochs}"]
        for split in ("train", "val"):
            if split in record:
                parts.append(format_metrics(record[split], f"{split}."))
        parts.append(f"{record['seconds']:.1f} s  {record['samples_per_second']:,.0f} samples/s")
        if improved:
            parts.append(f"* best {monitor}")
        if self.mode == "bar":
            self.stream.write("\r" + " " * 110 + "\r")
        self.stream.write("  ".join(parts) + "\n")
        self.stream.flush()
        if monitor:
            split, _, name = monitor.partition(".")
            value = record.get(split, {}).get(name)
            if value is not None:
                self.main_metric = f"{monitor} {value:.4g}"

    def validation(self, record: Mapping) -> None:
        """A validation record from inside an epoch (``train.val_every_steps``), on its own line."""
        if self.mode == "none":
            return
        if self.mode == "bar":
            self.stream.write("\r" + " " * 110 + "\r")
        self.stream.write(f"step {record['step']} (epoch {record['epoch']:.2f})  {format_metrics(record['val'], 'val.')}"
                          f"  elapsed {_duration(record['elapsed'])}\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        if self.mode != "none":
            self.stream.write(text + "\n")
            self.stream.flush()
