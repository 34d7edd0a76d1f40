"""k-fold cross-validation: ``shendu train --folds 5`` trains k runs and reports mean ± std.

Why: one validation split of a small dataset gives a noisy estimate; k-fold
cross-validation uses every non-test sample for validation exactly once and
reports the spread. The test split is carved once, exactly as without folds,
and is the same for every fold; the rest is divided into k folds
(``shendu.data.splits``: stratified for classification, grouped for
``data.split=group``, expanding windows for ``data.split=time``). Fold i is
validated on fold i and trained on the others.

Layout: ``<output.dir>/<name>-cv-NNNN/`` holds one ordinary run directory per
fold (``fold-0-0001``, ...) and ``crossval.json``: every fold's val and test
metrics and, per metric, the mean and the sample standard deviation (ddof=1).

Reference: Hastie, Tibshirani & Friedman, "The Elements of Statistical
Learning", §7.10 (cross-validation).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shendu.api import Run, merge_overrides, resolve_config, train
from shendu.config import RunConfig
from shendu.errors import ConfigError, Problem
from shendu.run import numbered_directory


@dataclass
class CrossValidation:
    """The outcome of k-fold cross-validation.

    Args:
        path: the directory holding the fold runs and ``crossval.json``.
        runs: one finished Run per fold, in fold order.
        summary: ``{"folds": k, "per_fold": [...], "mean": {split: {metric: m}}, "std": {...}}``.
    """

    path: Path
    runs: list[Run]
    summary: dict[str, Any]


def aggregate(per_fold: list[Mapping[str, Mapping[str, float]]]) -> tuple[dict, dict]:
    """Mean and sample std (ddof=1) of each split's metrics over folds."""
    means: dict[str, dict[str, float]] = {}
    stds: dict[str, dict[str, float]] = {}
    splits = dict.fromkeys(split for metrics in per_fold for split in metrics)
    for split in splits:
        names = dict.fromkeys(name for metrics in per_fold for name in metrics.get(split, {}))
        for name in names:
            values = [float(metrics[split][name]) for metrics in per_fold if name in metrics.get(split, {})]
            means.setdefault(split, {})[name] = statistics.fmean(values)
            stds.setdefault(split, {})[name] = statistics.stdev(values) if len(values) > 1 else 0.0
    return means, stds


def cross_validate(config: str | Path | Mapping | RunConfig | None = None, *, folds: int, overrides: Any = None,
                   output_dir: str | Path | None = None, progress: str | None = None, **fields: Any) -> CrossValidation:
    """Train one run per fold and report each metric's mean ± std.

    Args:
        config: as for :func:`shendu.api.train`.
        folds: k, at least 2 (sets ``data.folds``; each run sets ``data.fold``).
        overrides, output_dir, progress, **fields: as for :func:`shendu.api.train`.
    """
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise ConfigError([Problem("--folds", folds, "an integer of at least 2",
                                   "Use --folds 5 (or 10 for small data).")])
    extra = {"output.dir": str(output_dir)} if output_dir else {}
    base = resolve_config(config, merge_overrides(extra, overrides), **fields)  # every config error before any run
    name = base.output.name or base.task
    path = numbered_directory(base.output.dir, f"{name}-cv")
    runs, per_fold = [], []
    for fold in range(folds):
        fold_overrides = {"data.folds": folds, "data.fold": fold, "output.dir": str(path), "output.name": f"fold-{fold}"}
        run = train(base, overrides=fold_overrides, progress=progress)
        runs.append(run)
        per_fold.append(run.summary.get("metrics", {}))
    means, stds = aggregate(per_fold)
    summary = {
        "folds": folds, "task": base.task, "runs": [str(run.path) for run in runs],
        "per_fold": per_fold, "mean": means, "std": stds,
        "note": "val = the held-out fold of each run (the cross-validation estimate); "
                "test = the same held-out test split for every fold",
    }
    (path / "crossval.json").write_text(json.dumps(summary, indent=2) + "\n")
    return CrossValidation(path, runs, summary)


def crossval_table(summary: Mapping[str, Any]) -> str:
    """One row per split, one ``mean ± std`` column per metric."""
    means, stds = summary["mean"], summary["std"]
    names = list(dict.fromkeys(n for values in means.values() for n in values))
    rows = [["split", *names]] + [
        [split, *(f"{values[n]:.4f} ± {stds[split][n]:.4f}" if n in values else "-" for n in names)]
        for split, values in means.items()
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [f"{summary['folds']}-fold cross-validation (mean ± std over folds)"]
    lines += ["  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


__all__ = ["CrossValidation", "cross_validate", "crossval_table", "aggregate"]
