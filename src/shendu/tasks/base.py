"""What every supervised task shares: schema checks, model/loss building, step, evaluation.

A task binds a data schema (input kind, classes or targets) to a default model,
a loss, metrics and the meaning of a prediction. Tasks whose training is not one
loss on one optimizer (GANs, reinforcement learning) will bring their own step
or loop but keep the same ``prepare``/``evaluate``/``predict`` surface.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from shendu.data import DATASETS, DataBundle, Preprocessing, Split, load_data, resolve_source
from shendu.data.augmentation import AugmentationSequence, build_augmentation
from shendu.data.batching import TensorBatches, evaluation_batches, sample_count
from shendu.data.imbalance import ClassBalancedBatchSampler, loss_with_class_weights
from shendu.data.streaming import ShardStream
from shendu.engine.device import autocast, place, to_device
from shendu.errors import ConfigError, DataError, Problem
from shendu.losses import FocalLoss, WeightedSumLoss, build_loss, reads_class_probabilities
from shendu.metrics import build_metrics, confusion_matrix, default_monitor
from shendu.models import MODELS, build_model, model_role
from shendu.tasks.registry import TASKS


@dataclass
class SupervisedTask:
    """A task trained by one loss on (inputs, targets) pairs.

    Args:
        name: registry name, e.g. "image-classification".
        target_kind: "classification", "regression" or "multilabel".
        input_kinds: accepted input kinds ("image", "tabular").
        default_models: default model spec per input kind.
        default_loss: loss spec used when the config sets none.
        role: the model role the task needs (registry tag ``role``: "classifier",
            "segmentation", "language-model", "sequence-to-sequence").
    """

    name: str
    target_kind: str
    input_kinds: tuple[str, ...]
    default_models: dict[str, Any]
    default_loss: Any
    role: str = "classifier"

    def configure(self, config: Any) -> SupervisedTask:
        """Bind the run's config (text tasks read ``decoding``); returns the task. Plain tasks need nothing."""
        return self

    def restore(self, run_path: Any) -> SupervisedTask:
        """Read back what :meth:`finish` stored in a run directory (multilabel: the tuned thresholds);
        returns the task. Plain tasks store nothing."""
        return self

    # -- data and components ------------------------------------------------
    def load_data(self, data_config, seed: int, preprocessing=None) -> DataBundle:
        # A source whose input kind is known up front is checked before anything is read.
        if not data_config.stream:
            source = resolve_source(data_config)
            declared = DATASETS.entry(source).tags.get("input_kind")
            if isinstance(declared, str) and declared not in self.input_kinds:
                self._wrong_input_kind(declared, source)
        bundle = load_data(data_config, target_kind=self.target_kind, seed=seed, preprocessing=preprocessing)
        if bundle.input_kind not in self.input_kinds:
            self._wrong_input_kind(bundle.input_kind, bundle.description.get("source"))
        return bundle

    def _wrong_input_kind(self, input_kind: str, source: Any) -> None:
        fitting = [name for name in TASKS.names() if input_kind in TASKS.entry(name).tags.get("inputs", ())]
        fix = (f"Choose a task for {input_kind} data: {', '.join(fitting)}." if fitting
               else f"No shendu task reads {input_kind} data yet; its readers exist for use from Python "
                    "(shendu.data), and its tasks arrive with their own issue.")
        raise DataError(
            f"Task {self.name!r} expects {' or '.join(self.input_kinds)} inputs; the data ({source}) has "
            f"{input_kind} inputs. {fix} See: shendu list tasks."
        )

    @staticmethod
    def stored(data: Any) -> Any:
        """The preprocessing of a bundle, or ``data`` itself when it already is a run's stored preprocessing."""
        return data.preprocessing if isinstance(data, DataBundle) else data

    def num_outputs(self, data: DataBundle | Preprocessing) -> int:
        """Output units: one per class (multilabel: one logit per label), or one per regression target."""
        if self.target_kind in ("classification", "multilabel"):
            return len(data.class_names)
        return len(data.target_names)

    def build_model(self, spec: Any, data: DataBundle | Preprocessing) -> nn.Module:
        """The model for ``data`` (a bundle, or a run's stored preprocessing when loading it).

        Index-coded categorical columns (``data.categorical_encoding: index``) are
        handed to models that embed them (registry tag ``categorical_embeddings``).
        """
        spec = spec if spec is not None else self.default_models[data.input_kind]
        self.check_role(spec, data.input_kind)
        preprocessing = self.stored(data)
        cardinalities = preprocessing.categorical_cardinalities if preprocessing.input_kind == "tabular" else {}
        if cardinalities and isinstance(spec, (str, Mapping)):
            name, options = MODELS.split_spec(spec)
            if MODELS.entry(name).tags.get("categorical_embeddings"):
                spec = {"name": name, **options, "embeddings": dict(cardinalities)}
        return build_model(spec, tuple(data.input_shape), self.num_outputs(data))

    def check_role(self, spec: Any, input_kind: str) -> None:
        """A ConfigError when ``spec`` names a registered model of another role (a U-Net for classification)."""
        if not isinstance(spec, (str, Mapping)):
            return
        name = MODELS.entry(MODELS.split_spec(spec)[0]).name
        role = model_role(name)
        if role != self.role:
            fitting = [n for n in MODELS.names()
                       if model_role(n) == self.role and input_kind in MODELS.entry(n).tags.get("inputs", ())]
            raise ConfigError([Problem("model", name, f"a {self.role} model for task {self.name!r}",
                                       f"{name} is a {role} model. Choose one of: {', '.join(fitting)}.")])

    def build_loss(self, spec: Any, class_weights: torch.Tensor | None = None) -> nn.Module:
        """The loss from ``spec`` (default: the task's); ``class_weights`` (C,) go into its per-class option.

        ``class_weights`` is ``DataBundle.class_weights`` (``data.imbalance.class_weights``):
        cross-entropy / nll ``class_weights``, focal ``alpha``; other losses are an error.
        """
        spec = spec if spec is not None else self.default_loss
        if class_weights is not None:
            spec = loss_with_class_weights(spec, class_weights)
        return build_loss(spec)

    def monitor(self) -> tuple[str, str]:
        """The validation metric that picks the best checkpoint, and its direction."""
        name, mode = default_monitor(self.target_kind)
        return f"val.{name}", mode

    # -- training -------------------------------------------------------------
    def make_step(self, loss_fn: nn.Module, augment_specs: list | None = None, num_classes: int | None = None, *,
                  input_kind: str | None = None, normalization: Any = None) -> Callable:
        """``step(model, (inputs, targets)) -> loss``, with batch augmentation when asked.

        Mixing augmentations (mixup, cutmix) turn the class-index targets into
        (B, C) class probabilities before the loss; they need ``num_classes``
        and a classification task.

        Args:
            loss_fn: the loss, called as ``loss_fn(model(inputs), targets)``.
            augment_specs: ``data.augment``: names, mappings or callables.
            num_classes: the number of classes (``len(bundle.class_names)``); needed by mixing augmentations.
            input_kind: the data's kind; when given, every augmentation must apply to it.
            normalization: the images' normalisation (``bundle.preprocessing.normalization``), which
                photometric augmentations need to work on pixel values.
        """
        augment = build_augmentation(augment_specs, input_kind=input_kind, normalization=normalization)
        if augment is not None and augment.mixes_targets:
            self._check_mixing(augment, loss_fn, num_classes)

        def step(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
            inputs, targets = batch
            if augment is not None:
                inputs, targets = augment.apply(inputs, targets, num_classes)
            return loss_fn(self.forward(model, inputs), targets)

        return step

    def forward(self, model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        """The model's raw outputs for a batch (text tasks drop all-padding columns first)."""
        return model(inputs)

    def train_batches(self, bundle: DataBundle, config: Any, device: torch.device) -> Any:
        """The training batch source: the streamed split's own, class-balanced batches, or a seeded permutation.

        Args:
            bundle: the loaded data.
            config: the run's ``RunConfig`` (``train.batch_size``, ``train.drop_last``,
                ``data.imbalance.balanced_batches``, ``seed``).
            device: where in-memory tensors are placed once.
        """
        train = config.train
        if isinstance(bundle.train, ShardStream):  # streamed from disk (data.stream): its own seeded order
            return bundle.train.with_batch_size(train.batch_size, drop_last=train.drop_last)
        sampler = ClassBalancedBatchSampler(
            bundle.train.targets, train.batch_size, seed=config.seed, drop_last=train.drop_last,
        ) if config.data.imbalance.balanced_batches else None
        return TensorBatches(place((bundle.train.inputs, bundle.train.targets), device), train.batch_size,
                             seed=config.seed, drop_last=train.drop_last, sampler=sampler)

    def epoch_metrics(self, model: nn.Module, bundle: DataBundle, device: torch.device) -> dict[str, Any]:
        """Extra validation entries at each epoch end, beside :meth:`evaluate`'s (a text sample, greedy BLEU).

        Values that are not numbers (a sample of generated text) are logged in
        ``metrics.jsonl`` but neither plotted nor monitored. Plain tasks add nothing.
        """
        return {}

    def finish(self, model: nn.Module, bundle: DataBundle, run_dir: Any, config: Any, device: torch.device,
               metrics: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """After the best checkpoint is evaluated: task-specific artefacts (plots, samples) and summary entries.

        ``metrics`` (split -> values) may be extended in place; the returned
        mapping is merged into ``summary.json``. Plain supervised tasks add nothing.
        """
        return {}

    def _check_mixing(self, augment: AugmentationSequence, loss_fn: nn.Module, num_classes: int | None) -> None:
        """Mixing augmentations need class labels, the class count, and a loss that reads class probabilities."""
        mixing = augment.mixing_names
        if self.target_kind != "classification":
            raise ConfigError([Problem("data.augment", mixing, f"augmentations that keep the targets of a "
                                       f"{self.target_kind} task", "mixup and cutmix mix class labels: remove them, "
                                       "or use them with a classification task.")])
        if num_classes is None:
            raise ValueError(f"make_step: augmentations {mixing} mix class labels; pass num_classes=len(class_names).")
        if isinstance(loss_fn, FocalLoss) and loss_fn.mode != "multi-class":
            raise ConfigError([Problem("loss.mode", loss_fn.mode, "'multi-class' with data.augment " + str(mixing),
                                       "Focal loss reads (B, C) float targets as binary labels unless told; set "
                                       "loss: {name: focal, mode: multi-class} to read mixed class probabilities.")])
        if not reads_class_probabilities(loss_fn):
            raise ConfigError([Problem("loss", type(loss_fn).__name__, "a loss that reads class probabilities with "
                                       f"data.augment {mixing}", "Use cross-entropy (or focal with mode: multi-class), "
                                       "or remove mixup / cutmix.")])

    # -- evaluation and prediction ------------------------------------------
    @torch.no_grad()
    def outputs(self, model: nn.Module, inputs: torch.Tensor, batch_size: int, device: torch.device, precision: str = "fp32") -> torch.Tensor:
        """Raw model outputs for ``inputs`` in eval mode, batch by batch."""
        was_training = model.training
        model.eval()
        chunks = []
        for start in range(0, len(inputs), batch_size):
            batch = to_device((inputs[start : start + batch_size],), device)[0]
            with autocast(precision, device):
                chunks.append(self.forward(model, batch).float())
        model.train(was_training)
        return torch.cat(chunks) if chunks else torch.empty(0)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: Split, loss_fn: nn.Module, bundle: DataBundle,
                 batch_size: int, device: torch.device, precision: str = "fp32") -> dict[str, Any]:
        """Loss and metrics of ``model`` on ``split`` (in memory, or a streamed batch source);
        classification adds the confusion matrix."""
        was_training = model.training
        model.eval()
        metrics = self.evaluation_metrics(bundle).to(device)
        total = torch.zeros((), device=device, dtype=torch.float64)
        terms: dict[str, torch.Tensor] = {}  # a multi-task sum's unweighted terms, summed over samples
        matrix = None
        for batch in evaluation_batches(split, batch_size):
            inputs, targets = to_device(batch, device)
            with autocast(precision, device):
                outputs = self.forward(model, inputs).float()
            total += loss_fn(outputs, targets).double() * len(targets)
            if isinstance(loss_fn, WeightedSumLoss):
                for name, value in loss_fn.last_terms.items():
                    terms[name] = terms.get(name, 0) + value.double() * len(targets)
            self.update_metrics(metrics, outputs, targets, bundle)
            if self.target_kind == "classification":
                part = confusion_matrix(outputs, targets, len(bundle.class_names))
                matrix = part if matrix is None else matrix + part
        model.train(was_training)
        num_samples = sample_count(split)
        result = {"loss": float(total / num_samples)}
        result.update({f"loss.{name}": float(value / num_samples) for name, value in terms.items()})
        result.update({name: float(value) for name, value in metrics.compute().items()})
        if matrix is not None:
            result["confusion_matrix"] = matrix.cpu().tolist()
        return result

    def evaluation_metrics(self, bundle: DataBundle) -> Any:
        """The metric collection :meth:`evaluate` fills: the defaults of the task's kind."""
        return build_metrics(None, self.target_kind, num_classes=len(bundle.class_names or []) or None,
                             num_outputs=len(bundle.target_names or []) or None)

    def update_metrics(self, metrics: Any, outputs: torch.Tensor, targets: torch.Tensor, bundle: DataBundle) -> None:
        """One evaluation batch into the metrics; regression scores values on the original scale."""
        if self.target_kind == "regression":
            outputs, targets = bundle.preprocessing.decode_targets(outputs), bundle.preprocessing.decode_targets(targets)
        metrics.update(outputs, targets)

    def predict(self, model: nn.Module, preprocessing: Any, inputs: Any, *, config: Any = None,
                batch_size: int = 256, **options: Any) -> list[dict[str, Any]]:
        """User inputs (image files, rows, arrays) -> one prediction dict per input (see :meth:`describe`)."""
        if options:
            raise TypeError(f"{self.name} predictions take no options; received {', '.join(options)}. "
                            "Remove them (--prompt / --text belong to text-generation and sequence-to-sequence runs).")
        device = next(model.parameters()).device
        encoded = preprocessing.encode_inputs(inputs)
        return self.describe(self.outputs(model, encoded, batch_size, device), preprocessing)

    def describe(self, outputs: torch.Tensor, preprocessing: Preprocessing) -> list[dict[str, Any]]:
        """Turn raw outputs into user-level predictions (labels with probabilities, or values)."""
        if self.target_kind == "classification":
            class_names = preprocessing.class_names
            probabilities = torch.softmax(outputs.float(), dim=-1).cpu()
            best = probabilities.argmax(dim=-1)
            return [
                {"label": class_names[int(b)], "probability": float(p[b]),
                 "probabilities": {name: float(v) for name, v in zip(class_names, p)}}
                for b, p in zip(best, probabilities)
            ]
        values = preprocessing.decode_targets(outputs.float()).cpu()
        return [{name: float(v) for name, v in zip(preprocessing.target_names, row)} for row in values]
