"""Text data: one sample per line, one folder per class, a table of text and label, aligned pairs.

Readers return Python strings; the sources (``text-lines``, ``text-folder``,
``text-tsv``, ``text-pairs``) wrap them in :class:`RawData` with input kind
"text": inputs are a DataFrame with a column "text" (pairs: "source" and
"target"). Tokenising is the task's business, not the reader's. Every file is
UTF-8 (plain, .gz or .bz2); a bad byte is named by file, line and byte offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from shendu.data.formats import Table, find_column, load_table, table_format
from shendu.data.formats_infer import LABEL_COLUMNS, TEXT_COLUMNS, text_pair_files
from shendu.data.formats_io import (
    SPLIT_NAMES, format_suffix, read_text, split_of, text_lines, visible_files,
)
from shendu.errors import DataError

TEXT_SUFFIXES = (".txt", "")  # text-folder samples; "" = no suffix


# -- readers --------------------------------------------------------------------------------
def read_text_lines(path: str | Path) -> list[str]:
    """The lines of a UTF-8 text file (plain, .gz or .bz2): one sample per line.

    Use it for corpora stored one sentence (or one document) per line. Empty
    lines are kept as empty samples, so line i is sample i (alignment with a
    parallel file survives); a final newline does not add a sample.

    Args:
        path: the file.
    """
    return text_lines(read_text(Path(path).expanduser()))


def _is_text_file(path: Path) -> bool:
    return path.is_file() and not path.name.startswith(".") and format_suffix(path) in TEXT_SUFFIXES


def read_text_folder(root: str | Path) -> tuple[list[str], np.ndarray, list[str]]:
    """One subfolder per class of .txt files (each file one sample) -> (texts, labels, class names).

    Use it for document classification sets laid out like aclImdb
    (``pos/*.txt``, ``neg/*.txt``). Class names are the sorted subfolder names;
    labels are int64 indices into them. Files are read in sorted order.

    Args:
        root: the folder holding the class subfolders.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"{root} is not a folder; expected one subfolder per class of .txt files.")
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{root} has no class subfolders; expected root/<class>/*.txt.")
    texts: list[str] = []
    labels: list[int] = []
    for index, folder in enumerate(classes):
        files = sorted(p for p in folder.iterdir() if _is_text_file(p))
        if not files:
            raise DataError(f"Class folder {folder} holds no .txt files; expected at least one sample per class.")
        for file in files:
            texts.append(read_text(file))
            labels.append(index)
    return texts, np.array(labels, dtype=np.int64), [c.name for c in classes]


def load_text_table(
    path: str | Path, text_column: str | None = None, label_column: str | None = None
) -> tuple[pd.DataFrame, Table]:
    """:func:`read_text_table`, plus the :class:`Table` read (each row's line, for messages)."""
    path = Path(path).expanduser()
    table = load_table(path, format=None if table_format(path) else "tsv")
    columns = list(table.frame.columns)
    text = find_column(columns, text_column, TEXT_COLUMNS, "the text column", path)
    if text is None:
        raise DataError(f"{path} has no column named sentence or text (columns: {', '.join(columns)}); "
                        "name the text column with data.features=[column].")
    label = find_column(columns, label_column, LABEL_COLUMNS, "data.target", path)
    out = pd.DataFrame({"text": table.frame[text].astype(object)})
    if label is not None:
        out["label"] = table.frame[label].astype(object)
    for column in out.columns:
        missing = out[column].isna().to_numpy()
        if missing.any():
            row = int(np.flatnonzero(missing)[0])
            raise DataError(f"{table.where(row)} has no {column} value ({int(missing.sum())} such row(s)); "
                            "expected one in every row. Fill or remove it.")
    out["text"] = out["text"].map(str)
    return out, table


def read_text_table(path: str | Path, text_column: str | None = None, label_column: str | None = None) -> pd.DataFrame:
    """A TSV / CSV (or Parquet / JSON Lines) of text and label -> DataFrame with columns "text" and "label".

    Use it for sentence classification sets such as SST-2 / GLUE. The text
    column defaults to the one named sentence or text, the label column to
    label or class; a table without a label column gives only "text". TSV
    fields are not quoted, so quotes inside sentences are kept. A row with a
    missing text or label raises an error naming its line.

    Args:
        path: the table file (.tsv, .csv, ...; .gz / .bz2 allowed).
        text_column: the column holding the text.
        label_column: the column holding the label.
    """
    return load_text_table(path, text_column, label_column)[0]


@dataclass
class TextPairs:
    """Aligned sentence pairs per split: line i of the source file translates line i of the target file.

    Args:
        splits: "train" / "val" / "test" -> DataFrame with columns "source" and "target".
        source_language, target_language: the language codes of the files ("en", "de").
        files: split -> (source file, target file).
    """

    splits: dict[str, pd.DataFrame]
    source_language: str
    target_language: str
    files: dict[str, tuple[Path, Path]]


def _languages(found: dict[str, dict[str, Path]], source: str | None, target: str | None, folder: Path) -> tuple[str, str]:
    languages = sorted({language for files in found.values() for language in files})
    if source is None or target is None:
        if len(languages) != 2:
            raise DataError(f"{folder} has files in languages {', '.join(languages) or 'none'}; expected exactly two "
                            "(e.g. train.en.gz and train.de.gz), or name them with data.features=[en] data.target=de.")
        if source is None and target is None:
            source = "en" if "en" in languages else languages[0]  # English is the usual source side
        source = source or next(language for language in languages if language != target)
        target = target or next(language for language in languages if language != source)
    for language in (source, target):
        if language not in languages:
            raise DataError(f"{folder} has no files in language {language!r}; found {', '.join(languages)}.")
    return source, target


def read_text_pairs(folder: str | Path, source_language: str | None = None,
                    target_language: str | None = None) -> TextPairs:
    """Aligned files ``<split>.<language>[.gz]`` (e.g. Multi30K's ``train.en.gz`` / ``train.de.gz``) -> pairs.

    Use it for translation and other sequence-to-sequence data. Split
    prefixes: train, val / valid / dev, test (a longer name such as
    ``test_2016_flickr`` counts as test when it is the only one). The two
    files of a split must have the same number of lines; an error names both
    files and their counts. With two languages and none named, English is the
    source when present, else the first in alphabetical order.

    Args:
        folder: the folder holding the files.
        source_language: the language code of the inputs (e.g. "en").
        target_language: the language code of the outputs (e.g. "de").
    """
    folder = Path(folder).expanduser()
    found = text_pair_files(visible_files(folder))
    if not found:
        names = ", ".join(p.name for p in visible_files(folder)[:8]) or "nothing"
        raise DataError(f"{folder} holds no files named <split>.<language>[.gz] (found {names}); expected e.g. "
                        "train.en.gz and train.de.gz.")
    source, target = _languages(found, source_language, target_language, folder)
    by_split: dict[str, list[str]] = {}
    for prefix in found:
        by_split.setdefault(split_of(prefix), []).append(prefix)
    prefixes = {}
    for split, options in by_split.items():
        best = [p for p in options if p.lower() in SPLIT_NAMES] or options
        if len(best) > 1:
            raise DataError(f"{folder} has {len(best)} {split} file sets ({', '.join(p + '.*' for p in best)}); "
                            "expected one. Move the others away.")
        prefixes[split] = best[0]
    splits, files = {}, {}
    for split, prefix in prefixes.items():
        pair = found[prefix]
        if source not in pair or target not in pair:
            have = next(iter(pair.values()))
            raise DataError(f"{have} has no partner: expected both {prefix}.{source}[.gz] and {prefix}.{target}[.gz].")
        source_lines, target_lines = read_text_lines(pair[source]), read_text_lines(pair[target])
        if len(source_lines) != len(target_lines):
            raise DataError(
                f"{pair[source]} has {len(source_lines)} lines but {pair[target]} has {len(target_lines)}; expected "
                "the same count (line i of one translates line i of the other). One file is damaged or from another split."
            )
        splits[split] = pd.DataFrame({"source": source_lines, "target": target_lines})
        files[split] = (pair[source], pair[target])
    splits = {split: splits[split] for split in ("train", "val", "test") if split in splits}
    if "train" not in splits:
        raise DataError(f"{folder} has pairs for {', '.join(splits)} but none for train; expected train.{source}[.gz].")
    return TextPairs(splits, source, target, files)


__all__ = ["read_text_lines", "read_text_folder", "read_text_table", "load_text_table", "read_text_pairs", "TextPairs"]
