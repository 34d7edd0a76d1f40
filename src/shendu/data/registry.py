"""The registries of ``shendu.data``: dataset sources and batch augmentations.

Kept in its own small module so that family modules (``sources``, ``tabular``,
``images``, ``augmentation``) can register into them without import cycles.
"""

from __future__ import annotations

from shendu.registry import Registry

DATASETS = Registry("dataset", "datasets", supplied=("config", "target_kind"))
"""Dataset sources: ``constructor(config, *, target_kind) -> RawData`` (see ``shendu.data.splits``).

Entries carry the tags ``input_kind`` ("image" or "tabular") and
``target_kinds`` (a tuple drawn from "classification", "regression" and
"multilabel", among others).
"""

AUGMENTATIONS = Registry("augmentation", "augmentations")
"""Batch augmentations: ``constructor(**options) -> callable(batch) -> batch``.

Ops tagged ``mixes_targets`` (mixup, cutmix) are called as
``(inputs, targets, num_classes) -> (inputs, soft_targets)``; the tag
``applies_to`` names the input kinds an op accepts ("image", "tabular",
"text", "series").
"""

__all__ = ["DATASETS", "AUGMENTATIONS"]
