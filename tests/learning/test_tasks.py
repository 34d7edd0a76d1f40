"""Small real runs that must learn: each task reaches a stated quality within its budget."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import shendu
from shendu.api import DEMO_CONFIG

pytestmark = pytest.mark.learning
CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_demo_cnn_on_digits_reaches_97_percent(tmp_path):
    run = shendu.train(DEMO_CONFIG, output_dir=tmp_path, progress="none")
    assert run.metrics["test"]["accuracy"] >= 0.97
    summary = json.loads((run.path / "summary.json").read_text())
    assert summary["seconds"]["train"] < 60
    for name in ("config.yaml", "manifest.json", "data.json", "metrics.jsonl", "summary.json"):
        assert (run.path / name).is_file(), name
    assert (run.path / "plots" / "loss.png").is_file()
    assert (run.path / "plots" / "confusion-matrix-test.png").is_file()
    assert len(summary["confusion_matrix"]["test"]) == 10
    assert not list(run.path.rglob("*.pt")) and not list(run.path.rglob("*.pkl"))


def test_digits_mlp_config_reaches_97_percent_and_predicts(tmp_path):
    run = shendu.train(CONFIGS / "digits-mlp.yaml", output_dir=tmp_path, progress="none")
    assert run.metrics["test"]["accuracy"] >= 0.97
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = digits.images[:200] * (255.0 / 16.0)  # raw 8x8 images on the 0..255 scale digits is stored in
    loaded = shendu.load(run.path)
    predictions = loaded.predict(pixels)
    accuracy = np.mean([int(p["label"]) == t for p, t in zip(predictions, digits.target[:200])])
    assert accuracy >= 0.95
    assert abs(sum(predictions[0]["probabilities"].values()) - 1) < 1e-5
    metrics = shendu.evaluate(run.path, split="test")
    assert metrics["accuracy"] == pytest.approx(run.metrics["test"]["accuracy"])


def test_diabetes_mlp_config_reaches_r2_040(tmp_path):
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import r2_score

    scores = []
    for seed in range(6):  # a 67-sample test split is noisy: judge the mean over six splits
        run = shendu.train(CONFIGS / "diabetes-mlp.yaml", output_dir=tmp_path, progress="none", overrides={"seed": seed})
        scores.append(run.metrics["test"]["r2"])
        bundle = run.task.load_data(run.config.data, seed, preprocessing=run.preprocessing)
        decode = bundle.preprocessing.decode_targets
        linear = LinearRegression().fit(bundle.train.inputs.numpy(), bundle.train.targets.numpy())
        reference = r2_score(decode(bundle.test.targets).numpy(),
                             decode(torch.as_tensor(linear.predict(bundle.test.inputs.numpy()))).numpy())
        assert scores[-1] >= reference - 0.1, (seed, scores[-1], reference)  # close to least squares on the same split
    assert np.mean(scores) >= 0.40, scores
    from sklearn.datasets import load_diabetes

    data = load_diabetes(scaled=False)
    predictions = run.predict(data.data[:20])
    values = np.array([p["disease_progression"] for p in predictions])
    assert 25 < values.mean() < 350  # on the original scale, not standardised


def test_tabular_classification_on_a_csv_with_categoricals(tmp_path):
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True).frame
    iris["species"] = np.array(["setosa", "versicolor", "virginica"])[iris.pop("target")]
    iris["size"] = np.where(iris["petal length (cm)"] > 4, "big", "small")
    path = tmp_path / "iris.csv"
    iris.to_csv(path, index=False)
    run = shendu.train(task="tabular-classification", data={"path": str(path), "target": "species"},
                       model={"name": "mlp", "hidden_sizes": [32]}, train={"epochs": 60, "batch_size": 16},
                       output_dir=tmp_path / "runs", progress="none")
    assert run.metrics["test"]["accuracy"] >= 0.85
    predictions = run.predict(iris.drop(columns="species").iloc[:5])
    assert [p["label"] for p in predictions] == ["setosa"] * 5


def test_mnist_cnn_learns_in_one_short_epoch(data_root, tmp_path):
    run = shendu.train(CONFIGS / "mnist-cnn.yaml", output_dir=tmp_path, progress="none",
                       overrides={"data.path": str(data_root / "mnist"), "data.limit": 12000, "train.epochs": 1})
    assert run.metrics["test"]["accuracy"] >= 0.95


def test_hymenoptera_resnet_trains_end_to_end_from_jpegs(data_root, tmp_path):
    run = shendu.train(CONFIGS / "hymenoptera-resnet.yaml", output_dir=tmp_path, progress="none",
                       overrides={"data.path": str(data_root / "hymenoptera"), "data.image_size": 64, "train.epochs": 4})
    assert len(run.history) == 4 and np.isfinite(run.history[-1]["train"]["loss"])
    assert run.metrics["test"]["accuracy"] > 0.5 - 1e-9  # two balanced classes; the full config learns more
    images = sorted((data_root / "hymenoptera" / "val" / "bees").glob("*.jpg"))[:3]
    assert all(p["label"] in ("ants", "bees") for p in run.predict(images))


def test_same_seed_same_weights(tmp_path):
    config = {**DEMO_CONFIG, "train": {"epochs": 2, "batch_size": 32}}
    first = shendu.train(config, output_dir=tmp_path / "a", progress="none")
    second = shendu.train(config, output_dir=tmp_path / "b", progress="none")
    for (name, a), b in zip(first.model.state_dict().items(), second.model.state_dict().values()):
        assert torch.equal(a, b), name
