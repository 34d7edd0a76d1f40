"""shendu's multilabel-classification against scikit-learn's one-vs-rest logistic regression, on the same split.

For each dataset (Scene, Yeast: MEKA ARFF files), the split is the one the
shipped config describes (``configs/<dataset>-multilabel.yaml``: a seeded
random 70/30 train/test split, validation carved out of the 70%), read
through shendu's own loader, so both contenders see exactly the same rows:

  (a) scikit-learn: ``OneVsRestClassifier(LogisticRegression(max_iter=2000))``
      on standardised features (``StandardScaler``), fitted on the whole 70%
      (train + validation: it needs no early stopping), decision p > 0.5;
  (b) shendu: ``shendu.train`` with the shipped config (the MLP is fitted on
      the train split, the validation split picks the best epoch and tunes
      the per-label thresholds), reported with the tuned thresholds and at 0.5.

Printed: test micro-F1 and macro-F1 of each (scikit-learn's ``f1_score``).
Published micro-F1 on these sets (other splits) is about 0.70-0.78 (Scene)
and 0.62-0.66 (Yeast).

    nice -n 19 .venv/bin/python benchmarks/multilabel_baseline.py --data ../shared/data/multilabel --dataset both
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import shendu
from shendu.api import resolve_config
from shendu.tasks import TASKS

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def split_arrays(config_path: Path, data_path: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The config's train / val / test features and 0/1 targets, read by shendu's loader (same rows as a run)."""
    config = resolve_config(config_path, {"data.path": data_path})
    bundle = TASKS.get(config.task).configure(config).load_data(config.data, config.seed)
    return {name: (getattr(bundle, name).inputs.numpy(), getattr(bundle, name).targets.numpy())
            for name in ("train", "val", "test")}


def sklearn_scores(splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """One-vs-rest logistic regression fitted on train + val, scored on test at p > 0.5."""
    inputs = np.concatenate([splits["train"][0], splits["val"][0]])
    targets = np.concatenate([splits["train"][1], splits["val"][1]])
    model = make_pipeline(StandardScaler(), OneVsRestClassifier(LogisticRegression(max_iter=2000)))
    started = time.perf_counter()
    model.fit(inputs, targets)
    predicted = model.predict(splits["test"][0])
    truth = splits["test"][1]
    return {"micro-f1": f1_score(truth, predicted, average="micro", zero_division=0),
            "macro-f1": f1_score(truth, predicted, average="macro", zero_division=0),
            "seconds": time.perf_counter() - started}


def shendu_scores(config_path: Path, data_path: str) -> dict[str, float]:
    """Train the shipped config; test scores with the tuned thresholds and at 0.5."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as runs:
        torch.manual_seed(0)
        run = shendu.train(config_path, overrides={"data.path": data_path}, output_dir=runs, progress="none")
        tuned, fixed = run.metrics["test"], run.summary["baselines"]["test"]["threshold-0.5"]
    return {"micro-f1": tuned["micro-f1"], "macro-f1": tuned["macro-f1"], "micro-f1@0.5": fixed["micro-f1"],
            "macro-f1@0.5": fixed["macro-f1"], "epochs": run.summary["epochs_run"],
            "seconds": time.perf_counter() - started}


def compare(dataset: str, data_path: str) -> None:
    config_path = CONFIGS / f"{dataset}-multilabel.yaml"
    splits = split_arrays(config_path, data_path)
    sizes = " / ".join(f"{name} {len(targets)}" for name, (_, targets) in splits.items())
    print(f"\n{dataset}: {sizes} samples, {splits['train'][1].shape[1]} labels ({config_path.name})")
    reference = sklearn_scores(splits)
    ours = shendu_scores(config_path, data_path)
    print(f"  {'':44s} {'micro-F1':>9s} {'macro-F1':>9s}")
    print(f"  {'scikit-learn one-vs-rest logistic (p > 0.5)':44s} {reference['micro-f1']:9.4f} "
          f"{reference['macro-f1']:9.4f}   ({reference['seconds']:.1f} s)")
    print(f"  {'shendu MLP, tuned thresholds':44s} {ours['micro-f1']:9.4f} {ours['macro-f1']:9.4f}   "
          f"({ours['seconds']:.1f} s, {ours['epochs']} epochs)")
    print(f"  {'shendu MLP, thresholds 0.5':44s} {ours['micro-f1@0.5']:9.4f} {ours['macro-f1@0.5']:9.4f}")
    print(f"  micro-F1 ratio shendu (tuned) / scikit-learn: {ours['micro-f1'] / reference['micro-f1']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "multilabel"),
                        help="folder holding Scene.arff.bz2 and Yeast.arff.bz2")
    parser.add_argument("--dataset", choices=["scene", "yeast", "both"], default="both")
    args = parser.parse_args()
    for dataset in (["scene", "yeast"] if args.dataset == "both" else [args.dataset]):
        compare(dataset, args.data)


if __name__ == "__main__":
    main()
