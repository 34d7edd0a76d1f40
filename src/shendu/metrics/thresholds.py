"""Per-label decision thresholds for multilabel outputs: tuned on validation data, applied to logits.

A multilabel model says "label l is present" when sigmoid(z_l) > t_l. One
t = 0.5 for every label is rarely best: rare labels usually want a lower
threshold. :func:`tune_thresholds` chooses t_l on the validation split
(never on test) for one of two criteria, and :func:`apply_thresholds`
shifts the logits so that the multilabel metrics' fixed 0.5 becomes t_l.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from shendu.errors import DataError

TUNING_METRICS = ("f1", "micro-f1")
MAX_PASSES = 20  # coordinate ascent for micro-f1: passes over the labels; it stops earlier once nothing changes
# Probabilities clamped here before the logit: a shift of at most +-16.1, about where float32 sigmoid saturates.
THRESHOLD_EPS = 1e-7


def _check_probabilities(probabilities: torch.Tensor, targets: torch.Tensor) -> None:
    if probabilities.dim() != 2 or targets.shape != probabilities.shape or not probabilities.is_floating_point():
        raise DataError(
            f"tune_thresholds expects float probabilities (N, L) and 0/1 targets of the same shape; received "
            f"{tuple(probabilities.shape)} ({probabilities.dtype}) and {tuple(targets.shape)}. "
            "Pass torch.sigmoid(logits) and the validation targets."
        )
    if ((probabilities < 0) | (probabilities > 1) | probabilities.isnan()).any():
        raise DataError(
            "tune_thresholds expects probabilities in [0, 1]; received values outside it (logits?). "
            "Pass torch.sigmoid(logits)."
        )
    if ((targets != 0) & (targets != 1)).any():
        raise DataError("tune_thresholds expects targets of 0 and 1 only. Binarise them, e.g. (targets > 0.5).long().")


def _candidates(scores: torch.Tensor, grid: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Candidate thresholds (L, K) and which are valid, from the sorted scores (L, N) or a shared grid."""
    num_labels = scores.shape[0]
    if grid is not None:
        grid = torch.as_tensor(grid, dtype=torch.float64, device=scores.device).flatten()
        if grid.numel() == 0 or ((grid < 0) | (grid > 1) | grid.isnan()).any():
            raise ValueError(f"grid must be a non-empty list of thresholds in [0, 1]; received {grid.tolist()}.")
        grid = grid.expand(num_labels, -1)
        return grid, torch.ones_like(grid, dtype=torch.bool)
    zeros = torch.zeros(num_labels, 1, dtype=torch.float64, device=scores.device)
    bounded = torch.cat([zeros, scores, zeros + 1], dim=1)  # (L, N + 2): 0, sorted scores, 1
    midpoints = (bounded[:, :-1] + bounded[:, 1:]) / 2  # (L, N + 1)
    valid = bounded[:, 1:] > bounded[:, :-1]  # a repeated score adds no new decision
    candidates = torch.cat([midpoints, zeros + 0.5], dim=1)  # (L, N + 2)
    return candidates, torch.cat([valid, torch.ones_like(zeros, dtype=torch.bool)], dim=1)


def _candidate_counts(scores: torch.Tensor, positives: torch.Tensor, candidates: torch.Tensor,
                      total: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(TP, predicted) per label and candidate (L, K), from sorted scores (L, N) and their 0/1 labels (L, N)."""
    # below[:, k]: positives among the k lowest scores.
    below = torch.cat([torch.zeros_like(total), positives.cumsum(dim=1)], dim=1)  # (L, N + 1)
    negatives = torch.searchsorted(scores.contiguous(), candidates.contiguous(), right=True)  # scores <= t
    predicted = scores.shape[1] - negatives  # predicted present: p > t
    return total - below.gather(1, negatives), predicted.double()


def _nearest_half(value: torch.Tensor, candidates: torch.Tensor, best: torch.Tensor) -> torch.Tensor:
    """Per row, the index of the candidate with the best value closest to 0.5 (the tie rule)."""
    distance = torch.where(value == best, (candidates - 0.5).abs(), torch.full_like(value, torch.inf))
    return distance.argmin(dim=-1)


def _micro_f1_ascent(true_positives: torch.Tensor, predicted: torch.Tensor, total: torch.Tensor,
                     candidates: torch.Tensor, valid: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
    """Coordinate ascent on the pooled F1: each label in turn takes its best candidate given the others'.

    Each step cannot lower micro-F1, so it ends at a point no single label can
    improve (a local optimum of a function of L thresholds). Returns candidate indices (L,).
    """
    chosen = start.clone()
    rows = torch.arange(len(chosen))
    errors = predicted - 2 * true_positives + total  # FP + FN = (predicted - TP) + (total - TP), (L, K)
    for _ in range(MAX_PASSES):
        changed = False
        for label in torch.nonzero(total.squeeze(1) > 0).flatten().tolist():
            current_tp, current_errors = true_positives[rows, chosen], errors[rows, chosen]  # (L,)
            other_tp = current_tp.sum() - current_tp[label]
            other_errors = current_errors.sum() - current_errors[label]
            pooled = 2 * (other_tp + true_positives[label])  # (K,)
            micro = torch.where(valid[label], pooled / (pooled + other_errors + errors[label]).clamp_min(1), -1.0)
            best = _nearest_half(micro, candidates[label], micro.max())  # >= micro at the current choice
            if best != chosen[label]:
                chosen[label], changed = best, True
        if not changed:
            break
    return chosen


def tune_thresholds(
    probabilities: torch.Tensor, targets: torch.Tensor, metric: str = "f1", grid: Sequence[float] | None = None
) -> torch.Tensor:
    """Per-label decision thresholds that maximise each label's F1, or the micro-F1 of all labels, on validation data.

    Use it after training, on the validation split, when one threshold of
    0.5 for every label is a poor fit: rare labels usually want a lower
    threshold. Then give the thresholds to :func:`apply_thresholds` before
    the metrics, and report the test split with them (never tune on test).
    Tune for the score you report: "f1" (each label's own F1) serves
    macro-F1; "micro-f1" serves micro-F1, which pools all labels' counts, so
    each label's best threshold depends on the others'.

    A label is predicted present when p > t (as the metrics do). Default
    candidates: the midpoints between consecutive distinct sorted predicted
    probabilities of that label (with 0 and 1 added at the ends), plus 0.5.
    Every distinct decision the data allows has one candidate, so "f1" finds
    the exact optimum of the per-label F1 on these data, where a fixed grid
    such as 0.05..0.95 can step over it; a midpoint also keeps a margin to
    both neighbouring scores. On a small validation set the exact optimum
    can overfit: pass a coarse grid then, e.g.
    ``grid=torch.arange(0.05, 0.96, 0.05)``. Among candidates with equal
    score the one closest to 0.5 wins; a label with no positive in the data
    keeps 0.5 (its F1 is 0 at every threshold).

    Formula ("f1"): t_l = argmax_t F1_l(t), F1_l(t) = 2 * TP_l(t) / (2 * TP_l(t) + FP_l(t) + FN_l(t)),
    TP_l(t) = sum_i [p_il > t and y_il = 1]; computed for all candidates at once from sorted scores
    and cumulative counts (N log N per label, vectorised over labels and candidates).
    Formula ("micro-f1"): maximise 2 * sum_l TP_l(t_l) / (2 * sum_l TP_l + sum_l FP_l + sum_l FN_l) by
    coordinate ascent from the "f1" thresholds: each label in turn takes the candidate that maximises
    the pooled score given the other labels' thresholds, until a pass changes nothing (a local optimum;
    micro-F1 never falls below the "f1" thresholds' value).

    Args:
        probabilities: validation probabilities sigmoid(logits), (N, L).
        targets: validation 0/1 targets, (N, L).
        metric: "f1" (each label's F1, default) or "micro-f1" (F1 of all labels' decisions pooled).
        grid: thresholds in [0, 1] shared by every label instead of the data's midpoints.

    Returns:
        The thresholds, (L,) float64.
    """
    if metric not in TUNING_METRICS:
        raise ValueError(f"metric must be one of {', '.join(TUNING_METRICS)}; received {metric!r}. "
                         "Use metric='f1' (per label) or metric='micro-f1' (pooled).")
    _check_probabilities(probabilities, targets)
    scores, order = probabilities.double().T.sort(dim=1)  # (L, N) ascending
    positives = targets.T.gather(1, order).double()  # (L, N), aligned with scores
    total = positives.sum(dim=1, keepdim=True)  # (L, 1)
    candidates, valid = _candidates(scores, grid)  # (L, K)
    true_positives, predicted = _candidate_counts(scores, positives, candidates, total)
    f1 = 2 * true_positives / (predicted + total).clamp_min(1)  # 2TP / (2TP + FP + FN)
    f1 = torch.where(valid, f1, torch.full_like(f1, -1.0))
    chosen = _nearest_half(f1, candidates, f1.max(dim=1, keepdim=True).values)  # (L,)
    if metric == "micro-f1":
        chosen = _micro_f1_ascent(true_positives, predicted, total, candidates, valid, chosen)
    thresholds = candidates.gather(1, chosen[:, None]).squeeze(1)  # (L,)
    return torch.where(total.squeeze(1) > 0, thresholds, torch.full_like(thresholds, 0.5))


def apply_thresholds(logits: torch.Tensor, thresholds: torch.Tensor | Sequence[float]) -> torch.Tensor:
    """Shift logits so that 0 is each label's threshold: sigmoid(shifted) > 0.5 exactly when sigmoid(logit) > t_l.

    Use it between the model and the multi-label metrics (or the
    predictions) once :func:`tune_thresholds` has chosen t_l; the metrics
    keep their fixed threshold 0.5 on sigmoid(shifted).

    Formula: shifted_il = z_il - logit(t_l), logit(t) = log(t / (1 - t)); t is clamped to
    [1e-7, 1 - 1e-7] first, so t = 0 or 1 shifts by -+16.1 instead of an infinity.

    Args:
        logits: (B, L).
        thresholds: (L,), each in [0, 1].
    """
    thresholds = torch.as_tensor(thresholds, dtype=torch.float64, device=logits.device)
    if logits.dim() != 2 or thresholds.shape != (logits.shape[1],):
        raise DataError(
            f"apply_thresholds expects logits (B, L) and one threshold per label (L,); received "
            f"{tuple(logits.shape)} and {tuple(thresholds.shape)}. Pass the thresholds from tune_thresholds."
        )
    if ((thresholds < 0) | (thresholds > 1) | thresholds.isnan()).any():
        raise DataError(f"apply_thresholds expects thresholds in [0, 1]; received {thresholds.tolist()}.")
    return logits - torch.logit(thresholds, eps=THRESHOLD_EPS).to(logits.dtype)



__all__ = ["TUNING_METRICS", "apply_thresholds", "tune_thresholds"]
