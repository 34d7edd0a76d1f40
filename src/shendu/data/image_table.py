"""The ``image-csv`` source: a folder of images plus a CSV naming each image's label (or labels).

The layout of Kaggle-style image sets (``train.csv`` with ``id,label`` beside
an ``images/`` folder) and of many labelling tools' exports. Images are
decoded once, like the ``image-folder`` source (``shendu.data.images``).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from shendu.data.formats import Table, find_column, load_table, table_format
from shendu.data.formats_infer import FILE_COLUMNS, LABEL_COLUMNS, header_columns, is_image_label_csv
from shendu.data.formats_io import (
    combined_fingerprint, data_path, encode_labels, find_split_files, fingerprints, first_target, read_class_list,
    sorted_class_names,
)
from shendu.data.images import load_image_files
from shendu.data.label_sets import (
    LIST_COLUMNS, check_label_count, encode_label_columns, encode_label_lists, label_list_names,
)
from shendu.data.registry import DATASETS
from shendu.data.splits import RawData, RawSplit
from shendu.errors import DataError


def _column(table: Table, explicit: str | None, candidates: tuple[str, ...], key: str) -> str:
    columns = list(table.frame.columns)
    found = find_column(columns, explicit, candidates, key, table.path)
    if found is not None:
        return found
    raise DataError(
        f"{table.path} has no column named {' / '.join(candidates)} (columns: {', '.join(columns)}); expected one. "
        f"Rename it, or set {key} to the column's name."
    )


def _image_paths(table: Table, column: str) -> list[Path]:
    """Each row's image file, relative to the CSV's folder; every one must exist."""
    paths = []
    for row, value in enumerate(table.frame[column].tolist()):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            raise DataError(f"{table.where(row)} has no file name in column {column!r}; expected one in every row.")
        path = (table.path.parent / str(value)).resolve()
        if not path.is_file():
            raise DataError(
                f"{table.where(row)} names image {value!r}, which does not exist (looked for {path}). "
                "Fix the file name, or add the image."
            )
        paths.append(path)
    return paths


def _csv_files(path: Path, named: bool, multilabel: bool) -> dict[str, Path]:
    if path.is_file():
        return {"train": path}

    def accept(file: Path) -> bool:
        if table_format(file) is None:
            return False
        if named or is_image_label_csv(file):
            return True
        return multilabel and any(c in FILE_COLUMNS for c in header_columns(file))  # 0/1 columns, no label column

    return find_split_files(path, accept, "image label CSV")


def _single_labels(tables: dict[str, Table], config: Any, declared: Any) -> tuple[list[str], dict[str, np.ndarray]]:
    """Classification: one label column -> class names and int64 (N,) class indices per split."""
    columns = {split: _column(table, first_target(config), LABEL_COLUMNS, "data.target") for split, table in tables.items()}
    values = {split: table.frame[columns[split]].tolist() for split, table in tables.items()}
    class_names = declared[0] if declared else sorted_class_names([v for labels in values.values() for v in labels])
    return class_names, {split: encode_labels(values[split], class_names, table.where, declared[1] if declared else None)
                         for split, table in tables.items()}


def _label_columns(table: Table, config: Any, file_column: str) -> tuple[str, list[str]]:
    """("columns", the 0/1 label columns) or ("list", [the label-list column]) of one multilabel CSV."""
    columns = list(table.frame.columns)
    if isinstance(config.target, list) and len(config.target) > 1:
        missing = [c for c in config.target if c not in columns]
        if missing:
            raise DataError(f"data.target names {', '.join(missing)}, not columns of {table.path}; its columns are "
                            f"{', '.join(columns)}. Set data.target to the 0/1 label columns.")
        return "columns", list(config.target)
    listed = find_column(columns, first_target(config), LIST_COLUMNS, "data.target", table.path)
    if listed is not None:
        return "list", [listed]
    return "columns", [c for c in columns if c != file_column]


def _multilabels(tables: dict[str, Table], config: Any, file_columns: dict[str, str],
                 declared: Any) -> tuple[list[str], dict[str, np.ndarray]]:
    """Multilabel: 0/1 label columns or a column of separated label lists -> label names and int64 (N, L) per split."""
    layouts = {split: _label_columns(table, config, file_columns[split]) for split, table in tables.items()}
    kinds = {kind for kind, _ in layouts.values()}
    if len(kinds) > 1:
        raise DataError(f"The split files mix label layouts ({', '.join(f'{s}: {k}' for s, (k, _) in layouts.items())}); "
                        "expected the same in each: 0/1 label columns, or one column of label lists.")
    if kinds == {"columns"}:
        label_names = layouts["train"][1]
        check_label_count(label_names, f"{tables['train'].path} (its 0/1 label columns besides the file column)")
        for split, (_, names) in layouts.items():
            if names != label_names:
                raise DataError(f"{tables[split].path} has label columns {', '.join(names)}; {tables['train'].path} "
                                f"has {', '.join(label_names)}. Expected the same label columns in every split file.")
        return label_names, {split: encode_label_columns({c: table.frame[c].tolist() for c in label_names}, table.where)
                             for split, table in tables.items()}
    values = {split: table.frame[layouts[split][1][0]].tolist() for split, table in tables.items()}
    label_names = declared[0] if declared else label_list_names([v for cells in values.values() for v in cells])
    check_label_count(label_names, str(declared[1]) if declared else f"the label lists of {tables['train'].path}")
    return label_names, {split: encode_label_lists(values[split], label_names, table.where, declared[1] if declared else None)
                         for split, table in tables.items()}


@DATASETS.register("image-csv", input_kind="image", target_kinds=("classification", "multilabel"))
def image_csv(config: Any, *, target_kind: str = "classification") -> RawData:
    """Images listed in a label CSV: a file column and the labels, images beside it; single- or multi-label.

    Use it when labels live in a table rather than in folder names.
    ``data.path`` is the CSV, or a folder holding it (or the split files
    ``train.csv`` / ``val.csv`` / ``test.csv``). The file column is the one
    named file, filename, image or path (or ``data.features: [column]``),
    relative to the CSV's folder, so the images may sit in a subfolder
    (``images/cat1.png``). A listed file that is missing, a label outside
    the list or an unreadable image raises an error naming the CSV line
    (``data.on_error=skip`` skips unreadable images). Decoding, channels and
    resizing are as for the image-folder source.

    Classification: the label column is label or class (or ``data.target``);
    labels are names or integers; with a ``classes.txt`` beside the CSV (one
    name per line) they must be among its classes (an integer i not itself a
    name means the i-th class).

    Multilabel (targets int64 (N, L) of 0/1, class names = label names), in
    either layout::

        photos/labels.csv           photos/labels.csv
          file,beach,urban,field      file,labels
          img/001.png,1,1,0           img/001.png,beach urban
          img/002.png,0,0,1           img/002.png,field
        photos/img/001.png ...      photos/img/001.png ...

    Left: one 0/1 column per label (every column but the file column, or
    ``data.target: [beach, urban, field]``). Right: one column of labels
    separated by spaces, commas (quote the cell) or ``|``, named labels,
    tags, label, class or classes (or ``data.target: column``); an empty cell
    is an image with no label. Label names are the sorted labels found, or
    the lines of ``classes.txt`` beside the CSV, which then must list every
    label used. A folder holding a CSV with a file column (and images) is
    read by this source when ``data.source`` is unset.

    Args:
        config: the run's ``DataConfig`` (path, features, target, image_size, channels, on_error).
        target_kind: "classification" or "multilabel".
    """
    path = data_path(config, "image-csv", "path/to/labels.csv")
    multilabel = target_kind == "multilabel"
    files = _csv_files(path, bool(config.features or config.target), multilabel)
    tables = {split: load_table(file) for split, file in files.items()}
    file_columns = {split: _column(table, config.features[0] if config.features else None, FILE_COLUMNS, "data.features")
                    for split, table in tables.items()}
    image_paths = {split: _image_paths(table, file_columns[split]) for split, table in tables.items()}
    declared = read_class_list(files["train"].parent)
    class_names, labels = (_multilabels(tables, config, file_columns, declared) if multilabel
                           else _single_labels(tables, config, declared))
    paths = [p for split_paths in image_paths.values() for p in split_paths]
    where = {str(p): tables[split].where(row) for split, split_paths in image_paths.items()
             for row, p in enumerate(split_paths)}
    tensor, kept_paths, hashes, size, channels, skipped = load_image_files(
        paths, image_size=config.image_size, channels=config.channels, on_error=config.on_error, where=where
    )
    if skipped:
        warnings.warn(f"Skipped {len(skipped)} unreadable image(s) of {len(paths)} listed in {path}.", stacklevel=2)
    splits, row = {}, 0
    skipped_set = set(skipped)
    for split, split_paths in image_paths.items():
        kept = [i for i, p in enumerate(split_paths) if str(p) not in skipped_set]
        rows = torch.arange(row, row + len(kept))
        splits[split] = RawSplit(tensor[rows], labels[split][kept], np.array(kept, dtype=np.int64))
        row += len(kept)
    tables_and_images = [*fingerprints(files.values()).items(), *((p.name, h) for p, h in zip(kept_paths, hashes))]
    return RawData("image", splits, class_names=class_names, target_names=class_names if multilabel else None,
                   description={
        "source": "image-csv", "path": str(path), "files": {s: str(f) for s, f in files.items()},
        "classes_file": str(declared[1]) if declared else None, "image_size": list(size), "channels": channels,
        "num_files": len(kept_paths), "skipped_files": skipped,
        "fingerprints": {"images": combined_fingerprint(tables_and_images)},
    })


__all__ = ["image_csv"]
