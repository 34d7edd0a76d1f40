"""Preprocessing fitted on the training split and replayed everywhere else.

Statistics come from the training split only, so validation and test scores
are honest; they are stored in the run (``Preprocessing.to_dict``) and
re-applied identically to new inputs by ``Preprocessing.encode_inputs`` at
predict time and by ``load_data`` when a run is evaluated on new data.

Settings (``DataConfig``), each stored in the run:

- ``scaling``: images: ``standard`` = per-channel normalisation with training
  statistics, ``minmax`` = pixels / 255, ``minmax-symmetric`` = pixels / 127.5 - 1,
  ``none`` = raw 0..255 as float. Tables: ``standard`` = z-score per feature,
  ``minmax`` -> [0, 1], ``minmax-symmetric`` -> [-1, 1], ``none``; categorical
  columns are never scaled. ``normalize: false`` is the older spelling of
  ``scaling: none`` and is still accepted.
- ``categorical_encoding``: ``one-hot`` (a missing value is its own category
  ``<missing>`` when training had one) or ``index`` (one code column: 0 =
  unseen or missing, 1..K = training categories; sizes in
  ``categorical_cardinalities`` for an embedding). An unseen category at
  predict time becomes all zeros (one-hot) or 0 (index).
- ``missing`` (numeric features): ``mean`` or ``median`` of the training split
  fills a missing value; ``drop`` drops rows with a missing numeric value from
  every split (counted in the data description); ``raise`` makes one an error
  naming the column and the first rows. Under drop / raise, a missing value at
  predict time is an error.
- ``target_transform`` (regression): ``standard`` = z-score, ``log`` = log1p
  then z-score (targets must be > -1), ``none``; ``decode_targets`` inverts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from shendu.data.images import image_size_pair, images_from_inputs
from shendu.data.scaling import (
    SCALING_CLASSES,
    ColumnStatistics,
    Imputation,
    MinMaxScaling,
    Normalization,
    Standardization,
    TargetStandardization,
    feature_scaling,
)
from shendu.data.splits import RawData, RawSplit
from shendu.data.encoding import MISSING_CATEGORY, TabularEncoding, frame_from_inputs
from shendu.errors import ConfigError, DataError, Problem

FORMAT_VERSION = 2  # 2: scaling / target_transform / categorical_encoding / missing options; 1 still loads
SCALINGS = ("standard", "minmax", "minmax-symmetric", "none")
MISSING_POLICIES = {
    "mean": "missing numeric values are filled with the training mean",
    "median": "missing numeric values are filled with the training median",
    "drop": "rows with a missing numeric value are dropped from every split",
    "raise": "a missing numeric value is an error",
}


@dataclass
class Preprocessing:
    """Everything needed to turn raw inputs into model inputs and outputs back into targets.

    Fitted on the training split by :func:`fit_preprocessing`; stored with a
    run via ``to_dict`` (JSON) and restored with ``from_dict``.

    Args:
        input_kind: "image" or "tabular".
        target_kind: "classification", "regression" or "multilabel".
        image_size: images: (H, W).
        channels: images: "grayscale" or "rgb".
        normalization: images: per-channel scaling.
        encoding: tabular: raw columns -> numbers.
        imputation: tabular: missing numeric values (``data.missing``).
        feature_scaling: tabular: Standardization, MinMaxScaling, or None (``scaling=none``).
        class_names: classification: name of each class index; multilabel: name of each label.
        target_names: regression: name of each target column; multilabel: the label names again.
        target_standardization: regression: target scaling (None for ``target_transform=none``).
        scaling: the ``data.scaling`` it was fitted with.
        target_transform: regression: the ``data.target_transform`` it was fitted with.
        missing: tabular: the ``data.missing`` policy.
    """

    input_kind: str
    target_kind: str
    image_size: tuple[int, int] | None = None
    channels: str | None = None
    normalization: Normalization | None = None
    encoding: TabularEncoding | None = None
    imputation: Imputation | None = None
    feature_scaling: Standardization | MinMaxScaling | None = None
    class_names: list[str] | None = None
    target_names: list[str] | None = None
    target_standardization: TargetStandardization | None = None
    scaling: str = "standard"
    target_transform: str | None = None
    missing: str | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Per-sample model input shape: (C, H, W) or (F,)."""
        if self.input_kind == "image":
            return (1 if self.channels == "grayscale" else 3, *self.image_size)
        return (len(self.encoding.output_names),)

    @property
    def feature_names(self) -> list[str] | None:
        return self.encoding.output_names if self.encoding is not None else None

    @property
    def categorical_cardinalities(self) -> dict[int, int]:
        """Index encoding: {position in the feature vector: K + 1} for an embedding layer; else empty."""
        return self.encoding.categorical_cardinalities if self.encoding is not None else {}

    def summary(self) -> dict[str, Any]:
        """The settings in words, for the data description."""
        facts: dict[str, Any] = {"scaling": self.scaling}
        if self.encoding is not None:
            missing_category = ("its own category " + repr(MISSING_CATEGORY) if self.encoding.categorical_encoding
                                == "one-hot" else "code 0")
            facts["categorical_encoding"] = self.encoding.categorical_encoding
            facts["missing"] = (f"{self.missing}: {MISSING_POLICIES[self.missing]}; a missing category is "
                                f"{missing_category} (when training had one)")
            if self.categorical_cardinalities:
                facts["categorical_cardinalities"] = {str(k): v for k, v in self.categorical_cardinalities.items()}
        if self.target_kind == "regression":
            facts["target_transform"] = self.target_transform
        return facts

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
        return self.scale_features(self.encoding.transform(inputs, where), where)

    def scale_features(self, features: np.ndarray, where: str = "the data") -> torch.Tensor:
        """Already-encoded tabular features (N, F') -> float32 model inputs: imputation, then scaling.

        ``transform_inputs`` after its encoding step; streamed shards whose columns are
        the encoded features call it directly.
        """
        if self.imputation is not None:
            features = self.imputation(features, self.encoding.output_names, where)
        if self.feature_scaling is not None:
            features = self.feature_scaling(features)
        return torch.from_numpy(features.astype(np.float32))

    def encode_targets(self, targets: np.ndarray, indices: np.ndarray | None = None,
                       where: str = "the data") -> torch.Tensor:
        """Raw targets -> int64 class indices (N,), int64 0/1 labels (N, L) (multilabel), or float32 (N, T)
        transformed regression targets.

        ``indices`` (each row's row in the source) and ``where`` name a bad target in errors.
        """
        if self.target_kind != "regression":
            return torch.as_tensor(np.asarray(targets), dtype=torch.int64)
        values = np.asarray(targets, dtype=np.float64).reshape(len(targets), -1)
        if self.target_standardization is None:
            return torch.from_numpy(values.astype(np.float32))
        return self.target_standardization.encode(values, indices, self.target_names, where)

    def encode_inputs(self, raw: Any) -> torch.Tensor:
        """New inputs for prediction -> model inputs, exactly as the training data was prepared.

        Images: a list of file paths (str / Path), a folder, PIL images, or an
        array of raw pixels 0..255 shaped (N, H, W), (N, C, H, W) or (N, H, W, C).
        Tabular: a DataFrame, a CSV path, a list of dicts, or an (N, F) array of
        raw feature values in the training column order. Categories never seen in
        training become all zeros (one-hot) or 0 (index), with a warning.
        """
        if self.input_kind == "image":
            return self.transform_inputs(images_from_inputs(raw, self.image_size, self.channels), "the inputs")
        frame, where = frame_from_inputs(raw, self.encoding.features)
        return self.transform_inputs(frame, where)

    def decode_targets(self, targets: torch.Tensor) -> torch.Tensor:
        """Model outputs in transformed units -> target units (identity for classification)."""
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
            "scaling": self.scaling, "target_transform": self.target_transform, "missing": self.missing,
            "normalization": record(self.normalization),
            "encoding": self.encoding.to_dict() if self.encoding else None,
            "categorical_cardinalities": {str(k): v for k, v in self.categorical_cardinalities.items()},
            "imputation": record(self.imputation), "feature_scaling": record(self.feature_scaling),
            "class_names": self.class_names, "target_names": self.target_names,
            "target_standardization": record(self.target_standardization),
        }

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Preprocessing:
        """Restore from :meth:`to_dict`'s output (this format, or format 1 of earlier shendu versions)."""
        version = record.get("format") if isinstance(record, dict) else type(record).__name__
        if version == 1:
            record = _upgrade_format_1(record)
        elif version != FORMAT_VERSION:
            raise DataError(
                f"Expected a preprocessing record of format 1 or {FORMAT_VERSION}; received {version!r}. "
                "The run was saved by an incompatible shendu version; retrain it, or use that version."
            )
        return cls(
            input_kind=record["input_kind"], target_kind=record["target_kind"],
            image_size=image_size_pair(record["image_size"]), channels=record["channels"],
            normalization=_build(record["normalization"]),
            encoding=TabularEncoding.from_dict(record["encoding"]) if record["encoding"] else None,
            imputation=_build(record["imputation"]), feature_scaling=_build(record["feature_scaling"]),
            class_names=record["class_names"], target_names=record["target_names"],
            target_standardization=_build(record["target_standardization"]),
            scaling=record["scaling"], target_transform=record["target_transform"], missing=record["missing"],
        )


def _build(part: dict[str, Any] | None) -> Any:
    if part is None:
        return None
    options = dict(part)
    return SCALING_CLASSES[options.pop("kind")](**options)


def _upgrade_format_1(record: dict[str, Any]) -> dict[str, Any]:
    """A format-1 record (one ``standardization`` entry) in format-2 terms, with identical transforms.

    Format 1 standardised features and then set NaN to 0, i.e. imputed the
    training mean; ``normalize=false`` imputed the mean without scaling.
    """
    upgraded = dict(record, format=FORMAT_VERSION, imputation=None, feature_scaling=None, missing=None)
    old = record.get("standardization")
    if old is not None and old["kind"] == "Standardization":
        upgraded.update(imputation={"kind": "Imputation", "fill": list(old["mean"]), "policy": "mean"},
                        feature_scaling=dict(old), scaling="standard", missing="mean")
    elif old is not None:
        upgraded.update(imputation=dict(old, policy="mean"), scaling="none", missing="mean")
    else:
        identity = record["normalization"] and set(record["normalization"]["mean"]) == {0.0} \
            and set(record["normalization"]["std"]) == {1.0}
        upgraded["scaling"] = "minmax" if identity else "standard"  # v1 normalize=false was pixels / 255
    upgraded["target_transform"] = (
        None if record["target_kind"] != "regression" else "standard" if record["target_standardization"] else "none"
    )
    return upgraded


# -- fitting -------------------------------------------------------------------------
def preprocessing_options(config: Any) -> dict[str, str]:
    """``fit_preprocessing``'s keyword options from a ``DataConfig``; ``normalize: false`` means ``scaling: none``."""
    scaling = config.scaling
    if not config.normalize:
        if "scaling" in config.model_fields_set and scaling != "none":
            raise ConfigError([Problem(
                "data.normalize", False, f"no contradiction with data.scaling={scaling}",
                "data.normalize=false is the older spelling of data.scaling=none; remove data.normalize.",
            )])
        scaling = "none"
    return {"scaling": scaling, "target_transform": config.target_transform,
            "categorical_encoding": config.categorical_encoding, "missing": config.missing}


def fit_preprocessing(raw: RawData, train: RawSplit, *, target_kind: str, scaling: str = "standard",
                      target_transform: str = "standard", categorical_encoding: str = "one-hot",
                      missing: str = "mean") -> Preprocessing:
    """Fit every statistic on the training split ``train`` of ``raw`` (options as in ``DataConfig``)."""
    if scaling not in SCALINGS:
        raise ConfigError([Problem("data.scaling", scaling, f"one of {', '.join(SCALINGS)}", "Set data.scaling=standard.")])
    targets = None
    if target_kind == "regression" and target_transform != "none":
        values = np.asarray(train.targets, dtype=np.float64).reshape(len(train), -1)
        targets = TargetStandardization.fit(values, log=target_transform == "log", indices=train.indices,
                                            names=raw.target_names)
    common = dict(
        input_kind=raw.input_kind, target_kind=target_kind, target_standardization=targets, scaling=scaling,
        class_names=raw.class_names if target_kind in ("classification", "multilabel") else None,
        target_names=raw.target_names if target_kind in ("regression", "multilabel") else None,
        target_transform=target_transform if target_kind == "regression" else None,
    )
    if raw.input_kind == "image":
        images = train.inputs
        num_channels = images.shape[1]
        normalization = Normalization.fit(images) if scaling == "standard" else Normalization.fixed(scaling, num_channels)
        return Preprocessing(
            image_size=(int(images.shape[2]), int(images.shape[3])),
            channels="grayscale" if num_channels == 1 else "rgb", normalization=normalization, **common,
        )
    encoding = TabularEncoding.fit(train.inputs, raw.feature_names, raw.categorical, categorical_encoding)
    encoded = encoding.transform(train.inputs, "the training split")
    statistics = ColumnStatistics(encoded)  # NaN-aware, each computed once: imputation and scaling share the mean
    return Preprocessing(encoding=encoding, imputation=Imputation.from_statistics(statistics, missing),
                         feature_scaling=feature_scaling(scaling, statistics, encoding.categorical_columns),
                         missing=missing, **common)


# -- missing values at load time -------------------------------------------------------
def handle_missing_rows(parts: dict[str, RawSplit], raw: RawData, policy: str | None,
                        stored: Preprocessing | None = None) -> tuple[dict[str, RawSplit], dict[str, int] | None]:
    """Apply ``data.missing=drop`` or ``raise`` to the numeric feature columns of every split.

    drop: rows with a missing numeric feature are removed from every split;
    returns the count dropped per split. raise: the first column with a
    missing value is an error naming it and its first rows (0-based rows of the
    source). mean / median (and images): nothing to do here; imputation fills
    the values later.
    """
    if raw.input_kind != "tabular" or policy not in ("drop", "raise"):
        return parts, None
    if stored is not None and stored.encoding is not None:
        columns = stored.encoding.numeric_features
    else:
        columns = [f for f in raw.feature_names or [] if f not in raw.categorical]
    masks = {}
    for name, part in parts.items():
        present = [c for c in columns if c in part.inputs.columns]  # absent columns are reported by the encoding
        masks[name] = part.inputs[present].isna().to_numpy() if present else np.zeros((len(part), 0), dtype=bool)
        if policy == "raise" and masks[name].any():
            position = int(np.flatnonzero(masks[name].any(axis=0))[0])
            column, rows = present[position], [int(r) for r in part.indices[masks[name][:, position]]]
            raise DataError(
                f"Column {column!r} has {len(rows)} missing value(s) in the {name} split (data.missing=raise): "
                f"rows {', '.join(map(str, rows[:5]))}{', ...' if len(rows) > 5 else ''} (0-based rows of the "
                "source; in a CSV with a header, line = row + 2). Fill them, or set data.missing=mean, median or drop."
            )
    if policy == "raise":
        return parts, None
    dropped: dict[str, int] = {}
    kept_parts = dict(parts)
    for name, part in parts.items():
        keep = ~masks[name].any(axis=1)
        dropped[name] = int((~keep).sum())
        kept_parts[name] = part.take(np.flatnonzero(keep)) if dropped[name] else part
    if len(kept_parts["train"]) == 0:
        raise DataError(
            f"data.missing=drop removed every training row (each has a missing value in {', '.join(columns)}). "
            "Set data.missing=mean or median to fill them instead."
        )
    return kept_parts, dropped


__all__ = [
    "Preprocessing", "Normalization", "Standardization", "MinMaxScaling", "Imputation", "TargetStandardization",
    "fit_preprocessing", "preprocessing_options", "handle_missing_rows", "FORMAT_VERSION", "SCALINGS",
    "MISSING_POLICIES",
]
