"""Bad input through the user's front doors (API and CLI): clear errors, nothing lost."""

from __future__ import annotations

import shutil
import warnings

import pandas as pd
import pytest

import shendu
from shendu import cli
from shendu.errors import DataError, TrainingDivergedError


@pytest.fixture()
def small_folder(data_root, tmp_path):
    """Six real JPEGs per class plus one corrupt file."""
    root = tmp_path / "photos"
    for name in ("ants", "bees"):
        (root / name).mkdir(parents=True)
        for path in sorted((data_root / "hymenoptera" / "train" / name).glob("*.jpg"))[:6]:
            shutil.copy(path, root / name / path.name)
    (root / "bees" / "broken.jpg").write_bytes(b"this is not a jpeg" * 10)
    return root


def photo_config(root, **data):
    return {"task": "image-classification", "data": {"path": str(root), "image_size": 32, **data},
            "model": {"name": "cnn", "channels": [4, 8], "hidden_size": 8}, "train": {"epochs": 1, "batch_size": 4}}


def test_corrupt_image_is_named(small_folder, tmp_path):
    with pytest.raises(DataError) as caught:
        shendu.train(photo_config(small_folder), output_dir=tmp_path / "runs", progress="none")
    message = str(caught.value)
    assert "broken.jpg" in message and "on_error" in message
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_corrupt_image_is_skipped_with_a_warning_when_asked(small_folder, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = shendu.train(photo_config(small_folder, on_error="skip"), output_dir=tmp_path, progress="none")
    assert any("broken.jpg" in str(w.message) for w in caught)
    assert run.metrics["test"]["accuracy"] >= 0.0


def test_csv_without_the_target_names_it_and_lists_columns(tmp_path, capsys):
    path = tmp_path / "houses.csv"
    pd.DataFrame({"rooms": [3, 4, 2, 5] * 5, "area": [70.0, 90.0, 50.0, 120.0] * 5, "city": ["a", "b", "a", "c"] * 5}).to_csv(path, index=False)
    with pytest.raises(DataError) as caught:
        shendu.train(task="regression", data={"path": str(path), "target": "price"}, output_dir=tmp_path, progress="none")
    message = str(caught.value)
    assert "'price'" in message and "rooms" in message and "area" in message and "city" in message
    code = cli.main(["train", "--task", "regression", "--data", str(path), "data.target=price", "--output-dir", str(tmp_path)])
    assert code == 2 and "price" in capsys.readouterr().err


def test_nan_loss_stops_with_advice(tmp_path, capsys):
    config = {"task": "regression", "data": {"source": "diabetes"}, "optimizer": {"name": "sgd", "lr": 1e12},
              "train": {"epochs": 2, "batch_size": 32}}
    with pytest.raises(TrainingDivergedError) as caught:
        shendu.train(config, output_dir=tmp_path, progress="none")
    message = str(caught.value)
    assert "at step" in message and "optimizer.lr" in message and "clip_grad_norm" in message
    code = cli.main(["train", "--task", "regression", "--data", "diabetes", "optimizer={name: sgd, lr: 1.0e12}",
                     "--output-dir", str(tmp_path), "--progress", "none"])
    assert code == 2 and "Lower the learning rate" in capsys.readouterr().err
