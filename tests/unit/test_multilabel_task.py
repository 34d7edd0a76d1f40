"""The multilabel-classification task end to end: image + label-CSV source, CSV label columns, splits,
refused imbalance remedies, tuned thresholds stored and reloaded, predictions from the API and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import shendu
from shendu import cli
from shendu.config import DataConfig
from shendu.data import DATASETS, load_data, make_shapes
from shendu.data.formats_infer import infer_source
from shendu.errors import ConfigError, DataError

SHAPES = ["circle", "square", "triangle"]


def write_shapes(root, num_images: int = 24, size: int = 32, layout: str = "columns", seed: int = 0) -> list[set]:
    """``make_shapes`` images as PNGs in root/img/ and root/labels.csv; returns each image's set of shapes."""
    data = make_shapes(num_images, size=size, seed=seed, min_objects=1, max_objects=3, min_size=8, noise=0.05)
    (root / "img").mkdir(parents=True, exist_ok=True)
    rows, present = [], []
    for index, (image, target) in enumerate(zip(data.images, data.targets)):
        name = f"img/{index:04d}.png"
        pixels = (image * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()  # (H, W, 3)
        Image.fromarray(np.ascontiguousarray(pixels)).save(root / name)
        shapes = {data.class_names[label] for label in target["labels"].tolist()}
        present.append(shapes)
        if layout == "columns":
            rows.append({"file": name, **{shape: int(shape in shapes) for shape in SHAPES}})
        else:
            rows.append({"file": name, "labels": " ".join(sorted(shapes))})
    pd.DataFrame(rows).to_csv(root / "labels.csv", index=False)
    return present


def read(path, **options):
    return DATASETS.entry("image-csv").constructor(DataConfig(path=str(path), **options), target_kind="multilabel")


def matrix(present: list[set]) -> np.ndarray:
    return np.array([[int(shape in shapes) for shape in SHAPES] for shapes in present], dtype=np.int64)


# -- the image-csv source, multilabel --------------------------------------------------------------
@pytest.mark.parametrize("layout", ["columns", "lists"])
def test_image_csv_reads_both_multilabel_layouts(tmp_path, layout):
    present = write_shapes(tmp_path, layout=layout)
    raw = read(tmp_path / "labels.csv")
    assert raw.class_names == raw.target_names == SHAPES and raw.input_kind == "image"
    targets = raw.splits["train"].targets
    assert targets.dtype == np.int64 and np.array_equal(targets, matrix(present))
    assert raw.splits["train"].inputs.shape == (24, 3, 32, 32)
    assert infer_source(tmp_path) == "image-csv"  # a CSV naming images beside them, not a class folder "img"


def test_label_lists_take_commas_bars_spaces_and_empty_cells(tmp_path):
    write_shapes(tmp_path, num_images=4, layout="lists")
    cells = ['"circle,square"', "triangle|circle", "square  triangle", ""]
    lines = ["file,labels"] + [f"img/{i:04d}.png,{cell}" for i, cell in enumerate(cells)]
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    raw = read(tmp_path)
    assert raw.splits["train"].targets.tolist() == [[1, 1, 0], [1, 0, 1], [0, 1, 1], [0, 0, 0]]


def test_classes_txt_fixes_the_label_order_and_rejects_unknown_labels(tmp_path):
    write_shapes(tmp_path, num_images=6, layout="lists")
    (tmp_path / "classes.txt").write_text("triangle\nsquare\ncircle\nstar\n")  # star: no image has one
    raw = read(tmp_path)
    assert raw.class_names == ["triangle", "square", "circle", "star"] and raw.splits["train"].targets[:, 3].sum() == 0
    (tmp_path / "classes.txt").write_text("circle\nsquare\n")
    with pytest.raises(DataError) as caught:
        read(tmp_path)
    message = str(caught.value)
    assert "'triangle'" in message and "line " in message and "labels.csv" in message  # received, where
    assert "classes.txt" in message and "circle, square" in message  # expected, and the fix


def test_missing_image_and_bad_label_values_are_named(tmp_path):
    write_shapes(tmp_path, num_images=5)
    (tmp_path / "img" / "0003.png").unlink()
    with pytest.raises(DataError, match=r"line 5 of .*labels.csv names image 'img/0003.png', which does not exist"):
        read(tmp_path / "labels.csv")
    write_shapes(tmp_path, num_images=5)
    frame = pd.read_csv(tmp_path / "labels.csv")
    frame.loc[2, "square"] = 2
    frame.to_csv(tmp_path / "labels.csv", index=False)
    with pytest.raises(DataError, match=r"Label column 'square' holds '2' on line 4 of .*expected 0 or 1"):
        read(tmp_path / "labels.csv")
    frame[["file", "circle"]].to_csv(tmp_path / "labels.csv", index=False)
    with pytest.raises(DataError, match="at least 2"):
        read(tmp_path / "labels.csv")


def test_image_csv_explicit_label_columns(tmp_path):
    present = write_shapes(tmp_path, num_images=8)
    raw = read(tmp_path / "labels.csv", target=["triangle", "circle"])
    assert raw.class_names == ["triangle", "circle"]
    assert np.array_equal(raw.splits["train"].targets, matrix(present)[:, [2, 0]])
    with pytest.raises(DataError, match="data.target names star"):
        read(tmp_path / "labels.csv", target=["star", "circle"])


# -- the data path ---------------------------------------------------------------------------------
def label_table(tmp_path, rows: int = 120):
    rng = np.random.default_rng(0)
    features = rng.normal(size=(rows, 3))
    frame = pd.DataFrame(features, columns=["a", "b", "c"])
    frame["up"], frame["right"], frame["both"] = (features[:, 0] > 0) * 1, (features[:, 1] > 0) * 1, 0
    frame["both"] = frame["up"] & frame["right"]
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    return path


def test_csv_label_columns_split_at_random_and_count_labels(tmp_path):
    path = label_table(tmp_path)
    config = DataConfig(path=str(path), target=["up", "right", "both"])
    bundle = load_data(config, target_kind="multilabel", seed=3)
    assert bundle.class_names == ["up", "right", "both"] and bundle.feature_names == ["a", "b", "c"]
    assert bundle.train.targets.shape == (len(bundle.train), 3) and bundle.train.targets.dtype == torch.int64
    assert bundle.description["split_method"] == "random"  # auto: stratification needs one class per sample
    counts = bundle.description["label_counts"]["test"]
    assert counts == dict(zip(["up", "right", "both"], bundle.test.targets.sum(0).tolist()))
    again = load_data(config, target_kind="multilabel", seed=3)
    assert torch.equal(again.test.inputs, bundle.test.inputs)  # seeded
    with pytest.raises(ConfigError, match="data.split=random"):
        load_data(config.model_copy(update={"split": "stratified"}), target_kind="multilabel", seed=0)
    frame = pd.read_csv(path)
    frame["up"] = frame["up"].astype(object)
    frame.loc[7, "up"] = "yes"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"Label column 'up' holds 'yes' on line 9 of"):
        load_data(config, target_kind="multilabel", seed=0)


@pytest.mark.parametrize("remedy", [{"class_weights": True}, {"resample": "oversample"}, {"balanced_batches": True}])
def test_class_imbalance_remedies_point_to_pos_weight(tmp_path, remedy):
    config = DataConfig(path=str(label_table(tmp_path)), target=["up", "right", "both"], imbalance=remedy)
    with pytest.raises(ConfigError) as caught:
        load_data(config, target_kind="multilabel", seed=0)
    message = str(caught.value)
    assert f"data.imbalance.{next(iter(remedy))}" in message and "pos_weight" in message and "multilabel" in message


def test_single_label_sources_say_which_sources_have_label_sets(tmp_path):
    with pytest.raises(DataError, match="provides classification targets; the task needs multilabel.*yeast"):
        shendu.train(task="multilabel-classification", data={"source": "iris"}, output_dir=tmp_path, progress="none")


# -- thresholds, reloading, predictions --------------------------------------------------------------
@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("multilabel")
    path = label_table(root, rows=400)
    run = shendu.train(task="multilabel-classification", output_dir=root / "runs", progress="none",
                       data={"path": str(path), "target": ["up", "right", "both"]},
                       loss={"name": "binary-cross-entropy", "pos_weight": [1.0, 1.0, 2.0]},
                       optimizer={"name": "adam", "lr": 0.01}, train={"epochs": 15, "batch_size": 32})
    return run, path


def test_thresholds_are_tuned_stored_and_reloaded(table_run):
    run, path = table_run
    stored = json.loads((run.path / "thresholds.json").read_text())
    assert stored["labels"] == ["up", "right", "both"] and stored["tuned_on"] == "val"
    assert all(0 < t < 1 for t in stored["thresholds"])
    assert run.summary["thresholds"] == dict(zip(stored["labels"], stored["thresholds"]))
    fixed = run.summary["baselines"]["test"]["threshold-0.5"]
    assert fixed["loss"] == pytest.approx(run.metrics["test"]["loss"]) and "label-ranking-ap" in fixed
    assert run.metrics["test"]["label-ranking-ap"] == pytest.approx(fixed["label-ranking-ap"])  # no threshold in it
    assert run.metrics["test"]["micro-f1"] > 0.85
    table = shendu.api.summary_table(run.summary)
    assert "test threshold-0.5" in table and "micro-f1" in table
    loaded = shendu.load(run.path)
    assert loaded.task.thresholds == stored["thresholds"]
    rows = pd.read_csv(path).head(30)
    predictions = loaded.predict(rows)
    assert predictions == run.predict(rows)
    assert set(predictions[0]) == {"labels", "probabilities"} and list(predictions[0]["probabilities"]) == stored["labels"]
    for prediction in predictions:  # the labels are those above each label's tuned threshold
        expected = [n for n, t in zip(stored["labels"], stored["thresholds"]) if prediction["probabilities"][n] > t]
        assert prediction["labels"] == expected
    assert shendu.evaluate(run.path, split="test")["micro-f1"] == pytest.approx(run.metrics["test"]["micro-f1"])


def test_cli_predict_writes_label_sets_as_json(table_run, tmp_path, capsys):
    run, path = table_run
    assert cli.main(["predict", str(run.path), str(path)]) == 0
    written = json.loads((run.path / "predictions" / "predictions.json").read_text())
    assert len(written) == 400 and written[0]["input"] == "0" and "labels=" in capsys.readouterr().out
    assert written[:5] == [{"input": str(i), **p} for i, p in enumerate(run.predict(str(path))[:5])]


def test_image_run_predicts_a_folder_from_the_cli(tmp_path):
    write_shapes(tmp_path / "shapes", num_images=40, layout="lists")
    run = shendu.train(task="multilabel-classification", output_dir=tmp_path / "runs", progress="none",
                       data={"path": str(tmp_path / "shapes")},
                       model={"name": "cnn", "channels": [4, 8], "hidden_size": 8}, train={"epochs": 1, "batch_size": 8})
    assert run.preprocessing.class_names == SHAPES and run.model(torch.zeros(2, 3, 32, 32)).shape == (2, 3)
    assert cli.main(["predict", str(run.path), str(tmp_path / "shapes" / "img"), "--out", str(tmp_path / "p.json")]) == 0
    written = json.loads((tmp_path / "p.json").read_text())
    assert len(written) == 40 and written[0]["input"].endswith("0000.png") and set(written[0]["probabilities"]) == set(SHAPES)
