"""The dataset catalogue: every named dataset, its reader, recorded checksums, location order, clear refusals."""

from __future__ import annotations

import gzip
import re
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris

import shendu.data.formats_sources  # noqa: F401  (registers the idx / arff / svmlight readers)
import shendu.data.text_sources  # noqa: F401  (registers the text readers)
from shendu.config import DataConfig
from shendu.data import DATASETS, load_data
from shendu.data.catalog import CATALOG, find, locate, reader_config, verify, where, with_hints
from shendu.errors import DataError
from shendu.report.explain import describe

ISSUE_NAMES = {"mnist", "fashion-mnist", "digits", "iris", "wine", "breast-cancer", "diabetes", "sst2",
               "tinyshakespeare", "multi30k", "isbi-membrane", "coco128", "hymenoptera", "airline-passengers",
               "daily-min-temperatures", "scene", "yeast", "mq-rank", "cartpole"}
BUNDLED = {"digits", "iris", "wine", "breast-cancer", "diabetes"}
# Catalogue name -> folder of the real datasets holding a copy of its files.
LOCAL_COPIES = {"mnist": "mnist", "sst2": "sst2", "tinyshakespeare": "tinyshakespeare", "multi30k": "multi30k",
                "isbi-membrane": "isbi-membrane", "coco128": "coco128", "hymenoptera": "hymenoptera",
                "airline-passengers": "timeseries", "daily-min-temperatures": "timeseries", "scene": "multilabel",
                "yeast": "multilabel", "mq-rank": "ranking"}


@pytest.fixture()
def no_network(monkeypatch):
    monkeypatch.delenv("SHENDU_DATASET_MIRROR", raising=False)
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("no request may be made"))


@pytest.fixture()
def homes(tmp_path, monkeypatch) -> tuple[Path, Path]:
    """$SHENDU_DATA and $HOME inside tmp_path: (store, cache) folders."""
    monkeypatch.setenv("SHENDU_DATA", str(tmp_path / "store"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "store", tmp_path / "home" / ".cache" / "shendu"


# -- the entries --------------------------------------------------------------------------------
def test_every_dataset_the_issue_names_is_registered_with_its_tags():
    assert set(CATALOG) == ISSUE_NAMES and ISSUE_NAMES <= set(DATASETS.names())
    for name in ISSUE_NAMES:
        tags = DATASETS.entry(name).tags
        assert tags["input_kind"] and tags["target_kinds"] and "reader" in tags and "files" in tags
        assert tags["files"] == CATALOG[name].files
        assert bool(tags["files"]) == (name not in BUNDLED | {"cartpole"})


def test_each_dataset_resolves_to_its_reader():
    readers = {name: entry.reader for name, entry in CATALOG.items()}
    assert readers["sst2"] == "text-tsv" and readers["tinyshakespeare"] == "text-lines"
    assert readers["mnist"] == readers["fashion-mnist"] == "idx" and readers["multi30k"] == "text-pairs"
    assert readers["scene"] == readers["yeast"] == "arff" and readers["mq-rank"] == "svmlight"
    assert readers["hymenoptera"] == "image-folder"
    assert readers["airline-passengers"] == readers["daily-min-temperatures"] == "csv"
    assert dict(CATALOG["airline-passengers"].hints) == {"target": "Passengers", "split": "time", "time_column": "Month"}
    assert all(readers[name] is None for name in BUNDLED | {"cartpole", "isbi-membrane", "coco128"})


@pytest.mark.parametrize("name", sorted(ISSUE_NAMES))
def test_each_docstring_teaches_origin_licence_and_reference(name):
    entry = DATASETS.entry(name)
    text = describe(DATASETS, entry)
    assert entry.summary == entry.doc.splitlines()[0] and len(entry.summary) <= 120
    assert "Licence:" in entry.doc and "\nReference: " in text and "When to use it:" in text
    if name in BUNDLED:
        assert "bundled with scikit-learn, nothing to download" in entry.doc
    elif name != "cartpole":
        assert "\nDownload: " in entry.doc


def test_fashion_mnist_uses_the_published_md5_and_says_so():
    assert all(spec.checksum.startswith("md5:") for spec in CATALOG["fashion-mnist"].files)
    assert "no sha256" in CATALOG["fashion-mnist"].doc


def test_checksums_are_sha256_everywhere_else_and_github_urls_are_pinned():
    for name, entry in CATALOG.items():
        for spec in entry.files:
            if name != "fashion-mnist":
                assert re.fullmatch(r"sha256:[0-9a-f]{64}", spec.checksum), (name, spec.path)
            for url in spec.urls:
                assert url.endswith(spec.path.rsplit("/", 1)[-1]), url
                github = re.match(r"https://raw\.githubusercontent\.com/[^/]+/[^/]+/([^/]+)/", url)
                if github and name != "fashion-mnist":  # its README links the files on master only
                    assert re.fullmatch(r"[0-9a-f]{7,40}", github.group(1)), url


@pytest.mark.parametrize("name", sorted(LOCAL_COPIES))
def test_recorded_checksums_match_the_real_files(name, data_root):
    folder = data_root / LOCAL_COPIES[name]
    assert find(name, folder) == folder and locate(name, folder, download=False) == folder
    report = verify(name, folder)
    assert set(report) == {spec.path for spec in CATALOG[name].files}
    assert set(report.values()) == ({"unpacked"} if name == "hymenoptera" else {"ok"})


def test_verify_reports_a_changed_file(data_root, tmp_path):
    (tmp_path / "input.txt").write_bytes((data_root / "tinyshakespeare" / "input.txt").read_bytes() + b"!")
    problem = verify("tinyshakespeare", tmp_path)["input.txt"]
    assert problem.startswith("expected sha256 86c4e6aa") and "received" in problem


# -- where files are found ---------------------------------------------------------------------------
def _copy_airline(folder: Path, data_root: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "airline-passengers.csv").symlink_to(data_root / "timeseries" / "airline-passengers.csv")
    return folder


def test_location_order_is_path_then_shendu_data_then_cache(data_root, homes, tmp_path, no_network):
    store, cache = homes
    cached = _copy_airline(cache / "airline-passengers", data_root)
    assert locate("airline-passengers") == cached
    stored = _copy_airline(store / "airline-passengers", data_root)
    assert locate("airline-passengers") == stored
    explicit = _copy_airline(tmp_path / "mine", data_root)
    assert locate("airline-passengers", explicit) == explicit
    assert locate("airline-passengers", explicit / "airline-passengers.csv") == explicit  # a file stands for its folder
    nested = _copy_airline(tmp_path / "all" / "airline-passengers", data_root)
    assert locate("airline-passengers", tmp_path / "all") == nested  # path/<name> is looked in too


def test_where_says_where_files_are_or_why_there_are_none(data_root, homes, no_network):
    store, cache = homes
    assert where("iris") == "iris: bundled with scikit-learn, nothing to download"
    assert where("cartpole") == "cartpole: a gymnasium environment (CartPole-v1), no files"
    assert where("mq-rank", data_root / "ranking") == f"mq-rank: 4 file(s) in {data_root / 'ranking'}"
    assert where("mq-rank") == (f"mq-rank: not found (looked in {store / 'mq-rank'}, {cache / 'mq-rank'}); "
                                f"4 file(s) would be downloaded into {store / 'mq-rank'}")


def test_an_incomplete_explicit_path_is_not_downloaded_into(homes, tmp_path, no_network):
    (tmp_path / "mine").mkdir()
    with pytest.raises(DataError) as caught:
        locate("mq-rank", tmp_path / "mine")
    message = str(caught.value)
    assert all(str(tmp_path / "mine" / spec.path) in message for spec in CATALOG["mq-rank"].files)
    assert "unset data.path" in message and str(homes[0] / "mq-rank") in message


def test_manual_files_fail_with_where_to_get_them_and_where_to_put_them(homes, no_network):
    store, _ = homes
    with pytest.raises(DataError) as caught:
        locate("coco128")
    message = str(caught.value)
    assert "cannot download" in message and "lightly-ai/coco128_yolo" in message and "SHENDU_DATASET_MIRROR" in message
    assert f"{store / 'coco128' / 'images'}/  128 file(s)" in message
    assert f"{store / 'coco128' / 'masks-semantic'}/  100 file(s)" in message
    assert not (store / "coco128").exists()  # no empty folder left behind


# -- reading catalogue datasets -----------------------------------------------------------------------
def test_bundled_sets_load_without_files_and_have_nothing_to_locate():
    with pytest.raises(DataError, match="bundled with scikit-learn, nothing to download"):
        locate("iris")
    bundle = load_data(DataConfig(source="iris"), target_kind="classification", seed=0)
    assert len(bundle.train) + len(bundle.val) + len(bundle.test) == len(load_iris().target) == 150


def test_cartpole_is_an_environment_and_says_so(no_network):
    assert DATASETS.entry("cartpole").tags["environment"] == "CartPole-v1"
    for target_kind in ("classification", "regression"):
        with pytest.raises(DataError, match="reinforcement-learning environment .*CartPole-v1"):
            load_data(DataConfig(source="cartpole"), target_kind=target_kind, seed=0)
    with pytest.raises(DataError, match="gymnasium environment"):
        locate("cartpole")


@pytest.mark.parametrize("name", ["isbi-membrane", "coco128"])
def test_sets_without_a_task_locate_but_refuse_to_load(name, data_root):
    folder = data_root / LOCAL_COPIES[name]
    assert locate(name, folder) == folder
    with pytest.raises(DataError, match=f"No task reads dataset '{name}' yet"):
        load_data(DataConfig(source=name, path=str(folder)), target_kind="classification", seed=0)


@pytest.mark.filterwarnings("ignore:Column 'Month'")  # each held-out month is a category unseen in training
def test_a_catalogue_table_loads_through_its_reader_with_its_hints(data_root):
    # Month listed as a feature: a univariate series has no other column (the forecasting task windows it instead).
    config = DataConfig(source="airline-passengers", path=str(data_root / "timeseries"), features=["Month"])
    bundle = load_data(with_hints(config, "airline-passengers"), target_kind="regression", seed=0)
    assert bundle.target_names == ["Passengers"] and bundle.description["source"] == "airline-passengers"
    assert len(bundle.train) + len(bundle.val) + len(bundle.test) == 144
    # The time-split hint: validation and test are the latest months, after every training month.
    assert int(bundle.train.indices.max()) < int(bundle.val.indices.min()) < int(bundle.test.indices.min())


@pytest.mark.parametrize("name, sizes", [
    ("sst2", {"train": 60_614, "val": 6_735, "test": 872}),
    ("multi30k", {"train": 29_000, "val": 1_014, "test": 1_000}),
    ("mq-rank", {"train": 3_005, "test": 768}),
    ("yeast", {"train": 2_417}),
])
def test_catalogue_sets_read_through_their_readers(name, sizes, data_root):
    entry = CATALOG[name]
    raw = DATASETS.entry(name).constructor(DataConfig(path=str(data_root / LOCAL_COPIES[name])),
                                           target_kind=entry.target_kinds[0])
    assert {split: len(part.targets) for split, part in raw.splits.items()} == sizes
    assert raw.description["source"] == name and raw.description["reader"] == entry.reader
    assert raw.input_kind == entry.input_kind == DATASETS.entry(entry.reader).tags["input_kind"]
    assert set(entry.target_kinds) <= set(DATASETS.entry(entry.reader).tags["target_kinds"])


def test_hints_never_override_what_the_user_set(data_root):
    entry = CATALOG["airline-passengers"]
    given = reader_config(entry, DataConfig(source=entry.name), data_root / "timeseries")
    assert (given.source, given.target, given.split, given.time_column) == ("csv", "Passengers", "time", "Month")
    assert given.path == str(data_root / "timeseries" / "airline-passengers.csv")
    chosen = reader_config(entry, DataConfig(source=entry.name, split="random"), data_root / "timeseries")
    assert chosen.split == "random" and chosen.target == "Passengers"
    assert with_hints(DataConfig(source="iris"), "iris") == DataConfig(source="iris")


def test_hymenoptera_loads_through_the_image_folder_reader(data_root):
    bundle = load_data(DataConfig(source="hymenoptera", path=str(data_root / "hymenoptera"), image_size=8),
                       target_kind="classification", seed=0)
    assert bundle.class_names == ["ants", "bees"] and len(bundle.test) == 70 + 83  # val/ kept as the test split
    assert bundle.description["source"] == "hymenoptera" and bundle.description["reader"] == "image-folder"


def _idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def test_fashion_mnist_reads_idx_files_with_its_class_names(tmp_path, no_network):
    generator = np.random.default_rng(0)
    for prefix, count in (("train", 30), ("t10k", 20)):
        _idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", generator.integers(0, 256, (count, 28, 28)))
        _idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", np.arange(count) % 10)
    raw = DATASETS.entry("fashion-mnist").constructor(DataConfig(path=str(tmp_path)), target_kind="classification")
    assert raw.class_names[0] == "T-shirt/top" and raw.class_names[9] == "Ankle boot"
    assert tuple(raw.splits["train"].inputs.shape) == (30, 1, 28, 28) and len(raw.splits["test"].targets) == 20
    assert raw.description["source"] == "fashion-mnist"
