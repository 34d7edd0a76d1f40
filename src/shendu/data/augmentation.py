"""Batch augmentations: random transformations of whole batches, as tensor ops.

Each augmentation is built from options (``AUGMENTATIONS.get({"name":
"random-crop", "padding": 4})``) and called on a whole batch on any device.
There is no per-sample Python loop: every sample draws its own random
parameters from one vectorised draw of the global torch RNG
(``torch.rand(..., device=batch.device)``), so the engine's saved RNG state
makes augmented training exactly reproducible, and ``torch.manual_seed(s)``
before a call reproduces its output. The engine applies them to training
batches only, after preprocessing (so a "zero" fill means "the mean").

The families, by the registry tag ``applies_to``:

- image (B, C, H, W): flips, random-crop, random-translate, random-erasing
  (``augment_image``); random-resized-crop, rotation, affine
  (``augment_warp``); color-jitter, gaussian-noise (``augment_color``);
  cutmix and mixup (``augment_mix``).
- text, token ids (B, T): random-deletion, random-swap, synonym-replacement (``augment_text``).
- series (B, T, F): jitter, scaling, window-slicing (``augment_series``).

Mixing ops (tag ``mixes_targets=True``) also change the targets and are
called ``op(inputs, targets, num_classes) -> (inputs, soft_targets)``;
:class:`AugmentationSequence` routes the targets through them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

# The family modules, imported so that every built-in registers.
from shendu.data import augment_color, augment_image, augment_mix, augment_series, augment_text, augment_warp  # noqa: F401
from shendu.data.augment_color import ColorJitter, GaussianNoise
from shendu.data.augment_image import HorizontalFlip, RandomCrop, RandomErasing, RandomTranslation, VerticalFlip
from shendu.data.augment_mix import CutMix, Mixup
from shendu.data.augment_series import Jitter, Scaling, WindowSlicing
from shendu.data.augment_text import RandomDeletion, RandomSwap, SynonymReplacement
from shendu.data.augment_warp import Affine, RandomResizedCrop, Rotation
from shendu.data.registry import AUGMENTATIONS
from shendu.errors import ConfigError, DataError, Problem
from shendu.registry import Entry


def applies_to(entry: Entry) -> tuple[str, ...]:
    """The input kinds an augmentation is for (its ``applies_to`` tag, a string or a tuple)."""
    kinds = entry.tags.get("applies_to", "image")
    return (kinds,) if isinstance(kinds, str) else tuple(kinds)


def mixes_targets(entry: Entry) -> bool:
    """Whether an augmentation also changes the targets (mixup, cutmix)."""
    return bool(entry.tags.get("mixes_targets", False))


def augmentations_for(input_kind: str) -> list[str]:
    """The names of the augmentations that apply to ``input_kind`` data."""
    return [entry.name for entry in AUGMENTATIONS.entries() if input_kind in applies_to(entry)]


def _own_precision(batch: torch.Tensor) -> Any:
    """Run augmentations in the batch's own dtype, outside any autocast region of the training step
    (autocast would turn colour matrices and resampling grids to bf16 / fp16 and change the batch's dtype)."""
    return torch.autocast(batch.device.type, enabled=False)


class AugmentationSequence:
    """Apply augmentations one after another; mixing ops change the targets too.

    Use ``sequence(inputs)`` when no step mixes targets, and
    ``sequence.apply(inputs, targets, num_classes)`` always works: plain steps
    transform the inputs, mixing steps (``mixes[i]`` True) the inputs and the
    targets, which become (B, C) class probabilities. Steps run in the batch's
    own dtype, with autocast switched off around them.

    Args:
        steps: callables inputs -> inputs, or (inputs, targets, num_classes) -> (inputs, targets) for mixing steps.
        mixes: per step, whether it mixes targets; default none do.
        names: per step, a name for messages; default the steps' reprs.
    """

    def __init__(self, steps: Sequence[Callable[..., Any]], mixes: Sequence[bool] | None = None,
                 names: Sequence[str] | None = None):
        self.steps = list(steps)
        self.mixes = [bool(m) for m in mixes] if mixes is not None else [False] * len(self.steps)
        self.names = list(names) if names is not None else [repr(step) for step in self.steps]
        if not len(self.mixes) == len(self.names) == len(self.steps):
            raise ValueError(f"AugmentationSequence: expected as many mixes and names as steps; received "
                             f"{len(self.steps)} steps, {len(self.mixes)} mixes and {len(self.names)} names.")

    @property
    def mixes_targets(self) -> bool:
        """True when some step mixes targets (then call :meth:`apply`)."""
        return any(self.mixes)

    @property
    def mixing_names(self) -> list[str]:
        """The names of the steps that mix targets."""
        return [name for name, mixes in zip(self.names, self.mixes) if mixes]

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        if self.mixes_targets:
            raise DataError(f"Augmentations {self.mixing_names} mix the targets too; expected apply(inputs, targets, "
                            "num_classes) -> (inputs, targets), received only the inputs. Call apply() instead.")
        with _own_precision(batch):
            for step in self.steps:
                batch = step(batch)
        return batch

    def apply(self, inputs: torch.Tensor, targets: torch.Tensor,
              num_classes: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Augment a batch of (inputs, targets); ``num_classes`` is needed only by mixing steps."""
        with _own_precision(inputs):
            for step, mixes, name in zip(self.steps, self.mixes, self.names):
                if not mixes:
                    inputs = step(inputs)
                    continue
                if num_classes is None:
                    raise DataError(f"Augmentation {name!r} mixes class labels and needs the number of classes; "
                                    "received num_classes=None. Pass num_classes=len(class_names).")
                inputs, targets = step(inputs, targets, num_classes)
        return inputs, targets

    def __repr__(self) -> str:
        return f"AugmentationSequence({self.steps!r})"


def _statistics(normalization: Any) -> dict[str, list[float]]:
    """{"mean": [...], "std": [...]} from a Normalization (or any object with ``mean`` and ``std``) or a mapping."""
    if isinstance(normalization, Mapping):
        return {"mean": list(normalization["mean"]), "std": list(normalization["std"])}
    return {"mean": list(normalization.mean), "std": list(normalization.std)}


def _build_one(spec: Any, key: str, input_kind: str | None, normalization: Any) -> tuple[Callable, bool, str]:
    """(the augmentation, whether it mixes targets, its name) for one spec of data.augment."""
    if not isinstance(spec, (str, Mapping)):
        if not callable(spec):
            raise ConfigError([Problem(key, spec, "a name, a {name: ..., options} mapping or a callable",
                                       "See: shendu list augmentations.")])
        return spec, False, repr(spec)
    AUGMENTATIONS.check(spec, key)  # unknown name or option: a did-you-mean error
    name, options = AUGMENTATIONS.split_spec(spec)
    entry = AUGMENTATIONS.entry(name)
    if input_kind is not None and input_kind not in applies_to(entry):
        fitting = augmentations_for(input_kind)
        raise ConfigError([Problem(
            key, name, f"an augmentation for {input_kind} data (it applies to {' and '.join(applies_to(entry))} data)",
            f"Remove it, or use one of: {', '.join(fitting) or 'none yet'}.",
        )])
    if entry.tags.get("uses_normalization") and normalization is not None:
        for option, values in _statistics(normalization).items():
            options.setdefault(option, values)
    return entry.constructor(**options), mixes_targets(entry), name


def build_augmentation(specs: Any, input_kind: str | None = None,
                       normalization: Any = None) -> AugmentationSequence | None:
    """Build the augmentations listed in ``data.augment`` into one sequence (None when empty).

    Each spec is a name (``"horizontal-flip"``), a mapping
    (``{"name": "random-crop", "padding": 4}``) or a callable batch -> batch.

    Args:
        specs: one spec or a list of them.
        input_kind: the data's kind ("image", "tabular", "text", "series"); when given, every named
            augmentation must apply to it (a ConfigError lists those that do).
        normalization: the images' per-channel normalisation (an object or mapping with ``mean`` and
            ``std``), given to photometric ops (tag ``uses_normalization``) that work on pixel values.
    """
    if specs is None:
        return None
    if isinstance(specs, (str, Mapping)) or callable(specs):
        specs = [specs]
    built = [_build_one(spec, f"data.augment[{index}]", input_kind, normalization) for index, spec in enumerate(specs)]
    if not built:
        return None
    steps, mixes, names = zip(*built)
    return AugmentationSequence(steps, mixes, names)


__all__ = [
    "AUGMENTATIONS", "AugmentationSequence", "build_augmentation", "applies_to", "mixes_targets", "augmentations_for",
    "HorizontalFlip", "VerticalFlip", "RandomCrop", "RandomTranslation", "RandomErasing",
    "RandomResizedCrop", "Rotation", "Affine", "ColorJitter", "GaussianNoise", "Mixup", "CutMix",
    "RandomDeletion", "RandomSwap", "SynonymReplacement", "Jitter", "Scaling", "WindowSlicing",
]
