"""Resampling of a raw training split with imbalanced-learn (``data.imbalance.resample``).

Runs on the RAW split, before preprocessing is fitted, so that what the model
sees of a synthetic sample goes through exactly the same preprocessing as a
real one. Validation and test splits are never resampled.

- ``oversample`` / ``undersample``: imbalanced-learn's RandomOverSampler /
  RandomUnderSampler choose rows; duplicated rows keep their source index.
- ``tomek``: TomekLinks removes the majority member of each Tomek link.
- ``smote`` / ``adasyn``: new samples interpolated between a minority sample
  and one of its k nearest same-class neighbours. Tabular data with
  categorical columns uses SMOTE-NC (SMOTE-N when every feature is
  categorical); ADASYN has no categorical variant and refuses them. Images are
  flattened to pixel vectors and reshaped back (allowed, with a warning:
  interpolated pixels are blends of two images). Synthetic samples have source
  index -1.

Neighbours of tabular rows are measured on z-scored features (missing values
filled with the column mean for the distance only), so a column counted in
thousands does not decide the neighbours alone; interpolation is linear, so a
synthetic row is still the same blend of two raw rows.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import torch
from imblearn.over_sampling import ADASYN, SMOTE, SMOTEN, SMOTENC, RandomOverSampler
from imblearn.under_sampling import RandomUnderSampler, TomekLinks

from shendu.data.carving import SEED_MODULUS
from shendu.data.scaling import ColumnStatistics, Standardization
from shendu.data.splits import RawSplit
from shendu.errors import DataError

RESAMPLERS = ("oversample", "smote", "adasyn", "undersample", "tomek")
SYNTHETIC_INDEX = -1


class ImbalanceWarning(UserWarning):
    """A warning about class imbalance or how it is being remedied."""


def _class_name(class_names: list[str] | None, index: int) -> str:
    return repr(class_names[index]) if class_names and index < len(class_names) else str(index)


def _check_neighbours(method: str, targets: np.ndarray, k_neighbors: int, class_names: list[str] | None) -> None:
    """SMOTE / ADASYN need more than k_neighbors samples in every class they oversample."""
    counts = np.bincount(targets)
    present = np.flatnonzero(counts)
    oversampled = present[counts[present] < counts.max()]
    if len(oversampled) == 0:
        return
    smallest = int(oversampled[np.argmin(counts[oversampled])])
    count = int(counts[smallest])
    if count > k_neighbors:
        return
    fix = (f"Set data.imbalance.k_neighbors={count - 1} (at most the class count minus one), "
           "or use data.imbalance.resample=oversample." if count > 1
           else "A single sample has no neighbour to interpolate with: use data.imbalance.resample=oversample.")
    raise DataError(
        f"data.imbalance.resample={method} needs more than k_neighbors={k_neighbors} training samples in every "
        f"class it oversamples; class {_class_name(class_names, smallest)} has {count}. {fix}"
    )


def _rephrase(method: str, error: Exception, k_neighbors: int) -> DataError:
    """imbalanced-learn's failures in shendu's words (received / expected / fix)."""
    text = str(error)
    if "neigbours belong to the majority" in text or "neighbours belong to the majority" in text:
        fix = ("ADASYN generates samples where a class borders the others, and some class has no other-class "
               "neighbour at all. Use data.imbalance.resample=smote.")
    elif "No samples will be generated" in text:
        fix = "ADASYN found nothing to generate. Use data.imbalance.resample=smote or oversample."
    elif "n_neighbors" in text:
        fix = f"A class has too few training samples for k_neighbors={k_neighbors}; lower data.imbalance.k_neighbors."
    else:
        fix = "Try data.imbalance.resample=oversample, which only duplicates rows."
    return DataError(f"data.imbalance.resample={method} failed on the training split: {text} {fix}")


def _chosen_rows(sampler: Any, targets: np.ndarray) -> np.ndarray:
    """Rows a row-choosing sampler keeps (with repeats); the features are not needed to choose them."""
    sampler.fit_resample(np.arange(len(targets)).reshape(-1, 1), targets)
    return np.asarray(sampler.sample_indices_, dtype=np.int64)


# -- tabular features as numbers, for distances and interpolation ----------------
class _TabularMatrix:
    """Raw feature columns -> a numeric matrix, and synthetic rows of it back to raw columns.

    Numeric columns are z-scored with the split's mean / std
    (``shendu.data.scaling.Standardization``: missing values take the mean); categorical columns become integer codes (code 0 =
    missing) that SMOTE-NC / SMOTE-N treat as categories.
    """

    def __init__(self, frame: pd.DataFrame, features: list[str], categorical: list[str]):
        self.numeric = [f for f in features if f not in categorical]
        self.categorical = [f for f in features if f in categorical]
        values = frame[self.numeric].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
        standardization = Standardization.from_statistics(ColumnStatistics(values))
        self.mean, self.std = np.asarray(standardization.mean), np.asarray(standardization.std)
        self.scaled = standardization(values)  # (N, numeric); a missing value -> 0, i.e. the mean
        self.levels: list[pd.Index] = []
        codes = []
        for column in self.categorical:
            code, levels = pd.factorize(frame[column])
            codes.append(code + 1)  # -1 (missing) -> 0
            self.levels.append(levels)
        self.codes = np.stack(codes, axis=1).astype(np.float64) if codes else np.zeros((len(frame), 0))

    def for_interpolation(self) -> np.ndarray:
        """(N, numeric + categorical): z-scores, then category codes."""
        return np.concatenate([self.scaled, self.codes], axis=1)

    def for_distance(self) -> np.ndarray:
        """(N, numeric + one-hot): z-scores, then one-hot categories (Tomek links)."""
        one_hot = [np.eye(len(levels) + 1)[self.codes[:, i].astype(np.int64)] for i, levels in enumerate(self.levels)]
        return np.concatenate([self.scaled, *one_hot], axis=1)

    def to_frame(self, rows: np.ndarray) -> pd.DataFrame:
        """Synthetic rows of :meth:`for_interpolation` back to raw feature columns."""
        numeric = rows[:, : len(self.numeric)] * self.std + self.mean
        frame = pd.DataFrame(numeric, columns=self.numeric)
        for i, (column, levels) in enumerate(zip(self.categorical, self.levels)):
            codes = np.rint(rows[:, len(self.numeric) + i]).astype(np.int64)
            values = np.array([levels[c - 1] if c > 0 else np.nan for c in codes], dtype=object)
            frame[column] = values
        return frame


def _synthesize(method: str, matrix: np.ndarray, targets: np.ndarray, *, seed: int, k_neighbors: int,
                categorical_columns: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """New (synthetic) rows and their classes; imbalanced-learn returns the originals first, in order."""
    random_state = seed % SEED_MODULUS
    if method == "adasyn":
        sampler: Any = ADASYN(n_neighbors=k_neighbors, random_state=random_state)
    elif categorical_columns and len(categorical_columns) == matrix.shape[1]:
        sampler = SMOTEN(k_neighbors=k_neighbors, random_state=random_state)
    elif categorical_columns:
        sampler = SMOTENC(categorical_features=categorical_columns, k_neighbors=k_neighbors, random_state=random_state)
    else:
        sampler = SMOTE(k_neighbors=k_neighbors, random_state=random_state)
    try:
        resampled, classes = sampler.fit_resample(matrix, targets)
    except (ValueError, RuntimeError) as error:
        raise _rephrase(method, error, k_neighbors) from None
    return np.asarray(resampled)[len(targets):], np.asarray(classes)[len(targets):]


def _synthetic_images(method: str, part: RawSplit, seed: int, k_neighbors: int) -> tuple[torch.Tensor, np.ndarray]:
    warnings.warn(
        f"data.imbalance.resample={method} on images interpolates pixels: each synthetic image is a blend of two "
        "real ones (ghosted strokes), not a plausible new image. Consider data.imbalance.balanced_batches=true "
        "or class_weights=true for images.",
        ImbalanceWarning, stacklevel=4,
    )
    images = part.inputs
    flat = images.reshape(len(images), -1).to(torch.float32).numpy()  # (N, C*H*W)
    new, classes = _synthesize(method, flat, part.targets, seed=seed, k_neighbors=k_neighbors, categorical_columns=[])
    synthetic = torch.from_numpy(np.ascontiguousarray(new)).reshape(len(new), *images.shape[1:])  # (M, C, H, W)
    if not images.is_floating_point():
        synthetic = synthetic.round().clamp(0, 255)
    return synthetic.to(images.dtype), classes


def _synthetic_rows(method: str, part: RawSplit, features: list[str], categorical: list[str], seed: int,
                    k_neighbors: int) -> tuple[pd.DataFrame, np.ndarray]:
    table = _TabularMatrix(part.inputs, features, categorical)
    if method == "adasyn" and table.categorical:
        raise DataError(
            f"data.imbalance.resample=adasyn needs numeric features; column(s) {', '.join(table.categorical)} are "
            "categorical and ADASYN has no categorical variant. Use data.imbalance.resample=smote (SMOTE-NC handles "
            "categorical columns) or oversample."
        )
    columns = list(range(len(table.numeric), len(table.numeric) + len(table.categorical)))
    new, classes = _synthesize(method, table.for_interpolation(), part.targets, seed=seed,
                               k_neighbors=k_neighbors, categorical_columns=columns)
    return table.to_frame(new), classes


def resample_split(part: RawSplit, method: str, *, seed: int, k_neighbors: int = 5,
                   features: list[str] | None = None, categorical: list[str] | None = None,
                   class_names: list[str] | None = None) -> RawSplit:
    """Resample a raw classification split so that its classes are (closer to) balanced.

    Use it on the training split only; shendu calls it from ``load_data`` when
    ``data.imbalance.resample`` is set. Over-samplers grow every class to the
    majority's count, under-samplers shrink towards the minority (Tomek links
    only remove the majority member of each cross-class nearest-neighbour pair).

    Formula: SMOTE: x_new = x_i + u * (x_nn - x_i), u ~ U(0, 1), x_nn one of the
    k nearest same-class neighbours of minority sample x_i. ADASYN draws more
    x_i where a sample's neighbours are mostly of other classes.

    Reference: Chawla et al., "SMOTE: Synthetic Minority Over-sampling Technique",
    JAIR 2002; He et al., "ADASYN", IJCNN 2008; Tomek, "Two Modifications of
    CNN", IEEE SMC 1976; implementations from imbalanced-learn (Lemaitre et al., JMLR 2017).

    Args:
        part: the raw training split (images (N, C, H, W) or a DataFrame).
        method: one of "oversample", "smote", "adasyn", "undersample", "tomek".
        seed: seeds the random choices (the run seed).
        k_neighbors: neighbours for SMOTE / ADASYN; every oversampled class needs more samples than this.
        features, categorical: tabular: the feature columns and which of them are categorical.
        class_names: for messages.
    """
    if method not in RESAMPLERS:
        raise DataError(f"data.imbalance.resample must be one of none, {', '.join(RESAMPLERS)}; received {method!r}.")
    targets = np.asarray(part.targets, dtype=np.int64)
    if method in ("oversample", "undersample"):
        cls = RandomOverSampler if method == "oversample" else RandomUnderSampler
        return part.take(_chosen_rows(cls(random_state=seed % SEED_MODULUS), targets))
    is_image = isinstance(part.inputs, torch.Tensor)
    if not is_image:
        features = list(features) if features is not None else [str(c) for c in part.inputs.columns]
        categorical = [c for c in (categorical or []) if c in features]
    if method == "tomek":
        if is_image:
            matrix = part.inputs.reshape(len(targets), -1).to(torch.float32).numpy()
        else:
            matrix = _TabularMatrix(part.inputs, features, categorical).for_distance()
        sampler = TomekLinks()
        sampler.fit_resample(matrix, targets)
        return part.take(np.asarray(sampler.sample_indices_, dtype=np.int64))
    _check_neighbours(method, targets, k_neighbors, class_names)
    if is_image:
        new_inputs, classes = _synthetic_images(method, part, seed, k_neighbors)
        inputs: Any = torch.cat([part.inputs, new_inputs])
    else:
        new_rows, classes = _synthetic_rows(method, part, features, categorical, seed, k_neighbors)
        inputs = pd.concat([part.inputs, new_rows], ignore_index=True)
    indices = np.concatenate([part.indices, np.full(len(classes), SYNTHETIC_INDEX, dtype=np.int64)])
    return RawSplit(inputs, np.concatenate([targets, classes.astype(np.int64)]), indices)


__all__ = ["RESAMPLERS", "SYNTHETIC_INDEX", "ImbalanceWarning", "resample_split"]
