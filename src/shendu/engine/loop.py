"""The training loop: ``fit`` owns epochs, accumulation, clipping, checkpoints and resume.

The engine knows nothing about any task: it gets a model, a step function
``step(model, batch) -> loss`` and tensors to batch, plus an ``evaluate``
function returning validation metrics. Per step it does only the model's own
work: the loss is written into a preallocated device tensor, never read back
with ``.item()``; the progress bar and the NaN check read it at refresh and at
epoch end.

Resume is exact: a checkpoint holds the model, optimizer, schedule, RNG
states, epoch, position inside the epoch and the per-batch losses so far; the
epoch's batch order is recomputed from ``(seed, epoch)``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from shendu.config import TrainConfig
from shendu.data.batching import TensorBatches, is_batch_source
from shendu.engine.device import autocast, resolve_precision, to_device
from shendu.engine.diagnostics import Diagnostics
from shendu.engine.early_stopping import EarlyStopping, improves
from shendu.engine.progress import Progress
from shendu.errors import ConfigError, Problem, TrainingDivergedError
from shendu.metrics import higher_is_better
from shendu.nn import build_regularization
from shendu.optim import PlateauSchedule, is_metric_schedule, needs_closure, schedule_monitor
from shendu.run import RunDirectory, load_checkpoint, save_checkpoint

Step = Callable[[nn.Module, tuple[torch.Tensor, ...]], torch.Tensor]
Evaluate = Callable[[nn.Module], dict[str, float]]


@dataclass
class FitResult:
    """What ``fit`` returns: the per-epoch history and where the best epoch was."""

    history: list[dict] = field(default_factory=list)
    best_epoch: int | None = None
    best_value: float | None = None
    monitor: str | None = None
    stopped_early: bool = False
    train_seconds: float = 0.0
    global_step: int = 0
    warnings: list[dict] = field(default_factory=list)


@dataclass
class _State:
    epoch: int = 0  # epochs finished
    batch: int = 0  # micro-batches finished inside the current epoch
    global_step: int = 0  # optimizer steps taken
    best_value: float | None = None
    best_epoch: int | None = None
    early_stopping: dict | None = None
    train_seconds: float = 0.0
    elapsed_seconds: float = 0.0  # wall time of training and evaluation so far, across resumes
    stopped_early: bool = False


def rng_state(device: torch.device) -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


class Trainer:
    """Runs ``fit``; one object so that checkpointing sees the whole state."""

    def __init__(
        self,
        model: nn.Module,
        step: Step,
        train_data: Sequence[torch.Tensor] | Any,
        optimizer: torch.optim.Optimizer,
        *,
        config: TrainConfig,
        seed: int,
        device: torch.device,
        schedule: torch.optim.lr_scheduler.LRScheduler | None = None,
        evaluate: Evaluate | None = None,
        monitor: str | None = None,
        monitor_mode: str = "min",
        run: RunDirectory | None = None,
        progress: Progress | None = None,
    ):
        self.model, self.step = model, step
        # In-memory tensors are batched by a seeded permutation; a batch source (streamed
        # shards, a class-balanced sampler) brings its own order, equally recomputable per epoch.
        self.data = train_data if is_batch_source(train_data) else TensorBatches(
            tuple(train_data), config.batch_size, shuffle=True, seed=seed, drop_last=config.drop_last)
        self.optimizer, self.schedule, self.evaluate = optimizer, schedule, evaluate
        self.config, self.seed, self.device, self.run = config, seed, device, run
        self.monitor, self.monitor_mode = monitor, monitor_mode
        self.progress = progress or Progress(config.progress)
        self.num_batches = len(self.data)
        self.accumulate = config.accumulate_steps
        self.steps_per_epoch = math.ceil(self.num_batches / self.accumulate)
        self.precision = resolve_precision(config.precision, device)
        self.scaler = torch.amp.GradScaler(device.type) if self.precision == "fp16" else None
        self.forward_model = torch.compile(model) if config.compile else model
        self.state = _State()
        self.losses = torch.zeros(self.num_batches, device=device)
        self.closure = needs_closure(optimizer)
        if self.closure and (self.accumulate > 1 or self.scaler is not None):
            raise ConfigError([Problem(
                "train.accumulate_steps" if self.accumulate > 1 else "train.precision",
                self.accumulate if self.accumulate > 1 else config.precision,
                f"1 / fp32 or bf16 with {type(optimizer).__name__}",
                "Closure optimizers (lbfgs, newton) re-evaluate the loss inside each step, which gradient "
                "accumulation and fp16 loss scaling cannot follow; set train.accumulate_steps=1 and "
                "train.precision=fp32.")])
        self.regularization = build_regularization(config.regularizers, model, optimizer, closure=self.closure)
        self.diagnostics = Diagnostics(model, config.diagnostics) if config.diagnostics.enabled else None
        early = config.early_stopping
        self.early_stopping = None
        if early is not None:
            early_monitor = early.monitor or monitor
            mode = early.mode if early.mode != "auto" else ("max" if higher_is_better(early_monitor) else "min")
            self.early_stopping = EarlyStopping(early_monitor, mode, early.patience, early.min_delta)

    # -- checkpoints ----------------------------------------------------------
    def _training_state(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict() if self.schedule is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": rng_state(self.device),
            "losses": self.losses,
        }

    def _progress_state(self) -> dict[str, Any]:
        state = dict(vars(self.state))
        state["early_stopping"] = self.early_stopping.state_dict() if self.early_stopping else None
        state["diagnostics"] = self.diagnostics.state_dict() if self.diagnostics else None
        return state

    def save(self, which: str) -> None:
        if self.run is not None:
            save_checkpoint(self.run.checkpoint(which), self.model.state_dict(), self._training_state(), self._progress_state())

    def restore(self, which: str = "last") -> None:
        """Continue from a checkpoint of this run (model, optimizer, schedule, RNG, position)."""
        model_state, training, state = load_checkpoint(self.run.checkpoint(which))
        self.model.load_state_dict(model_state)
        self.optimizer.load_state_dict(training["optimizer"])
        if self.schedule is not None and training.get("schedule") is not None:
            self.schedule.load_state_dict(training["schedule"])
        if self.scaler is not None and training.get("scaler"):
            self.scaler.load_state_dict(training["scaler"])
        set_rng_state(training["rng"], self.device)
        self.losses.copy_(training["losses"].to(self.device))
        early = state.pop("early_stopping", None)
        diagnostics = state.pop("diagnostics", None)
        self.state = _State(**state)
        if self.early_stopping is not None and early is not None:
            self.early_stopping.load_state_dict(early)
        if self.diagnostics is not None and diagnostics is not None:
            self.diagnostics.load_state_dict(diagnostics)
        self.run.truncate_log(self.state.epoch, self.state.global_step)

    def _last_checkpoint(self) -> str | None:
        if self.run is None:
            return None
        path = self.run.checkpoint("last")
        return str(path) if path.exists() else None

    # -- the loop ---------------------------------------------------------------
    def _check_finite(self, upto: int) -> None:
        losses = self.losses[:upto]
        finite = torch.isfinite(losses)
        if bool(finite.all()):
            return
        first = int((~finite).nonzero()[0])
        step = self.state.global_step - (upto - first - 1) // self.accumulate
        raise TrainingDivergedError(step, self.state.epoch + 1, float(losses[first]), self._last_checkpoint())

    def _optimizer_step(self, batch: tuple[torch.Tensor, ...] | None = None) -> torch.Tensor | None:
        """Clip, regularise, step, schedule. Closure optimizers evaluate ``batch`` themselves
        and return the batch's loss; otherwise the gradients are already accumulated."""
        config, regularization = self.config, self.regularization
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        if not self.closure:  # a closure optimizer computes its gradients inside step(): nothing to inspect or clip
            if self.diagnostics is not None:
                self._log_diagnostics(self.diagnostics.after_backward(self.state.global_step))
            if config.clip_grad_value is not None:
                nn.utils.clip_grad_value_(self.model.parameters(), config.clip_grad_value)
            if config.clip_grad_norm is not None:
                nn.utils.clip_grad_norm_(self.model.parameters(), config.clip_grad_norm)
        if regularization is not None:
            regularization.before_step()
        loss = None
        if self.closure:
            loss = self.optimizer.step(self._closure(batch))
        elif self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        if regularization is not None:
            regularization.after_step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.schedule is not None and not is_metric_schedule(self.schedule):
            self.schedule.step()
        self.state.global_step += 1
        return loss

    def _closure(self, batch: tuple[torch.Tensor, ...]) -> Callable[..., torch.Tensor]:
        """The loss of ``batch`` at the current weights, for optimizers that re-evaluate it
        (lbfgs line searches, newton's Hessian): zero grads, forward, backward if asked.

        Every call replays the same random draws (augmentation, dropout): the line
        search must compare one objective at different weights, not a new one each time."""
        cuda = self.device.type == "cuda"
        generator_state = torch.get_rng_state()
        cuda_state = torch.cuda.get_rng_state(self.device) if cuda else None

        def closure(backward: bool = True) -> torch.Tensor:
            torch.set_rng_state(generator_state)
            if cuda:
                torch.cuda.set_rng_state(cuda_state, self.device)
            self.optimizer.zero_grad(set_to_none=True)
            with autocast(self.precision, self.device):
                loss = self.step(self.forward_model, batch)
            total = self._with_penalty(loss)
            if backward:
                total.backward()
            return total

        return closure

    def _with_penalty(self, loss: torch.Tensor) -> torch.Tensor:
        if self.regularization is None or not self.regularization.has_penalty:
            return loss
        return loss + self.regularization.penalty()

    def _log_diagnostics(self, record: dict | None) -> None:
        if record is None:
            return
        messages = self.diagnostics.drain()
        if self.run is not None:
            self.run.log({**record, "epoch": self.state.epoch + 1, **({"warnings": messages} if messages else {})})
        for message in messages:
            self.progress.message(f"warning: {message}")

    def _train_epoch(self, epoch: int) -> None:
        state, config = self.state, self.config
        start = state.batch
        if start == 0:
            self.losses.zero_()
        self.model.train()
        self.progress.start_epoch(epoch, config.epochs, self.num_batches, config.batch_size, start)
        every = config.checkpoint_every_steps
        validate_every = config.val_every_steps if self.evaluate is not None else None
        last = self.num_batches - 1
        for number, batch in enumerate(self.data.batches(epoch, start), start):
            batch = to_device(batch, self.device)
            if self.diagnostics is not None:
                self.diagnostics.start_step(state.global_step)
            stepping = self.closure or (number + 1) % self.accumulate == 0 or number == last
            if self.closure:  # the optimizer evaluates the batch itself, possibly several times
                loss = self._optimizer_step(batch)
            else:
                with autocast(self.precision, self.device):
                    loss = self.step(self.forward_model, batch)
                total = self._with_penalty(loss)
                scaled = total / self.accumulate if self.accumulate > 1 else total
                (self.scaler.scale(scaled) if self.scaler is not None else scaled).backward()
                if stepping:
                    self._optimizer_step()
            # The data loss, so it compares with the validation loss (closure optimizers return the
            # penalised loss their line search minimises).
            self.losses[number] = loss.detach()
            if stepping:
                state.batch = number + 1
                if validate_every and state.global_step % validate_every == 0 and number != last:
                    self._validate_within_epoch()
                if every and state.global_step % every == 0 and number != last:
                    self._check_finite(number + 1)
                    self.save("last")
            self.progress.update(number, self.losses)
        self._check_finite(self.num_batches)

    def _elapsed(self) -> float:
        return time.perf_counter() - self._clock

    def _validate_within_epoch(self) -> None:
        """``train.val_every_steps``: validation metrics between epoch ends, for finer learning curves
        and times to a target; logged as kind "validation", without touching the best checkpoint."""
        state = self.state
        record = {"kind": "validation", "step": state.global_step,
                  "epoch": state.epoch + state.batch / self.num_batches,
                  "val": self.evaluate(self.model), "elapsed": self._elapsed()}
        self.model.train()
        if self.run is not None:
            self.run.log(record)
        self.progress.validation(record)

    def fit(self, resume: bool = False) -> FitResult:
        self._bind_schedule_monitor()
        if resume:
            self.restore("last")
        state, config = self.state, self.config
        result = FitResult(monitor=self.monitor)
        self._clock = time.perf_counter() - state.elapsed_seconds
        for epoch in range(state.epoch, config.epochs):
            if state.stopped_early:
                break
            started = time.perf_counter()
            samples = (self.num_batches - state.batch) * config.batch_size
            self._train_epoch(epoch)
            train_seconds = time.perf_counter() - started
            state.train_seconds += train_seconds
            record: dict[str, Any] = {
                "epoch": epoch + 1, "step": state.global_step,
                "lr": self.optimizer.param_groups[0]["lr"],
                "train": {"loss": float(self.losses.mean())},
            }
            if self.evaluate is not None:
                record["val"] = self.evaluate(self.model)
            record["seconds"] = time.perf_counter() - started
            record["elapsed"] = state.elapsed_seconds = self._elapsed()
            record["samples_per_second"] = min(samples, self.data.num_samples) / max(train_seconds, 1e-9)
            state.epoch, state.batch = epoch + 1, 0
            self._epoch_end_hooks(record)
            improved = self._update_best(record)
            if self.early_stopping is not None:
                state.stopped_early = self.early_stopping.update(_lookup(record, self.early_stopping.monitor))
            if self.run is not None:
                self.run.log(record)
                if improved:
                    self.save("best")
                self.save("last")
            self.progress.end_epoch(record, self.monitor, improved)
            if state.stopped_early:
                self.progress.message(
                    f"Early stopping: {self.early_stopping.monitor} did not improve by more than "
                    f"{self.early_stopping.min_delta} for {self.early_stopping.patience} epochs."
                )
        result.history = self.run.history() if self.run is not None else []
        result.best_epoch, result.best_value = state.best_epoch, state.best_value
        result.stopped_early, result.train_seconds = state.stopped_early, state.train_seconds
        result.global_step = state.global_step
        result.warnings = list(self.diagnostics.warnings) if self.diagnostics is not None else []
        return result

    def _bind_schedule_monitor(self) -> None:
        """A plateau schedule built without a monitor follows the run's (direction included).
        Called before a resume loads the schedule's state, because binding resets its counters."""
        if isinstance(self.schedule, PlateauSchedule) and self.schedule.monitor is None and self.monitor is not None:
            self.schedule.bind_monitor(self.monitor)

    def _epoch_end_hooks(self, record: dict) -> None:
        """Metric-driven schedules step on the epoch's validation value; diagnostics check overfitting."""
        if self.schedule is not None and is_metric_schedule(self.schedule):
            monitor = schedule_monitor(self.schedule) or self.monitor
            if monitor is None:
                raise ConfigError([Problem("schedule.monitor", None, "a metric for the plateau schedule to watch",
                                           "Set schedule.monitor=val.loss (or train.monitor), or give the run an evaluation.")])
            self.schedule.step(_lookup(record, monitor))
        if self.diagnostics is not None:
            self.diagnostics.end_epoch(record)
            for message in self.diagnostics.drain():
                self.progress.message(f"warning: {message}")
            warned = [w for w in self.diagnostics.warnings if w.get("epoch") == record["epoch"]]
            if warned:
                record["warnings"] = [w["message"] for w in warned]

    def _update_best(self, record: dict) -> bool:
        if self.monitor is None:
            return False
        value = _lookup(record, self.monitor)
        if improves(value, self.state.best_value, self.monitor_mode):
            self.state.best_value, self.state.best_epoch = value, record["epoch"]
            return True
        return False


def _lookup(record: dict, monitor: str) -> float | None:
    split, _, name = monitor.partition(".")
    if split not in record or name not in record[split]:
        known = [f"{s}.{k}" for s in ("train", "val") for k in record.get(s, {})]
        raise ValueError(f"monitor {monitor!r} is not logged; expected one of {known}. Set train.monitor to one of them.")
    return record[split][name]


def fit(model: nn.Module, step: Step, train_data: Sequence[torch.Tensor], optimizer: torch.optim.Optimizer, *, resume: bool = False, **options: Any) -> FitResult:
    """Train ``model`` with ``step`` on ``train_data``; see :class:`Trainer` for options."""
    return Trainer(model, step, train_data, optimizer, **options).fit(resume=resume)
