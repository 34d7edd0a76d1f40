"""Typed run configuration: one pydantic model, YAML in and out, ``a.b=value`` overrides.

A run is fully described by one :class:`RunConfig` with the sections ``task``,
``data``, ``model``, ``loss``, ``optimizer``, ``schedule``, ``train``,
``metrics``, ``decoding`` (how text is sampled or searched) and ``output``. Unknown keys are errors. Validation reports every
problem at once (:class:`shendu.errors.ConfigError`), each naming the key, the
value received, what was expected and a fix.

Components (model, loss, optimizer, schedule, augmentations) are *specs*: a
name (``"adamw"``) or a mapping ``{name: adamw, lr: 3e-4}``. Specs are stored
normalised to mappings so that ``optimizer.lr=0.01`` works even when the YAML
said ``optimizer: adamw``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shendu.errors import ConfigError, Problem

Spec = dict[str, Any]


class YamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader, reading ``1e-3`` as a float (YAML 1.2) rather than a string."""


YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def load_yaml(text: str) -> Any:
    """Parse YAML text with :class:`YamlLoader`."""
    return yaml.load(text, Loader=YamlLoader)  # noqa: S506 (a SafeLoader subclass)
SPEC_KEYS = ("model", "loss", "optimizer", "schedule")


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, assignments re-validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class EarlyStoppingConfig(Section):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs."""

    monitor: str | None = Field(None, description="metric to watch, e.g. 'val.loss'; default: the task's")
    mode: Literal["min", "max", "auto"] = "auto"
    patience: int = Field(5, ge=1)
    min_delta: float = Field(0.0, ge=0.0)


class ImbalanceConfig(Section):
    """Remedies for class imbalance in classification data (``shendu.data.imbalance``).

    Resampling changes only the training split (never validation or test);
    class weights w_i = N / (C * n_i) from the training split are passed to the
    loss; balanced batches draw every class equally often per epoch.
    """

    resample: Literal["none", "oversample", "smote", "adasyn", "undersample", "tomek"] = "none"
    class_weights: bool = Field(False, description="weight the loss by N / (C * n_i) from the training split")
    balanced_batches: bool = Field(False, description="class-balanced batch sampler (images or any in-memory data)")
    k_neighbors: int = Field(5, ge=1, description="neighbours for SMOTE / ADASYN")
    warn_ratio: float = Field(3.0, gt=1.0, description="warn when largest / smallest class count exceeds this")


class TextConfig(Section):
    """How text becomes token ids (text classification, generation, sequence-to-sequence).

    The tokenizer is fitted on the training split only and saved in the run, so
    ``predict`` reads new text exactly as training did (``shendu list tokenizers``).
    """

    tokenizer: Spec | None = Field(None, description="char, word, bpe or wordpiece (shendu list tokenizers); "
                                   "default: the task's (char for text-generation, word for classification, bpe for seq2seq)")
    max_length: int | None = Field(None, ge=1, description="tokens kept per sample (longer ones are truncated); "
                                   "default: the longest training sample, at most 256")
    block_size: int = Field(128, ge=2, description="text-generation: tokens of context per training window")
    shared_vocabulary: bool = Field(True, description="sequence-to-sequence: one tokenizer fitted on both sides")

    @field_validator("tokenizer", mode="before")
    @classmethod
    def _tokenizer_spec(cls, value: Any) -> Any:
        return None if value is None else normalize_spec(value)


class SeriesConfig(Section):
    """How a time series becomes (lookback window -> horizon) samples for forecasting.

    Splits are always time-ordered: the last ``test_size`` steps are held out,
    the ``val_size`` steps before them validate, and the rest trains. A window
    may read observations from before its split (they are the past), never
    targets after its origin.
    """

    lookback: int = Field(24, ge=1, description="past steps the model sees")
    horizon: int = Field(1, ge=1, description="future steps predicted from each origin")
    strategy: Literal["direct", "recursive"] = Field(
        "direct", description="direct: one output per horizon step; recursive: a one-step model fed its own forecasts")
    season: int | None = Field(None, ge=1, description="seasonal period for seasonal-naive and MASE; default: "
                               "from the time column's frequency (monthly 12, daily 7, hourly 24)")
    test_size: float | int | None = Field(None, gt=0, description="held-out tail: a step count or a fraction "
                                          "(default: data.test_fraction)")
    val_size: float | int | None = Field(None, gt=0, description="validation steps before the tail: a count or a "
                                         "fraction (default: data.val_fraction)")
    stride: int = Field(1, ge=1, description="steps between consecutive training windows")
    missing: Literal["interpolate", "ffill", "raise"] = Field(
        "interpolate", description="gaps in the series: linear interpolation, carry forward, or an error")


class DataConfig(Section):
    """Where the data comes from and how it is split and prepared."""

    source: str | None = Field(None, description="dataset name (shendu list datasets); default: inferred from path")
    path: str | None = Field(None, description="file or directory holding the data")
    target: str | list[str] | None = Field(None, description="CSV target column(s)")
    features: list[str] | None = Field(None, description="CSV feature columns; default: all but the target")
    categorical: list[str] | None = Field(None, description="CSV columns to one-hot encode; default: non-numeric ones")
    val_fraction: float = Field(0.15, gt=0.0, lt=1.0)
    test_fraction: float = Field(0.15, gt=0.0, lt=1.0)
    split: Literal["auto", "random", "stratified", "group", "time"] = Field(
        "auto", description="how val/test are carved: auto = stratified for classification, else random")
    group_column: str | None = Field(None, description="split=group: rows sharing this column's value stay together")
    time_column: str | None = Field(None, description="split=time: order rows by this column (default: file order)")
    folds: int | None = Field(None, ge=2, description="k-fold cross-validation: number of folds")
    fold: int | None = Field(None, ge=0, description="k-fold: the fold used as validation in this run")
    scaling: Literal["standard", "minmax", "minmax-symmetric", "none"] = Field(
        "standard", description="features / pixels: z-score (images: per channel), [0, 1], [-1, 1] or none")
    target_transform: Literal["standard", "log", "none"] = Field(
        "standard", description="regression targets: z-score, log1p then z-score, or none")
    categorical_encoding: Literal["one-hot", "index"] = Field(
        "one-hot", description="categorical columns: one-hot, or an integer index for an embedding")
    missing: Literal["mean", "median", "drop", "raise"] = Field(
        "mean", description="missing numeric values: training mean / median, drop the row, or an error")
    imbalance: ImbalanceConfig = Field(default_factory=ImbalanceConfig)
    stream: bool = Field(False, description="read sharded data from disk in bounded memory instead of loading it")
    shuffle_buffer: int = Field(8192, ge=1, description="stream: samples held in the shuffle buffer")
    download: bool = Field(True, description="catalog datasets: download missing files (with checksums)")
    image_size: int | tuple[int, int] | None = Field(None, description="resize images to this (H, W)")
    channels: Literal["grayscale", "rgb"] | None = None
    normalize: bool = True
    on_error: Literal["raise", "skip"] = "raise"
    augment: list[Spec] = Field(default_factory=list, description="batch augmentations (shendu list augmentations)")
    limit: int | None = Field(None, ge=1, description="use at most this many training samples")
    text: TextConfig = Field(default_factory=TextConfig)
    series: SeriesConfig = Field(default_factory=SeriesConfig)

    @field_validator("augment", mode="before")
    @classmethod
    def _augment_specs(cls, value: Any) -> Any:
        return normalize_spec_list(value)


class DiagnosticsConfig(Section):
    """Cheap training diagnostics: per-layer gradient norms and warnings with a suggestion.

    Every ``every_steps`` optimizer steps the engine records the gradient norm
    of each weighted layer (one host sync) into ``metrics.jsonl`` and checks
    for vanishing gradients (first/last layer norm ratio below
    ``vanishing_ratio``), exploding gradients (total norm above
    ``exploding_norm`` or not finite) and dead ReLUs (more than
    ``dead_fraction`` of a layer's units never active on the batch). At each
    epoch end it checks for overfitting (validation loss rising for
    ``overfit_epochs`` epochs while the training loss falls).
    """

    enabled: bool = True
    every_steps: int = Field(50, ge=1, description="optimizer steps between gradient-norm records")
    vanishing_ratio: float = Field(1e-2, gt=0.0, description="warn when first/last layer gradient norm is below this")
    exploding_norm: float = Field(1e3, gt=0.0, description="warn when the total gradient norm is above this")
    dead_fraction: float = Field(0.5, gt=0.0, le=1.0, description="warn when more of a ReLU layer's units are never active")
    overfit_epochs: int = Field(3, ge=1, description="epochs of rising val loss (falling train loss) before warning")


class TrainConfig(Section):
    """How the engine trains: epochs, batches, clipping, checkpoints, early stopping."""

    epochs: int = Field(10, ge=1)
    batch_size: int = Field(64, ge=1)
    eval_batch_size: int | None = Field(None, ge=1)
    accumulate_steps: int = Field(1, ge=1, description="micro-batches per optimizer step")
    clip_grad_norm: float | None = Field(None, gt=0.0)
    clip_grad_value: float | None = Field(None, gt=0.0)
    early_stopping: EarlyStoppingConfig | None = None
    monitor: str | None = Field(None, description="metric that picks the best checkpoint; default: the task's")
    checkpoint_every_steps: int | None = Field(None, ge=1, description="also save 'last' every N steps")
    val_every_steps: int | None = Field(
        None, ge=1, description="also evaluate on the validation split every N optimizer steps inside an epoch "
        "(metrics.jsonl records of kind 'validation'); the best checkpoint and early stopping follow epoch ends")
    device: str = Field("auto", description="'auto', 'cpu', 'cuda' or 'cuda:N'")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    compile: bool = False
    drop_last: bool = False
    progress: Literal["auto", "bar", "lines", "none"] = "auto"
    diagnostics: DiagnosticsConfig = Field(default_factory=DiagnosticsConfig)
    regularizers: list[Spec] = Field(
        default_factory=list, description="training-time regularizers: l1, l2, weight-decay, max-norm (shendu list regularizers)"
    )

    @field_validator("regularizers", mode="before")
    @classmethod
    def _regularizer_specs(cls, value: Any) -> Any:
        return normalize_spec_list(value)


class DecodingConfig(Section):
    """How text is produced by text-generation and sequence-to-sequence runs.

    Sampling (text generation): logits / temperature, then top-k and/or top-p
    (nucleus) filtering; temperature 0 is greedy. Search (sequence-to-sequence):
    beam search ranks hypotheses by sum(log p) / ((5 + length) / 6) ** length_penalty
    (GNMT); beam_size 1 is greedy decoding.
    """

    temperature: float = Field(0.8, ge=0.0, description="text-generation: softmax temperature (0 = greedy)")
    top_k: int | None = Field(None, ge=1, description="text-generation: sample among the k most likely tokens")
    top_p: float | None = Field(None, gt=0.0, le=1.0, description="text-generation: nucleus sampling mass")
    max_tokens: int = Field(300, ge=1, description="text-generation: tokens generated per sample")
    prompt: str | None = Field(None, description="text-generation: prompt of the per-epoch sample; "
                               "default: the first line of the validation text")
    beam_size: int = Field(5, ge=1, description="sequence-to-sequence: beams (1 = greedy)")
    length_penalty: float = Field(0.6, ge=0.0, description="sequence-to-sequence: GNMT length penalty alpha")
    max_length: int | None = Field(None, ge=1, description="sequence-to-sequence: output tokens at most "
                                   "(default: 1.5 x source length + 10)")
    every_epoch: bool = Field(True, description="write a sample (text-generation) or greedy val BLEU "
                              "(sequence-to-sequence) at every epoch end")


class OutputConfig(Section):
    """Where the run directory goes and what is written into it."""

    dir: str = "runs"
    name: str | None = Field(None, description="run name prefix; default: the config file's stem or the task")
    plots: bool = True


class RunConfig(Section):
    """The whole description of one run."""

    task: str
    seed: int = 0
    data: DataConfig = Field(default_factory=DataConfig)
    model: Spec | None = None
    loss: Spec | None = None
    optimizer: Spec = Field(default_factory=lambda: {"name": "adamw", "lr": 1e-3})
    schedule: Spec | None = None
    train: TrainConfig = Field(default_factory=TrainConfig)
    metrics: list[str] | None = None
    decoding: DecodingConfig = Field(default_factory=DecodingConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)

    @field_validator(*SPEC_KEYS, mode="before")
    @classmethod
    def _specs(cls, value: Any) -> Any:
        return None if value is None else normalize_spec(value)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def normalize_spec_list(value: Any) -> Any:
    """A list of specs (``augment``, ``regularizers``): one spec becomes a list, each entry a mapping.
    Anything else passes through for pydantic to report."""
    if isinstance(value, (str, Mapping)):
        value = [value]
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [normalize_spec(v) for v in value]
    return value


def normalize_spec(value: Any) -> Any:
    """``"adam"`` -> ``{"name": "adam"}``; mappings are copied; other values pass through."""
    if isinstance(value, str):
        return {"name": value}
    if isinstance(value, Mapping):
        return dict(value)
    return value


# -- overrides ---------------------------------------------------------------
def parse_override(text: str) -> tuple[str, Any]:
    """``"optimizer.lr=0.01"`` -> ``("optimizer.lr", 0.01)``; the value is read as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(
            [Problem(text, text, "an override of the form key.path=value", "Write e.g. train.epochs=3.")]
        )
    try:
        value = load_yaml(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def override_pairs(overrides: Mapping[str, Any] | Sequence[str] | None) -> list[tuple[str, Any]]:
    """``{"a.b": 1}`` or ``["a.b=1"]`` -> ``[("a.b", 1)]``."""
    if not overrides:
        return []
    if isinstance(overrides, Mapping):
        return list(overrides.items())
    return [parse_override(o) for o in overrides]


def apply_overrides(raw: Mapping[str, Any], overrides: Mapping[str, Any] | Sequence[str] | None) -> dict[str, Any]:
    """Set dotted keys in a copy of ``raw``; a spec given as a name becomes a mapping first."""
    result = copy.deepcopy(dict(raw))
    for dotted, value in override_pairs(overrides):
        parts = dotted.split(".")
        node = result
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if isinstance(child, str) and (depth == 0 and part in SPEC_KEYS):
                child = {"name": child}
            if child is None:
                child = {}
            if not isinstance(child, dict):
                prefix = ".".join(parts[: depth + 1])
                raise ConfigError(
                    [Problem(dotted, value, f"{prefix} to be a section", f"{prefix} is {child!r}; set {prefix}=... directly.")]
                )
            node[part] = child
            node = child
        node[parts[-1]] = value
    return result


# -- loading and validation ----------------------------------------------------
def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with errors that name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError([Problem("<file>", str(path), "an existing YAML file", "Check the path.")])
    try:
        data = load_yaml(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(
            [Problem("<yaml>", where, "valid YAML", f"Fix the syntax near {where}: {getattr(error, 'problem', error)}")]
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([Problem("<root>", type(data).__name__, "a mapping of sections", "Start the file with 'task: ...'.")], str(path))
    return data


def _problem_from_pydantic(error: Mapping[str, Any]) -> Problem:
    key = ".".join(str(p) for p in error["loc"]) or "<root>"
    kind = error["type"]
    received = error.get("input")
    message = error.get("msg", "")
    if kind == "extra_forbidden":
        parent = key.rsplit(".", 1)[0] if "." in key else ""
        fields = _fields_at(parent)
        close = _close(key.rsplit(".", 1)[-1], fields)
        fix = f"Remove it{'; did you mean ' + repr(close) + '?' if close else '.'} Known keys: {', '.join(fields)}."
        return Problem(key, received, "no such key", fix)
    if kind == "missing":
        return Problem(key, None, "a value (the key is required)", f"Add '{key}: ...' to the config.")
    expected = message[0].lower() + message[1:] if message else kind
    for prefix in ("input should be ", "value should be "):
        if expected.startswith(prefix):
            expected = expected[len(prefix):]
    return Problem(key, received, expected, f"Set {key} to {expected}.")


def _fields_at(dotted: str) -> list[str]:
    model: Any = RunConfig
    for part in [p for p in dotted.split(".") if p]:
        field = model.model_fields.get(part)
        if field is None:
            return []
        annotation = field.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return []
    return sorted(model.model_fields)


def _close(name: str, options: list[str]) -> str | None:
    import difflib

    match = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    return match[0] if match else None


def build_config(raw: Mapping[str, Any], overrides: Any = None, source: str | None = None) -> RunConfig:
    """Validate a raw mapping (plus overrides) into a RunConfig, reporting every problem."""
    merged = apply_overrides(raw, overrides)
    try:
        return RunConfig.model_validate(merged)
    except ValidationError as error:
        problems = [_problem_from_pydantic(e) for e in error.errors()]
        raise ConfigError(problems, source) from None


def load_config(path: str | Path, overrides: Any = None) -> RunConfig:
    """Read a YAML file into a validated RunConfig."""
    raw = read_yaml(path)
    config = build_config(raw, overrides, source=str(path))
    if config.output.name is None:
        config.output.name = Path(path).stem
    return config
