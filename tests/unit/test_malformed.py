"""Malformed input for every reader: a DataError naming the file and the position, and nothing written or lost.

Each case writes a small damaged file (truncated gzip / bzip2, ragged row,
unreadable image, label outside the class list, empty file, wrong magic,
corrupt binary), then checks three things: the message names the file and the
line / byte / sample; the input files are byte-identical afterwards; and
``shendu.train`` fails before creating any run directory (for formats a task
reads today; the language-model and translation sources, which no task reads
yet, are checked through their source).
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import re
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import shendu
import shendu.data.formats_sources  # noqa: F401  (registers npz, idx, arff, svmlight)
import shendu.data.image_table  # noqa: F401  (registers image-csv)
import shendu.data.text_sources  # noqa: F401  (registers the text sources)
from shendu.config import DataConfig
from shendu.data import DATASETS
from shendu.data.formats import read_arff, read_arrays, read_idx, read_svmlight, read_table
from shendu.data.text import read_text_lines, read_text_pairs
from shendu.errors import DataError


def snapshot(root: Path) -> dict[str, str]:
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def refused(root: Path, call: Callable[[], object], *patterns: str) -> str:
    """Run ``call``; expect a DataError matching every pattern, and ``root`` untouched."""
    before = snapshot(root)
    with pytest.raises(DataError) as caught:
        call()
    message = str(caught.value)
    for pattern in patterns:
        assert re.search(pattern, message), f"{pattern!r} not in: {message}"
    assert snapshot(root) == before, "the input files changed"
    return message


def train_refused(tmp_path: Path, root: Path, task: str, data: dict, *patterns: str) -> str:
    """``shendu.train`` on the damaged data: refused before any run directory exists."""
    runs = tmp_path / "runs"
    config = {"task": task, "data": data, "train": {"epochs": 1}}
    message = refused(root, lambda: shendu.train(config, output_dir=runs, progress="none"), *patterns)
    assert not runs.exists() or not any(runs.iterdir()), "a run directory was created"
    return message


def truncate(data: bytes, keep: float = 0.6) -> bytes:
    return data[: int(len(data) * keep)]


# -- tables ---------------------------------------------------------------------------------------
TABLE = "x,y\n1.5,a\n2.5,b\n3.5,a\n4.5,b\n"
ROWS = "x,y\n" + "1.5,a\n2.5,b\n" * 400


@pytest.mark.parametrize("name, content, patterns", [
    ("extra.csv", "a,b,y\n1,2,0\n3,4,1,9\n5,6,0\n", [r"extra\.csv: line 3 has 4 fields; the header \(line 1\) has 3"]),
    ("short.csv", "a,b,y\n1,2,0\n\n3,4\n5,6,0\n", [r"short\.csv: line 4 has 2 fields; the header \(line 1\) has 3"]),
    ("quoted.csv", 'a,b,y\n1,"x,\ny",0\n3,4\n', [r"quoted\.csv: line 4 has 2 fields"]),
    ("empty.csv", "", [r"empty\.csv is empty"]),
    ("blank.csv", "\n\n", [r"blank\.csv is empty"]),
    ("header.csv", "a,b,y\n", [r"header\.csv has a header \(line 1\) but no data rows"]),
    ("latin.csv", "a,y\n1,0\n\xe9,1\n".encode("latin-1"), [r"latin\.csv is not valid UTF-8: byte 8 \(line 3, column 1\)"]),
    ("notarget.csv", "a,y\n1,0\n2,\n3,1\n", [r"line 3 of .*notarget\.csv"]),
    ("ragged.tsv", "a\ty\n1\t0\n2\t1\t5\n", [r"ragged\.tsv: line 3 has 3 fields; the header \(line 1\) has 2"]),
    ("bad.jsonl", '{"a": 1, "y": 0}\n{"a": 2, "y": 1\n', [r"bad\.jsonl: line 2 is not valid JSON"]),
    ("list.jsonl", '{"a": 1, "y": 0}\n\n[2, 1]\n', [r"list\.jsonl: line 3 holds a JSON list; expected an object"]),
    ("empty.jsonl", "\n", [r"empty\.jsonl is empty"]),
])
def test_malformed_text_tables(tmp_path, name, content, patterns):
    path = tmp_path / "data" / name
    path.parent.mkdir()
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    source = {"csv": "csv", "tsv": "tsv", "jsonl": "jsonl"}[name.rsplit(".", 1)[1]]
    refused(path, lambda: read_table(path) if name != "notarget.csv" else
            DATASETS.entry("csv").constructor(DataConfig(path=str(path), target="y"), target_kind="classification"),
            *patterns)
    train_refused(tmp_path, path, "tabular-classification", {"source": source, "path": str(path), "target": "y"}, *patterns)


@pytest.mark.parametrize("compression", ["gz", "bz2"])
def test_truncated_compressed_table(tmp_path, compression):
    path = tmp_path / "data" / f"t.csv.{compression}"
    path.parent.mkdir()
    compress = gzip.compress if compression == "gz" else bz2.compress
    path.write_bytes(truncate(compress(ROWS.encode())))
    kind = "gzip" if compression == "gz" else "bzip2"
    patterns = [rf"t\.csv\.{compression} is a truncated {kind} file: the compressed data stops at byte {path.stat().st_size}"]
    train_refused(tmp_path, path, "tabular-classification", {"path": str(path), "target": "y"}, *patterns)


def test_corrupt_gzip_member_is_located(tmp_path):
    data = bytearray(gzip.compress(ROWS.encode()))
    data[len(data) // 2] ^= 0xFF  # flip bits inside the deflate stream
    path = tmp_path / "c.csv.gz"
    path.write_bytes(bytes(data))
    refused(path, lambda: read_table(path), r"c\.csv\.gz is (corrupt|a truncated gzip file)", r"byte")


def test_split_files_with_different_columns_name_the_file(tmp_path):
    (tmp_path / "train.csv").write_text(TABLE)
    (tmp_path / "test.csv").write_text("x,z\n1,2\n")
    train_refused(tmp_path, tmp_path, "tabular-classification", {"source": "csv", "path": str(tmp_path), "target": "y"},
                  r"test\.csv has different columns from .*train\.csv \(extra: z; missing: y\)")


def test_split_file_with_text_in_a_numeric_column_names_the_line(tmp_path):
    (tmp_path / "train.csv").write_text(TABLE)
    (tmp_path / "test.csv").write_text("x,y\n1.0,a\noops,b\n")
    train_refused(tmp_path, tmp_path, "tabular-classification", {"source": "csv", "path": str(tmp_path), "target": "y"},
                  r"'oops' on line 3 of .*test\.csv")


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_corrupt_parquet_names_the_file_and_pyarrow(tmp_path, damage):
    path = tmp_path / "data" / "t.parquet"
    path.parent.mkdir()
    pd.read_csv(io.StringIO(ROWS)).to_parquet(path)
    path.write_bytes({"truncated": truncate(path.read_bytes()), "garbage": b"not parquet at all" * 10, "empty": b""}[damage])
    pattern = r"t\.parquet is empty \(0 bytes\)" if damage == "empty" else r"Cannot read Parquet file .*t\.parquet: pyarrow says: "
    train_refused(tmp_path, path, "tabular-classification", {"source": "parquet", "path": str(path), "target": "y"}, pattern)


# -- NumPy arrays ----------------------------------------------------------------------------------------
def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@pytest.mark.parametrize("damage, pattern", [
    ("truncated", r"inputs\.npy is truncated: its header promises 1728 bytes \(shape \(20, 10\), float64\), the file holds \d+"),
    ("magic", r"inputs\.npy is not a NumPy \.npy array: bytes 0-5 are"),
    ("empty", r"inputs\.npy is not a NumPy \.npy array: bytes 0-5 are missing"),
])
def test_damaged_npy_pair(tmp_path, damage, pattern):
    folder = tmp_path / "arrays"
    folder.mkdir()
    data = _npy_bytes(np.random.default_rng(0).normal(size=(20, 10)))
    (folder / "inputs.npy").write_bytes({"truncated": data[:-100], "magic": b"PNG" + data[3:], "empty": b""}[damage])
    np.save(folder / "targets.npy", np.arange(20) % 2)
    train_refused(tmp_path, folder, "tabular-classification", {"source": "npz", "path": str(folder)}, pattern)


def test_pickled_npz_is_refused_with_the_reason(tmp_path):
    path = tmp_path / "p.npz"
    np.savez(path, inputs=np.array([{"a": 1}, {"b": 2}], dtype=object), targets=np.array([0, 1]))
    message = train_refused(tmp_path, path, "tabular-classification", {"source": "npz", "path": str(path)},
                            r"p\.npz \(array 'inputs'\) holds an array of Python objects")
    assert "arbitrary code" in message
    refused(path, lambda: read_arrays(path), r"refuses pickled arrays")


def test_truncated_npz_archive(tmp_path):
    path = tmp_path / "t.npz"
    np.savez(path, inputs=np.zeros((50, 4)), targets=np.zeros(50))
    path.write_bytes(truncate(path.read_bytes()))
    train_refused(tmp_path, path, "tabular-classification", {"source": "npz", "path": str(path)},
                  r"t\.npz is a truncated or corrupt \.npz archive")


# -- IDX -------------------------------------------------------------------------------------------------------
def _idx(array: np.ndarray) -> bytes:
    return bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape) + array.tobytes()


@pytest.fixture()
def idx_folder(tmp_path) -> Path:
    """A tiny MNIST-style folder: 20 train and 10 test images of 8x8."""
    folder = tmp_path / "digits"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for prefix, count in (("train", 20), ("t10k", 10)):
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(_idx(rng.integers(0, 256, (count, 8, 8)).astype(np.uint8))))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx(np.arange(count, dtype=np.uint8) % 3)))
    return folder


@pytest.mark.parametrize("damage, pattern", [
    ("truncated gzip", r"train-images-idx3-ubyte\.gz is a truncated gzip file: the compressed data stops at byte \d+"),
    ("wrong magic", r"train-images-idx3-ubyte\.gz is not an IDX file: bytes 0-3 \(the magic number\) are 00000503"),
    ("size mismatch", r"train-images-idx3-ubyte\.gz is truncated: its header promises 1296 bytes \(shape \(20, 8, 8\), "
                      r"uint8\), the file holds 1286"),
    ("empty", r"train-images-idx3-ubyte\.gz ends in \.gz but is not gzip data: byte 0 starts with nothing"),
])
def test_damaged_idx_files(tmp_path, idx_folder, damage, pattern):
    path = idx_folder / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes({
        "truncated gzip": truncate(path.read_bytes()), "wrong magic": gzip.compress(b"\x00\x00\x05\x03" + raw[4:]),
        "size mismatch": gzip.compress(raw[:-10]), "empty": b"",
    }[damage])
    refused(path, lambda: read_idx(path), pattern)
    train_refused(tmp_path, idx_folder, "image-classification", {"source": "idx", "path": str(idx_folder)}, pattern)


def test_idx_label_count_mismatch_names_both_files(tmp_path, idx_folder):
    (idx_folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx(np.zeros(9, dtype=np.uint8))))
    train_refused(tmp_path, idx_folder, "image-classification", {"source": "idx", "path": str(idx_folder)},
                  r"t10k-images-idx3-ubyte\.gz holds 10 images but t10k-labels-idx1-ubyte\.gz holds 9 labels")


# -- ARFF ---------------------------------------------------------------------------------------------------------
ARFF = "@relation r\n@attribute x numeric\n@attribute kind {a,b}\n@data\n1,a\n2,b\n3,a\n4,b\n"


@pytest.mark.parametrize("name, content, pattern", [
    ("nominal.arff", ARFF.replace("3,a", "3,c"), r"nominal\.arff: line 7, attribute 'kind': 'c' is not one of its declared values"),
    ("count.arff", ARFF.replace("2,b", "2,b,9"), r"count\.arff: line 6 has 3 values; the header declares 2 attributes"),
    ("number.arff", ARFF.replace("4,b", "four,b"), r"number\.arff: line 8, attribute 'x': 'four' is not a number"),
    ("sparse.arff", ARFF + "{5 1}\n", r"sparse\.arff: line 9 has the sparse entry '5 1'"),
    ("nodata.arff", "@relation r\n@attribute x numeric\n", r"nodata\.arff has no @data line"),
    ("empty.arff", "", r"empty\.arff is empty"),
    ("labels.arff", ARFF.replace("@relation r", "@relation 'r: -C 5'"), r"labels\.arff: the relation .* declares 5 labels"),
])
def test_malformed_arff(tmp_path, name, content, pattern):
    path = tmp_path / name
    path.write_text(content)
    refused(path, lambda: read_arff(path), pattern)
    train_refused(tmp_path, path, "tabular-classification", {"source": "arff", "path": str(path)}, pattern)


def test_truncated_bz2_arff(tmp_path, data_root):
    path = tmp_path / "Yeast.arff.bz2"
    path.write_bytes(truncate((data_root / "multilabel" / "Yeast.arff.bz2").read_bytes(), 0.3))
    refused(path, lambda: read_arff(path), r"Yeast\.arff\.bz2 is a truncated bzip2 file: the compressed data stops at byte")


# -- SVMlight ------------------------------------------------------------------------------------------------------
SVM = "2 1:0.5 3:1\n0 2:2\n1 1:1 2:0.5\n0 3:3\n"


@pytest.mark.parametrize("damage, pattern", [
    ("token", r"d\.svm: line 3 has the token '2=0\.5'; expected index:value"),
    ("label", r"d\.svm: line 2 has the token 'zero'; expected a number \(the label\) first"),
    ("query", r"d\.svm\.query lists 2 queries holding 5 documents in all, but .*d\.svm has 4 lines"),
    ("empty", r"d\.svm is empty \(no data lines\)"),
])
def test_malformed_svmlight(tmp_path, damage, pattern):
    folder = tmp_path / "rank"
    folder.mkdir()
    path = folder / "d.svm"
    path.write_text({"token": SVM.replace("2:0.5", "2=0.5"), "label": SVM.replace("0 2:2", "zero 2:2"),
                     "query": SVM, "empty": "# only a comment\n"}[damage])
    (folder / "d.svm.query").write_text("2\n3\n" if damage == "query" else "2\n2\n")
    refused(folder, lambda: read_svmlight(path), pattern)
    train_refused(tmp_path, folder, "regression", {"source": "svmlight", "path": str(path)}, pattern)


def test_truncated_gzip_svmlight(tmp_path, data_root):
    path = tmp_path / "rank.train.gz"
    head = b"".join((data_root / "ranking" / "rank.train").read_bytes().splitlines(keepends=True)[:200])
    path.write_bytes(truncate(gzip.compress(head)))
    refused(path, lambda: read_svmlight(path), r"rank\.train\.gz is a truncated gzip file")


# -- images ------------------------------------------------------------------------------------------------------------
@pytest.fixture()
def labelled(data_root, tmp_path) -> Path:
    """Three real JPEGs per class and a labels.csv naming them by file and class."""
    root = tmp_path / "shots"
    (root / "images").mkdir(parents=True)
    lines = ["file,label"]
    for label in ("ants", "bees"):
        for path in sorted((data_root / "hymenoptera" / "train" / label).glob("*.jpg"))[:3]:
            shutil.copy(path, root / "images" / path.name)
            lines.append(f"images/{path.name},{label}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root


def _edit_labels(root: Path, row: int, new: Callable[[str], str]) -> None:
    """Replace line ``row`` (0 = the header) of labels.csv by ``new(old line)``."""
    lines = (root / "labels.csv").read_text().splitlines()
    lines[row] = new(lines[row])
    (root / "labels.csv").write_text("\n".join(lines) + "\n")


def _image_data(root: Path) -> dict:
    return {"source": "image-csv", "path": str(root), "image_size": 16}


def test_image_listed_but_missing(tmp_path, labelled):
    _edit_labels(labelled, 3, lambda line: "images/gone.jpg,ants")
    train_refused(tmp_path, labelled, "image-classification", _image_data(labelled),
                  r"line 4 of .*labels\.csv names image 'images/gone\.jpg', which does not exist")


def test_unreadable_image_names_the_file_and_its_line(tmp_path, labelled):
    (labelled / "images" / "broken.jpg").write_bytes(b"not a jpeg" * 20)
    _edit_labels(labelled, 5, lambda line: "images/broken.jpg,bees")
    train_refused(tmp_path, labelled, "image-classification", _image_data(labelled),
                  r"Cannot read image .*broken\.jpg \(listed on line 6 of .*labels\.csv\)", r"data\.on_error=skip")


def test_unreadable_image_in_an_image_folder(tmp_path, data_root):
    root = tmp_path / "folder"
    for label in ("ants", "bees"):
        (root / label).mkdir(parents=True)
        for path in sorted((data_root / "hymenoptera" / "train" / label).glob("*.jpg"))[:2]:
            shutil.copy(path, root / label / path.name)
    (root / "bees" / "zz.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 30)  # a PNG signature, then nothing
    train_refused(tmp_path, root, "image-classification", {"source": "image-folder", "path": str(root), "image_size": 16},
                  r"Cannot read image .*bees/zz\.png")


def test_label_outside_the_class_list(tmp_path, labelled):
    (labelled / "classes.txt").write_text("ants\nbees\n")
    _edit_labels(labelled, 2, lambda line: line.rsplit(",", 1)[0] + ",wasps")
    train_refused(tmp_path, labelled, "image-classification", _image_data(labelled),
                  r"Label 'wasps' on line 3 of .*labels\.csv is not one of the 2 classes in .*classes\.txt")


def test_ragged_label_csv(tmp_path, labelled):
    _edit_labels(labelled, 1, lambda line: line + ",extra")
    train_refused(tmp_path, labelled, "image-classification", _image_data(labelled),
                  r"labels\.csv: line 2 has 3 fields; the header \(line 1\) has 2")


# -- text --------------------------------------------------------------------------------------------------------------------
# No task reads text yet: through shendu.train the task layer refuses text data before any file is read,
# so the text readers' own errors are checked through their sources.
def _call_source(name: str, **options) -> Callable[[], object]:
    kind = DATASETS.entry(name).tags["target_kinds"][0]
    return lambda: DATASETS.entry(name).constructor(DataConfig(**options), target_kind=kind)


def test_text_data_through_a_task_is_refused_before_any_run_directory(tmp_path, data_root):
    root = data_root / "sst2"
    train_refused(tmp_path, root, "tabular-classification", {"source": "text-tsv", "path": str(root)}, r"text")


def test_text_table_ragged_label_outside_classes_and_missing_label(tmp_path):
    folder = tmp_path / "sst"
    folder.mkdir()
    (folder / "train.tsv").write_text("sentence\tlabel\ngood film\t1\nbad film\t0\nodd \"quote\tthing\t2\n")
    (folder / "classes.txt").write_text("negative\npositive\n")
    load = _call_source("text-tsv", path=str(folder))
    refused(folder, load, r"train\.tsv: line 4 has 3 fields")
    (folder / "train.tsv").write_text("sentence\tlabel\ngood film\t1\nbad film\t0\nodd film\t2\n")
    refused(folder, load, r"Label '2' on line 4 of .*train\.tsv is not one of the 2 classes in .*classes\.txt")
    (folder / "train.tsv").write_text("sentence\tlabel\ngood film\t1\nbad film\t\n")
    refused(folder, load, r"line 3 of .*train\.tsv has no label value")


def test_text_folder_bad_encoding_and_empty_class(tmp_path):
    root = tmp_path / "docs"
    (root / "neg").mkdir(parents=True)
    (root / "pos").mkdir()
    (root / "neg" / "a.txt").write_text("fine\n")
    (root / "pos" / "b.txt").write_bytes("great\ncaf\xe9\n".encode("latin-1"))
    load = _call_source("text-folder", path=str(root))
    refused(root, load, r"b\.txt is not valid UTF-8: byte 9 \(line 2, column 4\)")
    (root / "pos" / "b.txt").unlink()
    refused(root, load, r"Class folder .*pos holds no \.txt files")


def test_text_lines_truncated_gzip_bad_encoding_and_empty(tmp_path):
    path = tmp_path / "corpus.txt.gz"
    path.write_bytes(truncate(gzip.compress(("a line of text\n" * 400).encode())))
    refused(path, lambda: read_text_lines(path), r"corpus\.txt\.gz is a truncated gzip file")
    refused(path, _call_source("text-lines", path=str(path)), r"corpus\.txt\.gz is a truncated gzip file")
    path = tmp_path / "latin.txt"
    path.write_bytes("one\ntwo\nthr\xe9e\n".encode("latin-1"))
    refused(path, _call_source("text-lines", path=str(path)), r"latin\.txt is not valid UTF-8: byte 11 \(line 3, column 4\)")
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    refused(path, _call_source("text-lines", path=str(path)), r"empty\.txt is empty")


def test_text_pairs_with_different_line_counts_name_both_files(tmp_path, data_root):
    folder = tmp_path / "pairs"
    folder.mkdir()
    for name in ("train.en.gz", "train.de.gz"):
        shutil.copy(data_root / "multi30k" / name.replace("train", "val"), folder / name)
    (folder / "val.en").write_text("one\ntwo\nthree\n")
    (folder / "val.de").write_text("eins\nzwei\n")
    pattern = r"val\.en has 3 lines but .*val\.de has 2"
    refused(folder, lambda: read_text_pairs(folder), pattern)
    refused(folder, _call_source("text-pairs", path=str(folder)), pattern)
    (folder / "val.de").write_bytes(truncate(gzip.compress(b"eins\nzwei\ndrei\n" * 100)))
    (folder / "val.de").rename(folder / "val.de.gz")
    refused(folder, lambda: read_text_pairs(folder), r"val\.de\.gz is a truncated gzip file")
