"""The text sources: ``text-lines``, ``text-folder``, ``text-tsv`` and ``text-pairs``.

Each returns :class:`RawData` with input kind "text" and inputs as a
DataFrame: column "text" (pairs: "source" and "target"). Classification
sources give class indices; the others give row ids as targets, since the
text itself is what a language or translation model learns to produce.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from shendu.data.formats import table_format
from shendu.data.formats_io import (
    combined_fingerprint, data_path, encode_labels, find_split_files, fingerprints, first_target, format_suffix,
    read_class_list, sorted_class_names,
)
from shendu.data.images import find_layout
from shendu.data.registry import DATASETS
from shendu.data.splits import RawData, RawSplit
from shendu.data.text import load_text_table, read_text_folder, read_text_lines, read_text_pairs
from shendu.errors import DataError

LINE_SUFFIXES = (".txt", ".tokens", ".raw", "")


def _row_ids(frame: pd.DataFrame) -> RawSplit:
    return RawSplit(frame, np.arange(len(frame), dtype=np.int64))


@DATASETS.register("text-lines", input_kind="text", target_kinds=("language-model",))
def text_lines(config: Any, *, target_kind: str = "language-model") -> RawData:
    """A text corpus, one sample per line (UTF-8, plain / .gz / .bz2): for language modelling.

    Use it for character- or word-level language models (tinyshakespeare,
    WikiText). ``data.path`` is a file, or a folder of split files
    ``train.txt`` / ``valid.txt`` / ``test.txt`` (also ``ptb.train.txt``).
    Inputs are a DataFrame with column "text", one row per line (empty lines
    kept). Targets are row ids 0..N-1 (int64), not labels: a language model's
    targets are the text itself, cut into sequences by the task.

    Args:
        config: the run's ``DataConfig`` (path).
        target_kind: "language-model".
    """
    path = data_path(config, "text-lines", "path/to/corpus.txt")
    files = {"train": path} if path.is_file() else find_split_files(
        path, lambda p: format_suffix(p) in LINE_SUFFIXES, "text")
    splits = {split: _row_ids(pd.DataFrame({"text": read_text_lines(file)})) for split, file in files.items()}
    for split, part in splits.items():
        if len(part) == 0:
            raise DataError(f"{files[split]} is empty; expected one sample per line.")
    return RawData("text", splits, description={
        "source": "text-lines", "path": str(path), "targets": "row ids (language modelling reads the text itself)",
        "lines": {split: len(part) for split, part in splits.items()}, "fingerprints": fingerprints(files.values()),
    })


@DATASETS.register("text-folder", input_kind="text", target_kinds=("classification",))
def text_folder(config: Any, *, target_kind: str = "classification") -> RawData:
    """Text files in class subfolders: ``root/<class>/*.txt`` or ``root/{train,val,test}/<class>/*.txt``.

    Use it for document classification laid out like aclImdb (one file per
    review, one folder per sentiment). Each file is one sample (its whole
    UTF-8 text); class names are the sorted subfolder names over all splits.

    Args:
        config: the run's ``DataConfig`` (path).
        target_kind: "classification".
    """
    root = data_path(config, "text-folder", "path/to/texts")
    if not root.is_dir():
        raise DataError(f"data.path {root} is a file; the text-folder source expects a folder of class subfolders.")
    parts = {split: read_text_folder(folder) for split, folder in find_layout(root).items()}
    class_names = sorted({name for _, _, names in parts.values() for name in names})
    splits = {}
    for split, (texts, labels, names) in parts.items():
        remap = np.array([class_names.index(n) for n in names], dtype=np.int64)
        splits[split] = RawSplit(pd.DataFrame({"text": texts}), remap[labels])
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    return RawData("text", splits, class_names=class_names, description={
        "source": "text-folder", "path": str(root), "num_files": len(files),
        "fingerprints": {"texts": combined_fingerprint(fingerprints(files, root).items())},  # one digest, not one per file
    })


@DATASETS.register("text-tsv", input_kind="text", target_kinds=("classification",))
def text_tsv(config: Any, *, target_kind: str = "classification") -> RawData:
    """A table of text and label (TSV / CSV): sentence classification such as SST-2.

    Use it for GLUE-style data. ``data.path`` is a file, or a folder of split
    files ``train.tsv`` / ``dev.tsv`` (-> val) / ``test.tsv``. The text column
    is the one named sentence or text (or ``data.features: [column]``), the
    label column label / class (or ``data.target``). Class names are the
    sorted distinct labels, or the lines of a ``classes.txt`` beside the
    files, in which case a label outside that list is an error naming its line.

    Args:
        config: the run's ``DataConfig`` (path, target, features).
        target_kind: "classification".
    """
    path = data_path(config, "text-tsv", "path/to/train.tsv")
    files = {"train": path} if path.is_file() else find_split_files(path, lambda p: table_format(p) is not None, "text table")
    text_column = config.features[0] if config.features else None
    label_column = first_target(config)
    tables = {split: load_text_table(file, text_column, label_column) for split, file in files.items()}
    for frame, table in tables.values():
        if "label" not in frame.columns:
            raise DataError(f"{table.path} has no label column (columns: {', '.join(table.frame.columns)}); "
                            "expected one named label or class, or set data.target.")
    declared = read_class_list(files["train"].parent)
    class_names = declared[0] if declared else sorted_class_names(
        [v for frame, _ in tables.values() for v in frame["label"].tolist()])
    splits = {
        split: RawSplit(frame[["text"]], encode_labels(frame["label"].tolist(), class_names, table.where,
                                                        declared[1] if declared else None))
        for split, (frame, table) in tables.items()
    }
    return RawData("text", splits, class_names=class_names, description={
        "source": "text-tsv", "path": str(path), "files": {s: str(f) for s, f in files.items()},
        "fingerprints": fingerprints(files.values()),
    })


@DATASETS.register("text-pairs", input_kind="text", target_kinds=("sequence-to-sequence",))
def text_pairs(config: Any, *, target_kind: str = "sequence-to-sequence") -> RawData:
    """Aligned sentence files ``<split>.<language>[.gz]``: translation pairs such as Multi30K.

    Use it for sequence-to-sequence data. ``data.path`` is the folder;
    ``data.features: [en]`` and ``data.target: de`` name the source and target
    languages (default: English as source when present). Inputs are a
    DataFrame with columns "source" and "target"; targets are row ids 0..N-1,
    since the target sentence itself is what the model learns to produce.
    Files of one split must have the same number of lines.

    Args:
        config: the run's ``DataConfig`` (path, features, target).
        target_kind: "sequence-to-sequence".
    """
    folder = data_path(config, "text-pairs", "path/to/multi30k")
    if not folder.is_dir():
        raise DataError(f"data.path {folder} is a file; the text-pairs source expects the folder of aligned files.")
    pairs = read_text_pairs(folder, config.features[0] if config.features else None, first_target(config))
    files = [file for pair in pairs.files.values() for file in pair]
    return RawData("text", {split: _row_ids(frame) for split, frame in pairs.splits.items()}, description={
        "source": "text-pairs", "path": str(folder), "languages": [pairs.source_language, pairs.target_language],
        "targets": "row ids (the target sentences are in the inputs' target column)",
        "files": {split: [str(a), str(b)] for split, (a, b) in pairs.files.items()},
        "fingerprints": fingerprints(files),
    })


__all__ = ["text_lines", "text_folder", "text_tsv", "text_pairs"]
