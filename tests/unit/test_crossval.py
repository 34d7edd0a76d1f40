"""k-fold cross-validation through the API and the CLI (``shendu train --folds K``)."""

from __future__ import annotations

import json
import statistics

import pytest

from shendu import cli
from shendu.crossval import aggregate, cross_validate
from shendu.errors import ConfigError

CONFIG = {
    "task": "tabular-classification",
    "data": {"source": "iris"},
    "model": {"name": "mlp", "hidden_sizes": [8]},
    "train": {"epochs": 2, "batch_size": 16, "progress": "none"},
}


def test_aggregate_is_mean_and_sample_std():
    per_fold = [{"val": {"accuracy": 0.5}}, {"val": {"accuracy": 0.7}}, {"val": {"accuracy": 0.9}}]
    means, stds = aggregate(per_fold)
    assert means["val"]["accuracy"] == pytest.approx(0.7)
    assert stds["val"]["accuracy"] == pytest.approx(statistics.stdev([0.5, 0.7, 0.9]))


def test_cross_validate_trains_one_run_per_fold(tmp_path):
    result = cross_validate(CONFIG, folds=3, output_dir=tmp_path)
    assert len(result.runs) == 3
    summary = json.loads((result.path / "crossval.json").read_text())
    assert summary["folds"] == 3 and len(summary["per_fold"]) == 3
    folds = [run.config.data.fold for run in result.runs]
    assert folds == [0, 1, 2]
    vals = [fold["val"]["accuracy"] for fold in summary["per_fold"]]
    assert summary["mean"]["val"]["accuracy"] == pytest.approx(statistics.fmean(vals))
    # The test split is carved once: every fold reports on the same test samples.
    test_sizes = {json.loads((run.path / "manifest.json").read_text())["data"]["samples"]["test"] for run in result.runs}
    assert len(test_sizes) == 1
    # Each fold validates on different samples, together covering all non-test data once.
    val_sizes = [json.loads((run.path / "manifest.json").read_text())["data"]["samples"]["val"] for run in result.runs]
    train_sizes = [json.loads((run.path / "manifest.json").read_text())["data"]["samples"]["train"] for run in result.runs]
    assert sum(val_sizes) == val_sizes[0] + train_sizes[0]


def test_folds_below_two_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="--folds"):
        cross_validate(CONFIG, folds=1, output_dir=tmp_path)


def test_cli_folds_prints_mean_and_std(tmp_path, capsys):
    code = cli.main(["train", "--task", "tabular-classification", "--data", "iris", "--folds", "2",
                     "--output-dir", str(tmp_path), "--progress", "none", "train.epochs=1"])
    assert code == 0
    out = capsys.readouterr().out
    assert "2-fold cross-validation" in out and "±" in out
    assert list(tmp_path.glob("*-cv-0001/crossval.json"))
