"""Class imbalance remedies must help: imbalanced digits, no remedy against class weights and SMOTE.

Digits (scikit-learn's 1,797 8x8 images, as a CSV of 64 pixel columns) are
split 70 / 30, stratified; the 30 % is a balanced held-out test set the runs
never see. In the 70 % training CSV digit 3 is cut to 5 % of its samples
(6 of 128). The same MLP is trained through ``shendu.train`` three ways: no
remedy, ``data.imbalance.class_weights=true`` and ``data.imbalance.resample=smote``,
each with two seeds; minority-class recall and macro F1 on the held-out set
are compared as means over the seeds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.metrics import f1_score, recall_score
from sklearn.model_selection import train_test_split

import shendu

pytestmark = [pytest.mark.learning, pytest.mark.filterwarnings("ignore::shendu.data.imbalance.ImbalanceWarning")]  # expected; asserted in summary.json

MINORITY = 3
KEEP_FRACTION = 0.05
SEEDS = (0, 1)
REMEDIES = {
    "no remedy": {},
    "class weights": {"class_weights": True},
    "smote": {"resample": "smote", "k_neighbors": 3},  # about 5 minority rows reach the training split
}


def imbalanced_digits(folder):
    """(training CSV path, held-out pixel frame, held-out labels), digit 3 cut in the training CSV only."""
    digits = load_digits()
    columns = [f"pixel{i}" for i in range(64)]
    train_x, test_x, train_y, test_y = train_test_split(
        digits.data, digits.target, test_size=0.3, stratify=digits.target, random_state=0)
    minority = np.flatnonzero(train_y == MINORITY)
    kept = np.random.default_rng(0).choice(minority, round(KEEP_FRACTION * len(minority)), replace=False)
    rows = np.sort(np.concatenate([np.flatnonzero(train_y != MINORITY), kept]))
    path = folder / "digits-imbalanced.csv"
    pd.DataFrame(train_x[rows], columns=columns).assign(digit=train_y[rows]).to_csv(path, index=False)
    return path, pd.DataFrame(test_x, columns=columns), test_y


@pytest.fixture
def one_thread():
    # A 64-unit MLP gains nothing from a second intra-op thread, and when other processes hold the
    # cores, OpenMP threads spin-waiting on each other make each step ~100x slower (48 s vs 1.8 s a run).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_class_weights_and_smote_raise_minority_recall_on_imbalanced_digits(tmp_path, one_thread):
    path, test_frame, test_labels = imbalanced_digits(tmp_path)
    assert np.bincount(pd.read_csv(path)["digit"])[MINORITY] == 6
    scores: dict[str, list[tuple[float, float]]] = {name: [] for name in REMEDIES}
    for seed in SEEDS:
        for name, imbalance in REMEDIES.items():
            run = shendu.train(
                task="tabular-classification", seed=seed,
                data={"path": str(path), "target": "digit", "val_fraction": 0.1, "test_fraction": 0.05,
                      "imbalance": imbalance},
                model={"name": "mlp", "hidden_sizes": [64]}, train={"epochs": 20, "batch_size": 32},
                output={"plots": False}, output_dir=tmp_path / "runs", progress="none")
            if name == "no remedy":  # the imbalance is detected and reported with the run
                assert any("Class imbalance" in w and "'3'" in w for w in run.summary["warnings"])
            predicted = np.array([int(p["label"]) for p in run.predict(test_frame)])
            recall = recall_score(test_labels, predicted, labels=[MINORITY], average=None)[0]
            scores[name].append((recall, f1_score(test_labels, predicted, average="macro")))
    means = {name: np.mean(values, axis=0) for name, values in scores.items()}
    print(f"\nheld-out digits ({len(test_labels)}, balanced); digit {MINORITY} kept at {KEEP_FRACTION:.0%} in training; "
          f"mean over seeds {SEEDS}")
    print(f"{'remedy':<14} {'recall of 3':>12} {'macro F1':>9}")
    for name, (recall, macro_f1) in means.items():
        print(f"{name:<14} {recall:>12.3f} {macro_f1:>9.3f}")
    baseline_recall, baseline_f1 = means["no remedy"]
    for name in ("class weights", "smote"):
        recall, macro_f1 = means[name]
        assert recall >= baseline_recall + 0.15, (name, means)
        assert macro_f1 >= baseline_f1 - 0.01, (name, means)
