"""``infer_source``: which registered source a file or folder's contents imply.

Decided by suffixes, file names and folder layout (and a table's header line),
never by reading whole files, so it is cheap on large data. Returns None when
the contents do not say; the caller then asks the user to set ``data.source``.
"""

from __future__ import annotations

import bz2
import gzip
import re
from pathlib import Path

from shendu.data.formats_io import base_name, format_suffix, split_of, visible_files
from shendu.data.formats_svmlight import default_query_path
from shendu.data.images import find_layout, is_image_file, looks_like_image_folder
from shendu.data.label_sets import LIST_COLUMNS

IDX_NAME = re.compile(r"^(?P<prefix>.*?)[-_.]?(?P<kind>images|labels)[-.]idx(?P<dims>\d)-ubyte(\.gz)?$", re.IGNORECASE)
TEXT_PAIR_NAME = re.compile(r"^(?P<prefix>[^.]+)\.(?P<language>[a-z]{2,3}(?:[-_][a-z]{2,4})?)$", re.IGNORECASE)
SVMLIGHT_LINE = re.compile(r"^\s*[-+]?[\d.eE+-]+(\s+qid:\d+)?(\s+\d+:\S+)+\s*(#.*)?$")
SUFFIX_SOURCES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet", ".pq": "parquet",
                  ".jsonl": "jsonl", ".ndjson": "jsonl", ".npy": "npz", ".npz": "npz", ".arff": "arff",
                  ".svm": "svmlight", ".svmlight": "svmlight", ".libsvm": "svmlight", ".txt": "text-lines"}
TEXT_COLUMNS = ("sentence", "text")
FILE_COLUMNS = ("file", "filename", "image", "path")
LABEL_COLUMNS = ("label", "class")


def first_line(path: Path) -> str:
    """The first line of a (maybe compressed) text file, or "" when it cannot be read."""
    opener = gzip.open if path.name.lower().endswith(".gz") else bz2.open if path.name.lower().endswith(".bz2") else open
    try:
        with opener(path, "rb") as handle:
            return handle.readline(1 << 16).decode("utf-8-sig", "replace").rstrip("\r\n")
    except (OSError, EOFError):
        return ""


def header_columns(path: Path) -> list[str]:
    """Lower-case column names from a CSV / TSV header line."""
    line = first_line(path)
    separator = "\t" if format_suffix(path) in (".tsv", ".tab") else ","
    return [c.strip().strip('"').lower() for c in line.split(separator)]


def _file_source(path: Path) -> str | None:
    suffix = format_suffix(path)
    if default_query_path(path).is_file():
        return "svmlight"
    source = SUFFIX_SOURCES.get(suffix)
    if source == "tsv" and any(c in TEXT_COLUMNS for c in header_columns(path)):
        return "text-tsv"
    if source is None and suffix in (".train", ".test", ".val", ".valid") and SVMLIGHT_LINE.match(first_line(path)):
        return "svmlight"  # LightGBM's rank.train / rank.test
    return source


def is_image_label_csv(path: Path) -> bool:
    """True for a CSV whose header has a file column and a label (or multilabel list: labels, tags) column."""
    columns = header_columns(path)
    return any(c in FILE_COLUMNS for c in columns) and any(c in LABEL_COLUMNS + LIST_COLUMNS for c in columns)


def _idx_source(files: list[Path]) -> str | None:
    names = {base_name(p) for p in files if p.name == base_name(p) or p.name.endswith(".gz")}
    if {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"} <= names:
        return "mnist"
    kinds = {m.group("kind").lower() for m in map(IDX_NAME.match, (p.name for p in files)) if m}
    return "idx" if kinds == {"images", "labels"} else None


def _text_folder(root: Path) -> bool:
    for folder in find_layout(root).values():
        classes = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
        if classes and all(any(f.suffix.lower() == ".txt" for f in c.iterdir()) for c in classes[:4]):
            return True
    return False


def text_pair_files(files: list[Path]) -> dict[str, dict[str, Path]]:
    """prefix -> {language: file} for the files named ``<split>.<language>[.gz]`` (``train.en.gz``)."""
    found: dict[str, dict[str, Path]] = {}
    for path in files:
        match = TEXT_PAIR_NAME.match(base_name(path))
        if match and split_of(match.group("prefix")) is not None:
            found.setdefault(match.group("prefix"), {})[match.group("language").lower()] = path
    return found


def _text_pairs(files: list[Path]) -> bool:
    found = text_pair_files(files)
    return any(len(languages) == 2 for languages in found.values()) and "train" in {split_of(p) for p in found}


def _folder_source(root: Path) -> str | None:
    files = visible_files(root)
    source = _idx_source(files)
    if source:
        return source
    # A CSV naming image files (with a label column, or 0/1 label columns) beside images: the image-csv layout.
    if any(format_suffix(p) == ".csv" and any(c in FILE_COLUMNS for c in header_columns(p)) for p in files) and any(
        is_image_file(p) for p in root.rglob("*")
    ):
        return "image-csv"
    if looks_like_image_folder(root):
        return "image-folder"
    if _text_folder(root):
        return "text-folder"
    if _text_pairs(files):
        return "text-pairs"
    if {"inputs.npy", "targets.npy"} <= {p.name for p in files}:
        return "npz"
    data = [p for p in files if not p.name.endswith(".query") and p.name != "classes.txt"]
    named = [p for p in data if split_of(p.name) is not None]
    candidates = named if any(split_of(p.name) == "train" for p in named) else (data if len(data) == 1 else [])
    sources = {_file_source(p) for p in candidates} - {None}
    return sources.pop() if len(sources) == 1 else None


def infer_source(path: str | Path) -> str | None:
    """The registered source name a file or folder's contents imply, or None.

    Files go by suffix (under .gz / .bz2): .csv -> csv, .tsv -> tsv (text-tsv
    when a column is named sentence or text), .parquet, .jsonl, .npy / .npz ->
    npz, .arff, .svm / .libsvm (or any file with a ``<name>.query`` beside it)
    -> svmlight, .txt -> text-lines. Folders go by layout: the four MNIST
    files -> mnist, other IDX images + labels -> idx, a CSV with a file column beside images
    -> image-csv, class subfolders of images -> image-folder (of .txt files ->
    text-folder), ``train.en`` + ``train.de`` -> text-pairs, inputs.npy +
    targets.npy -> npz, else split files ``train.*`` / ``val.*`` / ``test.*``
    (or one single data file) of one format -> that format's source.

    Args:
        path: a file or a folder.
    """
    path = Path(path).expanduser()
    if path.is_file():
        return _file_source(path)
    if path.is_dir():
        return _folder_source(path)
    return None


__all__ = ["infer_source", "first_line", "header_columns", "is_image_label_csv", "FILE_COLUMNS", "LABEL_COLUMNS",
           "TEXT_COLUMNS", "IDX_NAME", "TEXT_PAIR_NAME", "text_pair_files"]
