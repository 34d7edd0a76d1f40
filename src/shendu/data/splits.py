"""Train / validation / test splits: what a source reads, and how shendu divides it.

A source returns :class:`RawData`: one :class:`RawSplit` per split the dataset
ships with ("train", and maybe "val" and "test"), still unpreprocessed.
:func:`split_raw_data` turns that into exactly three splits, following a
:class:`SplitPlan` (built from ``data.split``, the fractions and ``data.folds``):

- a dataset's own test split is kept;
- a dataset with a validation split but no test split (e.g. an image folder
  with ``train/`` and ``val/``) uses that validation split as the **test**
  split, so the reported test score is on data never used to pick a checkpoint;
- validation is carved from train (``val_fraction`` of it);
- with no split at all: test = ``test_fraction``, val = ``val_fraction``, train
  = the rest (70/15/15 by default);
- with ``data.folds=k`` and ``data.fold=i``: test is found or carved exactly as
  above, and the rest (train plus any own validation split) is divided into k
  folds; fold i is validation, the other folds train (``shendu.data.folds``).

How rows are carved (``data.split``, see ``shendu.data.carving``): ``random``;
``stratified`` (each class keeps its share; ``auto`` = stratified for
classification, random otherwise: regression, multilabel); ``group`` (rows sharing the value of
``data.group_column``, or the source's own groups such as ranking query ids,
never straddle two splits); ``time`` (ordered by ``data.time_column``, or the
source's row order: train = earliest, val = next, test = latest, never
shuffled). Carving is seeded: the same seed gives the same split, a different
seed a different one. Row order inside each split follows the source (time
splits: time order). The group and time columns are not features unless
``data.features`` lists them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import torch

from shendu.data.carving import carve_count, carve_rows, choose_rows, group_codes, time_keys, time_order, time_range
from shendu.data.folds import fold_plan, fold_problems
from shendu.errors import ConfigError, DataError, Problem

SPLIT_NAMES = ("train", "val", "test")


@dataclass
class Split:
    """One preprocessed split, ready for batching.

    Args:
        inputs: float32, (N, C, H, W) images or (N, F) tabular features.
        targets: classification int64 (N,); multilabel int64 (N, L) of 0/1; regression float32 (N, T), transformed as
            ``data.target_transform`` says (``Preprocessing.decode_targets`` undoes it).
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
        targets: classification int64 (N,) class indices; multilabel int64 (N, L) of 0/1; regression float (N, T).
        indices: each sample's row in the source split (default: 0..N-1).
        groups: optional (N,) group of each sample (ranking: the query id);
            grouped splits keep a group's samples together.
        times: optional (N,) sortable time key of each sample (float64 or
            datetime64); time splits order by it (None: row order).
    """

    inputs: Any
    targets: np.ndarray
    indices: np.ndarray | None = None
    groups: np.ndarray | None = None
    times: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.indices is None:
            self.indices = np.arange(len(self.targets), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.targets)

    def take(self, rows: np.ndarray) -> RawSplit:
        """The sub-split made of ``rows`` (positions in this split), in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        if isinstance(self.inputs, torch.Tensor):
            inputs = self.inputs[torch.from_numpy(rows)]
        else:  # pandas DataFrame
            inputs = self.inputs.iloc[rows].reset_index(drop=True)
        groups = None if self.groups is None else self.groups[rows]
        times = None if self.times is None else self.times[rows]
        return RawSplit(inputs, self.targets[rows], self.indices[rows], groups, times)


def concat_raw_splits(first: RawSplit, second: RawSplit) -> RawSplit:
    """``first``'s samples followed by ``second``'s (e.g. train and own val pooled into folds)."""
    if isinstance(first.inputs, torch.Tensor):
        inputs = torch.cat([first.inputs, second.inputs])
    else:
        inputs = pd.concat([first.inputs, second.inputs], ignore_index=True)

    def joined(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
        return None if a is None or b is None else np.concatenate([a, b])

    return RawSplit(inputs, np.concatenate([first.targets, second.targets]), np.concatenate([first.indices, second.indices]),
                    joined(first.groups, second.groups), joined(first.times, second.times))


@dataclass
class RawData:
    """Everything a dataset source returns: its splits and what the columns mean.

    Args:
        input_kind: "image" or "tabular".
        splits: "train" (required), and "val" / "test" when the dataset ships them.
        class_names: classification: the name of each class index; multilabel: the name of each label.
        target_names: regression: the name of each target column; multilabel: the label names again.
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



# -- the plan -------------------------------------------------------------------------
@dataclass(frozen=True)
class SplitPlan:
    """How :func:`split_raw_data` divides the data: method, fractions, seed, key columns, folds.

    Build it from a run's ``DataConfig`` with :meth:`from_config`, which
    resolves ``data.split=auto`` and checks the settings fit together.

    Args:
        method: "random", "stratified", "group" or "time".
        val_fraction: share of the data (or of a source's own train split) for validation.
        test_fraction: share of the data for test, when the source has no test split.
        seed: seeds every random carve and the k-fold shuffle.
        group_column: method "group": the tabular column whose value groups rows
            (None: the source's own ``RawSplit.groups``).
        time_column: method "time": the column ordering rows in time (None: the
            source's own ``RawSplit.times``, else its row order).
        folds: k for k-fold cross-validation (None: one carved validation split).
        fold: with ``folds``: the 0-based fold used as validation.
        features: ``data.features`` as given: a group / time column listed there stays a feature.
    """

    method: str = "random"
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 0
    group_column: str | None = None
    time_column: str | None = None
    folds: int | None = None
    fold: int | None = None
    features: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config: Any, *, target_kind: str, seed: int) -> SplitPlan:
        """The plan a ``DataConfig`` describes; a ConfigError lists every setting that does not fit."""
        method = config.split
        if method == "auto":
            method = "stratified" if target_kind == "classification" else "random"
        problems = fold_problems(config.folds, config.fold)
        if method == "stratified" and target_kind == "multilabel":
            problems.append(Problem("data.split", "stratified", "random, group or time for multilabel targets",
                                    "Stratification needs one class per sample, and a multilabel sample has a set "
                                    "of labels; set data.split=random (or auto, which is random for multilabel)."))
        elif method == "stratified" and target_kind != "classification":
            problems.append(Problem("data.split", "stratified", "a split method for continuous targets",
                                    "Stratification needs classes; set data.split=random (or auto)."))
        for key, value, wanted in (("group_column", config.group_column, "group"), ("time_column", config.time_column, "time")):
            if value is not None and method != wanted:
                problems.append(Problem(
                    f"data.{key}", value, f"data.split={wanted} (data.{key} is only used by that split)",
                    f"Set data.split={wanted}, or remove data.{key}.",
                ))
        if problems:
            raise ConfigError(problems)
        return cls(method, config.val_fraction, config.test_fraction, seed, config.group_column, config.time_column,
                   config.folds, config.fold, tuple(config.features or ()))

    @property
    def key_columns(self) -> list[str]:
        """The group / time column, unless ``data.features`` lists it: it is not a feature."""
        return [c for c in (self.group_column, self.time_column) if c is not None and c not in self.features]

    def without_key_columns(self, raw: RawData) -> RawData:
        """``raw`` with the group / time column removed from its features (see :attr:`key_columns`)."""
        drop = self.key_columns
        if not drop or raw.feature_names is None:
            return raw
        return replace(raw, feature_names=[f for f in raw.feature_names if f not in drop],
                       categorical=[c for c in raw.categorical if c not in drop])

    def describe(self) -> str:
        """One sentence on the split, e.g. for a cross-validation report."""
        how = {"random": "random", "stratified": "stratified", "group": f"grouped by {self._group_label()}",
               "time": f"time-ordered by {self._time_label()}, never shuffled"}[self.method]
        seed = "" if self.method == "time" else f", seed {self.seed}"
        if self.folds:
            return (f"{self.folds}-fold cross-validation ({how}{seed}) over the non-test data; test carved with "
                    f"data.test_fraction={self.test_fraction:g} unless the source has its own")
        return f"{how} split, val {self.val_fraction:g} / test {self.test_fraction:g}{seed}"

    def _group_label(self) -> str:
        return f"column {self.group_column!r}" if self.group_column else "the source's groups"

    def _time_label(self) -> str:
        return f"column {self.time_column!r}" if self.time_column else "the source's order (its times, else its rows)"

    def _seed_words(self) -> str:
        return "not shuffled" if self.method == "time" else f"seed {self.seed}"


# -- splitting --------------------------------------------------------------------------
def _key_column(part: RawSplit, column: str, key: str, name: str) -> pd.Series:
    if not isinstance(part.inputs, pd.DataFrame):
        raise DataError(
            f"data.{key}={column!r} names a column, but this source's inputs are images, not a table. "
            f"Remove data.{key}" + (" (grouped splits then use the source's own groups, if it has them)." if key == "group_column" else ".")
        )
    if column not in part.inputs.columns:
        raise DataError(
            f"data.{key}={column!r} is not a column of the data's {name} split; columns present: "
            f"{', '.join(map(str, part.inputs.columns))}. Set data.{key} to one of them."
        )
    return part.inputs[column]


def _with_keys(part: RawSplit, plan: SplitPlan, name: str) -> RawSplit:
    """``part`` with ``groups`` / ``times`` read from the plan's key column."""
    if plan.method == "group" and plan.group_column is not None:
        values = _key_column(part, plan.group_column, "group_column", name).to_numpy(dtype=object)
        return replace(part, groups=values)
    if plan.method == "group" and part.groups is None:
        columns = list(part.inputs.columns) if isinstance(part.inputs, pd.DataFrame) else []
        raise ConfigError([Problem(
            "data.group_column", None, "the column whose value groups rows (this source provides no groups)",
            f"Set data.group_column to one of: {', '.join(map(str, columns))}." if columns else "Use data.split=random.",
        )])
    if plan.method == "time" and plan.time_column is not None:
        series = _key_column(part, plan.time_column, "time_column", name)
        return replace(part, times=time_keys(series, plan.time_column, f"the data's {name} split"))
    return part  # time without a column: the source's own times, or (None) its row order


def _carve(part: RawSplit, fraction: float, plan: SplitPlan, what: str) -> tuple[RawSplit, RawSplit, str]:
    count = carve_count(fraction, len(part), what)
    rest, chosen, how = carve_rows(count, method=plan.method, seed=plan.seed, targets=part.targets, groups=part.groups,
                                   times=part.times, label=plan._group_label(), what=what)
    return part.take(rest), part.take(chosen), how


def _check_group_count(parts: dict[str, RawSplit], plan: SplitPlan) -> None:
    """Too few groups in train for the splits to carve from it: one error up front, naming the count."""
    carves_test = "test" not in parts and "val" not in parts
    carves_val = not ("test" in parts and "val" in parts)
    needed = (plan.folds if plan.folds else 1 + carves_val) + carves_test
    pooled = plan.folds and "val" in parts and "test" in parts  # folds then pool train with the own val split
    _, found = group_codes(np.concatenate([parts["train"].groups, parts["val"].groups]) if pooled else parts["train"].groups)
    if found < needed:
        wanted = (f"{plan.folds} folds" if plan.folds else "train and val") + (" plus test" if carves_test else "")
        raise DataError(
            f"data.split=group: {plan._group_label()} holds {found} distinct group(s) in the training data; "
            f"{wanted} need at least {needed} (whole groups per split). "
            "Use data with more groups, fewer folds, or data.split=random."
        )


def _fold(parts: dict[str, RawSplit], plan: SplitPlan, origins: dict[str, str]) -> dict[str, Any]:
    """Divide train (plus any own val) into folds; fold ``plan.fold`` becomes val. Returns the facts."""
    pooled = "train" if "val" not in parts else "train and own validation splits"
    pool = parts["train"] if "val" not in parts else concat_raw_splits(parts["train"], parts.pop("val"))
    plan_rows, how = fold_plan(plan.folds, method=plan.method, seed=plan.seed, targets=pool.targets,
                               groups=pool.groups, times=pool.times, label=plan._group_label())
    train_rows, val_rows = plan_rows[plan.fold]
    parts["train"], parts["val"] = pool.take(train_rows), pool.take(val_rows)
    where = f"fold {plan.fold} of {plan.folds} (0-based) of the {len(pool)} non-test samples ({pooled})"
    if plan.method == "time":
        origins["val"] = f"{where}: block {plan.fold + 1} of {plan.folds + 1} in time, {how}, not shuffled"
        origins["train"] = f"the {plan.fold + 1} time block(s) before the validation block (expanding window)"
    else:
        origins["val"] = f"{where}, {how}, seed {plan.seed}; each non-test sample validates in exactly one fold"
        origins["train"] = f"the other {plan.folds - 1} folds"
    return {"cross_validation": {"folds": plan.folds, "fold": plan.fold, "method": how, "seed": plan.seed,
                                 "fold_sizes": [len(val) for _, val in plan_rows], "pooled": pooled}}


def split_raw_data(raw: RawData, plan: SplitPlan) -> tuple[dict[str, RawSplit], dict[str, str], dict[str, Any]]:
    """Turn a source's splits into train / val / test, following the rules above.

    Returns the three splits; for each, a sentence on where it came from
    (method, fractions, seed); and facts for the data description (the split
    method, the k-fold layout; time ranges come from :func:`time_order_facts`).
    """
    parts = dict(raw.splits)
    if "train" not in parts:
        raise DataError(f"The data has no training split; found splits {sorted(parts)}. Provide a train split.")
    unknown = sorted(set(parts) - set(SPLIT_NAMES))
    if unknown:
        raise DataError(f"Unknown split name(s) {unknown}; expected some of {list(SPLIT_NAMES)}.")
    parts = {name: _with_keys(part, plan, name) for name, part in parts.items()}
    if plan.method == "time":  # every split in time order
        parts = {name: part.take(time_order(part.times, len(part))) for name, part in parts.items()}
    if plan.method == "group":
        _check_group_count(parts, plan)
    origins: dict[str, str] = {"train": "own train split"}
    carved_test = False
    if "test" in parts:
        origins["test"] = "own test split"
    elif "val" in parts:
        parts["test"] = parts.pop("val")
        origins["test"] = "the source's validation split, used as test (the source has no test split)"
    else:
        if plan.val_fraction + plan.test_fraction >= 1.0 and not plan.folds:
            raise ConfigError([Problem(
                "data.val_fraction + data.test_fraction", plan.val_fraction + plan.test_fraction,
                "a sum below 1 (some data must be left for training)",
                "Lower them, e.g. data.val_fraction=0.15 data.test_fraction=0.15.",
            )])
        parts["train"], parts["test"], how = _carve(parts["train"], plan.test_fraction, plan, "test")
        origins["test"] = f"carved from the data ({plan.test_fraction:g} of it), {how}, {plan._seed_words()}"
        origins["train"] = "the data left after carving test and validation"
        carved_test = True
    facts: dict[str, Any] = {"split_method": plan.method}
    if plan.folds:
        facts.update(_fold(parts, plan, origins))
    elif "val" in parts:
        origins["val"] = "own validation split"
    else:
        # With test already carved, val_fraction is of the whole data, not of what is left.
        fraction = plan.val_fraction / (1.0 - plan.test_fraction) if carved_test else plan.val_fraction
        parts["train"], parts["val"], how = _carve(parts["train"], fraction, plan, "val")
        share = f"{plan.val_fraction:g} of the data" if carved_test else f"{plan.val_fraction:g} of train"
        origins["val"] = f"carved from train ({share}), {how}, {plan._seed_words()}"
        if not carved_test:
            origins["train"] = "own train split minus the carved validation samples"
    return {name: parts[name] for name in SPLIT_NAMES}, {name: origins[name] for name in SPLIT_NAMES}, facts


def time_order_facts(parts: dict[str, RawSplit], plan: SplitPlan) -> dict[str, str]:
    """Time splits: ``{"time_order": "time-ordered by column 'day' (never shuffled): train 1980-01-01 .. ..."}``.

    Call it once the splits are final (after ``limit_train``); other methods: {}.
    """
    if plan.method != "time":
        return {}
    ranges = ", ".join(f"{name} {time_range(parts[name].times, parts[name].indices)}" for name in SPLIT_NAMES)
    return {"time_order": f"time-ordered by {plan._time_label()} (never shuffled): {ranges}"}


def limit_train(part: RawSplit, limit: int | None, seed: int, method: str = "random") -> tuple[RawSplit, str | None]:
    """Keep at most ``limit`` training samples: a seeded (stratified) subset; time splits keep the latest."""
    if limit is None or limit >= len(part):
        return part, None
    if limit < 1:
        raise ConfigError([Problem("data.limit", limit, "a positive integer", "Set data.limit=1000, for example.")])
    if method == "time":
        order = time_order(part.times, len(part))
        return part.take(order[-limit:]), f"the latest {limit} of {len(part)} training samples in time"
    _, chosen, how = choose_rows(part.targets, limit, seed, method == "stratified")
    return part.take(chosen), f"{limit} of {len(part)} training samples, {how}, seed {seed}"


__all__ = [
    "Split", "RawSplit", "RawData", "SplitPlan", "SPLIT_NAMES", "choose_rows", "concat_raw_splits",
    "split_raw_data", "limit_train", "time_order_facts",
]
