"""The file readers and the sources built on them, on real files and small hand-written ones.

References: pandas / pyarrow for tables, NumPy for arrays, the raw IDX bytes,
scipy.io.arff for ARFF, scikit-learn's load_svmlight_file for SVMlight.
Malformed input is tested in test_malformed.py.
"""

from __future__ import annotations

import bz2
import csv as csv_module
import gzip
import io
import shutil
import struct

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.io import arff as scipy_arff
from sklearn.datasets import load_svmlight_file

import shendu.data.formats_sources  # noqa: F401  (registers npz, idx, arff, svmlight)
import shendu.data.image_table  # noqa: F401  (registers image-csv)
import shendu.data.text_sources  # noqa: F401  (registers the text sources)
from shendu.config import DataConfig
from shendu.data import DATASETS, load_data
from shendu.data.formats import (
    infer_source, read_arff, read_arrays, read_idx, read_svmlight, read_table,
)
from shendu.data.images import decode_images
from shendu.data.text import read_text_folder, read_text_lines, read_text_pairs, read_text_table


def source(name: str, target_kind: str, **options):
    return DATASETS.entry(name).constructor(DataConfig(**options), target_kind=target_kind)


# -- tables ------------------------------------------------------------------------------------
def test_csv_types_and_missing_values_match_pandas(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text("n,x,flag,city,maybe\n1,2.5,True,paris,True\n2,,False,rome,\n3,4.0,True,,False\n")
    frame = read_table(path)
    assert frame["n"].dtype == np.int64 and frame["x"].dtype == np.float64
    assert frame["flag"].dtype == bool and frame["maybe"].dtype == "boolean"
    assert isinstance(frame["city"].dtype, pd.CategoricalDtype) and list(frame["city"].cat.categories) == ["paris", "rome"]
    assert np.isnan(frame["x"][1]) and pd.isna(frame["city"][2]) and pd.isna(frame["maybe"][1])
    reference = pd.read_csv(path)
    np.testing.assert_array_equal(frame["x"].to_numpy(), reference["x"].to_numpy())
    assert frame["city"].astype(object).tolist()[:2] == reference["city"].tolist()[:2]


def test_real_csv_and_its_compressed_copies_read_the_same(data_root, tmp_path):
    original = data_root / "timeseries" / "pollution.csv"
    frame = read_table(original)
    reference = pd.read_csv(original)
    assert frame.shape == reference.shape == (43_824, 13)
    for column in reference.columns:
        if reference[column].dtype == object or pd.api.types.is_string_dtype(reference[column]):
            assert frame[column].astype(object).where(frame[column].notna(), None).tolist() == \
                reference[column].astype(object).where(reference[column].notna(), None).tolist()
        else:
            np.testing.assert_array_equal(frame[column].to_numpy(), reference[column].to_numpy())
    head = b"".join(original.read_bytes().splitlines(keepends=True)[:3001])  # header + 3000 rows
    (tmp_path / "p.csv").write_bytes(head)
    (tmp_path / "p.csv.gz").write_bytes(gzip.compress(head))
    (tmp_path / "p.csv.bz2").write_bytes(bz2.compress(head))
    plain = read_table(tmp_path / "p.csv")
    assert len(plain) == 3000 and plain["pm2.5"].isna().sum() == reference["pm2.5"][:3000].isna().sum()
    pd.testing.assert_frame_equal(read_table(tmp_path / "p.csv.gz"), plain)
    pd.testing.assert_frame_equal(read_table(tmp_path / "p.csv.bz2"), plain)


def test_quoted_csv_fields_with_commas_and_newlines(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('id,note\n1,"a, b"\n2,"two\nlines"\n')
    assert read_table(path)["note"].astype(str).tolist() == ["a, b", "two\nlines"]


def test_tsv_keeps_quotes_as_text_like_glue(data_root):
    frame = read_table(data_root / "sst2" / "dev.tsv")
    with open(data_root / "sst2" / "dev.tsv", newline="") as handle:
        rows = list(csv_module.reader(handle, delimiter="\t", quoting=csv_module.QUOTE_NONE))[1:]
    assert len(frame) == len(rows) == 6735
    assert frame["sentence"].astype(str).tolist() == [r[0] for r in rows]
    assert frame["label"].tolist() == [int(r[1]) for r in rows]


def test_parquet_and_jsonl_and_delimiter(tmp_path):
    expected = pd.DataFrame({"a": [1.5, None, 3.0], "b": [1, 2, 3], "c": ["x", "y", None]})
    expected.to_parquet(tmp_path / "t.parquet")
    frame = read_table(tmp_path / "t.parquet")
    np.testing.assert_array_equal(frame["a"].to_numpy(), expected["a"].to_numpy())
    assert frame["b"].tolist() == [1, 2, 3] and frame["c"].astype(object).tolist()[:2] == ["x", "y"]
    (tmp_path / "t.jsonl").write_text('{"a": 1.5, "b": true, "c": "x"}\n\n{"a": null, "b": false}\n{"a": 3, "c": "y"}\n')
    frame = read_table(tmp_path / "t.jsonl")
    assert frame["a"].tolist()[0] == 1.5 and np.isnan(frame["a"][1]) and frame["a"][2] == 3.0
    assert frame["b"].dtype == "boolean" and pd.isna(frame["b"][2]) and pd.isna(frame["c"][1])
    (tmp_path / "semi.txt").write_text("a;b\n1;2\n")
    assert read_table(tmp_path / "semi.txt", delimiter=";").to_dict("list") == {"a": [1], "b": [2]}


# -- arrays and IDX ---------------------------------------------------------------------------------
def test_npy_and_npz_round_trip(tmp_path):
    x = np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4))
    np.save(tmp_path / "x.npy", x)
    np.savez_compressed(tmp_path / "d.npz", inputs=x, targets=np.array([0, 1, 1]))
    np.testing.assert_array_equal(read_arrays(tmp_path / "x.npy")["inputs"], x)
    arrays = read_arrays(tmp_path / "d.npz")
    assert set(arrays) == {"inputs", "targets"} and arrays["targets"].tolist() == [0, 1, 1]
    np.testing.assert_array_equal(arrays["inputs"], x)


def write_idx(path, array: np.ndarray, code: int) -> None:
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    data = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


@pytest.mark.parametrize("code, dtype", [(0x08, np.uint8), (0x09, np.int8), (0x0B, np.int16), (0x0C, np.int32),
                                         (0x0D, np.float32), (0x0E, np.float64)])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_reads_every_element_type(tmp_path, code, dtype, suffix):
    array = (np.arange(24) - 5).reshape(2, 3, 4).astype(dtype)
    write_idx(tmp_path / f"a-idx3{suffix}", array, code)
    result = read_idx(tmp_path / f"a-idx3{suffix}")
    assert result.dtype == np.dtype(dtype) and result.shape == (2, 3, 4) and result.flags.writeable
    np.testing.assert_array_equal(result, array)


def test_mnist_idx_matches_its_raw_bytes(data_root):
    images = read_idx(data_root / "mnist" / "train-images-idx3-ubyte.gz", 3)
    raw = gzip.decompress((data_root / "mnist" / "train-images-idx3-ubyte.gz").read_bytes())
    assert images.shape == (60_000, 28, 28) and images.dtype == np.uint8
    assert images.tobytes() == raw[16:]
    labels = read_idx(data_root / "mnist" / "t10k-labels-idx1-ubyte.gz")
    assert labels.shape == (10_000,) and set(np.unique(labels)) == set(range(10))


# -- ARFF ---------------------------------------------------------------------------------------
def test_meka_scene_has_six_labels_first(data_root):
    data = read_arff(data_root / "multilabel" / "Scene.arff.bz2")
    assert data.frame.shape == (2407, 300) and data.label_count == 6
    assert data.label_names == ["beach", "sunset", "foliage", "field", "mountain", "urban"]
    assert len(data.feature_names) == 294 and data.feature_names[0] == "Att1"
    assert data.frame.iloc[0, :6].astype(int).tolist() == [1, 0, 0, 0, 1, 0]
    assert data.frame["Att1"][0] == pytest.approx(0.646467)


def test_yeast_matches_scipy(data_root):
    data = read_arff(data_root / "multilabel" / "Yeast.arff.bz2")
    text = bz2.decompress((data_root / "multilabel" / "Yeast.arff.bz2").read_bytes()).decode()
    reference, meta = scipy_arff.loadarff(io.StringIO(text))
    assert data.frame.shape == (2417, 117) and data.label_count == 14 and len(data.feature_names) == 103
    for name in meta.names():
        if meta[name][0] == "numeric":
            np.testing.assert_array_equal(data.frame[name].to_numpy(), reference[name])
        else:
            assert data.frame[name].astype(str).tolist() == [v.decode() for v in reference[name]]


HAND_ARFF = """% a comment
@RELATION 'tiny set: -C -2'

@attribute 'the width' numeric
@attribute colour {red, 'dark blue', green}
@attribute note string
@attribute a {0,1}
@attribute b {0,1}
% data follows
@data
1.5, red, 'hello, world', 1, 0
?, 'dark blue', ?, 0, 1
{0 2.5, 1 green, 4 1}
"""


def test_hand_written_arff_dense_sparse_quoted_and_missing(tmp_path):
    path = tmp_path / "tiny.arff"
    path.write_text(HAND_ARFF)
    data = read_arff(path)
    frame = data.frame
    assert data.relation == "tiny set: -C -2" and data.label_names == ["a", "b"] and data.label_count == 2
    assert data.feature_names == ["the width", "colour", "note"]
    assert data.nominal["colour"] == ["red", "dark blue", "green"] and data.types["note"] == "string"
    assert frame["the width"].tolist()[0] == 1.5 and np.isnan(frame["the width"][1]) and frame["the width"][2] == 2.5
    assert frame["colour"].astype(str).tolist() == ["red", "dark blue", "green"]
    assert frame["note"][0] == "hello, world" and pd.isna(frame["note"][1]) and frame["note"][2] == ""
    assert frame["a"].astype(str).tolist() == ["1", "0", "0"] and frame["b"].astype(str).tolist() == ["0", "1", "1"]


# -- SVMlight -------------------------------------------------------------------------------------
def test_ranking_file_matches_scikit_learn(data_root):
    path = data_root / "ranking" / "rank.train"
    data = read_svmlight(path)
    features, relevance = load_svmlight_file(str(path))
    assert data.features.shape == features.shape == (3005, 300) and data.features.dtype == np.float32
    np.testing.assert_array_equal(data.features, features.toarray().astype(np.float32))
    np.testing.assert_array_equal(data.relevance, relevance)
    counts = [int(line) for line in (data_root / "ranking" / "rank.train.query").read_text().split()]
    assert len(counts) == 201 and data.groups.max() + 1 == 201
    np.testing.assert_array_equal(data.groups, np.repeat(np.arange(201), counts))


def test_svmlight_qid_tokens_and_comments(tmp_path):
    path = tmp_path / "q.svm"
    path.write_text("# header comment\n2 qid:7 1:0.5 3:1 # doc a\n0 qid:7 2:2\n1 qid:3 1:1\n")
    data = read_svmlight(path)
    np.testing.assert_array_equal(data.features, [[0.5, 0, 1], [0, 2, 0], [1, 0, 0]])
    assert data.relevance.tolist() == [2, 0, 1] and data.groups.tolist() == [0, 0, 1] and not data.zero_based
    reference, _, qid = load_svmlight_file(str(path), query_id=True)
    np.testing.assert_array_equal(data.features, reference.toarray())
    assert qid.tolist() == [7, 7, 3]


# -- text ----------------------------------------------------------------------------------------
def test_text_lines_and_pairs_on_multi30k(data_root):
    lines = read_text_lines(data_root / "multi30k" / "train.en.gz")
    assert len(lines) == 29_000 and lines[0] == "Two young, White males are outside near many bushes."
    pairs = read_text_pairs(data_root / "multi30k")
    assert (pairs.source_language, pairs.target_language) == ("en", "de")
    assert {s: len(f) for s, f in pairs.splits.items()} == {"train": 29_000, "val": 1014, "test": 1000}
    assert pairs.splits["train"]["source"].tolist() == lines
    assert pairs.splits["test"]["target"][0] == read_text_lines(data_root / "multi30k" / "test_2016_flickr.de.gz")[0]
    reverse = read_text_pairs(data_root / "multi30k", source_language="de")
    assert reverse.splits["val"]["target"].tolist() == pairs.splits["val"]["source"].tolist()


def test_tinyshakespeare_lines(data_root):
    text = (data_root / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    assert read_text_lines(data_root / "tinyshakespeare" / "input.txt") == text.split("\n")[:-1]


def test_text_folder_and_table(tmp_path, data_root):
    for label, texts in {"neg": ["dull", "bad"], "pos": ["great"]}.items():
        (tmp_path / "docs" / label).mkdir(parents=True)
        for i, text in enumerate(texts):
            (tmp_path / "docs" / label / f"{i}.txt").write_text(text + "\n", encoding="utf-8")
    texts, labels, names = read_text_folder(tmp_path / "docs")
    assert (texts, labels.tolist(), names) == (["dull\n", "bad\n", "great\n"], [0, 0, 1], ["neg", "pos"])
    table = read_text_table(data_root / "sst2" / "test.tsv")
    assert list(table.columns) == ["text", "label"] and len(table) == 872
    assert table["text"][0] == "it 's a charming and often affecting journey . "


# -- infer_source --------------------------------------------------------------------------------
def test_infer_source_from_suffix_and_layout(data_root, tmp_path):
    expected = {
        "mnist": "mnist", "hymenoptera": "image-folder", "sst2": "text-tsv", "multi30k": "text-pairs",
        "ranking": "svmlight", "tinyshakespeare": "text-lines", "timeseries": None,
        "timeseries/pollution.csv": "csv", "sst2/dev.tsv": "text-tsv", "ranking/rank.test": "svmlight",
        "multilabel/Yeast.arff.bz2": "arff", "tinyshakespeare/input.txt": "text-lines",
    }
    assert {key: infer_source(data_root / key) for key in expected} == expected
    for name in ("t.parquet", "t.jsonl", "t.npz", "t.npy", "t.tsv", "t.svm", "t.unknown"):
        (tmp_path / name).write_text("a\tb\n")
    assert [infer_source(tmp_path / n) for n in ("t.parquet", "t.jsonl", "t.npz", "t.npy", "t.tsv", "t.svm", "t.unknown")] == [
        "parquet", "jsonl", "npz", "npz", "tsv", "svmlight", None]
    assert infer_source(tmp_path / "nowhere") is None
    folder = tmp_path / "idx"
    folder.mkdir()
    for name in ("emnist-train-images-idx3-ubyte.gz", "emnist-train-labels-idx1-ubyte.gz"):
        (folder / name).write_bytes(b"")
    assert infer_source(folder) == "idx"


# -- sources --------------------------------------------------------------------------------------
def test_table_aliases_read_the_same_data(tmp_path):
    frame = pd.DataFrame({"a": np.arange(30.0), "c": list("xyz") * 10, "y": np.arange(30) % 2})
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_csv(tmp_path / "t.tsv", index=False, sep="\t")
    frame.to_parquet(tmp_path / "t.parquet")
    frame.to_json(tmp_path / "t.jsonl", orient="records", lines=True)
    reference = source("csv", "classification", path=str(tmp_path / "t.csv"), target="y")
    for name, file in (("tsv", "t.tsv"), ("parquet", "t.parquet"), ("jsonl", "t.jsonl"), ("csv", "t.parquet")):
        raw = source(name, "classification", path=str(tmp_path / file), target="y")
        assert raw.class_names == reference.class_names == ["0", "1"] and raw.categorical == ["c"]
        assert raw.splits["train"].targets.tolist() == reference.splits["train"].targets.tolist()
        assert raw.splits["train"].inputs["a"].tolist() == frame["a"].tolist()
    bundle = load_data(DataConfig(source="parquet", path=str(tmp_path / "t.parquet"), target="y"),
                       target_kind="classification", seed=0)
    assert len(bundle.train) + len(bundle.val) + len(bundle.test) == 30


def test_csv_folder_keeps_its_split_files(tmp_path):
    for split, rows in (("train", 20), ("dev", 6), ("test", 8)):
        pd.DataFrame({"x": np.arange(rows, dtype=float), "y": ["a", "b"] * (rows // 2)}).to_csv(
            tmp_path / f"{split}.csv", index=False)
    raw = source("csv", "classification", path=str(tmp_path), target="y")
    assert {s: len(p) for s, p in raw.splits.items()} == {"train": 20, "val": 6, "test": 8}
    assert raw.class_names == ["a", "b"] and raw.splits["test"].targets.tolist() == [0, 1] * 4


def test_npz_source_tables_images_and_npy_pair(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "tab.npz", x=rng.normal(size=(40, 3)), y=rng.integers(0, 3, 40) * 10)
    raw = source("npz", "classification", path=str(tmp_path / "tab.npz"))
    assert raw.input_kind == "tabular" and raw.feature_names == ["x0", "x1", "x2"] and raw.class_names == ["0", "10", "20"]
    images = rng.integers(0, 256, size=(12, 8, 8)).astype(np.uint8)
    (tmp_path / "pair").mkdir()
    np.save(tmp_path / "pair" / "inputs.npy", images)
    np.save(tmp_path / "pair" / "targets.npy", rng.normal(size=12))
    raw = source("npz", "regression", path=str(tmp_path / "pair"))
    assert raw.input_kind == "image" and raw.splits["train"].inputs.shape == (12, 1, 8, 8)
    assert torch.equal(raw.splits["train"].inputs[:, 0], torch.from_numpy(images)) and raw.target_names == ["targets"]


def test_idx_source_reads_mnist(data_root):
    raw = source("idx", "classification", path=str(data_root / "mnist"))
    assert {s: tuple(p.inputs.shape) for s, p in raw.splits.items()} == {"train": (60_000, 1, 28, 28),
                                                                         "test": (10_000, 1, 28, 28)}
    assert raw.class_names == [str(d) for d in range(10)] and raw.input_kind == "image"


def test_arff_source_multilabel_and_single_label(data_root, tmp_path):
    raw = source("arff", "multilabel", path=str(data_root / "multilabel" / "Yeast.arff.bz2"))
    targets = raw.splits["train"].targets
    assert targets.shape == (2417, 14) and targets.dtype == np.int64 and raw.target_names[0] == "Class1"
    assert raw.feature_names[:2] == ["Att1", "Att2"] and len(raw.feature_names) == 103
    assert targets[0].tolist() == [0, 0, 1, 1] + [0] * 10  # the first data line of Yeast
    (tmp_path / "one.arff").write_text("@relation r\n@attribute x numeric\n@attribute kind {b,a}\n@data\n1,a\n2,b\n3,a\n")
    raw = source("arff", "classification", path=str(tmp_path / "one.arff"))
    assert raw.class_names == ["b", "a"] and raw.splits["train"].targets.tolist() == [1, 0, 1]


def test_svmlight_source_keeps_queries_together(data_root):
    raw = source("svmlight", "ranking", path=str(data_root / "ranking"))
    assert {s: len(p) for s, p in raw.splits.items()} == {"train": 3005, "test": 768}
    assert raw.description["queries"] == {"train": 201, "test": 50}
    assert raw.splits["test"].inputs.shape[1] == raw.splits["train"].inputs.shape[1] == raw.description["num_features"]


def test_text_sources(data_root, tmp_path):
    raw = source("text-tsv", "classification", path=str(data_root / "sst2"))
    assert raw.input_kind == "text" and raw.class_names == ["0", "1"]
    assert {s: len(p) for s, p in raw.splits.items()} == {"train": 60_614, "val": 6735, "test": 872}
    raw = source("text-pairs", "sequence-to-sequence", path=str(data_root / "multi30k"))
    assert list(raw.splits["val"].inputs.columns) == ["source", "target"]
    assert raw.splits["val"].targets.tolist() == list(range(1014))
    raw = source("text-lines", "language-model", path=str(data_root / "tinyshakespeare"))
    assert len(raw.splits["train"]) == 40_000 and raw.splits["train"].inputs["text"][0] == "First Citizen:"
    (tmp_path / "train" / "b").mkdir(parents=True)
    (tmp_path / "train" / "b" / "1.txt").write_text("bee")
    (tmp_path / "test" / "a").mkdir(parents=True)
    (tmp_path / "test" / "a" / "1.txt").write_text("ant")
    raw = source("text-folder", "classification", path=str(tmp_path))
    assert raw.class_names == ["a", "b"] and raw.splits["train"].targets.tolist() == [1]
    assert raw.splits["test"].targets.tolist() == [0]


@pytest.fixture()
def labelled_images(data_root, tmp_path):
    """Four real JPEGs per class in images/, and a label CSV naming them."""
    (tmp_path / "images").mkdir()
    rows = []
    for label in ("ants", "bees"):
        for path in sorted((data_root / "hymenoptera" / "train" / label).glob("*.jpg"))[:4]:
            shutil.copy(path, tmp_path / "images" / path.name)
            rows.append({"image": f"images/{path.name}", "class": label})
    pd.DataFrame(rows).to_csv(tmp_path / "labels.csv", index=False)
    return tmp_path


def test_image_csv_decodes_like_the_image_decoder(labelled_images):
    raw = source("image-csv", "classification", path=str(labelled_images), image_size=24)
    assert raw.class_names == ["ants", "bees"] and raw.splits["train"].targets.tolist() == [0] * 4 + [1] * 4
    names = pd.read_csv(labelled_images / "labels.csv")["image"]
    expected, _, _ = decode_images([labelled_images / n for n in names], size=(24, 24), channels="rgb")
    assert torch.equal(raw.splits["train"].inputs, expected)
    assert infer_source(labelled_images) == "image-csv"


def test_image_csv_integer_labels_index_classes_txt(labelled_images):
    frame = pd.read_csv(labelled_images / "labels.csv")
    frame.assign(**{"class": np.where(frame["class"] == "ants", 1, 0)}).to_csv(labelled_images / "labels.csv", index=False)
    (labelled_images / "classes.txt").write_text("bees\nants\nwasps\n")
    raw = source("image-csv", "classification", path=str(labelled_images / "labels.csv"), image_size=16)
    assert raw.class_names == ["bees", "ants", "wasps"] and raw.splits["train"].targets.tolist() == [1] * 4 + [0] * 4


# -- the bundle contract through load_data ------------------------------------------------------------
def _contract_data(name: str, data_root, tmp_path) -> tuple[DataConfig, str]:
    frame = pd.DataFrame({"a": np.arange(40.0), "c": list("xyzw") * 10, "y": np.arange(40) % 2})
    if name in ("tsv", "parquet", "jsonl"):
        path = tmp_path / f"t.{name}"
        {"tsv": lambda: frame.to_csv(path, sep="\t", index=False), "parquet": lambda: frame.to_parquet(path),
         "jsonl": lambda: frame.to_json(path, orient="records", lines=True)}[name]()
        return DataConfig(source=name, path=str(path), target="y"), "classification"
    if name == "npz":
        np.savez(tmp_path / "n.npz", inputs=np.random.default_rng(0).normal(size=(40, 3)), targets=np.arange(40) % 2)
        return DataConfig(source=name, path=str(tmp_path / "n.npz")), "classification"
    if name == "idx":
        images = np.random.default_rng(0).integers(0, 256, (40, 6, 6)).astype(np.uint8)
        write_idx(tmp_path / "train-images-idx3-ubyte.gz", images, 0x08)
        write_idx(tmp_path / "train-labels-idx1-ubyte.gz", (np.arange(40) % 2).astype(np.uint8), 0x08)
        return DataConfig(source=name, path=str(tmp_path)), "classification"
    if name == "arff":
        rows = "".join(f"{i},{'ab'[i % 2]}\n" for i in range(40))
        (tmp_path / "a.arff").write_text("@relation r\n@attribute x numeric\n@attribute k {a,b}\n@data\n" + rows)
        return DataConfig(source=name, path=str(tmp_path / "a.arff")), "classification"
    if name == "svmlight":
        (tmp_path / "r.svm").write_text("".join(f"{i % 3} qid:{i // 4} 1:{i} 3:{i % 5}\n" for i in range(40)))
        return DataConfig(source=name, path=str(tmp_path / "r.svm")), "regression"
    rows = []
    for label in ("ants", "bees"):
        for path in sorted((data_root / "hymenoptera" / "train" / label).glob("*.jpg"))[:6]:
            rows.append({"file": str(path), "label": label})  # absolute paths work too
    pd.DataFrame(rows).to_csv(tmp_path / "labels.csv", index=False)
    return DataConfig(source=name, path=str(tmp_path / "labels.csv"), image_size=16), "classification"


@pytest.mark.parametrize("name", ["tsv", "parquet", "jsonl", "npz", "idx", "arff", "svmlight", "image-csv"])
def test_sources_honour_the_bundle_contract(name, data_root, tmp_path):
    config, target_kind = _contract_data(name, data_root, tmp_path)
    bundle = load_data(config, target_kind=target_kind, seed=0)
    assert bundle.input_kind == DATASETS.entry(name).tags["input_kind"]
    for split in (bundle.train, bundle.val, bundle.test):
        assert len(split) > 0 and split.inputs.dtype == torch.float32 and torch.isfinite(split.inputs).all()
        assert tuple(split.inputs.shape[1:]) == bundle.input_shape
        if target_kind == "classification":
            assert split.targets.dtype == torch.int64 and int(split.targets.max()) < len(bundle.class_names)
        else:
            assert split.targets.shape == (len(split), len(bundle.target_names))
    assert bundle.description["source"] == name and bundle.description["fingerprints"]
