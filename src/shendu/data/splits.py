"""Train / validation / test splits: what a source reads, and how shendu divides it.

A source returns :class:`RawData`: one :class:`RawSplit` per split the dataset
ships with ("train", and maybe "val" and "test"), still unpreprocessed.
:func:`split_raw_data` turns that into exactly three splits:

- a dataset's own test split is kept;
- a dataset with a validation split but no test split (e.g. an image folder
  with ``train/`` and ``val/``) uses that validation split as the **test**
  split, so the reported test score is on data never used to pick a checkpoint;
- validation is carved from train (``val_fraction`` of it);
- with no split at all: test = ``test_fraction``, val = ``val_fraction``, train
  = the rest (70/15/15 by default).

Carving is stratified for classification (each class keeps its share) and
seeded: the same seed gives the same split, a different seed a different one.
Row order inside each split follows the source (carved indices are sorted).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from shendu.errors import ConfigError, DataError, Problem

SPLIT_NAMES = ("train", "val", "test")


@dataclass
class Split:
    """One preprocessed split, ready for batching.

    Args:
        inputs: float32, (N, C, H, W) images or (N, F) tabular features.
        targets: classification int64 (N,); regression float32 (N, T), standardised.
        indices: int64 (N,): each sample's row in the source split it came from
            (lets predictions and reports point back at the original sample).
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    indices: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.inputs.shape[0])


@dataclass
class RawSplit:
    """One split as a source reads it, before preprocessing.

    Args:
        inputs: images as a tensor (N, C, H, W) of pixel values 0..255 (uint8 or
            float32); tabular data as a pandas DataFrame of raw columns.
        targets: classification int64 (N,) class indices; regression float (N, T).
        indices: each sample's row in the source split (default: 0..N-1).
        groups: optional (N,) group of each sample (ranking: the query id);
            grouped splits keep a group's samples together.
    """

    inputs: Any
    targets: np.ndarray
    indices: np.ndarray | None = None
    groups: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.indices is None:
            self.indices = np.arange(len(self.targets), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.targets)

    def take(self, rows: np.ndarray) -> RawSplit:
        """The sub-split made of ``rows`` (positions in this split)."""
        rows = np.asarray(rows, dtype=np.int64)
        if isinstance(self.inputs, torch.Tensor):
            inputs = self.inputs[torch.from_numpy(rows)]
        else:  # pandas DataFrame
            inputs = self.inputs.iloc[rows].reset_index(drop=True)
        groups = None if self.groups is None else self.groups[rows]
        return RawSplit(inputs, self.targets[rows], self.indices[rows], groups)


@dataclass
class RawData:
    """Everything a dataset source returns: its splits and what the columns mean.

    Args:
        input_kind: "image" or "tabular".
        splits: "train" (required), and "val" / "test" when the dataset ships them.
        class_names: classification: the name of each class index.
        target_names: regression: the name of each target column.
        feature_names: tabular: the raw feature columns to use, in order.
        categorical: tabular: the feature columns to one-hot encode.
        description: JSON-able facts (source, path, fingerprints, ...).
    """

    input_kind: str
    splits: dict[str, RawSplit]
    class_names: list[str] | None = None
    target_names: list[str] | None = None
    feature_names: list[str] | None = None
    categorical: list[str] = field(default_factory=list)
    description: dict[str, Any] = field(default_factory=dict)


def choose_rows(
    targets: np.ndarray, count: int, seed: int, stratify: bool
) -> tuple[np.ndarray, np.ndarray, str]:
    """Pick ``count`` rows at random (stratified by class when asked).

    Returns (rest, chosen, how), both index arrays sorted, and a few words on how
    they were chosen (stratification falls back to a plain random choice when a
    class is too small to be split, and says so).
    """
    rows = np.arange(len(targets))
    random_state = seed % (2**32)  # sklearn takes seeds in [0, 2**32)
    how = "random"
    if stratify:
        try:
            rest, chosen = train_test_split(rows, test_size=count, stratify=targets, random_state=random_state)
            return np.sort(rest), np.sort(chosen), "stratified"
        except ValueError as error:
            how = f"random (stratification impossible: {error})"
    rest, chosen = train_test_split(rows, test_size=count, random_state=random_state)
    return np.sort(rest), np.sort(chosen), how


def _carve(part: RawSplit, fraction: float, seed: int, stratify: bool, what: str) -> tuple[RawSplit, RawSplit, str]:
    count = math.ceil(fraction * len(part))
    if len(part) < 2 or count >= len(part):
        raise DataError(
            f"Cannot carve a {what} split of {fraction:g} from {len(part)} training samples; "
            f"expected at least 2 samples with some left for training. Add data or lower data.{what}_fraction."
        )
    rest, chosen, how = choose_rows(part.targets, count, seed, stratify)
    return part.take(rest), part.take(chosen), how


def split_raw_data(
    raw: RawData, *, val_fraction: float, test_fraction: float, seed: int, stratify: bool
) -> tuple[dict[str, RawSplit], dict[str, str]]:
    """Turn a source's splits into train / val / test, following the rules above.

    Returns the three splits and, for each, a sentence on where it came from.
    """
    parts = dict(raw.splits)
    if "train" not in parts:
        raise DataError(f"The data has no training split; found splits {sorted(parts)}. Provide a train split.")
    unknown = sorted(set(parts) - set(SPLIT_NAMES))
    if unknown:
        raise DataError(f"Unknown split name(s) {unknown}; expected some of {list(SPLIT_NAMES)}.")
    origins: dict[str, str] = {"train": "own train split"}
    carved_test = False
    if "test" in parts:
        origins["test"] = "own test split"
    elif "val" in parts:
        parts["test"] = parts.pop("val")
        origins["test"] = "the source's validation split, used as test (the source has no test split)"
    else:
        if val_fraction + test_fraction >= 1.0:
            raise ConfigError([Problem(
                "data.val_fraction + data.test_fraction", val_fraction + test_fraction,
                "a sum below 1 (some data must be left for training)",
                "Lower them, e.g. data.val_fraction=0.15 data.test_fraction=0.15.",
            )])
        parts["train"], parts["test"], how = _carve(parts["train"], test_fraction, seed, stratify, "test")
        origins["test"] = f"carved from the data ({test_fraction:g} of it), {how}, seed {seed}"
        origins["train"] = "the data left after carving test and validation"
        carved_test = True
    if "val" in parts:
        origins["val"] = "own validation split"
    else:
        # With test already carved, val_fraction is of the whole data, not of what is left.
        fraction = val_fraction / (1.0 - test_fraction) if carved_test else val_fraction
        parts["train"], parts["val"], how = _carve(parts["train"], fraction, seed, stratify, "val")
        share = f"{val_fraction:g} of the data" if carved_test else f"{val_fraction:g} of train"
        origins["val"] = f"carved from train ({share}), {how}, seed {seed}"
        if not carved_test:
            origins["train"] = "own train split minus the carved validation samples"
    return {name: parts[name] for name in SPLIT_NAMES}, {name: origins[name] for name in SPLIT_NAMES}


def limit_train(part: RawSplit, limit: int | None, seed: int, stratify: bool) -> tuple[RawSplit, str | None]:
    """Keep at most ``limit`` training samples: a seeded (stratified) subset."""
    if limit is None or limit >= len(part):
        return part, None
    if limit < 1:
        raise ConfigError([Problem("data.limit", limit, "a positive integer", "Set data.limit=1000, for example.")])
    _, chosen, how = choose_rows(part.targets, limit, seed, stratify)
    return part.take(chosen), f"{limit} of {len(part)} training samples, {how}, seed {seed}"


__all__ = ["Split", "RawSplit", "RawData", "SPLIT_NAMES", "choose_rows", "split_raw_data", "limit_train"]
