"""Preprocessing options against scikit-learn references, JSON round trips, and old records."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, OrdinalEncoder, StandardScaler

from shendu.config import DataConfig
from shendu.data import Preprocessing, load_data
from shendu.data.preprocessing import fit_preprocessing
from shendu.data.splits import RawData, RawSplit
from shendu.errors import ConfigError, DataError

NUMERIC = ["a", "b", "c"]


@pytest.fixture()
def table(tmp_path):
    """80 rows: a (3 missing), b (constant), c (skewed), city (4 categories, 2 missing), y > 0 (skewed), label."""
    generator = np.random.default_rng(0)
    count = 80
    a = generator.normal(50.0, 10.0, size=count)
    a[[2, 11, 40]] = np.nan
    city = np.array(["paris", "rome", "oslo", "lima"], dtype=object)[np.arange(count) % 4]
    city[[5, 33]] = None
    frame = pd.DataFrame({
        "a": a, "b": 3.0, "c": generator.exponential(2.0, size=count), "city": city,
        "y": np.exp(generator.normal(size=count)) * 100.0, "label": np.where(np.arange(count) % 3, "yes", "no"),
    })
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    return path, frame


def load(path, target_kind: str = "regression", **options):
    target = "y" if target_kind == "regression" else "label"
    features = options.pop("features", ["a", "b", "c", "city"])
    config = DataConfig(path=str(path), target=target, features=features, **options)
    return load_data(config, target_kind=target_kind, seed=0)


def rows_of(frame: pd.DataFrame, split) -> pd.DataFrame:
    return frame.iloc[split.indices.numpy()].reset_index(drop=True)


def splits(bundle):
    return [bundle.train, bundle.val, bundle.test]


# -- feature scaling ---------------------------------------------------------------------
def test_standard_scaling_matches_standard_scaler(table):
    path, frame = table
    bundle = load(path, features=NUMERIC)
    train = rows_of(frame, bundle.train)[NUMERIC].to_numpy()
    reference = StandardScaler().fit(train)  # disregards NaN when fitting, as shendu does
    for split in splits(bundle):
        expected = reference.transform(rows_of(frame, split)[NUMERIC].to_numpy())
        missing = np.isnan(expected)
        assert np.allclose(split.inputs.numpy()[~missing], expected[~missing], atol=1e-5)
        assert np.all(split.inputs.numpy()[missing] == 0.0)  # imputed with the training mean
    assert np.all(bundle.train.inputs[:, 1].numpy() == 0.0)  # constant column: no division by zero


@pytest.mark.parametrize("scaling, low, high", [("minmax", 0.0, 1.0), ("minmax-symmetric", -1.0, 1.0)])
def test_minmax_scaling_matches_min_max_scaler(table, scaling, low, high):
    path, frame = table
    bundle = load(path, features=NUMERIC, scaling=scaling)
    train = rows_of(frame, bundle.train)[NUMERIC].to_numpy()
    reference = MinMaxScaler(feature_range=(low, high)).fit(train)
    mean = np.nanmean(train, axis=0)
    for split in splits(bundle):
        raw = rows_of(frame, split)[NUMERIC].to_numpy()
        expected = reference.transform(np.where(np.isnan(raw), mean, raw))  # mean imputation, then scaling
        assert np.allclose(split.inputs.numpy(), expected, atol=1e-5)
    inputs = bundle.train.inputs
    assert float(inputs.min()) == pytest.approx(low, abs=1e-6) and float(inputs.max()) == pytest.approx(high, abs=1e-6)
    assert np.all(inputs[:, 1].numpy() == low)  # constant column: min == max maps to low, as scikit-learn does


def test_scaling_none_keeps_raw_values_and_normalize_false_is_its_older_spelling(table):
    path, frame = table
    bundle = load(path, features=NUMERIC, scaling="none")
    older = load(path, features=NUMERIC, normalize=False)
    train = rows_of(frame, bundle.train)[NUMERIC].to_numpy()
    expected = np.where(np.isnan(train), np.nanmean(train, axis=0), train)
    assert np.allclose(bundle.train.inputs.numpy(), expected, atol=1e-4)
    assert torch.equal(older.train.inputs, bundle.train.inputs) and older.preprocessing.scaling == "none"
    with pytest.raises(ConfigError, match="older spelling of data.scaling=none"):
        load(path, features=NUMERIC, normalize=False, scaling="minmax")


def test_image_scalings():
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (12, 3, 5, 4), dtype=torch.uint8, generator=generator)
    raw = RawData("image", {"train": RawSplit(images, np.zeros(12, dtype=np.int64))}, class_names=["x"])
    pixels = images.to(torch.float32)

    def apply(scaling: str) -> torch.Tensor:
        return fit_preprocessing(raw, raw.splits["train"], target_kind="classification", scaling=scaling)\
            .transform_inputs(images)

    assert torch.allclose(apply("minmax"), pixels / 255.0)
    assert torch.allclose(apply("minmax-symmetric"), pixels / 127.5 - 1.0)
    assert torch.equal(apply("none"), pixels)
    scaled = pixels.double() / 255.0
    mean, std = scaled.mean(dim=(0, 2, 3)), scaled.std(dim=(0, 2, 3), unbiased=False)
    expected = (scaled - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    assert torch.allclose(apply("standard").double(), expected, atol=1e-5)


# -- targets --------------------------------------------------------------------------------
def test_log_target_transform_is_log1p_then_z_score_and_inverts_exactly(table):
    path, frame = table
    bundle = load(path, features=NUMERIC, target_transform="log")
    y = frame["y"].to_numpy()
    logged = np.log1p(y[bundle.train.indices.numpy()])
    expected = (logged - logged.mean()) / logged.std()
    assert np.allclose(bundle.train.targets[:, 0].numpy(), expected, atol=1e-5)
    preprocessing = bundle.preprocessing
    original = torch.tensor(y[bundle.test.indices.numpy()], dtype=torch.float64)[:, None]
    encoded = preprocessing.encode_targets(original.numpy()).double()
    assert torch.allclose(preprocessing.decode_targets(encoded), original, rtol=1e-5)  # float32 encoding
    exact = preprocessing.target_standardization
    values = (np.log1p(original.numpy()) - exact.mean) / exact.std
    assert torch.allclose(preprocessing.decode_targets(torch.from_numpy(values)), original, rtol=1e-12)
    # Predictions come back in original units: decoding the test targets gives the CSV's values.
    assert torch.allclose(preprocessing.decode_targets(bundle.test.targets).double(), original, rtol=1e-5)


def test_log_target_transform_rejects_targets_at_or_below_minus_one(table, tmp_path):
    _, frame = table
    frame.loc[17, "y"] = -1.0
    frame.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match=r"'y' in the training split is -1\.0 at row 17"):
        load(tmp_path / "bad.csv", features=NUMERIC, target_transform="log")


def test_target_transform_none_keeps_raw_targets(table):
    path, frame = table
    bundle = load(path, features=NUMERIC, target_transform="none")
    expected = torch.tensor(frame["y"].to_numpy()[bundle.val.indices.numpy()], dtype=torch.float32)[:, None]
    assert torch.equal(bundle.val.targets, expected)
    assert torch.equal(bundle.preprocessing.decode_targets(bundle.val.targets), expected)


# -- categorical encoding --------------------------------------------------------------------
def test_one_hot_matches_one_hot_encoder_and_missing_is_its_own_category(table):
    path, frame = table
    bundle = load(path, features=["city"])
    categories = bundle.preprocessing.encoding.categories["city"]
    train_city = rows_of(frame, bundle.train)["city"]
    assert train_city.isna().any() and categories == ["lima", "oslo", "paris", "rome", "<missing>"]
    reference = OneHotEncoder(categories=[categories], handle_unknown="ignore", sparse_output=False)
    reference.fit(train_city.fillna("<missing>").to_numpy()[:, None])
    for split in splits(bundle):
        city = rows_of(frame, split)["city"].fillna("<missing>").to_numpy()[:, None]
        assert np.array_equal(split.inputs.numpy(), reference.transform(city))  # one-hot columns are not scaled
    with pytest.warns(UserWarning, match="tokyo.*all zeros"):
        unseen = bundle.preprocessing.encode_inputs([{"city": "tokyo"}])
    assert torch.equal(unseen, torch.zeros(1, 5))


def test_index_encoding_matches_ordinal_encoder_and_records_cardinalities(table):
    path, frame = table
    bundle = load(path, categorical_encoding="index")
    preprocessing = bundle.preprocessing
    assert bundle.feature_names == ["a", "b", "c", "city"] and bundle.input_shape == (4,)
    assert preprocessing.categorical_cardinalities == {3: 5}  # 4 training cities + code 0
    assert preprocessing.to_dict()["categorical_cardinalities"] == {"3": 5}
    train_city = rows_of(frame, bundle.train)["city"].to_numpy()[:, None]
    reference = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1)
    reference.fit(train_city)
    for split in splits(bundle):
        expected = reference.transform(rows_of(frame, split)["city"].to_numpy()[:, None])[:, 0] + 1  # 0 = unseen
        assert np.array_equal(split.inputs[:, 3].numpy(), expected)  # codes are not scaled
    assert 0.0 in bundle.train.inputs[:, 3].tolist()  # the missing cities of the training split
    with pytest.warns(UserWarning, match="tokyo.*index 0"):
        codes = preprocessing.encode_inputs([{"a": 1.0, "b": 3.0, "c": 1.0, "city": "tokyo"},
                                             {"a": 1.0, "b": 3.0, "c": 1.0, "city": "rome"}])
    assert codes[:, 3].tolist() == [0.0, 4.0]


# -- missing values -------------------------------------------------------------------------
def test_median_imputation_matches_simple_imputer(table):
    path, frame = table
    bundle = load(path, features=NUMERIC, scaling="none", missing="median")
    reference = SimpleImputer(strategy="median").fit(rows_of(frame, bundle.train)[NUMERIC].to_numpy())
    for split in splits(bundle):
        expected = reference.transform(rows_of(frame, split)[NUMERIC].to_numpy())
        assert np.allclose(split.inputs.numpy(), expected, atol=1e-4)
    assert bundle.preprocessing.imputation.policy == "median"
    assert "median" in bundle.description["preprocessing_options"]["missing"]


def test_missing_drop_removes_rows_from_every_split_and_counts_them(table):
    path, frame = table
    bundle = load(path, missing="drop")
    kept = torch.cat([s.indices for s in splits(bundle)])
    assert set(kept.tolist()) == set(range(80)) - {2, 11, 40}  # the missing cities stay: their own category
    # Rows are dropped after splitting, so the same split with mean imputation shows where they were.
    filled = load(path, missing="mean")
    expected = {name: int(np.isin([2, 11, 40], s.indices.numpy()).sum())
                for name, s in zip(("train", "val", "test"), splits(filled))}
    assert bundle.description["dropped_missing_rows"] == expected and sum(expected.values()) == 3
    with pytest.raises(DataError, match=r"Column 'a' in the DataFrame has 1 missing value\(s\) \(rows 1; .*missing=drop"):
        bundle.preprocessing.encode_inputs(frame.iloc[[0, 2]])


def test_missing_raise_names_the_column_and_first_rows(table):
    path, _ = table
    with pytest.raises(DataError, match=r"Column 'a' has \d missing value\(s\) in the \w+ split \(data.missing=raise\)"):
        load(path, missing="raise")
    bundle = load(path, features=["b", "c", "city"], missing="raise")  # no numeric value missing: fine
    assert len(bundle.train) + len(bundle.val) + len(bundle.test) == 80


# -- storing ------------------------------------------------------------------------------
OPTIONS = [
    {},
    {"scaling": "minmax", "categorical_encoding": "index", "missing": "median", "target_transform": "log"},
    {"scaling": "minmax-symmetric", "target_transform": "none"},
    {"scaling": "none", "missing": "drop"},
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(map(str, o.values())) or "defaults")
def test_fitted_preprocessing_round_trips_through_json_and_replays_identically(table, options):
    path, frame = table
    bundle = load(path, **options)
    restored = Preprocessing.from_dict(json.loads(json.dumps(bundle.preprocessing.to_dict())))
    assert restored.to_dict() == bundle.preprocessing.to_dict()
    for split in splits(bundle):
        raw = rows_of(frame, split).drop(columns=["y", "label"])
        assert torch.equal(restored.encode_inputs(raw), split.inputs)  # predict path == bundle tensors
        assert torch.equal(restored.encode_targets(rows_of(frame, split)[["y"]].to_numpy()), split.targets)
    new = pd.DataFrame({"a": [40.0, 61.0], "b": [3.0, 3.0], "c": [0.5, 9.0], "city": ["tokyo", None]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # tokyo is unseen
        assert torch.equal(restored.encode_inputs(new), bundle.preprocessing.encode_inputs(new))
    outputs = torch.randn(5, 1, dtype=torch.float64)
    assert torch.equal(restored.decode_targets(outputs), bundle.preprocessing.decode_targets(outputs))


def test_format_1_records_still_load_and_transform_as_before():
    tabular = {
        "format": 1, "input_kind": "tabular", "target_kind": "regression", "image_size": None, "channels": None,
        "normalization": None, "encoding": {"features": ["x", "city"], "categories": {"city": ["oslo", "rome"]}},
        "standardization": {"kind": "Standardization", "mean": [2.0, 0.0, 0.0], "std": [4.0, 1.0, 1.0]},
        "class_names": None, "target_names": ["y"],
        "target_standardization": {"kind": "TargetStandardization", "mean": [10.0], "std": [5.0]},
    }
    restored = Preprocessing.from_dict(tabular)
    encoded = restored.encode_inputs([{"x": 6.0, "city": "rome"}, {"x": None, "city": None}])
    assert encoded.tolist() == [[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]]  # format 1: NaN -> the mean; missing city: zeros
    assert restored.decode_targets(torch.tensor([[1.0]])).tolist() == [[15.0]]
    unscaled = dict(tabular, standardization={"kind": "Imputation", "fill": [2.0, 0.0, 0.0]})
    assert Preprocessing.from_dict(unscaled).encode_inputs([{"x": None, "city": "oslo"}]).tolist() == [[2.0, 1.0, 0.0]]
    image = {
        "format": 1, "input_kind": "image", "target_kind": "classification", "image_size": [2, 2],
        "channels": "grayscale", "normalization": {"kind": "Normalization", "mean": [0.5], "std": [0.25]},
        "encoding": None, "standardization": None, "class_names": ["a", "b"], "target_names": None,
        "target_standardization": None,
    }
    pixels = torch.tensor([[[[0, 255], [51, 102]]]], dtype=torch.uint8)
    expected = (pixels.float() / 255.0 - 0.5) / 0.25
    assert torch.allclose(Preprocessing.from_dict(image).transform_inputs(pixels), expected)
    with pytest.raises(DataError, match="format 1 or 2; received 7"):
        Preprocessing.from_dict(dict(image, format=7))
