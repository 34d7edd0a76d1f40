"""Preprocessing fitted on the training split and replayed everywhere else.

Statistics come from the training split only, so validation and test scores
are honest; they are stored in the run (``Preprocessing.to_dict``) and
re-applied to new inputs at predict time (``Preprocessing.encode_inputs``).

- Images: pixels scaled to [0, 1], then per-channel ``Normalization``.
- Tabular: categorical columns one-hot encoded (``TabularEncoding``), then
  per-feature ``Standardization``; missing values become the training mean.
- Regression targets: ``TargetStandardization``; ``decode_targets`` undoes it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from shendu.data.images import image_size_pair, images_from_inputs
from shendu.data.splits import RawData, RawSplit
from shendu.data.tabular import TabularEncoding, frame_from_inputs
from shendu.errors import DataError

FORMAT_VERSION = 1
_CHUNK = 4096  # images per chunk when summing statistics, to bound temporary memory


def _safe_std(std: np.ndarray) -> np.ndarray:
    # A constant feature (std 0) or an all-missing one would divide by zero; leave it unscaled.
    return np.where(np.isfinite(std) & (std > 1e-12), std, 1.0)


@dataclass
class Normalization:
    """Per-channel image normalisation with training statistics.

    Use it for every image input: it centres each channel and gives it unit
    variance, which keeps early activations in a well-conditioned range.
    Formula: x = (pixels / 255 - mean[c]) / std[c], with mean and std of
    pixels / 255 over all training images and positions of channel c. Without
    normalisation (``data.normalize=false``) mean = 0 and std = 1.

    Args:
        mean: one value per channel, on the [0, 1] scale.
        std: one value per channel, on the [0, 1] scale.
    """

    mean: list[float]
    std: list[float]

    @classmethod
    def fit(cls, images: torch.Tensor) -> Normalization:
        """Statistics of uint8 / float images (N, C, H, W) holding pixels 0..255."""
        num_channels = images.shape[1]
        count = max(images.shape[0] * images.shape[2] * images.shape[3], 1)
        if images.dtype == torch.uint8:
            # A 256-bin histogram per channel gives exact sums ~20x faster than float conversion.
            histogram = torch.stack(
                [torch.bincount(images[:, c].reshape(-1), minlength=256) for c in range(num_channels)]
            ).to(torch.float64).cpu()
            levels = torch.arange(256, dtype=torch.float64) / 255.0
            total, squares = histogram @ levels, histogram @ levels.square()
        else:
            total = torch.zeros(num_channels, dtype=torch.float64)
            squares = torch.zeros(num_channels, dtype=torch.float64)
            for start in range(0, images.shape[0], _CHUNK):
                chunk = images[start:start + _CHUNK].to(torch.float64).cpu() / 255.0
                total += chunk.sum(dim=(0, 2, 3))
                squares += chunk.square().sum(dim=(0, 2, 3))
        mean = total / count
        std = (squares / count - mean.square()).clamp_min(0).sqrt()
        return cls(mean.tolist(), _safe_std(std.numpy()).tolist())

    @classmethod
    def identity(cls, num_channels: int) -> Normalization:
        return cls([0.0] * num_channels, [1.0] * num_channels)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        shape = (1, len(self.mean), 1, 1)
        mean = torch.tensor(self.mean, dtype=torch.float32, device=images.device).view(shape)
        std = torch.tensor(self.std, dtype=torch.float32, device=images.device).view(shape)
        # copy=True: never modify the caller's tensor in place.
        return images.to(torch.float32, copy=True).div_(255.0).sub_(mean).div_(std)


@dataclass
class Standardization:
    """Per-feature standardisation of tabular inputs, NaN-aware, with training statistics.

    Use it for every numeric table: features on different scales (metres vs.
    millimetres) otherwise get very different effective learning rates.
    Formula: x = (x - mean[f]) / std[f], mean and std over the non-missing
    training values of feature f (std 0 -> 1); a missing value becomes 0, i.e.
    it is imputed with the training mean. One-hot columns are left as 0 / 1
    (mean 0, std 1), so an unseen category stays an all-zero vector.

    Args:
        mean: one value per encoded feature.
        std: one value per encoded feature.
    """

    mean: list[float]
    std: list[float]

    @classmethod
    def fit(cls, features: np.ndarray, unscaled: np.ndarray | None = None) -> Standardization:
        """Statistics of (N, F) ``features``; columns where ``unscaled`` is True keep mean 0, std 1."""
        with warnings.catch_warnings():  # all-NaN columns: their NaN statistics are replaced below
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(features, axis=0) if len(features) else np.zeros(features.shape[1])
            std = np.nanstd(features, axis=0) if len(features) else np.ones(features.shape[1])
        mean, std = np.nan_to_num(mean), _safe_std(std)
        if unscaled is not None:
            mean, std = np.where(unscaled, 0.0, mean), np.where(unscaled, 1.0, std)
        return cls(mean.tolist(), std.tolist())

    def __call__(self, features: np.ndarray) -> np.ndarray:
        standardised = (features - np.asarray(self.mean)) / np.asarray(self.std)
        return np.nan_to_num(standardised, nan=0.0)


@dataclass
class Imputation:
    """Fill missing tabular values with the training mean of their feature (no scaling).

    Used instead of :class:`Standardization` when ``data.normalize=false``.

    Args:
        fill: one value per encoded feature.
    """

    fill: list[float]

    @classmethod
    def fit(cls, features: np.ndarray) -> Imputation:
        return cls(Standardization.fit(features).mean)

    def __call__(self, features: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(features), np.asarray(self.fill), features)


@dataclass
class TargetStandardization:
    """Regression targets scaled to zero mean and unit variance with training statistics.

    Keeps the loss and its gradients on a sane scale whatever the unit of the
    target; predictions are mapped back with ``decode``.
    Formula: y_encoded = (y - mean) / std; y = y_encoded * std + mean.

    Args:
        mean: one value per target column.
        std: one value per target column.
    """

    mean: list[float]
    std: list[float]

    @classmethod
    def fit(cls, targets: np.ndarray) -> TargetStandardization:
        return cls(np.mean(targets, axis=0).tolist(), _safe_std(np.std(targets, axis=0)).tolist())

    def encode(self, targets: np.ndarray) -> torch.Tensor:
        encoded = (np.asarray(targets, dtype=np.float64) - np.asarray(self.mean)) / np.asarray(self.std)
        return torch.from_numpy(encoded.astype(np.float32))

    def decode(self, targets: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.mean, dtype=targets.dtype, device=targets.device)
        std = torch.tensor(self.std, dtype=targets.dtype, device=targets.device)
        return targets * std + mean


@dataclass
class Preprocessing:
    """Everything needed to turn raw inputs into model inputs and outputs back into targets.

    Fitted on the training split by :func:`fit_preprocessing`; stored with a
    run via ``to_dict`` (JSON) and restored with ``from_dict``.

    Args:
        input_kind: "image" or "tabular".
        target_kind: "classification" or "regression".
        image_size: images: (H, W).
        channels: images: "grayscale" or "rgb".
        normalization: images: per-channel normalisation.
        encoding: tabular: raw columns -> numbers.
        standardization: tabular: Standardization, or Imputation without normalisation.
        class_names: classification: name of each class index.
        target_names: regression: name of each target column.
        target_standardization: regression: target scaling.
    """

    input_kind: str
    target_kind: str
    image_size: tuple[int, int] | None = None
    channels: str | None = None
    normalization: Normalization | None = None
    encoding: TabularEncoding | None = None
    standardization: Standardization | Imputation | None = None
    class_names: list[str] | None = None
    target_names: list[str] | None = None
    target_standardization: TargetStandardization | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Per-sample model input shape: (C, H, W) or (F,)."""
        if self.input_kind == "image":
            return (1 if self.channels == "grayscale" else 3, *self.image_size)
        return (len(self.encoding.output_names),)

    @property
    def feature_names(self) -> list[str] | None:
        return self.encoding.output_names if self.encoding is not None else None

    # -- applying ----------------------------------------------------------------
    def transform_inputs(self, inputs: Any, where: str = "the data") -> torch.Tensor:
        """Raw split inputs (pixels 0..255 (N, C, H, W), or a DataFrame) -> float32 model inputs."""
        if self.input_kind == "image":
            if tuple(inputs.shape[1:]) != self.input_shape:
                raise DataError(
                    f"Images in {where} are {tuple(inputs.shape[1:])} (C, H, W); the run expects {self.input_shape}. "
                    f"Set data.image_size={list(self.image_size)} and data.channels={self.channels}."
                )
            return self.normalization(inputs)
        features = self.standardization(self.encoding.transform(inputs, where))
        return torch.from_numpy(features.astype(np.float32))

    def encode_targets(self, targets: np.ndarray) -> torch.Tensor:
        """Raw targets -> int64 class indices (N,), or standardised float32 (N, T)."""
        if self.target_kind == "regression":
            return self.target_standardization.encode(np.asarray(targets).reshape(len(targets), -1))
        return torch.as_tensor(np.asarray(targets), dtype=torch.int64)

    def encode_inputs(self, raw: Any) -> torch.Tensor:
        """New inputs for prediction -> model inputs, exactly as the training data was prepared.

        Images: a list of file paths (str / Path), a folder, PIL images, or an
        array of raw pixels 0..255 shaped (N, H, W), (N, C, H, W) or (N, H, W, C).
        Tabular: a DataFrame, a CSV path, a list of dicts, or an (N, F) array of
        raw feature values in the training column order.
        """
        if self.input_kind == "image":
            return self.transform_inputs(images_from_inputs(raw, self.image_size, self.channels), "the inputs")
        frame, where = frame_from_inputs(raw, self.encoding.features)
        return self.transform_inputs(frame, where)

    def decode_targets(self, targets: torch.Tensor) -> torch.Tensor:
        """Model outputs in standardised units -> target units (identity for classification)."""
        if self.target_standardization is None:
            return targets
        return self.target_standardization.decode(targets)

    # -- storing -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able record of everything predict needs."""
        def record(part: Any) -> dict[str, Any] | None:
            return None if part is None else {"kind": type(part).__name__, **vars(part)}

        return {
            "format": FORMAT_VERSION, "input_kind": self.input_kind, "target_kind": self.target_kind,
            "image_size": list(self.image_size) if self.image_size else None, "channels": self.channels,
            "normalization": record(self.normalization),
            "encoding": self.encoding.to_dict() if self.encoding else None,
            "standardization": record(self.standardization),
            "class_names": self.class_names, "target_names": self.target_names,
            "target_standardization": record(self.target_standardization),
        }

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Preprocessing:
        """Restore from :meth:`to_dict`'s output."""
        if not isinstance(record, dict) or record.get("format") != FORMAT_VERSION:
            raise DataError(
                f"Expected a preprocessing record of format {FORMAT_VERSION}; received "
                f"{record.get('format') if isinstance(record, dict) else type(record).__name__}. "
                "The run was saved by an incompatible shendu version; retrain it."
            )
        parts = {"Normalization": Normalization, "Standardization": Standardization, "Imputation": Imputation,
                 "TargetStandardization": TargetStandardization}

        def build(part: dict[str, Any] | None) -> Any:
            if part is None:
                return None
            options = dict(part)
            return parts[options.pop("kind")](**options)

        return cls(
            input_kind=record["input_kind"], target_kind=record["target_kind"],
            image_size=image_size_pair(record["image_size"]), channels=record["channels"],
            normalization=build(record["normalization"]),
            encoding=TabularEncoding.from_dict(record["encoding"]) if record["encoding"] else None,
            standardization=build(record["standardization"]),
            class_names=record["class_names"], target_names=record["target_names"],
            target_standardization=build(record["target_standardization"]),
        )


def fit_preprocessing(raw: RawData, train: RawSplit, *, target_kind: str, normalize: bool) -> Preprocessing:
    """Fit every statistic on the training split ``train`` of ``raw``."""
    targets = None
    if target_kind == "regression":
        targets = TargetStandardization.fit(np.asarray(train.targets, dtype=np.float64).reshape(len(train), -1))
    common = dict(
        input_kind=raw.input_kind, target_kind=target_kind, target_standardization=targets,
        class_names=raw.class_names if target_kind == "classification" else None,
        target_names=raw.target_names if target_kind == "regression" else None,
    )
    if raw.input_kind == "image":
        images = train.inputs
        num_channels = images.shape[1]
        normalization = Normalization.fit(images) if normalize else Normalization.identity(num_channels)
        return Preprocessing(
            image_size=(int(images.shape[2]), int(images.shape[3])),
            channels="grayscale" if num_channels == 1 else "rgb", normalization=normalization, **common,
        )
    encoding = TabularEncoding.fit(train.inputs, raw.feature_names, raw.categorical)
    encoded = encoding.transform(train.inputs, "the training split")
    standardization = (
        Standardization.fit(encoded, unscaled=encoding.one_hot_columns) if normalize else Imputation.fit(encoded)
    )
    return Preprocessing(encoding=encoding, standardization=standardization, **common)


__all__ = [
    "Preprocessing", "Normalization", "Standardization", "Imputation", "TargetStandardization", "fit_preprocessing",
]
