"""Fitting preprocessing on streamed training data: one pass, bounded memory.

The in-memory path fits its statistics on the whole training split at once
(``shendu.data.preprocessing.fit_preprocessing``). Streamed data cannot be
held, so :func:`fit_stream_preprocessing` reads the training shards once, one
chunk at a time, keeping only running statistics, and builds the same
``Preprocessing`` fields (equal to the in-memory fit to float rounding).

Formula (per feature / channel, chunks a and b merged, Chan et al.):
n = n_a + n_b; mean = mean_a + (mean_b - mean_a) * n_b / n;
M2 = M2_a + M2_b + (mean_b - mean_a)^2 * n_a * n_b / n; std = sqrt(M2 / n).
uint8 images keep an exact 256-bin histogram per channel instead.
Reference: Chan, Golub & LeVeque, "Updating formulae and a pairwise algorithm
for computing sample variances", 1979.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shendu.data import scaling
from shendu.data.preprocessing import Preprocessing
from shendu.data.encoding import TabularEncoding
from shendu.errors import DataError

CHUNK_ROWS = 4096


class RunningMoments:
    """Count, mean, M2, minimum and maximum per column, merged chunk by chunk; NaN values are skipped.

    A column with no value keeps mean 0, std NaN and minimum +inf, which the
    ``scaling`` constructors (``feature_scaling``, ``Imputation.from_statistics``) treat as empty.

    Args:
        width: number of columns.
    """

    def __init__(self, width: int):
        self.count = np.zeros(width, dtype=np.int64)
        self.mean = np.zeros(width)
        self.m2 = np.zeros(width)
        self.minimum = np.full(width, np.inf)
        self.maximum = np.full(width, -np.inf)

    def update(self, values: np.ndarray) -> None:
        """Merge the statistics of a chunk (N, width) of float values."""
        valid = ~np.isnan(values)
        count = valid.sum(axis=0)
        zeroed = np.where(valid, values, 0.0)
        chunk_mean = zeroed.sum(axis=0) / np.maximum(count, 1)
        chunk_m2 = np.where(valid, values - chunk_mean, 0.0)
        chunk_m2 = np.einsum("ij,ij->j", chunk_m2, chunk_m2)
        total = self.count + count
        delta = chunk_mean - self.mean
        share = np.divide(count, total, out=np.zeros(len(total)), where=total > 0)
        self.m2 += chunk_m2 + delta * delta * self.count * share
        self.mean += delta * share
        self.count = total
        # fmin / fmax skip NaN; an all-NaN column stays at +inf / -inf
        self.minimum = np.fmin(self.minimum, np.fmin.reduce(values, axis=0, initial=np.inf))
        self.maximum = np.fmax(self.maximum, np.fmax.reduce(values, axis=0, initial=-np.inf))

    @property
    def std(self) -> np.ndarray:
        """Population standard deviation (NaN for a column with no value)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.sqrt(self.m2 / self.count)


def _chunks(shards: Any) -> Any:
    """(inputs, targets, first global row, shard) for every chunk of every shard, in file order."""
    for shard in range(len(shards.rows)):
        window = shards.open(shard)
        try:
            for begin in range(0, int(shards.rows[shard]), CHUNK_ROWS):
                inputs, targets = window.take(slice(begin, begin + CHUNK_ROWS))  # a slice: no copy
                yield inputs, targets, int(shards.offsets[shard]) + begin, shard
        finally:
            window.close()


def class_names_of(shards: Any, largest: int) -> list[str]:
    """The shards' class names, or "0".."K-1" when they record none."""
    if shards.class_names is not None:
        return list(shards.class_names)
    return [str(i) for i in range(largest + 1)]


def fit_stream_preprocessing(shards: Any, *, target_kind: str, scaling_name: str = "standard",
                             target_transform: str = "standard", missing: str = "mean") -> tuple[Preprocessing, np.ndarray | None]:
    """Fit preprocessing on streamed training shards in one bounded-memory pass.

    Use it where ``fit_preprocessing`` would need the whole split in memory;
    the result is the same (to float rounding) on data that fits: the same
    statistics, turned into the same objects by the same ``scaling`` constructors.

    Args:
        shards: the training shards (``NpyShards`` or ``ParquetShards``).
        target_kind: "classification" or "regression".
        scaling_name: ``data.scaling`` ("standard", "minmax", "minmax-symmetric", "none").
        target_transform: ``data.target_transform`` ("standard", "log", "none").
        missing: ``data.missing`` ("mean" or "raise"; streaming cannot drop rows or take medians).

    Returns the preprocessing and, for classification, the class counts.
    """
    image = shards.input_kind == "image"
    features = scaling.ImageMoments(shards.input_shape[0]) if image else RunningMoments(shards.input_shape[0])
    targets = None if target_kind == "classification" else RunningMoments(int(np.prod(shards.target_shape or (1,))))
    counts = np.zeros(0, dtype=np.int64)
    for inputs, labels, first_row, shard in _chunks(shards):
        if image:
            features.update(inputs)
        else:
            values = inputs.astype(np.float64, copy=False)
            if missing == "raise" and np.isnan(values).any():
                row, column = (int(i) for i in np.argwhere(np.isnan(values))[0])
                raise DataError(f"Feature {shards.feature_names[column]!r} is missing at row {first_row + row} "
                                f"({shards.where(shard)}) and data.missing=raise. Fill it, or set data.missing=mean.")
            features.update(values)
        if targets is None:
            counts = _add_class_counts(counts, labels, first_row, shards, shard)
            continue
        values = labels.reshape(len(labels), -1).astype(np.float64)
        if target_transform == "log":
            values = scaling.TargetStandardization.log_targets(
                values, np.arange(first_row, first_row + len(values)), shards.target_names, shards.where(shard))
        targets.update(values)
    common: dict[str, Any] = {"input_kind": shards.input_kind, "target_kind": target_kind, "scaling": scaling_name}
    if target_kind == "classification":
        common["class_names"] = class_names_of(shards, len(counts) - 1)
        counts = np.pad(counts, (0, len(common["class_names"]) - len(counts)))
    else:
        common["target_names"] = list(shards.target_names or [f"target{i}" for i in range(len(targets.mean))])
        common["target_transform"] = target_transform
        common["target_standardization"] = None if target_transform == "none" else scaling.TargetStandardization(
            targets.mean.tolist(), scaling.safe_scale(targets.std).tolist(), target_transform == "log")
    if image:
        preprocessing = _image_preprocessing(shards, features, scaling_name, common)
    else:
        preprocessing = Preprocessing(
            encoding=TabularEncoding(list(shards.feature_names), {}),
            imputation=scaling.Imputation.from_statistics(features, missing),
            feature_scaling=scaling.feature_scaling(scaling_name, features), missing=missing, **common)
    return preprocessing, (counts if target_kind == "classification" else None)


def _add_class_counts(counts: np.ndarray, labels: np.ndarray, first_row: int, shards: Any, shard: int) -> np.ndarray:
    """``counts`` plus the chunk's class counts, grown to the largest label seen; labels must be indices >= 0."""
    if not np.issubdtype(labels.dtype, np.integer) or labels.ndim != 1:
        raise DataError(f"Classification targets must be integer class indices (N,); {shards.where(shard)} holds "
                        f"{labels.dtype} {labels.shape[1:] or ''}. Use a regression task, or store class indices.")
    if not len(labels):
        return counts
    if labels.min() < 0:
        row = int(np.flatnonzero(labels < 0)[0])
        raise DataError(f"Label {int(labels[row])} at row {first_row + row} ({shards.where(shard)}) is negative; "
                        "class indices run from 0. Fix the label.")
    chunk = np.bincount(labels, minlength=len(counts))
    return np.pad(counts, (0, len(chunk) - len(counts))) + chunk


def _image_preprocessing(shards: Any, moments: scaling.ImageMoments, scaling_name: str, common: dict) -> Preprocessing:
    num_channels, height, width = shards.input_shape
    if num_channels not in (1, 3):
        raise DataError(f"Images in {shards.where(0)} have {num_channels} channels; expected 1 (grayscale) or 3 (RGB). "
                        "Store images as (N, 1, H, W) or (N, 3, H, W).")
    normalization = moments.normalization() if scaling_name == "standard" else scaling.Normalization.fixed(
        scaling_name, num_channels)
    return Preprocessing(image_size=(height, width), channels="grayscale" if num_channels == 1 else "rgb",
                         normalization=normalization, **common)


__all__ = ["fit_stream_preprocessing", "RunningMoments", "class_names_of"]
