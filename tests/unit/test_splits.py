"""Splits: ratio, stratified, grouped, time-ordered and k-fold, through load_data and split_raw_data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold, TimeSeriesSplit

from shendu.config import DataConfig
from shendu.data import load_data
from shendu.data.folds import fold_plan
from shendu.data.splits import RawData, RawSplit, SplitPlan, limit_train, split_raw_data
from shendu.errors import ConfigError, DataError


def load(target_kind: str = "classification", seed: int = 0, **options):
    return load_data(DataConfig(**options), target_kind=target_kind, seed=seed)


def all_indices(bundle) -> list[torch.Tensor]:
    return [bundle.train.indices, bundle.val.indices, bundle.test.indices]


@pytest.fixture()
def table(tmp_path):
    """200 rows: x, y, a 3-class label (50 / 30 / 20 %), a group column (40 groups), dates shuffled in the file."""
    generator = np.random.default_rng(0)
    count = 200
    label = generator.permutation(np.repeat(["a", "b", "c"], [100, 60, 40]))
    dates = pd.date_range("1980-01-01", periods=count, freq="D")
    order = generator.permutation(count)
    frame = pd.DataFrame({
        "x": generator.normal(size=count), "y": generator.normal(size=count), "label": label,
        "group": [f"g{i % 40}" for i in range(count)], "day": dates.strftime("%Y-%m-%d"),
    }).iloc[order].reset_index(drop=True)
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    return path, frame


# -- ratio splits --------------------------------------------------------------------------
def test_default_ratio_split_is_70_15_15_and_states_method_fraction_and_seed(table):
    path, frame = table
    bundle = load("regression", path=str(path), target="y", features=["x"], seed=3)
    sizes = [len(bundle.train), len(bundle.val), len(bundle.test)]
    assert sizes == [140, 30, 30]
    assert torch.equal(torch.cat(all_indices(bundle)).sort().values, torch.arange(200))
    origins = bundle.description["splits"]
    assert origins["test"] == "carved from the data (0.15 of it), random, seed 3"
    assert origins["val"] == "carved from train (0.15 of the data), random, seed 3"
    assert bundle.description["split_method"] == "random"


def test_stratified_split_keeps_class_shares(table):
    path, _ = table
    bundle = load(path=str(path), target="label", features=["x"], split="stratified")
    for split in (bundle.train, bundle.val, bundle.test):
        shares = torch.bincount(split.targets, minlength=3).double() / len(split)
        assert torch.allclose(shares, torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64), atol=0.02)
    assert "stratified, seed 0" in bundle.description["splits"]["test"]


def test_stratified_regression_and_orphan_key_columns_are_config_errors(table):
    path, _ = table
    with pytest.raises(ConfigError, match="data.split=random"):
        load("regression", path=str(path), target="y", split="stratified")
    with pytest.raises(ConfigError, match=r"data.group_column.*data.split=group"):
        load(path=str(path), target="label", group_column="group")
    with pytest.raises(ConfigError, match=r"data.time_column.*data.split=time"):
        load(path=str(path), target="label", split="random", time_column="day")


# -- grouped -------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:Column 'day'", "ignore:Column 'group'")  # one-hot features unseen in training
def test_group_split_never_straddles_and_drops_the_group_column(table):
    path, frame = table
    bundle = load(path=str(path), target="label", split="group", group_column="group")
    groups = [set(frame["group"].to_numpy()[idx.numpy()]) for idx in all_indices(bundle)]
    assert not (groups[0] & groups[1]) and not (groups[0] & groups[2]) and not (groups[1] & groups[2])
    assert sum(len(g) for g in groups) == 40
    assert len(bundle.test) == 30 and len(bundle.val) == 30  # 6 whole groups of 5 each: exactly 15 %
    assert not any(name.startswith("group") for name in bundle.feature_names)
    assert "by group (column 'group': 6 of 40 groups)" in bundle.description["splits"]["test"]
    kept = load(path=str(path), target="label", split="group", group_column="group", features=["x", "group"])
    # Listed in data.features, it stays a feature: one-hot over the 28 training groups (val / test groups are unseen).
    assert kept.feature_names[0] == "x" and len(kept.feature_names) == 1 + 28
    assert all(name.startswith("group=g") for name in kept.feature_names[1:])


def test_group_split_errors_name_the_columns_and_the_group_count(table, tmp_path):
    path, frame = table
    with pytest.raises(DataError, match=r"data.group_column='team' is not a column.*columns present: x, y, group, day"):
        load(path=str(path), target="label", split="group", group_column="team")
    with pytest.raises(ConfigError, match="data.group_column"):
        load(path=str(path), target="label", split="group")  # a CSV has no groups of its own
    few = frame.assign(group=np.where(np.arange(200) % 2, "odd", "even"))
    few.to_csv(tmp_path / "few.csv", index=False)
    with pytest.raises(DataError, match=r"holds 2 distinct group\(s\).*need at least 3"):
        load(path=str(tmp_path / "few.csv"), target="label", split="group", group_column="group")


def test_group_split_uses_a_source_s_own_groups():
    queries = np.repeat(np.arange(20), 4)  # 20 queries of 4 documents (a ranking source's RawSplit.groups)
    raw = RawData("tabular", {"train": RawSplit(pd.DataFrame({"f": np.arange(80.0)}), np.zeros(80), groups=queries)})
    parts, origins, _ = split_raw_data(raw, SplitPlan(method="group", seed=1))
    seen = [set(parts[name].groups.tolist()) for name in ("train", "val", "test")]
    assert seen[0].isdisjoint(seen[1]) and seen[0].isdisjoint(seen[2]) and seen[1].isdisjoint(seen[2])
    assert (len(parts["val"]), len(parts["test"])) == (12, 12)
    assert "the source's groups" in origins["test"]


# -- time-ordered --------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:Column 'group'")  # some groups first appear in val / test
def test_time_split_orders_by_the_time_column_and_describes_the_ranges(table):
    path, frame = table
    bundle = load("regression", path=str(path), target="y", split="time", time_column="day")
    days = pd.to_datetime(frame["day"]).to_numpy()
    train, val, test = (days[idx.numpy()] for idx in all_indices(bundle))
    assert np.all(np.diff(train) > np.timedelta64(0)) and np.all(np.diff(test) > np.timedelta64(0))  # time order
    assert train.max() < val.min() and val.max() < test.min()
    assert (len(train), len(val), len(test)) == (140, 30, 30)
    assert "x" in bundle.feature_names and not any(n.startswith("day") for n in bundle.feature_names)  # not a feature
    assert bundle.description["time_order"] == (
        "time-ordered by column 'day' (never shuffled): train 1980-01-01 .. 1980-05-19, "
        "val 1980-05-20 .. 1980-06-18, test 1980-06-19 .. 1980-07-18"
    )
    assert "not shuffled" in bundle.description["splits"]["test"]
    again = load("regression", path=str(path), target="y", features=["x"], split="time", time_column="day", seed=9)
    assert all(torch.equal(a, b) for a, b in zip(all_indices(bundle), all_indices(again)))  # no seed involved


def test_time_split_without_a_column_follows_row_order_and_limit_keeps_the_latest(table):
    path, _ = table
    bundle = load("regression", path=str(path), target="y", features=["x"], split="time", limit=50)
    assert torch.equal(bundle.test.indices, torch.arange(170, 200))
    assert torch.equal(bundle.val.indices, torch.arange(140, 170))
    assert torch.equal(bundle.train.indices, torch.arange(90, 140))  # the latest 50 of the 140
    assert "rows 90..139" in bundle.description["time_order"]


def test_numeric_time_column_and_unparseable_time_named_by_row(tmp_path):
    frame = pd.DataFrame({"year": [2005, 2001, 2003, 2002, 2004, 2000, 2009, 2008, 2007, 2006],
                          "x": np.arange(10.0), "y": np.arange(10.0)})
    frame.to_csv(tmp_path / "years.csv", index=False)
    bundle = load("regression", path=str(tmp_path / "years.csv"), target="y", split="time", time_column="year",
                  val_fraction=0.2, test_fraction=0.2)
    assert frame["year"].to_numpy()[bundle.test.indices.numpy()].tolist() == [2008, 2009]
    assert "test 2008 .. 2009" in bundle.description["time_order"]
    frame.assign(year=frame["year"].astype(str).where(np.arange(10) != 4, "soon")).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match=r"'year'.*row 4.*'soon'"):
        load("regression", path=str(tmp_path / "bad.csv"), target="y", split="time", time_column="year")


# -- k-fold --------------------------------------------------------------------------------
@pytest.mark.parametrize("split, extra", [("stratified", {}), ("random", {}), ("group", {"group_column": "group"})])
def test_every_non_test_sample_validates_in_exactly_one_fold(table, split, extra):
    path, frame = table
    folds = 4
    options = dict(path=str(path), target="label", features=["x", "y"], split=split, **extra,
                   imbalance={"warn_ratio": 10.0})  # whole-group folds can leave the class shares uneven
    bundles = [load(folds=folds, fold=i, **options) for i in range(folds)]
    tests = [b.test.indices for b in bundles]
    assert all(torch.equal(t, tests[0]) for t in tests)  # the test split never changes
    unfolded = load(**options)
    assert torch.equal(tests[0], unfolded.test.indices)  # carved exactly as without folds
    vals = torch.cat([b.val.indices for b in bundles])
    non_test = torch.cat([bundles[0].train.indices, bundles[0].val.indices]).sort().values
    assert torch.equal(vals.sort().values, non_test)  # each non-test sample exactly once
    for b in bundles:
        assert not set(b.train.indices.tolist()) & set(b.val.indices.tolist())
        assert len(b.train) + len(b.val) == 170
    if split == "group":
        for b in bundles:
            assert not set(frame["group"].to_numpy()[b.train.indices.numpy()]) & set(
                frame["group"].to_numpy()[b.val.indices.numpy()])
    facts = bundles[2].description["cross_validation"]
    assert facts["folds"] == 4 and facts["fold"] == 2 and sum(facts["fold_sizes"]) == 170
    assert bundles[2].description["splits"]["val"].startswith("fold 2 of 4 (0-based) of the 170 non-test samples")


def test_fold_plan_matches_scikit_learn():
    generator = np.random.default_rng(1)
    targets = generator.integers(0, 3, size=90)
    groups = np.arange(90) // 6  # 15 groups, numbered in order of appearance
    cases = [
        ("stratified", StratifiedKFold(5, shuffle=True, random_state=7).split(np.zeros(90), targets)),
        ("random", KFold(5, shuffle=True, random_state=7).split(np.zeros(90))),
        ("group", GroupKFold(5, shuffle=True, random_state=7).split(np.zeros(90), groups=groups)),
        ("time", TimeSeriesSplit(5).split(np.zeros(90))),
    ]
    for method, expected in cases:
        plan, how = fold_plan(5, method=method, seed=7, targets=targets, groups=groups)
        for (train, val), (ref_train, ref_val) in zip(plan, expected):
            assert np.array_equal(train, np.sort(ref_train)) and np.array_equal(val, np.sort(ref_val)), method
    assert "TimeSeriesSplit" in how


def test_time_folds_are_expanding_windows_in_time(table):
    path, frame = table
    days = pd.to_datetime(frame["day"]).to_numpy()
    previous = 0
    for fold in range(3):
        b = load("regression", path=str(path), target="y", features=["x"], split="time", time_column="day", folds=3,
                 fold=fold)
        train, val, test = (days[idx.numpy()] for idx in all_indices(b))
        assert train.max() < val.min() and val.max() < test.min()
        assert len(b.train) > previous  # the window grows
        previous = len(b.train)
        assert "expanding window" in b.description["splits"]["train"]


def test_fold_settings_are_checked():
    for options, message in [({"fold": 1}, "data.folds set as well"), ({"folds": 3, "fold": 3}, r"0\.\.2"),
                             ({"folds": 3}, "shendu train --folds 3")]:
        with pytest.raises(ConfigError, match=message):
            load(source="iris", **options)


def test_plan_describes_itself_and_limit_is_seeded():
    plan = SplitPlan.from_config(DataConfig(source="iris", folds=5, fold=0), target_kind="classification", seed=2)
    assert plan.method == "stratified" and plan.describe().startswith("5-fold cross-validation (stratified, seed 2)")
    part = RawSplit(pd.DataFrame({"f": np.arange(50.0)}), np.arange(50) % 2)
    first, note = limit_train(part, 10, seed=4, method="stratified")
    again, _ = limit_train(part, 10, seed=4, method="stratified")
    assert np.array_equal(first.indices, again.indices) and np.bincount(first.targets).tolist() == [5, 5]
    assert note == "10 of 50 training samples, stratified, seed 4"


def test_folds_pool_a_source_s_own_train_and_val_and_keep_its_test():
    def part(start: int, count: int) -> RawSplit:
        return RawSplit(torch.zeros(count, 1, 2, 2), np.arange(count) % 2, np.arange(start, start + count))

    raw = RawData("image", {"train": part(0, 30), "val": part(100, 10), "test": part(200, 8)}, class_names=["a", "b"])
    vals = []
    for fold in range(4):
        parts, origins, facts = split_raw_data(raw, SplitPlan(method="stratified", folds=4, fold=fold))
        assert parts["test"].indices.tolist() == list(range(200, 208)) and origins["test"] == "own test split"
        assert len(parts["train"]) + len(parts["val"]) == 40 and facts["cross_validation"]["pooled"].startswith("train and")
        vals += parts["val"].indices.tolist()
    assert sorted(vals) == list(range(30)) + list(range(100, 110))
    with pytest.raises(DataError, match="inputs are images, not a table"):
        split_raw_data(raw, SplitPlan(method="group", group_column="site"))
