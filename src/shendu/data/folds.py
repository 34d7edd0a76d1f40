"""k-fold cross-validation: which rows validate in each fold.

Use it to judge a model on little data: instead of one validation split, the
non-test data is divided into k folds and k runs are trained, fold i being the
validation split of run i and the other k-1 folds its training data. The test
split stays the same in every run (carved exactly as without folds). The score
is reported as mean ± std over the k runs (``shendu.crossval``).

Folds by split method (scikit-learn, seeded):
- stratified: ``StratifiedKFold`` (each fold keeps the class shares);
- random: ``KFold`` with shuffling;
- group: ``GroupKFold`` with shuffling (a group's rows sit in one fold);
- time: expanding-window folds as ``TimeSeriesSplit``: the time-ordered data
  is cut into k+1 blocks; fold i trains on blocks 0..i and validates on block
  i+1, so validation always follows training in time and the first block is
  never validation.

Reference: Hastie, Tibshirani & Friedman 2009, The Elements of Statistical
Learning, section 7.10 (cross-validation).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold, TimeSeriesSplit

from shendu.data.carving import SEED_MODULUS, group_codes, time_order
from shendu.errors import DataError, Problem

FOLD_METHODS = {
    "stratified": "stratified k-fold (StratifiedKFold)",
    "random": "shuffled k-fold (KFold)",
    "group": "grouped k-fold (GroupKFold)",
    "time": "expanding-window time-series folds (TimeSeriesSplit; the earliest block is never validation)",
}


def fold_problems(folds: int | None, fold: int | None) -> list[Problem]:
    """What is wrong with ``data.folds`` / ``data.fold`` (empty when nothing is)."""
    if fold is None and folds is None:
        return []
    if folds is None:
        return [Problem(
            "data.fold", fold, "data.folds set as well (the number of folds)",
            f"Set data.folds=5 (then data.fold={fold} is one of folds 0..4), or remove data.fold. "
            "`shendu train --folds 5` trains every fold and reports mean ± std.",
        )]
    if fold is None:
        return [Problem(
            "data.fold", None, f"the fold to validate on in this run, 0..{folds - 1}",
            f"Set data.fold=0 (one run per fold), or run `shendu train --folds {folds}` to train all {folds} folds "
            "and report mean ± std.",
        )]
    if fold >= folds:
        return [Problem(
            "data.fold", fold, f"a fold index 0..{folds - 1} (0-based, data.folds={folds})",
            f"Set data.fold to 0..{folds - 1}.",
        )]
    return []


def fold_plan(
    num_folds: int, *, method: str, seed: int, targets: np.ndarray, groups: np.ndarray | None = None,
    times: np.ndarray | None = None, label: str = "the groups",
) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """(train_rows, val_rows) of every fold over ``targets``' rows, and a few words on how.

    Rows are positions 0..N-1; random / stratified / group folds are sorted by
    position, time folds are in time order. Except for time folds, every row is
    validation in exactly one fold.

    Args:
        num_folds: k >= 2.
        method: "random", "stratified", "group" or "time".
        seed: shuffles the rows (or groups) before they are dealt into folds.
        targets: class indices (stratified) or anything with one entry per row.
        groups: method "group": one group value per row.
        times: method "time": one sortable time key per row (None: row order).
        label: the groups' name in messages, e.g. "column 'query'".
    """
    length = len(targets)
    rows = np.arange(length)
    random_state = seed % SEED_MODULUS
    how = FOLD_METHODS[method]
    if method == "time":
        order = time_order(times, length)
        if length < num_folds + 1:
            raise DataError(
                f"Cannot make {num_folds} time-series folds from {length} samples; expected at least "
                f"{num_folds + 1} (k+1 blocks). Lower data.folds or add data."
            )
        plan = [(order[tr], order[va]) for tr, va in TimeSeriesSplit(n_splits=num_folds).split(order)]
        return plan, how
    if method == "group":
        codes, num_groups = group_codes(groups)
        if num_groups < num_folds:
            raise DataError(
                f"Cannot make {num_folds} grouped folds: {label} holds {num_groups} distinct group(s) outside the "
                f"test split; expected at least {num_folds} (one per fold). Lower data.folds or use more groups."
            )
        splitter = GroupKFold(n_splits=num_folds, shuffle=True, random_state=random_state)
        return [(np.sort(tr), np.sort(va)) for tr, va in splitter.split(rows, groups=codes)], how
    if length < num_folds:
        raise DataError(
            f"Cannot make {num_folds} folds from {length} samples; expected at least one sample per fold. "
            "Lower data.folds or add data."
        )
    if method == "stratified":
        splitter = StratifiedKFold(n_splits=num_folds, shuffle=True, random_state=random_state)
        try:
            with warnings.catch_warnings():  # a class smaller than k: its rows miss some folds, said below
                warnings.simplefilter("ignore", UserWarning)
                plan = [(np.sort(tr), np.sort(va)) for tr, va in splitter.split(rows, targets)]
            counts = np.bincount(np.asarray(targets, dtype=np.int64))
            smallest = int(counts[counts > 0].min())
            if smallest < num_folds:
                how += f"; the smallest class has {smallest} sample(s), fewer than {num_folds} folds"
            return plan, how
        except ValueError as error:
            how = f"{FOLD_METHODS['random']} (stratification impossible: {error})"
    splitter = KFold(n_splits=num_folds, shuffle=True, random_state=random_state)
    return [(np.sort(tr), np.sort(va)) for tr, va in splitter.split(rows)], how


__all__ = ["FOLD_METHODS", "fold_problems", "fold_plan"]
