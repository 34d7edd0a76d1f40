"""The Python API: train, evaluate, load, validate, demo — every CLI verb calls one of these.

    import shendu
    run = shendu.train("configs/mnist-cnn.yaml", overrides={"train.epochs": 2})
    run.metrics["test"]["accuracy"]; run.model          # a plain torch.nn.Module
    shendu.load(run.path).predict(["digit.png"])
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from shendu.config import (
    RunConfig,
    apply_overrides,
    build_config,
    load_config,
    normalize_spec_list,
    override_pairs,
    read_yaml,
)
from shendu.data import DATASETS, Preprocessing, Split
from shendu.data.restore import restore_preprocessing
from shendu.data.tokenizers import TOKENIZERS
from shendu.data.augmentation import AUGMENTATIONS
from shendu.data.batching import concatenate_splits, is_batch_source, sample_count
from shendu.engine import Progress, Trainer, place, resolve_device, resolve_precision
from shendu.errors import ConfigError, Problem
from shendu.losses import LOSSES, loss_problems
from shendu.metrics import METRICS, higher_is_better
from shendu.models import BUILD_OPTIONS as MODEL_BUILD_OPTIONS
from shendu.models import MODELS
from shendu.nn import ACTIVATIONS, INITIALIZERS, REGULARIZERS, init_problems, regularizer_problems
from shendu.optim import BUILD_OPTIONS, OPTIMIZERS, SCHEDULES, build_optimizer, build_schedule
from shendu.report.plots import plot_confusion_matrix, plot_history
from shendu.registry import Registry
from shendu.run import RunDirectory, load_checkpoint, now
from shendu.tasks import TASKS

DEMO_CONFIG: dict[str, Any] = {
    "task": "image-classification",
    "seed": 0,
    "data": {"source": "digits"},
    "model": {"name": "cnn", "channels": [32, 64], "hidden_size": 128, "dropout": 0.25, "batch_norm": True},
    "optimizer": {"name": "adamw", "lr": 0.003, "weight_decay": 0.01},
    "schedule": {"name": "one-cycle"},
    "train": {"epochs": 20, "batch_size": 32},
    "output": {"name": "demo"},
}


# -- configuration ----------------------------------------------------------------
def resolve_config(config: str | Path | Mapping | RunConfig | None = None, overrides: Any = None, **fields: Any) -> RunConfig:
    """A RunConfig from a YAML path, a mapping, a RunConfig or keyword fields, plus overrides.

    Every problem is reported at once: schema errors (unknown keys, bad values)
    together with unknown component names and options.
    """
    source = None
    if isinstance(config, RunConfig):
        raw: dict[str, Any] = config.to_dict()
    elif isinstance(config, (str, Path)):
        raw, source = read_yaml(config), str(config)
    else:
        raw = dict(config or {})
    raw.update(fields)
    merged = _default_model_name(apply_overrides(raw, overrides))
    try:
        resolved = build_config(merged, source=source)
    except ConfigError as error:
        raise ConfigError(error.problems + _component_problems(merged), source) from None
    problems = _component_problems(resolved.to_dict())
    if problems:
        raise ConfigError(problems, source)
    if resolved.output.name is None:
        resolved.output.name = Path(config).stem if source else resolved.task
    return resolved


def _default_model_name(raw: dict[str, Any]) -> dict[str, Any]:
    """``model.num_layers=4`` without ``model.name``: the options are for the task's default model, when it has one."""
    model, task = raw.get("model"), raw.get("task")
    if isinstance(model, Mapping) and "name" not in model and isinstance(task, str) and task in TASKS:
        defaults = {spec["name"] for spec in TASKS.get(task).default_models.values()}
        if len(defaults) == 1:
            raw["model"] = {"name": defaults.pop(), **model}
    return raw


def merge_overrides(fields: Mapping[str, Any], overrides: Any) -> dict[str, Any]:
    """Overrides (mapping or ``key=value`` strings) on top of ``fields``."""
    return {**fields, **dict(override_pairs(overrides))}


def registries() -> dict[str, Registry]:
    """Every component registry, keyed by the word ``shendu list`` takes, in teaching order."""
    kinds = (TASKS, MODELS, LOSSES, OPTIMIZERS, SCHEDULES, ACTIVATIONS, INITIALIZERS, REGULARIZERS,
             METRICS, DATASETS, AUGMENTATIONS, TOKENIZERS)
    return {registry.plural: registry for registry in kinds}


def component_table() -> str:
    """Markdown: one table per kind with every registered name, summary and reference (README's catalogue)."""
    parts = []
    for plural, registry in registries().items():
        parts.append(f"**{plural.capitalize()}** ({len(registry)})\n")
        parts.append("| name | what it is | reference |\n|---|---|---|")
        for entry in registry.entries():
            summary = entry.summary.replace("|", "\\|")
            reference = (entry.reference or "").replace("|", "\\|")
            parts.append(f"| `{entry.name}` | {summary} | {reference if reference != '-' else ''} |")
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def _spec_list(value: Any) -> list[Any]:
    """``augment`` or ``regularizers`` as a list of specs; malformed values are left to the schema check."""
    value = normalize_spec_list(value or [])
    return value if isinstance(value, list) else []


def _component_problems(raw: Mapping[str, Any]) -> list[Problem]:
    """Unknown component names and options in a raw (possibly invalid) config mapping."""
    def section(key: str) -> Mapping[str, Any]:
        value = raw.get(key)
        return value if isinstance(value, Mapping) else {}

    def spec(value: Any) -> Any:
        return value if isinstance(value, (str, Mapping)) else None

    data = section("data")
    problems: list[Problem] = []
    if isinstance(raw.get("task"), str):
        problems += TASKS.problems(raw["task"], "task")
    problems += MODELS.problems(spec(raw.get("model")), "model", extra=MODEL_BUILD_OPTIONS)
    problems += loss_problems(spec(raw.get("loss")), "loss")
    problems += OPTIMIZERS.problems(spec(raw.get("optimizer")), "optimizer", extra=BUILD_OPTIONS)
    problems += SCHEDULES.problems(spec(raw.get("schedule")), "schedule")
    if "init" in section("model"):
        problems += init_problems(section("model")["init"])
    problems += regularizer_problems(_spec_list(section("train").get("regularizers")))
    for index, item in enumerate(_spec_list(data.get("augment"))):
        problems += AUGMENTATIONS.problems(spec(item), f"data.augment.{index}")
    if isinstance(data.get("source"), str):
        problems += DATASETS.problems(data["source"], "data.source")
    metrics = raw.get("metrics")
    for index, name in enumerate(metrics if isinstance(metrics, list) else []):
        problems += METRICS.problems(spec(name), f"metrics.{index}")
    if "task" in raw and data.get("source") is None and data.get("path") is None:
        problems.append(Problem("data", None, "data.source or data.path",
                                "Set data.source=digits (shendu list datasets) or data.path=PATH."))
    return problems


def validate(config: str | Path | Mapping | RunConfig, overrides: Any = None) -> RunConfig:
    """Check a config without running anything; raises ConfigError listing every problem."""
    return resolve_config(config, overrides)


# -- a run --------------------------------------------------------------------------
class Run:
    """A trained run: its directory, config, model, metrics and ``predict``."""

    def __init__(self, path: str | Path, config: RunConfig, model: torch.nn.Module, preprocessing: Preprocessing,
                 summary: dict | None = None):
        self.path, self.config, self.model = Path(path), config, model
        self.preprocessing, self.summary = preprocessing, summary or {}
        self.task = TASKS.get(config.task).configure(config).restore(self.path)
        self.device = next(model.parameters()).device

    @property
    def metrics(self) -> dict[str, dict[str, float]]:
        """Final metrics per split of the best checkpoint, e.g. ``run.metrics["test"]["accuracy"]``."""
        return self.summary.get("metrics", {})

    @property
    def history(self) -> list[dict]:
        return RunDirectory(self.path).history()

    def predict(self, inputs: Any = None, batch_size: int = 256, **options: Any) -> list[dict[str, Any]]:
        """Predict for image files, CSV rows / a DataFrame, raw arrays, or text.

        Returns one dict per input: ``{"label", "probability", "probabilities"}``
        for classification, ``{"labels", "probabilities"}`` for multilabel
        classification, ``{target_name: value}`` for regression, generated
        text for text-generation (``prompt=``, ``max_tokens=``) and translations
        for sequence-to-sequence (a string or a list of strings).
        """
        return self.task.predict(self.model, self.preprocessing, inputs, config=self.config,
                                 batch_size=batch_size, **options)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"


def load(path: str | Path, checkpoint: str = "best", device: str = "cpu") -> Run:
    """Open a finished (or interrupted) run: its model from ``checkpoint`` (best, else last)."""
    run_dir = RunDirectory.open(path)
    config = load_config(run_dir.config_path)
    preprocessing = restore_preprocessing(run_dir.read_json("data.json")["preprocessing"])
    task = TASKS.get(config.task).configure(config)
    model = task.build_model(config.model, preprocessing)
    which = checkpoint if run_dir.checkpoint(checkpoint).exists() else "last"
    state, _, _ = load_checkpoint(run_dir.checkpoint(which))
    model.load_state_dict(state)
    model.to(resolve_device(device)).eval()
    summary = json.loads((run_dir.path / "summary.json").read_text()) if (run_dir.path / "summary.json").exists() else {}
    return Run(run_dir.path, config, model, preprocessing, summary)


def data_overrides(data: str | Path | None) -> dict[str, Any]:
    """``--data X``: a registered dataset name selects it; anything else is a path.

    A path clears ``data.source`` so the format is inferred from what the path
    holds (MNIST files, a CSV, an image folder), whatever the config named.
    """
    if data is None:
        return {}
    text = str(data)
    if text in DATASETS and not Path(text).exists():
        return {"data.source": text, "data.path": None}
    if not Path(text).exists() and "/" not in text and "." not in text and DATASETS.suggestions(text):
        raise DATASETS.unknown(text)  # a misspelt dataset name rather than a path
    return {"data.path": text, "data.source": None}


def _monitor(config: RunConfig, task: Any) -> tuple[str, str]:
    if config.train.monitor is None:
        return task.monitor()
    return config.train.monitor, "max" if higher_is_better(config.train.monitor) else "min"


def train(config: str | Path | Mapping | RunConfig | None = None, *, overrides: Any = None,
          resume: str | Path | None = None, output_dir: str | Path | None = None,
          progress: str | None = None, **fields: Any) -> Run:
    """Train from a config (path, mapping or RunConfig) or keyword fields; return the Run.

    Args:
        config: ``"configs/mnist-cnn.yaml"``, a mapping, or a RunConfig.
        overrides: ``{"train.epochs": 2}`` or ``["train.epochs=2"]``.
        resume: a run directory to continue exactly where it stopped.
        output_dir: parent directory of the run (sets ``output.dir``).
        progress: "bar", "lines" or "none" (sets ``train.progress``).
        **fields: top-level config sections, e.g. ``task="regression", data={"source": "diabetes"}``.
    """
    started_at, clock = now(), time.perf_counter()
    extra = {k: v for k, v in (("output.dir", str(output_dir) if output_dir else None), ("train.progress", progress)) if v}
    if resume is not None:
        run_dir = RunDirectory.open(resume)
        config = load_config(run_dir.config_path, overrides=merge_overrides(extra, overrides))
    else:
        config = resolve_config(config, merge_overrides(extra, overrides), **fields)
        run_dir = None
    task = TASKS.get(config.task).configure(config)
    device = resolve_device(config.train.device)
    torch.manual_seed(config.seed)
    with warnings.catch_warnings(record=True) as data_warnings:  # e.g. class imbalance: shown and kept in summary.json
        warnings.simplefilter("always")
        bundle = task.load_data(config.data, config.seed)
    data_seconds = time.perf_counter() - clock
    torch.manual_seed(config.seed)  # initial weights depend on the seed only
    model = task.build_model(config.model, bundle).to(device)
    loss_fn = task.build_loss(config.loss, class_weights=bundle.class_weights).to(device)
    optimizer = build_optimizer(config.optimizer, model)
    trainer_progress = Progress(config.train.progress)
    if run_dir is None:
        run_dir = RunDirectory.create(config.output.dir, config.output.name or config.task)
        run_dir.config_path.write_text(config.to_yaml())
        run_dir.write_manifest(config.seed, bundle.description, started_at)
        run_dir.write_json("data.json", {"preprocessing": bundle.preprocessing.to_dict()})
    trainer_progress.message(f"run: {run_dir.path}  ({sample_count(bundle.train)} train / {sample_count(bundle.val)} val / "
                             f"{sample_count(bundle.test) if bundle.test is not None else 0} test samples, device {device})")
    train_data = task.train_batches(bundle, config, device)
    val = bundle.val if is_batch_source(bundle.val) else Split(*place((bundle.val.inputs, bundle.val.targets), device))
    precision = resolve_precision(config.train.precision, device)
    eval_batch = config.train.eval_batch_size or max(256, config.train.batch_size)

    def evaluate_val(current: torch.nn.Module) -> dict[str, float]:
        metrics = task.evaluate(current, val, loss_fn, bundle, eval_batch, device, precision)
        metrics.pop("confusion_matrix", None)
        metrics.update(task.epoch_metrics(current, bundle, device))
        return metrics

    monitor, mode = _monitor(config, task)
    trainer = Trainer(model, task.make_step(
                          loss_fn, config.data.augment, num_classes=len(bundle.class_names) if bundle.class_names else None,
                          input_kind=bundle.input_kind, normalization=bundle.preprocessing.normalization),
                      train_data, optimizer,
                      config=config.train, seed=config.seed, device=device, evaluate=evaluate_val,
                      monitor=monitor, monitor_mode=mode, run=run_dir, progress=trainer_progress)
    steps = trainer.steps_per_epoch
    trainer.schedule = build_schedule(config.schedule, optimizer, steps * config.train.epochs, steps)
    for warning in data_warnings:  # shown again to the caller (and to pytest.warns) after being recorded
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    result = trainer.fit(resume=resume is not None)
    result.warnings[:0] = [{"message": str(w.message), "source": "data"} for w in data_warnings]
    return _finish(run_dir, config, task, bundle, model, loss_fn, result, device, precision, eval_batch,
                   {"data": data_seconds, "started": clock})


def _finish(run_dir, config, task, bundle, model, loss_fn, result, device, precision, eval_batch, timing) -> Run:
    """Evaluate the best checkpoint on val and test; write plots, summary.json; print the table."""
    which = "best" if run_dir.checkpoint("best").exists() else "last"
    state, _, _ = load_checkpoint(run_dir.checkpoint(which))
    model.load_state_dict(state)
    evaluate_started = time.perf_counter()
    metrics, matrices = {}, {}
    for split_name in ("val", "test"):
        split = getattr(bundle, split_name)
        if split is None:
            continue
        values = task.evaluate(model, split, loss_fn, bundle, eval_batch, device, precision)
        if "confusion_matrix" in values:
            matrices[split_name] = values.pop("confusion_matrix")
        metrics[split_name] = values
    extra = task.finish(model, bundle, run_dir, config, device, metrics)
    evaluate_seconds = time.perf_counter() - evaluate_started
    history = run_dir.history()
    summary = {
        "task": config.task, "checkpoint": which, "metrics": metrics,
        "best_epoch": result.best_epoch, "monitor": result.monitor, "best_value": result.best_value,
        "epochs_run": len(history), "steps": result.global_step, "stopped_early": result.stopped_early,
        "warnings": [w["message"] for w in result.warnings],
        "seconds": {"data": round(timing["data"], 3), "train": round(result.train_seconds, 3),
                    "evaluate": round(evaluate_seconds, 3), "total": round(time.perf_counter() - timing["started"], 3)},
    }
    summary.update(extra)
    if matrices:
        summary["confusion_matrix"] = {"class_names": bundle.class_names, **matrices}
    if config.output.plots:
        plot_history(history, run_dir.plots, run_dir.history("validation"))
        for split_name, matrix in matrices.items():
            plot_confusion_matrix(matrix, bundle.class_names, run_dir.plots / f"confusion-matrix-{split_name}.png", split_name)
    run_dir.write_json("summary.json", summary)
    run_dir.update_manifest(finished=now())
    return Run(run_dir.path, config, model, bundle.preprocessing, summary)


def summary_table(summary: Mapping[str, Any]) -> str:
    """The final table: one row per split, one column per metric."""
    metrics = dict(summary.get("metrics", {}))
    for split, scores in summary.get("baselines", {}).items():  # forecasting: baselines on the same windows
        for baseline, values in scores.items():
            metrics[f"{split} {baseline}"] = values
    names = list(dict.fromkeys(n for values in metrics.values() for n in values
                               if isinstance(values[n], (int, float))))
    rows = [["split", *names]] + [[split, *(f"{values.get(n, float('nan')):.4f}" for n in names)] for split, values in metrics.items()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in rows]
    seconds = summary.get("seconds", {})
    lines.append(f"best epoch {summary.get('best_epoch')} by {summary.get('monitor')}; "
                 f"train {seconds.get('train', 0):.1f} s, total {seconds.get('total', 0):.1f} s")
    for message in summary.get("warnings", []):
        lines.append(f"warning: {message}")
    return "\n".join(lines)


def evaluate(run: str | Path | Run, data: str | Path | None = None, split: str | None = None,
             batch_size: int = 256) -> dict[str, Any]:
    """Metrics of a run's best model on a split of its data, or on other data.

    Args:
        run: a run directory or a loaded Run.
        data: other data (a path or dataset name) read with the run's stored preprocessing.
        split: "train", "val", "test" or "all"; default "test" for the run's own
            data and "all" (every row of the new data) when ``data`` is given.
    """
    run = run if isinstance(run, Run) else load(run)
    split = split or ("all" if data is not None else "test")
    if split not in ("train", "val", "test", "all"):
        raise ValueError(f"split must be train, val, test or all; received {split!r}. Pass --split test.")
    config = build_config(run.config.to_dict(), data_overrides(data))
    bundle = run.task.load_data(config.data, config.seed, preprocessing=run.preprocessing)
    parts = [getattr(bundle, name) for name in ("train", "val", "test")] if split == "all" else [getattr(bundle, split)]
    parts = [part for part in parts if part is not None and sample_count(part)]
    if not parts:
        raise ValueError(f"the data has no {split} split. Use --split all.")
    chosen = concatenate_splits(parts, batch_size)  # streamed splits are read one after another
    loss_fn = run.task.build_loss(config.loss).to(run.device)
    metrics = run.task.evaluate(run.model, chosen, loss_fn, bundle, batch_size, run.device)
    metrics["samples"] = sample_count(chosen)
    RunDirectory(run.path).write_json(f"predictions/evaluation-{split}.json", {"data": bundle.description, "metrics": metrics})
    return metrics


def demo(output_dir: str | Path = "runs", progress: str | None = None) -> Run:
    """Train the embedded default: a CNN on scikit-learn's bundled digits, report and all."""
    return train(DEMO_CONFIG, output_dir=output_dir, progress=progress)


def explain(name: str, kind: str | None = None, out: str | Path | None = None) -> Any:
    """Explain a registered component: its summary, formula, when to use it, options and reference,
    plus a plot of what it does (activations, schedules, optimizers, losses, initializers).

    Args:
        name: a registered name, e.g. "adam", "cosine", "gelu".
        kind: "optimizer", "loss", ... — needed when the name is in several registries.
        out: the directory for ``explain-<name>.png``; default the current directory.

    Returns an ``Explanation`` with ``.text`` and ``.plot`` (a path, or None).
    """
    # Imported here so that `import shendu` does not import matplotlib.
    from shendu.report.explain import explain as explain_component

    return explain_component(name, kind=kind, out=out)
