"""Class imbalance: detection, class weights for the loss, resampling, class-balanced batches.

``handle_imbalance`` is what ``load_data`` runs on the raw training split of
classification data (``data.imbalance``):

- **detection**: the class counts of the training split; when largest /
  smallest exceeds ``warn_ratio`` (3) an :class:`ImbalanceWarning` names the
  counts, the ratio and the remedies. Counts, ratio and message are recorded in
  ``DataBundle.description["imbalance"]``.
- **class weights** (``class_weights: true``): w_i = N / (C * n_i) on the
  ORIGINAL training counts (before any resampling), returned for the loss
  (cross-entropy's and nll's ``class_weights``, focal's per-class ``alpha``,
  see :func:`loss_with_class_weights`).
- **resampling** (``resample: ...``) of the training split only, see
  ``shendu.data.resampling``.

``ClassBalancedBatchSampler`` draws every class equally often; it plugs into
``TensorBatches(..., sampler=...)`` when ``balanced_batches: true``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch

from shendu.data.resampling import SYNTHETIC_INDEX, ImbalanceWarning, resample_split
from shendu.data.splits import RawData, RawSplit
from shendu.errors import ConfigError, DataError, Problem

# The option of each loss that takes one weight per class.
CLASS_WEIGHT_OPTIONS = {"cross-entropy": "class_weights", "nll": "class_weights", "focal": "alpha"}


def _names(class_names: list[str] | None, count: int) -> list[str]:
    return list(class_names) if class_names and len(class_names) == count else [str(i) for i in range(count)]


def detect_imbalance(counts: np.ndarray, class_names: list[str] | None, warn_ratio: float,
                     remedy: str | None = None) -> dict[str, Any]:
    """Record the class counts and the largest / smallest ratio; warn when it exceeds ``warn_ratio``.

    Returns ``{"counts": {class: n}, "ratio": r, "warn_ratio": ..., "warning": message}``
    (``ratio`` is None when a class has no sample; ``warning`` only when warned).

    Args:
        counts: samples per class, (C,).
        class_names: the name of each class index.
        warn_ratio: warn when largest / smallest exceeds this.
        remedy: the remedies already configured, named in the message.
    """
    counts = np.asarray(counts, dtype=np.int64)
    names = _names(class_names, len(counts))
    largest, smallest = int(np.argmax(counts)), int(np.argmin(counts))
    ratio = None if counts[smallest] == 0 else float(counts[largest] / counts[smallest])
    record: dict[str, Any] = {"counts": dict(zip(names, counts.tolist())), "ratio": ratio, "warn_ratio": warn_ratio}
    if ratio is not None and ratio <= warn_ratio:
        return record
    if ratio is None:
        empty = [n for n, c in zip(names, counts) if c == 0]
        finding = (f"class(es) {', '.join(map(repr, empty))} have no training sample (largest class "
                   f"{names[largest]!r} has {counts[largest]}); the model cannot learn them")
    else:
        finding = (f"largest class {names[largest]!r} has {counts[largest]} samples, smallest {names[smallest]!r} "
                   f"has {counts[smallest]}: ratio {ratio:.1f} > data.imbalance.warn_ratio={warn_ratio:g}")
    advice = (f"Remedy in use: {remedy}." if remedy else
              "Remedies: data.imbalance.class_weights=true (loss weights N/(C*n_i)), "
              "data.imbalance.resample=smote (or adasyn, oversample, undersample, tomek), "
              "data.imbalance.balanced_batches=true.")
    record["warning"] = (f"Class imbalance in the training split: {finding}. {advice} "
                         "Judge the run by macro F1 or per-class recall, not accuracy.")
    warnings.warn(record["warning"], ImbalanceWarning, stacklevel=2)
    return record


def balanced_class_weights(targets: Any, num_classes: int, class_names: list[str] | None = None) -> torch.Tensor:
    """Class weights w_i = N / (C * n_i) that make every class contribute equally to the loss.

    Use them when the classes are imbalanced and you want the loss, not the
    data, to compensate: a class with half the average count gets weight 2.
    Equal to scikit-learn's ``compute_class_weight("balanced", ...)``.

    Formula: w_i = N / (C * n_i), N training samples, C classes, n_i samples of class i.

    Reference: King & Zeng, "Logistic Regression in Rare Events Data", Political Analysis 2001;
    scikit-learn's ``class_weight="balanced"``.

    Args:
        targets: int class indices of the training samples, (N,).
        num_classes: C, the number of classes (every one needs a sample).
        class_names: for the message when a class has none.
    """
    targets = np.asarray(targets.cpu() if isinstance(targets, torch.Tensor) else targets, dtype=np.int64)
    counts = np.bincount(targets, minlength=num_classes)
    if len(counts) > num_classes:
        raise DataError(f"Class indices must be below num_classes={num_classes}; received {int(targets.max())}. "
                        "Pass the number of classes of the data (len(class_names)).")
    return class_weights_from_counts(counts, class_names)


def class_weights_from_counts(counts: Any, class_names: list[str] | None = None) -> torch.Tensor:
    """:func:`balanced_class_weights` from per-class counts n_i (for data never held at once, e.g. streams)."""
    counts = np.asarray(counts, dtype=np.int64)
    num_classes = len(counts)
    empty = [name for name, count in zip(_names(class_names, num_classes), counts) if count == 0]
    if empty:
        raise DataError(
            f"data.imbalance.class_weights=true needs every class in the training split; class(es) "
            f"{', '.join(map(repr, empty))} have no training sample, so N/(C*n_i) is infinite. Add samples of "
            "those classes, lower data.val_fraction / test_fraction, or drop data.limit."
        )
    return torch.tensor(counts.sum() / (num_classes * counts), dtype=torch.float32)


def loss_with_class_weights(spec: Any, class_weights: Any) -> dict[str, Any]:
    """The loss spec with the per-class weights in the loss's own option.

    cross-entropy and nll take ``class_weights``; focal takes them as its
    per-class ``alpha``. Other losses have no per-class weight: that is an error,
    as is a spec that already sets the option (two sources of weights).

    Args:
        spec: a loss name or ``{name: ..., **options}``.
        class_weights: one weight per class, (C,) tensor or list.
    """
    supported = ", ".join(CLASS_WEIGHT_OPTIONS)
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, Mapping) or "name" not in spec:
        raise ConfigError([Problem(
            "loss", type(spec).__name__ if not isinstance(spec, Mapping) else dict(spec),
            f"a single loss by name ({supported}) when data.imbalance.class_weights=true",
            "Set loss: cross-entropy, or set data.imbalance.class_weights=false and pass the weights to your "
            "loss yourself (a weighted sum takes them per term: {name: cross-entropy, class_weights: [...]}).",
        )])
    option = CLASS_WEIGHT_OPTIONS.get(spec["name"])
    if option is None:
        raise ConfigError([Problem(
            "loss.name", spec["name"], f"a loss with per-class weights ({supported}) when "
            "data.imbalance.class_weights=true", "Set loss: cross-entropy (or focal), or data.imbalance.class_weights=false.",
        )])
    if spec.get(option) is not None:
        raise ConfigError([Problem(
            f"loss.{option}", spec[option], "unset when data.imbalance.class_weights=true computes the weights",
            f"Remove loss.{option}, or set data.imbalance.class_weights=false to keep your own.",
        )])
    weights = class_weights.tolist() if isinstance(class_weights, torch.Tensor) else list(class_weights)
    return {**spec, option: [float(w) for w in weights]}


def _refuse_for_regression(config: Any) -> None:
    chosen = [("data.imbalance.resample", config.resample, "none", "none"),
              ("data.imbalance.class_weights", config.class_weights, False, "false"),
              ("data.imbalance.balanced_batches", config.balanced_batches, False, "false")]
    problems = [Problem(key, value, f"{text} for regression targets (balancing needs classes)",
                        f"Set {key}={text}, or use a classification task.")
                for key, value, default, text in chosen if value != default]
    if problems:
        raise ConfigError(problems)


def _refuse_for_multilabel(config: Any) -> None:
    """Per-class weights and class resampling assume one class per sample; a multilabel sample has a label set."""
    chosen = [("data.imbalance.resample", config.resample, "none", "none"),
              ("data.imbalance.class_weights", config.class_weights, False, "false"),
              ("data.imbalance.balanced_batches", config.balanced_batches, False, "false")]
    problems = [Problem(key, value, f"{text} for multilabel targets (it needs one class per sample)",
                        f"Set {key}={text}. To favour rare labels, weight their positive term in the loss: "
                        "loss: {name: binary-cross-entropy, pos_weight: [w_1, ..., w_L]} (w_l = negatives / "
                        "positives of label l), or use loss: asymmetric.")
                for key, value, default, text in chosen if value != default]
    if problems:
        raise ConfigError(problems)


def _remedies(config: Any) -> str | None:
    used = ([f"data.imbalance.resample={config.resample}"] if config.resample != "none" else []) + \
        ["data.imbalance.class_weights=true"] * bool(config.class_weights) + \
        ["data.imbalance.balanced_batches=true"] * bool(config.balanced_batches)
    return ", ".join(used) or None


def handle_imbalance(config: Any, part: RawSplit, raw: RawData, *, target_kind: str,
                     seed: int) -> tuple[RawSplit, torch.Tensor | None, dict[str, Any] | None]:
    """Detect imbalance in a raw training split, compute class weights, resample it.

    Class weights are computed on the original training counts, before
    resampling: with both set, the imbalance is corrected twice (and a warning
    says so). Returns the (resampled) split, the class weights (None unless
    ``config.class_weights``) and the record for ``description["imbalance"]``
    (None for regression and multilabel).

    Args:
        config: ``shendu.config.ImbalanceConfig``.
        part: the raw training split.
        raw: the whole raw data (class names, feature columns, categorical columns).
        target_kind: "classification", "regression" or "multilabel" (remedies are refused for the last two;
            multilabel points to ``pos_weight`` in the loss).
        seed: the run seed (resampling).
    """
    if target_kind == "multilabel":
        _refuse_for_multilabel(config)
        return part, None, None
    if target_kind != "classification":
        _refuse_for_regression(config)
        return part, None, None
    num_classes = len(raw.class_names) if raw.class_names else int(np.max(part.targets, initial=-1)) + 1
    before = np.bincount(part.targets, minlength=num_classes)
    record = detect_imbalance(before, raw.class_names, config.warn_ratio, _remedies(config))
    weights = None
    if config.class_weights:
        weights = balanced_class_weights(part.targets, num_classes, raw.class_names)
        record["class_weights"] = dict(zip(record["counts"], weights.tolist()))
        record["class_weights_from"] = "the original training counts (before any resampling)"
    if config.resample != "none":
        if config.class_weights:
            warnings.warn(
                f"data.imbalance.class_weights=true and resample={config.resample} both correct the imbalance: "
                "the weights come from the original counts, so the minority classes are favoured twice. "
                "Usually one remedy is enough.", ImbalanceWarning, stacklevel=2)
        part = resample_split(part, config.resample, seed=seed, k_neighbors=config.k_neighbors,
                              features=raw.feature_names, categorical=raw.categorical, class_names=raw.class_names)
        after = np.bincount(part.targets, minlength=num_classes)
        record["resample"] = {
            "method": config.resample, "seed": seed, "before": record["counts"],
            "after": dict(zip(record["counts"], after.tolist())),
            "synthetic": int(np.sum(part.indices == SYNTHETIC_INDEX)),
        }
    return part, weights, record


class ClassBalancedBatchSampler:
    """Batches that draw every class equally often: a class uniformly, then one of its samples.

    Use it when a few classes are rare and resampling the data is unwanted
    (images, where SMOTE makes blends): each batch holds about B / C samples of
    every class. Samples are drawn with replacement, so rare samples repeat
    within an epoch and some common ones are not seen; an epoch has as many
    samples as the split, so epochs are comparable with plain shuffling. The
    order of epoch e is recomputed from (seed, e), so a resumed run continues
    exactly. Same interface as ``shendu.data.batching.BatchSampler``.

    Formula: P(sample j) = 1 / (C' * n_{y_j}), C' = classes with at least one sample.

    Args:
        targets: int class indices of the split, (N,).
        batch_size: samples per batch.
        seed: base seed; epoch ``e`` uses seed ``seed * 100003 + e``.
        drop_last: drop a final batch smaller than ``batch_size``.
    """

    def __init__(self, targets: Any, batch_size: int, *, seed: int = 0, drop_last: bool = False):
        targets = torch.as_tensor(targets).reshape(-1) if not isinstance(targets, torch.Tensor) else targets.cpu()
        if targets.dim() != 1 or targets.is_floating_point() or targets.dtype == torch.bool:
            raise DataError(
                f"ClassBalancedBatchSampler expected (N,) integer class indices; received dtype {targets.dtype} "
                f"and shape {tuple(targets.shape)}. Balanced batches need classification targets."
            )
        if len(targets) < 1:
            raise DataError("ClassBalancedBatchSampler expected at least one sample; received none.")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise DataError(f"batch_size must be a positive integer; received {batch_size!r}. Set train.batch_size=64.")
        if drop_last and len(targets) < batch_size:
            raise DataError(
                f"train.drop_last=true with batch_size={batch_size} leaves no batch of the {len(targets)} "
                "training samples. Lower train.batch_size or set train.drop_last=false.")
        self.num_samples, self.batch_size, self.seed, self.drop_last = len(targets), batch_size, seed, drop_last
        # Members of each present class, laid end to end: class c owns members[offsets[c] : offsets[c] + counts[c]].
        self.members = torch.argsort(targets.to(torch.int64), stable=True)
        self.classes, self.counts = torch.unique(targets, return_counts=True)
        self.offsets = torch.cumsum(self.counts, 0) - self.counts

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    def order(self, epoch: int) -> torch.Tensor:
        """The ``num_samples`` sample indices of ``epoch`` (with repeats)."""
        generator = torch.Generator().manual_seed(self.seed * 100003 + epoch)
        chosen = torch.randint(len(self.classes), (self.num_samples,), generator=generator)  # a class per draw
        within = torch.rand(self.num_samples, generator=generator, dtype=torch.float64)
        position = (within * self.counts[chosen]).long().clamp_max(self.counts[chosen] - 1)
        return self.members[self.offsets[chosen] + position]

    def batches(self, epoch: int, start: int = 0) -> Iterator[torch.Tensor]:
        """Index tensors of the batches of ``epoch``, from batch number ``start`` on."""
        order = self.order(epoch)
        for number in range(start, len(self)):
            yield order[number * self.batch_size : (number + 1) * self.batch_size]


__all__ = [
    "CLASS_WEIGHT_OPTIONS",
    "ClassBalancedBatchSampler",
    "ImbalanceWarning",
    "balanced_class_weights",
    "class_weights_from_counts",
    "detect_imbalance",
    "handle_imbalance",
    "loss_with_class_weights",
]
