"""Train/predict consistency: `shendu predict` on raw CSV rows equals the in-process model on bundle tensors.

A tiny run is trained on a CSV with numeric, categorical and missing values; the
real command line (for regression a fresh process that loads the run from disk)
predicts from the raw rows. Its predictions must equal, to 1e-5, the in-process model applied
to the preprocessed tensors of the data bundle, so the preprocessing stored in
the run replays exactly what training fitted.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from shendu import api
from shendu.cli import main
from shendu.data import load_data

SHENDU = Path(sys.executable).with_name("shendu")


@pytest.fixture()
def table(tmp_path: Path) -> Path:
    """120 rows: rooms, area (missing in 6 rows), city (categorical, missing in 3), price (> 0), kind (label)."""
    generator = np.random.default_rng(0)
    count = 120
    rooms = generator.integers(1, 6, size=count).astype(float)
    area = rooms * 25.0 + generator.normal(0.0, 8.0, size=count)
    city = np.array(["paris", "rome", "oslo"], dtype=object)[generator.integers(0, 3, size=count)]
    price = area * np.where(city == "paris", 9.0, 5.0) + generator.normal(0.0, 20.0, size=count) + 50.0
    area[[3, 19, 40, 55, 71, 100]] = np.nan
    city[[8, 60, 90]] = None
    frame = pd.DataFrame({"rooms": rooms, "area": area, "city": city, "price": price,
                          "kind": np.where(rooms >= 3, "house", "flat")})
    path = tmp_path / "homes.csv"
    frame.to_csv(path, index=False)
    return path


def train_run(tmp_path: Path, task: str, data: dict):
    return api.train(task=task, data=data, train={"epochs": 2, "batch_size": 16}, output={"plots": False},
                     output_dir=tmp_path / "runs", progress="none")


def predict_with_the_cli(run_path: Path, csv_path: Path, out: Path, fresh_process: bool = True) -> pd.DataFrame:
    """`shendu predict RUN rows.csv --out preds.csv`, in a new process (the installed script) or via ``cli.main``."""
    arguments = ["predict", str(run_path), str(csv_path), "--out", str(out)]
    if fresh_process:
        finished = subprocess.run([str(SHENDU), *arguments], capture_output=True, text=True, timeout=300)
        assert finished.returncode == 0, finished.stderr
    else:  # the same command-line code without a second interpreter start (several seconds on a busy machine)
        assert main(arguments) == 0
    return pd.read_csv(out)


def bundle_outputs(run, target_kind: str) -> tuple[np.ndarray, torch.Tensor]:
    """(CSV rows, model outputs) over every split of the data bundle, rebuilt in-process from the run's config."""
    bundle = load_data(run.config.data, target_kind=target_kind, seed=run.config.seed)
    rows = torch.cat([s.indices for s in (bundle.train, bundle.val, bundle.test)]).numpy()
    inputs = torch.cat([s.inputs for s in (bundle.train, bundle.val, bundle.test)])
    assert torch.equal(bundle.preprocessing.encode_inputs(pd.read_csv(run.config.data.path)).index_select(
        0, torch.from_numpy(rows)), inputs)  # the predict-time encoding of raw rows == the bundle tensors
    run.model.eval()
    with torch.no_grad():
        return rows, run.model(inputs).double()


def test_regression_predictions_from_raw_csv_rows_match_the_in_process_model(table, tmp_path):
    run = train_run(tmp_path, "regression", {"path": str(table), "target": "price", "target_transform": "log"})
    predictions = predict_with_the_cli(run.path, table, tmp_path / "preds.csv")
    assert len(predictions) == 120 and list(predictions.columns) == ["input", "price"]
    rows, outputs = bundle_outputs(run, "regression")
    expected = run.preprocessing.decode_targets(outputs)[:, 0].numpy()  # back in price units
    assert np.allclose(predictions["price"].to_numpy()[rows], expected, rtol=1e-5, atol=1e-5)
    frame = pd.read_csv(table)
    with torch.no_grad():
        direct = run.preprocessing.decode_targets(run.model(run.preprocessing.encode_inputs(frame)).double())
    assert np.allclose(predictions["price"].to_numpy(), direct[:, 0].numpy(), rtol=1e-5, atol=1e-5)


def test_classification_predictions_from_raw_csv_rows_match_the_in_process_model(table, tmp_path):
    data = {"path": str(table), "target": "kind", "features": ["area", "city"], "categorical_encoding": "index",
            "scaling": "minmax", "missing": "median"}
    run = train_run(tmp_path, "tabular-classification", data)
    predictions = predict_with_the_cli(run.path, table, tmp_path / "preds.csv", fresh_process=False)
    rows, outputs = bundle_outputs(run, "classification")
    probabilities = torch.softmax(outputs, dim=-1)
    labels = np.array(run.preprocessing.class_names)[probabilities.argmax(dim=-1).numpy()]
    assert list(predictions["label"].to_numpy()[rows]) == list(labels)
    best = probabilities.max(dim=-1).values.numpy()
    assert np.allclose(predictions["probability"].to_numpy()[rows], best, atol=1e-5)
