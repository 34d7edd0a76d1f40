"""shendu.data: sources on real data, splits, preprocessing, predict-time encoding (augmentation: test_augmentation.py)."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_diabetes, load_digits

from shendu.config import DataConfig
from shendu.data import AUGMENTATIONS, DATASETS, DataBundle, Preprocessing, Split, load_data
from shendu.data.loading import TARGET_KINDS
from shendu.data.formats import read_idx
from shendu.errors import ConfigError, DataError, UnknownComponentError

MNIST_NAMES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def load(target_kind: str = "classification", seed: int = 0, preprocessing=None, **options) -> DataBundle:
    return load_data(DataConfig(**options), target_kind=target_kind, seed=seed, preprocessing=preprocessing)


@pytest.fixture(scope="module")
def mnist_bundle(data_root: Path) -> DataBundle:
    return load(source="mnist", path=str(data_root / "mnist"))


@pytest.fixture(scope="module")
def hymenoptera_bundle(data_root: Path) -> DataBundle:
    return load(path=str(data_root / "hymenoptera"), image_size=64)


@pytest.fixture(scope="module")
def digits_bundle() -> DataBundle:
    return load(source="digits")


@pytest.fixture()
def table_csv(tmp_path: Path) -> Path:
    """60 rows: numeric x (some missing), constant k, categorical city (one missing), binary label."""
    generator = np.random.default_rng(0)
    x = generator.normal(10.0, 3.0, size=60)
    x[[3, 17, 42]] = np.nan
    city = np.array(["paris", "rome", "oslo"])[np.arange(60) % 3].astype(object)
    city[5] = None
    frame = pd.DataFrame({"x": x, "k": 1.0, "city": city, "label": np.where(np.arange(60) % 2, "yes", "no")})
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    return path


# -- registries and contracts ---------------------------------------------------------
def test_registries_hold_the_builtins():
    assert {"mnist", "digits", "iris", "wine", "breast-cancer", "diabetes", "csv", "image-folder"} <= set(DATASETS.names())
    assert {"horizontal-flip", "vertical-flip", "random-crop", "random-translate", "random-erasing"} <= set(
        AUGMENTATIONS.names()
    )


CATALOG_COPIES = {"mnist": "mnist", "hymenoptera": "hymenoptera", "airline-passengers": "timeseries",
                  "daily-min-temperatures": "timeseries", "scene": "multilabel", "yeast": "multilabel",
                  "mq-rank": "ranking"}
READER_SOURCES = ("tsv", "parquet", "jsonl", "npz", "idx", "arff", "svmlight", "image-csv")


def _contract_config(name: str, data_root: Path, tmp_path: Path) -> tuple[DataConfig, str]:
    tags = DATASETS.entry(name).tags
    if tags.get("environment") or tags.get("awaiting_task") or name == "fashion-mnist":
        pytest.skip("not loadable from a local copy; covered in tests/unit/test_catalog.py")
    if tags["input_kind"] == "text":
        pytest.skip("text sources have no preprocessing until the text tasks; tests/unit/test_readers.py reads them")
    if name in READER_SOURCES:
        from test_readers import _contract_data  # tests/unit is on sys.path under pytest

        return _contract_data(name, data_root, tmp_path)
    if name in ("airline-passengers", "daily-min-temperatures"):
        pytest.skip("a univariate series has no feature columns until the forecasting task windows it; "
                    "test_univariate_series_as_plain_regression_says_why covers it")
    if name in CATALOG_COPIES:
        supported = [kind for kind in tags["target_kinds"] if kind in TARGET_KINDS]
        if not supported:
            pytest.skip(f"{name} has {tags['target_kinds']} targets, read by tests/unit/test_readers.py; "
                        "their preprocessing arrives with the task that trains on them")
        return DataConfig(source=name, path=str(data_root / CATALOG_COPIES[name]), download=False,
                          limit=500, image_size=32), supported[0]
    if name == "image-folder":
        return DataConfig(source=name, path=str(data_root / "hymenoptera"), image_size=32), "classification"
    if name == "csv":
        path = tmp_path / "c.csv"
        pd.DataFrame({"a": np.arange(40.0), "b": np.arange(40) % 3, "y": np.arange(40) % 2}).to_csv(path, index=False)
        return DataConfig(source=name, path=str(path), target="y"), "classification"
    kinds = DATASETS.entry(name).tags["target_kinds"]
    return DataConfig(source=name), kinds[0]


@pytest.mark.parametrize("name", DATASETS.names())
def test_every_dataset_honours_the_bundle_contract(name, data_root, tmp_path):
    entry = DATASETS.entry(name)
    assert entry.tags["input_kind"] in ("image", "tabular", "text", "environment") and entry.summary
    config, target_kind = _contract_config(name, data_root, tmp_path)
    bundle = load_data(config, target_kind=target_kind, seed=0)
    assert bundle.input_kind == entry.tags["input_kind"]
    for split in (bundle.train, bundle.val, bundle.test):
        assert isinstance(split, Split) and len(split) > 0
        assert split.inputs.dtype == torch.float32 and tuple(split.inputs.shape[1:]) == bundle.input_shape
        assert torch.isfinite(split.inputs).all()
        if target_kind == "classification":
            assert split.targets.dtype == torch.int64 and split.targets.shape == (len(split),)
            assert int(split.targets.max()) < len(bundle.class_names)
        elif target_kind == "multilabel":  # 0/1 (N, L), one column per label; the label names are the class names
            assert split.targets.dtype == torch.int64 and split.targets.shape == (len(split), len(bundle.class_names))
            assert set(split.targets.unique().tolist()) <= {0, 1}
        else:
            assert split.targets.dtype == torch.float32 and split.targets.shape == (len(split), len(bundle.target_names))
    if bundle.input_kind == "tabular":
        assert len(bundle.feature_names) == bundle.input_shape[0]
    json.dumps(bundle.description)
    json.dumps(bundle.preprocessing.to_dict())
    assert bundle.description["samples"] == {"train": len(bundle.train), "val": len(bundle.val), "test": len(bundle.test)}
    assert bundle.description["fingerprints"]


# -- MNIST ---------------------------------------------------------------------
def test_mnist_loads_with_its_test_split_and_a_carved_validation(mnist_bundle):
    assert (len(mnist_bundle.train), len(mnist_bundle.val), len(mnist_bundle.test)) == (51_000, 9_000, 10_000)
    assert mnist_bundle.input_shape == (1, 28, 28) and mnist_bundle.class_names == [str(d) for d in range(10)]
    assert mnist_bundle.description["splits"]["test"] == "own test split"
    assert "carved from train" in mnist_bundle.description["splits"]["val"]
    assert set(mnist_bundle.description["fingerprints"]) == set(MNIST_NAMES)
    inputs = mnist_bundle.train.inputs
    assert abs(float(inputs.mean())) < 1e-4 and abs(float(inputs.std()) - 1.0) < 1e-3
    train_and_val = torch.cat([mnist_bundle.train.indices, mnist_bundle.val.indices]).sort().values
    assert torch.equal(train_and_val, torch.arange(60_000))


def test_mnist_encode_inputs_matches_the_test_split(mnist_bundle, data_root):
    images = read_idx(data_root / "mnist" / "t10k-images-idx3-ubyte.gz", 3)  # (N, 28, 28) uint8
    assert torch.equal(mnist_bundle.preprocessing.encode_inputs(images[:50]), mnist_bundle.test.inputs[:50])


def test_mnist_missing_lists_every_place_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("SHENDU_DATA", str(tmp_path / "store"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(DataError) as caught:
        load(source="mnist", download=False)  # no network in tests
    message = str(caught.value)
    assert str(tmp_path / "store" / "mnist") in message and str(tmp_path / "home" / ".cache" / "shendu" / "mnist") in message
    assert all(name in message for name in MNIST_NAMES)


def test_mnist_found_through_shendu_data_and_ungzipped(data_root, tmp_path, monkeypatch):
    folder = tmp_path / "store" / "mnist"
    folder.mkdir(parents=True)
    for name in MNIST_NAMES[:2]:
        (folder / name).symlink_to(data_root / "mnist" / name)
    for name in MNIST_NAMES[2:]:  # the test files un-gzipped
        (folder / name[:-3]).write_bytes(gzip.decompress((data_root / "mnist" / name).read_bytes()))
    monkeypatch.setenv("SHENDU_DATA", str(tmp_path / "store"))
    bundle = load(source="mnist", limit=100)
    assert bundle.description["path"] == str(folder.resolve()) and len(bundle.test) == 10_000
    assert len(bundle.train) == 100 and set(bundle.train.targets.tolist()) == set(range(10))  # stratified limit


@pytest.mark.parametrize("damage", ["magic", "truncated"])
def test_corrupt_idx_file_is_named(data_root, tmp_path, damage):
    data = gzip.decompress((data_root / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes())
    data = b"\x00\x00\x07\x01" + data[4:] if damage == "magic" else data[:-10]  # 0x07: no IDX element type
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(data)
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte"):
        read_idx(path, 1)


# -- scikit-learn's bundled sets ------------------------------------------------------
def test_digits_are_8x8_images_scaled_to_pixel_range(digits_bundle):
    assert digits_bundle.input_shape == (1, 8, 8) and digits_bundle.input_kind == "image"
    assert len(digits_bundle.train) + len(digits_bundle.val) + len(digits_bundle.test) == 1797
    raw = torch.tensor(load_digits().images * (255.0 / 16.0), dtype=torch.float32)
    train_raw = raw[digits_bundle.train.indices] / 255.0
    # Normalisation statistics come from the training split only, on the [0, 1] scale.
    normalization = digits_bundle.preprocessing.normalization
    assert normalization.mean[0] == pytest.approx(float(train_raw.double().mean()), abs=1e-9)
    assert normalization.std[0] == pytest.approx(float(train_raw.double().std(unbiased=False)), abs=1e-9)
    assert normalization.mean[0] != pytest.approx(float(raw.double().mean() / 255.0), abs=1e-6)


def test_iris_and_wine_are_tabular_classification():
    iris = load(source="iris")
    assert iris.input_shape == (4,) and iris.class_names == ["setosa", "versicolor", "virginica"]
    assert (len(iris.train), len(iris.val), len(iris.test)) == (104, 23, 23)  # 70 / 15 / 15 of 150
    assert "petal length (cm)" in iris.feature_names
    wine = load(source="wine")
    means = wine.train.inputs.mean(0)
    assert torch.allclose(means, torch.zeros_like(means), atol=1e-5)


def test_diabetes_regression_targets_are_standardised_and_decoded():
    bundle = load(source="diabetes", target_kind="regression")
    assert bundle.target_names == ["disease_progression"] and bundle.input_shape == (10,)
    targets = bundle.train.targets
    assert targets.shape == (len(bundle.train), 1)
    assert abs(float(targets.mean())) < 1e-5 and abs(float(targets.std(unbiased=False)) - 1.0) < 1e-4
    raw = torch.tensor(load_diabetes(scaled=False).target, dtype=torch.float32)
    decoded = bundle.preprocessing.decode_targets(bundle.test.targets)[:, 0]
    assert torch.allclose(decoded, raw[bundle.test.indices], atol=1e-3)


def test_wrong_target_kind_is_explained():
    with pytest.raises(DataError, match="diabetes"):
        load(source="iris", target_kind="regression")


# -- image folders ---------------------------------------------------------------------
def test_hymenoptera_uses_its_val_folder_as_test(hymenoptera_bundle, data_root):
    bundle = hymenoptera_bundle
    assert bundle.class_names == ["ants", "bees"] and bundle.input_shape == (3, 64, 64)
    assert len(bundle.test) == 70 + 83 and len(bundle.train) + len(bundle.val) == 124 + 121
    assert "used as test" in bundle.description["splits"]["test"]
    assert bundle.description["source"] == "image-folder"
    val_files = [p for c in ("ants", "bees") for p in sorted((data_root / "hymenoptera" / "val" / c).iterdir())]
    encoded = bundle.preprocessing.encode_inputs([str(p) for p in val_files[:6]] + val_files[-4:])
    assert torch.equal(encoded, bundle.test.inputs[torch.tensor([0, 1, 2, 3, 4, 5, 149, 150, 151, 152])])


def test_image_arrays_in_any_layout_encode_like_files(hymenoptera_bundle, data_root):
    from shendu.data.images import images_from_inputs

    files = sorted((data_root / "hymenoptera" / "val" / "ants").iterdir())[:3]
    pixels = images_from_inputs(files, (64, 64), "rgb")  # uint8 (3, 3, 64, 64)
    preprocessing = hymenoptera_bundle.preprocessing
    expected = preprocessing.encode_inputs(files)
    assert torch.equal(preprocessing.encode_inputs(pixels.numpy()), expected)
    assert torch.equal(preprocessing.encode_inputs(pixels.permute(0, 2, 3, 1).numpy()), expected)
    assert torch.equal(preprocessing.encode_inputs([Image.open(f) for f in files]), expected)
    resized = preprocessing.encode_inputs(np.zeros((2, 100, 80, 3), dtype=np.uint8))  # resized like files
    assert resized.shape == (2, 3, 64, 64)


def test_image_folder_with_mixed_sizes_asks_for_image_size(data_root):
    with pytest.raises(DataError, match=r"data\.image_size=128") as caught:
        load(path=str(data_root / "hymenoptera"))
    assert str(caught.value).count(".jpg") >= 2


def _small_folder(root: Path, data_root: Path, per_class: int = 3) -> None:
    for name in ("ants", "bees"):
        (root / name).mkdir(parents=True)
        for source in sorted((data_root / "hymenoptera" / "train" / name).iterdir())[:per_class]:
            shutil.copy(source, root / name / source.name)


def test_corrupt_image_raises_naming_it(data_root, tmp_path):
    _small_folder(tmp_path, data_root)
    (tmp_path / "ants" / "broken.jpg").write_bytes(b"this is not an image at all")
    with pytest.raises(DataError, match=r"broken\.jpg.*on_error=skip"):
        load(path=str(tmp_path), image_size=16)


def test_corrupt_images_are_skipped_with_warnings(data_root, tmp_path):
    _small_folder(tmp_path, data_root, per_class=10)
    (tmp_path / "ants" / "broken.jpg").write_bytes(b"garbage bytes")
    good = next((tmp_path / "bees").iterdir()).read_bytes()
    (tmp_path / "bees" / "truncated.jpg").write_bytes(good[: len(good) // 3])
    with pytest.warns(UserWarning) as record:
        bundle = load(path=str(tmp_path), image_size=16, on_error="skip")
    messages = " ".join(str(w.message) for w in record)
    assert "broken.jpg" in messages and "truncated.jpg" in messages and "Skipped 2" in messages
    assert len(bundle.train) + len(bundle.val) + len(bundle.test) == 20
    assert len(bundle.description["skipped_files"]) == 2


def test_grayscale_folder_without_splits_keeps_its_size(tmp_path):
    generator = np.random.default_rng(0)
    for name in ("circle", "square"):
        (tmp_path / name).mkdir()
        for index in range(10):
            pixels = generator.integers(0, 256, size=(12, 10), dtype=np.uint8)
            Image.fromarray(pixels, mode="L").save(tmp_path / name / f"{index}.PNG")
    bundle = load(path=str(tmp_path))
    assert bundle.input_shape == (1, 12, 10) and bundle.preprocessing.channels == "grayscale"
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (14, 3, 3)


# -- CSV -----------------------------------------------------------------------------
def test_csv_missing_target_names_the_columns(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,b,c\n1,2,3\n4,5,6\n")
    with pytest.raises(DataError) as caught:
        load(path=str(path), target="price")
    assert "target column 'price' not found in data.csv; columns present: a, b, c. Set data.target to one of them." in str(
        caught.value
    )
    with pytest.raises(DataError, match="data.target is not set.*a, b, c"):
        load(path=str(path))


def test_ragged_csv_names_file_and_line(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("a,b,y\n1,2,0\n3,4,1\n5,6,7,8\n")
    with pytest.raises(DataError, match=r"ragged\.csv.*line 4"):
        load(path=str(path), target="y")


def test_csv_categorical_and_missing_values(table_csv):
    bundle = load(path=str(table_csv), target="label")
    assert bundle.class_names == ["no", "yes"]
    # Row 5's missing city is in the training split, so a missing city is a category of its own.
    assert 5 in bundle.train.indices.tolist()
    assert bundle.feature_names == ["x", "k", "city=oslo", "city=paris", "city=rome", "city=<missing>"]
    assert torch.isfinite(bundle.train.inputs).all()
    assert bundle.description["missing_values"] == {"x": 3, "city": 1}
    frame = pd.read_csv(table_csv)
    train_rows = bundle.train.indices.numpy()
    standardization = bundle.preprocessing.feature_scaling
    assert standardization.mean[0] == pytest.approx(np.nanmean(frame["x"].to_numpy()[train_rows]))  # train only
    assert standardization.std[1] == 1.0  # constant column: std 0 -> 1
    for split in (bundle.train, bundle.val, bundle.test):
        rows = split.indices.numpy()
        missing = np.isnan(frame["x"].to_numpy()[rows])
        assert torch.all(split.inputs[torch.from_numpy(missing), 0] == 0)  # imputed with the train mean
    assert bundle.preprocessing.encoding.categories["city"] == ["oslo", "paris", "rome", "<missing>"]
    row = int(np.flatnonzero(bundle.train.indices.numpy() == 5)[0])
    assert bundle.train.inputs[row, 2:].tolist() == [0, 0, 0, 1]


def test_tabular_encode_inputs_accepts_every_format(table_csv, tmp_path):
    bundle = load(path=str(table_csv), target="label")
    frame = pd.read_csv(table_csv)
    rows = bundle.test.indices.numpy()
    expected = bundle.test.inputs
    subset = frame.iloc[rows].drop(columns=["label"])
    preprocessing = bundle.preprocessing
    assert torch.allclose(preprocessing.encode_inputs(subset), expected)
    assert torch.allclose(preprocessing.encode_inputs(subset.to_dict("records")), expected)
    subset.to_csv(tmp_path / "new.csv", index=False)
    assert torch.allclose(preprocessing.encode_inputs(str(tmp_path / "new.csv")), expected)
    assert torch.allclose(preprocessing.encode_inputs(subset[["x", "k", "city"]].to_numpy(dtype=object)), expected)
    with pytest.raises(DataError, match=r"\(N, 3\)"):
        preprocessing.encode_inputs(np.zeros((2, 5)))
    with pytest.raises(DataError, match="city"):
        preprocessing.encode_inputs(subset.drop(columns=["city"]))
    with pytest.warns(UserWarning, match="tokyo"):
        encoded = preprocessing.encode_inputs([{"x": 1.0, "k": 1.0, "city": "tokyo"}])
    assert torch.all(encoded[0, 2:] == 0)


def test_csv_regression_with_two_targets(tmp_path):
    generator = np.random.default_rng(1)
    frame = pd.DataFrame(generator.normal(size=(50, 4)) * [1, 2, 100, 5] + [0, 0, 1000, 0], columns=list("abcd"))
    frame.to_csv(tmp_path / "r.csv", index=False)
    bundle = load(target_kind="regression", path=str(tmp_path / "r.csv"), target=["c", "d"])
    assert bundle.target_names == ["c", "d"] and bundle.train.targets.shape == (len(bundle.train), 2)
    decoded = bundle.preprocessing.decode_targets(bundle.val.targets)
    expected = torch.tensor(frame[["c", "d"]].to_numpy()[bundle.val.indices.numpy()], dtype=torch.float32)
    assert torch.allclose(decoded, expected, atol=1e-3)


# -- splits, limit, stored preprocessing -------------------------------------------------
def test_same_seed_same_split_and_different_seed_different_split():
    first, again, other = load(source="digits", seed=0), load(source="digits", seed=0), load(source="digits", seed=1)
    assert torch.equal(first.val.indices, again.val.indices) and torch.equal(first.test.indices, again.test.indices)
    assert not torch.equal(first.val.indices, other.val.indices)
    everything = torch.cat([first.train.indices, first.val.indices, first.test.indices]).sort().values
    assert torch.equal(everything, torch.arange(1797))
    counts = torch.bincount(first.test.targets, minlength=10)
    assert int(counts.min()) >= 26 and int(counts.max()) <= 29  # stratified: ~15% of ~180 per class


def test_fractions_that_leave_no_training_data_are_rejected():
    with pytest.raises(ConfigError, match="val_fraction"):
        load(source="iris", val_fraction=0.5, test_fraction=0.6)


def test_limit_takes_a_stratified_subset_of_train(digits_bundle):
    bundle = load(source="digits", limit=100)
    assert len(bundle.train) == 100 and len(bundle.val) == len(digits_bundle.val)
    assert int(torch.bincount(bundle.train.targets, minlength=10).min()) >= 9
    assert "100 of" in bundle.description["limit"]


def test_preprocessing_round_trips_through_json(digits_bundle, table_csv):
    for bundle in (digits_bundle, load(path=str(table_csv), target="label"),
                   load(source="diabetes", target_kind="regression")):
        record = json.loads(json.dumps(bundle.preprocessing.to_dict()))
        restored = Preprocessing.from_dict(record)
        assert restored.to_dict() == bundle.preprocessing.to_dict()
        assert restored.input_shape == bundle.input_shape


def test_digits_encode_inputs_equals_train_inputs(digits_bundle):
    raw = load_digits().images * (255.0 / 16.0)  # (N, 8, 8) pixels 0..255
    restored = Preprocessing.from_dict(json.loads(json.dumps(digits_bundle.preprocessing.to_dict())))
    encoded = restored.encode_inputs(raw[digits_bundle.train.indices.numpy()])
    assert torch.allclose(encoded, digits_bundle.train.inputs, atol=1e-6)


def test_stored_preprocessing_is_reused_and_class_names_checked(table_csv, tmp_path):
    bundle = load(path=str(table_csv), target="label")
    again = load(path=str(table_csv), target="label", preprocessing=bundle.preprocessing)
    assert again.preprocessing is bundle.preprocessing and torch.equal(again.test.inputs, bundle.test.inputs)
    frame = pd.read_csv(table_csv)
    only_yes = frame[frame["label"] == "yes"]
    only_yes.to_csv(tmp_path / "yes.csv", index=False)
    subset = load(path=str(tmp_path / "yes.csv"), target="label", preprocessing=bundle.preprocessing)
    assert set(subset.test.targets.tolist()) == {1}  # remapped to the run's index of "yes"
    frame.assign(label=np.where(frame["label"] == "yes", "maybe", "no")).to_csv(tmp_path / "new.csv", index=False)
    with pytest.raises(DataError, match="maybe"):
        load(path=str(tmp_path / "new.csv"), target="label", preprocessing=bundle.preprocessing)


# -- resolving sources -------------------------------------------------------------------
def test_source_is_inferred_from_the_path(data_root, tmp_path):
    from shendu.data import resolve_source

    assert resolve_source(DataConfig(path=str(data_root / "mnist"))) == "mnist"
    assert resolve_source(DataConfig(path=str(data_root / "hymenoptera"))) == "image-folder"
    assert resolve_source(DataConfig(path=str(data_root / "timeseries" / "airline-passengers.csv"))) == "csv"
    with pytest.raises(DataError, match="Cannot tell what data"):
        resolve_source(DataConfig(path=str(data_root / "timeseries")))
    with pytest.raises(DataError, match="does not exist"):
        resolve_source(DataConfig(path=str(tmp_path / "nowhere")))
    with pytest.raises(DataError, match="both unset"):
        resolve_source(DataConfig())
    with pytest.raises(UnknownComponentError, match="mnist"):
        resolve_source(DataConfig(source="mnst"))


def test_univariate_series_as_plain_regression_says_why(data_root):
    config = DataConfig(source="airline-passengers", path=str(data_root / "timeseries"), download=False)
    with pytest.raises(DataError, match=r"No feature columns .* airline-passengers .*\(Passengers, Month\).*lookback windows"):
        load_data(config, target_kind="regression", seed=0)
