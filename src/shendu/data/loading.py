"""``load_data``: read a source, split it, fix imbalance, fit or reuse preprocessing.

The one entry point from a run's ``DataConfig`` to ready tensors: it resolves
the source (``data.source``, or inferred from ``data.path``), reads it, splits
it (``shendu.data.splits``), fits preprocessing on the training split only (or
applies a run's stored one) and returns a :class:`DataBundle`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from shendu.data.imbalance import handle_imbalance
from shendu.data.catalog import with_hints
from shendu.data.preprocessing import Preprocessing, fit_preprocessing, handle_missing_rows, preprocessing_options
from shendu.data.registry import DATASETS
from shendu.data.sources import resolve_source
from shendu.data.splits import RawData, RawSplit, Split, SplitPlan, limit_train, split_raw_data, time_order_facts
from shendu.errors import DataError

TARGET_KINDS = ("classification", "regression", "multilabel")
SINGLE_TARGET_KINDS = ("classification", "regression")  # what a source without a target_kinds tag provides


@dataclass
class DataBundle:
    """The three preprocessed splits of a dataset and what they mean.

    Args:
        train, val, test: the splits (test is None only for sources without one); with
            ``data.stream`` they are ``ShardStream`` batch sources read from disk, so
            count a split's samples with ``shendu.data.batching.sample_count(split)``.
        input_kind: "image" or "tabular".
        input_shape: per-sample input shape, (C, H, W) or (F,).
        class_names: classification: the name of each class index; multilabel: the name of each label.
        target_names: regression: the name of each target column; multilabel: the label names again
            (each label is a 0/1 target column).
        feature_names: tabular: the name of each encoded feature column.
        preprocessing: fitted on the training split; stored with the run.
        description: JSON-able facts: source, path, samples per split, where each
            split came from, fingerprints of the source data.
        class_weights: (C,) loss weights N / (C * n_i) from the original training
            counts when ``data.imbalance.class_weights`` is set, else None.
        extras: what a task needs beyond tensors, by name (e.g. reference sentences
            per split for BLEU, baseline forecasts per split).
    """

    train: Split
    val: Split
    test: Split | None
    input_kind: str
    input_shape: tuple[int, ...]
    class_names: list[str] | None
    target_names: list[str] | None
    feature_names: list[str] | None
    preprocessing: Preprocessing
    description: dict[str, Any]
    class_weights: torch.Tensor | None = None
    extras: dict[str, Any] = field(default_factory=dict)


def _check_target_kind(name: str, target_kind: str) -> None:
    if target_kind not in TARGET_KINDS:
        raise DataError(f"target_kind must be one of {', '.join(TARGET_KINDS)}; received {target_kind!r}.")
    offered = DATASETS.entry(name).tags.get("target_kinds", SINGLE_TARGET_KINDS)
    if target_kind not in offered:
        others = [n for n in DATASETS.names() if target_kind in DATASETS.entry(n).tags.get("target_kinds", ())]
        raise DataError(
            f"Dataset {name!r} provides {' / '.join(offered)} targets; the task needs {target_kind}. "
            f"Choose a {target_kind} dataset: {', '.join(others)}."
        )


def _align_to_stored(stored: Preprocessing, parts: dict[str, RawSplit], raw: RawData) -> None:
    """Check new data against a run's stored preprocessing; remap class indices to the run's."""
    if raw.input_kind != stored.input_kind:
        raise DataError(f"The run was trained on {stored.input_kind} data; this data is {raw.input_kind}. "
                        f"Evaluate it on {stored.input_kind} data (set data.source / data.path accordingly).")
    if stored.target_kind == "multilabel":
        reorder_to_stored_labels(stored.class_names, parts, raw)
        return
    if stored.target_kind == "regression":
        if raw.target_names != stored.target_names:
            raise DataError(f"The run predicts {stored.target_names}; this data's targets are {raw.target_names}. "
                            f"Set data.target={stored.target_names} (the columns the run was trained on).")
        return
    remap_to_stored_classes(stored.class_names, parts, raw)


def remap_to_stored_classes(class_names: list[str], parts: dict[str, RawSplit], raw: RawData) -> None:
    """Re-index new data's class labels to a run's ``class_names``; a class the run never saw is an error."""
    unknown = [c for c in raw.class_names or [] if c not in class_names]
    if unknown:
        raise DataError(
            f"This data has class(es) {', '.join(unknown)} that the run was not trained on; the run's classes "
            f"are {', '.join(class_names)}. Use data with those classes (folder / label names must match)."
        )
    mapping = np.array([class_names.index(c) for c in raw.class_names], dtype=np.int64)
    for part in parts.values():
        part.targets = mapping[np.asarray(part.targets)]


def reorder_to_stored_labels(label_names: list[str], parts: dict[str, RawSplit], raw: RawData) -> None:
    """Put new multilabel data's 0/1 columns in the order of a run's labels; a missing or extra label is an error."""
    names = list(raw.class_names or [])
    if sorted(names) != sorted(label_names):
        unknown = [n for n in names if n not in label_names]
        lacking = [n for n in label_names if n not in names]
        raise DataError(
            f"This data's labels differ from the run's: unknown {', '.join(unknown) or 'none'}; missing "
            f"{', '.join(lacking) or 'none'}. The run predicts the labels {', '.join(label_names)}; expected "
            "data with exactly those label columns (names must match, order does not)."
        )
    order = np.array([names.index(n) for n in label_names], dtype=np.int64)
    for part in parts.values():
        part.targets = np.asarray(part.targets)[:, order]


def target_counts(targets: np.ndarray, class_names: list[str]) -> dict[str, int]:
    """Samples per class (class indices (N,)), or samples carrying each label (multilabel 0/1 (N, L))."""
    targets = np.asarray(targets)
    if targets.ndim == 2:
        counts = targets.sum(axis=0) if len(targets) else np.zeros(len(class_names), dtype=np.int64)
    else:
        counts = np.bincount(targets, minlength=len(class_names))
    return dict(zip(class_names, counts.astype(np.int64).tolist()))


def describe_splits(
    raw: RawData, parts: dict[str, RawSplit], origins: dict[str, str], class_names: list[str] | None, **facts: Any
) -> dict[str, Any]:
    description = {**raw.description, **facts}
    description["samples"] = {split: len(part) for split, part in parts.items()}
    description["splits"] = origins
    if class_names is not None:
        # multilabel: "label_counts", the samples carrying each label (a sample counts once per label it has)
        key = "label_counts" if any(np.ndim(part.targets) == 2 for part in parts.values()) else "class_counts"
        description[key] = {split: target_counts(part.targets, class_names) for split, part in parts.items()}
    return description


def load_data(config: Any, *, target_kind: str, seed: int, preprocessing: Preprocessing | None = None) -> DataBundle:
    """Read, split and preprocess the data a run's ``DataConfig`` describes.

    Args:
        config: ``shendu.config.DataConfig``.
        target_kind: "classification", "regression" or "multilabel" (0/1 targets (N, L), one column per label).
        seed: seeds the carving of validation / test splits and the ``limit`` subset.
        preprocessing: a run's stored preprocessing: applied instead of fitting a
            new one (evaluating on new data); class names must be among its own.
    """
    if config.stream:  # data larger than memory: bounded-memory streams from shards / Parquet
        from shendu.data.stream_loading import load_stream  # it imports DataBundle from this module

        return load_stream(config, target_kind=target_kind, seed=seed, preprocessing=preprocessing)
    name = resolve_source(config)
    config = with_hints(config, name)  # catalogue datasets: target / split=time / time_column unless the user set them
    _check_target_kind(name, target_kind)
    if preprocessing is not None and preprocessing.input_kind == "image":
        # Decode new image files at the size and channels the run was trained on.
        config = config.model_copy(
            update={"image_size": tuple(preprocessing.image_size), "channels": preprocessing.channels}
        )
    raw = DATASETS.entry(name).constructor(config, target_kind=target_kind)
    plan = SplitPlan.from_config(config, target_kind=target_kind, seed=seed)
    options = preprocessing_options(config) if preprocessing is None else None
    parts, origins, split_facts = split_raw_data(raw, plan)
    raw = plan.without_key_columns(raw)  # the group / time column is not a feature
    missing = options["missing"] if preprocessing is None else preprocessing.missing
    parts, dropped = handle_missing_rows(parts, raw, missing, preprocessing)
    parts["train"], limit_note = limit_train(parts["train"], config.limit, seed, plan.method)
    facts: dict[str, Any] = {"source": name, "target_kind": target_kind, "seed": seed, **split_facts,
                             **time_order_facts(parts, plan)}
    if dropped is not None:
        facts["dropped_missing_rows"] = dropped
    if limit_note:
        facts["limit"] = limit_note
    class_weights = None
    if preprocessing is None:  # training: detect imbalance, resample the raw training split only
        parts["train"], class_weights, imbalance = handle_imbalance(
            config.imbalance, parts["train"], raw, target_kind=target_kind, seed=seed)
        if imbalance is not None:
            facts["imbalance"] = imbalance
        preprocessing = fit_preprocessing(raw, parts["train"], target_kind=target_kind, **options)
        facts["preprocessing"] = "fitted on the training split"
        if raw.input_kind == "tabular" and not preprocessing.feature_names:
            used = [c for c in (config.target, config.time_column, config.group_column) if c]
            raise DataError(
                f"No feature columns are left in {name} once the target and the time / group columns "
                f"({', '.join(map(str, used)) or 'none'}) are set aside; expected at least one feature. "
                "Name features with data.features; a univariate series (one value per time step) needs "
                "lookback windows of its own past; the time-series forecasting task that builds them is not in shendu yet."
            )
    else:
        _align_to_stored(preprocessing, parts, raw)
        facts["preprocessing"] = "stored with the run (not refitted)"
    facts["preprocessing_options"] = preprocessing.summary()
    if "imputation" in raw.description and "missing" in facts["preprocessing_options"]:
        facts["imputation"] = facts["preprocessing_options"]["missing"]  # the policy actually used
    splits = {
        split: Split(
            preprocessing.transform_inputs(part.inputs, f"the {split} split"),
            preprocessing.encode_targets(part.targets, part.indices, f"the {split} split"),
            torch.from_numpy(np.asarray(part.indices, dtype=np.int64)),
        )
        for split, part in parts.items()
    }
    return DataBundle(
        train=splits["train"], val=splits["val"], test=splits.get("test"),
        input_kind=raw.input_kind, input_shape=tuple(preprocessing.input_shape),
        class_names=preprocessing.class_names, target_names=preprocessing.target_names,
        feature_names=preprocessing.feature_names, preprocessing=preprocessing,
        description=describe_splits(raw, parts, origins, preprocessing.class_names, **facts),
        class_weights=class_weights,
    )


__all__ = ["DataBundle", "load_data", "TARGET_KINDS", "describe_splits", "remap_to_stored_classes",
           "reorder_to_stored_labels", "target_counts"]
