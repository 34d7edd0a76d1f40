"""Fitted statistics that put inputs and targets on a good scale, and back.

Each class is fitted on the training split only, stored as plain lists (JSON),
and applied identically to every split and to new inputs at predict time
(``shendu.data.preprocessing.Preprocessing`` holds them).

- :class:`Normalization`: images, per channel (``data.scaling``: standard,
  minmax, minmax-symmetric, none);
- :class:`Imputation`: missing tabular values (``data.missing``);
- :class:`Standardization` / :class:`MinMaxScaling`: tabular features
  (``data.scaling``: standard / minmax, minmax-symmetric);
- :class:`TargetStandardization`: regression targets (``data.target_transform``).

The statistics themselves come from :class:`ImageMoments` (images) and
:class:`ColumnStatistics` (tables) for a split held in memory; a streamed fit
(``shendu.data.stream_fit``) accumulates the same statistics chunk by chunk and
builds the same objects with the same constructors (``ImageMoments``,
:func:`feature_scaling`, ``Imputation.from_statistics``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import torch

from shendu.errors import DataError

_CHUNK = 4096  # images per chunk when summing statistics, to bound temporary memory
IMAGE_SCALINGS = {  # data.scaling -> (pixel_scale, mean, std) for the fixed (not fitted) ones
    "minmax": (255.0, 0.0, 1.0),  # pixels / 255 -> [0, 1]
    "minmax-symmetric": (127.5, 1.0, 1.0),  # pixels / 127.5 - 1 -> [-1, 1]
    "none": (1.0, 0.0, 1.0),  # raw 0..255 as float
}
MINMAX_RANGES = {"minmax": (0.0, 1.0), "minmax-symmetric": (-1.0, 1.0)}  # tables: data.scaling -> (low, high)


def safe_scale(scale: np.ndarray) -> np.ndarray:
    """A scale of 0 (a constant feature) or NaN (an all-missing one) would divide by zero: use 1."""
    return np.where(np.isfinite(scale) & (scale > 1e-12), scale, 1.0)


def _nan_statistic(function, features: np.ndarray, empty: float) -> np.ndarray:
    """A NaN-aware column statistic; a column with no value at all gets NaN (callers replace it)."""
    if len(features) == 0:
        return np.full(features.shape[1], empty)
    with warnings.catch_warnings():  # all-NaN columns warn; their NaN result is handled by the caller
        warnings.simplefilter("ignore", RuntimeWarning)
        return function(features, axis=0)


class ImageMoments:
    """Per-channel sums of pixels / 255 and of their squares, added chunk by chunk; exact for uint8.

    ``Normalization.fit`` feeds it a split in memory, a streamed fit one chunk
    of shards at a time: both get the same ``normalization()``.

    Args:
        num_channels: C of the (N, C, H, W) images.
    """

    def __init__(self, num_channels: int):
        self.histogram = torch.zeros(num_channels, 256, dtype=torch.int64)  # uint8: pixel counts per level
        self.total = torch.zeros(num_channels, dtype=torch.float64)  # float images: sums of pixels / 255
        self.squares = torch.zeros(num_channels, dtype=torch.float64)
        self.count = 0

    def update(self, images: torch.Tensor | np.ndarray) -> None:
        """Add (N, C, H, W) images holding pixels 0..255: a tensor, or a (read-only, memory-mapped) array."""
        self.count += images.shape[0] * images.shape[2] * images.shape[3]
        for channel in range(images.shape[1]):
            if isinstance(images, torch.Tensor):
                values = images[:, channel].reshape(-1).cpu()
            else:  # one channel copied out: contiguous and writable, as torch needs
                values = torch.from_numpy(np.array(images[:, channel]).reshape(-1))
            if values.dtype == torch.uint8:
                # A 256-bin histogram gives exact sums ~20x faster than float conversion.
                self.histogram[channel] += torch.bincount(values, minlength=256)
            else:
                values = values.to(torch.float64) / 255.0
                self.total[channel] += values.sum()
                self.squares[channel] += values.square().sum()

    def normalization(self) -> Normalization:
        """``data.scaling=standard``: mean and population std per channel of pixels / 255."""
        levels = torch.arange(256, dtype=torch.float64) / 255.0
        histogram = self.histogram.to(torch.float64)
        total, squares = self.total + histogram @ levels, self.squares + histogram @ levels.square()
        count = max(self.count, 1)
        mean = total / count
        std = (squares / count - mean.square()).clamp_min(0).sqrt()
        return Normalization(mean.tolist(), safe_scale(std.numpy()).tolist())


class ColumnStatistics:
    """NaN-aware per-column statistics of an in-memory (N, F) array, each computed on first use.

    Missing values (NaN) are disregarded, as scikit-learn's scalers do; a
    column with no value at all gets NaN (the constructors that read these
    statistics replace it). A streamed fit passes
    ``shendu.data.stream_fit.RunningMoments`` instead, which has the same
    ``mean``, ``std``, ``minimum`` and ``maximum`` (no ``median``).

    Args:
        features: (N, F) float values.
    """

    def __init__(self, features: np.ndarray):
        self.features = features

    @cached_property
    def mean(self) -> np.ndarray:
        return _nan_statistic(np.nanmean, self.features, 0.0)

    @cached_property
    def std(self) -> np.ndarray:
        """Population standard deviation (ddof=0)."""
        return _nan_statistic(np.nanstd, self.features, 1.0)

    @cached_property
    def median(self) -> np.ndarray:
        return _nan_statistic(np.nanmedian, self.features, 0.0)

    @cached_property
    def minimum(self) -> np.ndarray:
        return _nan_statistic(np.nanmin, self.features, 0.0)

    @cached_property
    def maximum(self) -> np.ndarray:
        return _nan_statistic(np.nanmax, self.features, 1.0)


@dataclass
class Normalization:
    """Per-channel image scaling: standard (with training statistics), [0, 1], [-1, 1] or raw.

    Use ``data.scaling=standard`` (the default) for most image models: each
    channel is centred with unit variance, which keeps early activations in a
    well-conditioned range. ``minmax`` ([0, 1]) suits models with a sigmoid
    output on pixels (autoencoders); ``minmax-symmetric`` ([-1, 1]) suits GAN
    generators ending in tanh; ``none`` keeps raw pixel values 0..255.
    Formula: x = (pixels / pixel_scale - mean[c]) / std[c]; standard:
    pixel_scale = 255 and mean, std of pixels / 255 over all training images and
    positions of channel c; minmax: 255, 0, 1; minmax-symmetric: 127.5, 1, 1
    (x = pixels / 127.5 - 1); none: 1, 0, 1.

    Args:
        mean: one value per channel, on the pixels / pixel_scale scale.
        std: one value per channel, on that scale.
        pixel_scale: the divisor turning pixels 0..255 into the working scale.
    """

    mean: list[float]
    std: list[float]
    pixel_scale: float = 255.0

    @classmethod
    def fit(cls, images: torch.Tensor) -> Normalization:
        """Statistics of uint8 / float images (N, C, H, W) holding pixels 0..255."""
        moments = ImageMoments(images.shape[1])
        for start in range(0, images.shape[0], _CHUNK):
            moments.update(images[start:start + _CHUNK])
        return moments.normalization()

    @classmethod
    def fixed(cls, scaling: str, num_channels: int) -> Normalization:
        """The unfitted scalings: "minmax", "minmax-symmetric" or "none"."""
        pixel_scale, mean, std = IMAGE_SCALINGS[scaling]
        return cls([mean] * num_channels, [std] * num_channels, pixel_scale)

    @classmethod
    def identity(cls, num_channels: int) -> Normalization:
        """pixels / 255, i.e. [0, 1] (the same as ``fixed("minmax", ...)``)."""
        return cls.fixed("minmax", num_channels)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        shape = (1, len(self.mean), 1, 1)
        mean = torch.tensor(self.mean, dtype=torch.float32, device=images.device).view(shape)
        std = torch.tensor(self.std, dtype=torch.float32, device=images.device).view(shape)
        # copy=True: never modify the caller's tensor in place.
        return images.to(torch.float32, copy=True).div_(self.pixel_scale).sub_(mean).div_(std)


@dataclass
class Imputation:
    """Missing tabular values (NaN) filled with the training mean or median of their feature.

    The policy is ``data.missing``: ``mean`` (the default; keeps the feature's
    mean) or ``median`` (robust to outliers and skew). Under ``drop`` and
    ``raise`` no value is filled: rows with a missing numeric value are dropped
    (or refused) when the data is loaded, and at predict time a missing value is
    an error naming the column and rows, since the model never saw one.
    Categorical columns never hold NaN here: their encoding gives a missing value
    its own category (see ``shendu.data.tabular.TabularEncoding``).
    Formula: x = fill[f] where x is missing, else x.

    Args:
        fill: one value per encoded feature (empty for drop / raise).
        policy: "mean", "median", "drop" or "raise".
    """

    fill: list[float]
    policy: str = "mean"

    @classmethod
    def from_statistics(cls, statistics: Any, policy: str = "mean") -> Imputation:
        """The fill for ``policy`` from a :class:`ColumnStatistics` (or a stream's running moments)."""
        if policy in ("drop", "raise"):
            return cls([], policy)
        fill = statistics.mean if policy == "mean" else statistics.median
        return cls(np.nan_to_num(fill).tolist(), policy)

    def __call__(self, features: np.ndarray, names: list[str] | None = None, where: str = "the data") -> np.ndarray:
        missing = np.isnan(features)
        if not missing.any():
            return features
        if self.policy in ("drop", "raise"):
            column = int(np.flatnonzero(missing.any(axis=0))[0])
            rows = np.flatnonzero(missing[:, column])
            name = names[column] if names else f"feature {column}"
            raise DataError(
                f"Column {name!r} in {where} has {len(rows)} missing value(s) (rows {', '.join(map(str, rows[:5]))}"
                f"{', ...' if len(rows) > 5 else ''}; 0-based); the run was trained with data.missing={self.policy}, "
                "so it fills no value. Fill the missing values, or retrain with data.missing=mean or median."
            )
        return np.where(missing, np.asarray(self.fill), features)


@dataclass
class Standardization:
    """Per-feature z-score of tabular inputs with training statistics (``data.scaling=standard``).

    Use it for most tables: features on different scales (metres vs.
    millimetres) otherwise get very different effective learning rates.
    Formula: x = (x - mean[f]) / std[f], mean and std (population) over the
    non-missing training values of feature f; std 0 (a constant feature) -> 1.
    Categorical columns (one-hot or index) keep mean 0, std 1: unchanged.
    Reference: scikit-learn's ``StandardScaler``. A value still missing here
    becomes 0 (the mean).

    Args:
        mean: one value per encoded feature.
        std: one value per encoded feature.
    """

    mean: list[float]
    std: list[float]

    @classmethod
    def from_statistics(cls, statistics: Any, unscaled: np.ndarray | None = None) -> Standardization:
        """From a :class:`ColumnStatistics` (or running moments); columns where ``unscaled`` is True keep mean 0, std 1."""
        mean, std = np.nan_to_num(statistics.mean), safe_scale(statistics.std)
        if unscaled is not None:
            mean, std = np.where(unscaled, 0.0, mean), np.where(unscaled, 1.0, std)
        return cls(mean.tolist(), std.tolist())

    def __call__(self, features: np.ndarray) -> np.ndarray:
        standardised = (features - np.asarray(self.mean)) / np.asarray(self.std)
        return np.nan_to_num(standardised, nan=0.0)


@dataclass
class MinMaxScaling:
    """Per-feature min-max scaling of tabular inputs to [low, high] with training statistics.

    ``data.scaling=minmax`` gives [0, 1], ``minmax-symmetric`` gives [-1, 1].
    Use it when the model wants bounded inputs (sigmoid / tanh units, distances
    in k-NN-like layers); standardisation is the safer default when features
    have outliers, which squeeze every other value into a narrow band here.
    New values outside the training range fall outside [low, high].
    Formula: x = low + (x - min[f]) * (high - low) / (max[f] - min[f]); max = min
    (a constant feature) -> divide by 1, so the constant maps to ``low``.
    Categorical columns (one-hot or index) are left unchanged.
    Reference: scikit-learn's ``MinMaxScaler(feature_range=(low, high))``.

    Args:
        minimum: training minimum per encoded feature.
        maximum: training maximum per encoded feature.
        low: lower end of the target range (0 or -1).
        high: upper end of the target range (1).
    """

    minimum: list[float]
    maximum: list[float]
    low: float = 0.0
    high: float = 1.0

    @classmethod
    def from_statistics(cls, statistics: Any, unscaled: np.ndarray | None = None, low: float = 0.0,
                        high: float = 1.0) -> MinMaxScaling:
        """From a :class:`ColumnStatistics` (or running moments); columns where ``unscaled`` is True are left alone."""
        minimum, maximum = statistics.minimum, statistics.maximum
        empty = ~np.isfinite(minimum)  # a column with no training value (NaN, or +inf when streamed): leave it alone
        if unscaled is not None:
            empty |= unscaled
        # min = low, max = high is the identity map.
        minimum, maximum = np.where(empty, low, minimum), np.where(empty, high, maximum)
        return cls(minimum.tolist(), maximum.tolist(), low, high)

    def __call__(self, features: np.ndarray) -> np.ndarray:
        minimum = np.asarray(self.minimum)
        spread = safe_scale(np.asarray(self.maximum) - minimum)
        return self.low + (features - minimum) * ((self.high - self.low) / spread)


@dataclass
class TargetStandardization:
    """Regression targets scaled to zero mean and unit variance, optionally after log1p.

    Keeps the loss and its gradients on a sane scale whatever the unit of the
    target; predictions are mapped back with ``decode``. ``data.target_transform
    =log`` first takes log(1 + y): use it for positive, right-skewed targets
    (prices, counts, durations), where errors should be relative rather than
    absolute. It needs y > -1.
    Formula: t = log1p(y) (log) or y (standard); y_encoded = (t - mean) / std;
    decode: t = y_encoded * std + mean, y = expm1(t) (log) or t.

    Args:
        mean: one value per target column (of t).
        std: one value per target column (of t).
        log: apply log1p before standardising (and expm1 after decoding).
    """

    mean: list[float]
    std: list[float]
    log: bool = False

    @classmethod
    def fit(cls, targets: np.ndarray, log: bool = False, indices: np.ndarray | None = None,
            names: list[str] | None = None) -> TargetStandardization:
        values = np.asarray(targets, dtype=np.float64)
        if log:
            values = cls.log_targets(values, indices, names, "the training split")
        return cls(np.mean(values, axis=0).tolist(), safe_scale(np.std(values, axis=0)).tolist(), log)

    @staticmethod
    def log_targets(values: np.ndarray, indices: np.ndarray | None, names: list[str] | None, where: str) -> np.ndarray:
        """log1p of (N, T) targets; a target <= -1 (or missing) is an error naming its column and source row."""
        bad = ~(values > -1.0)
        if bad.any():
            row, column = (int(i) for i in np.argwhere(bad)[0])
            source_row = int(indices[row]) if indices is not None else row
            name = names[column] if names and column < len(names) else f"target {column}"
            raise DataError(
                f"data.target_transform=log needs targets above -1 (log1p); {name!r} in {where} is "
                f"{float(values[row, column])!r} at row {source_row} (0-based row of the source), and {int(bad.sum())} "
                "value(s) in all are <= -1 or missing. Use data.target_transform=standard, or shift the targets."
            )
        return np.log1p(values)

    def encode(self, targets: np.ndarray, indices: np.ndarray | None = None, names: list[str] | None = None,
               where: str = "the data") -> torch.Tensor:
        values = np.asarray(targets, dtype=np.float64)
        if self.log:
            values = self.log_targets(values, indices, names, where)
        encoded = (values - np.asarray(self.mean)) / np.asarray(self.std)
        return torch.from_numpy(encoded.astype(np.float32))

    def decode(self, targets: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.mean, dtype=targets.dtype, device=targets.device)
        std = torch.tensor(self.std, dtype=targets.dtype, device=targets.device)
        values = targets * std + mean
        return torch.expm1(values) if self.log else values


def feature_scaling(scaling: str, statistics: Any,
                    unscaled: np.ndarray | None = None) -> Standardization | MinMaxScaling | None:
    """The tabular feature scaling ``data.scaling`` names, built from training statistics.

    Args:
        scaling: "standard", "minmax", "minmax-symmetric" or "none" (-> None).
        statistics: :class:`ColumnStatistics` of the encoded training split, or
            ``shendu.data.stream_fit.RunningMoments`` merged over a stream.
        unscaled: (F,) bool, True for categorical columns (one-hot / index codes), which stay unchanged.
    """
    if scaling == "standard":
        return Standardization.from_statistics(statistics, unscaled)
    if scaling in MINMAX_RANGES:
        return MinMaxScaling.from_statistics(statistics, unscaled, *MINMAX_RANGES[scaling])
    return None


SCALING_CLASSES = {cls.__name__: cls for cls in (Normalization, Imputation, Standardization, MinMaxScaling,
                                                   TargetStandardization)}

__all__ = [
    "Normalization", "Imputation", "Standardization", "MinMaxScaling", "TargetStandardization", "SCALING_CLASSES",
    "IMAGE_SCALINGS", "MINMAX_RANGES", "ImageMoments", "ColumnStatistics", "feature_scaling", "safe_scale",
]
