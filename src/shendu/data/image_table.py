"""The ``image-csv`` source: a folder of images plus a CSV naming each image's label.

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
from shendu.data.formats_infer import FILE_COLUMNS, LABEL_COLUMNS, is_image_label_csv
from shendu.data.formats_io import (
    combined_fingerprint, data_path, encode_labels, find_split_files, fingerprints, first_target, read_class_list,
    sorted_class_names,
)
from shendu.data.images import load_image_files
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


def _csv_files(path: Path, named: bool) -> dict[str, Path]:
    if path.is_file():
        return {"train": path}
    return find_split_files(
        path, lambda p: table_format(p) is not None and (named or is_image_label_csv(p)), "image label CSV"
    )


@DATASETS.register("image-csv", input_kind="image", target_kinds=("classification",))
def image_csv(config: Any, *, target_kind: str = "classification") -> RawData:
    """Images listed in a label CSV: a file column and a label column, images beside it.

    Use it when labels live in a table rather than in folder names.
    ``data.path`` is the CSV, or a folder holding it (or the split files
    ``train.csv`` / ``val.csv`` / ``test.csv``). The file column is the one
    named file, filename, image or path (or ``data.features: [column]``),
    relative to the CSV's folder; the label column label or class (or
    ``data.target``). Labels are names or integers; with a ``classes.txt``
    beside the CSV (one name per line) they must be among its classes (an
    integer i not itself a name means the i-th class). A listed file that is
    missing, a label outside the list or an unreadable image raises an error
    naming the CSV line (``data.on_error=skip`` skips unreadable images).
    Decoding, channels and resizing are as for the image-folder source.

    Args:
        config: the run's ``DataConfig`` (path, features, target, image_size, channels, on_error).
        target_kind: "classification".
    """
    path = data_path(config, "image-csv", "path/to/labels.csv")
    label_key = first_target(config)
    files = _csv_files(path, bool(config.features or label_key))
    tables = {split: load_table(file) for split, file in files.items()}
    entries: dict[str, tuple[list[Path], list[Any], Table]] = {}
    for split, table in tables.items():
        file_column = _column(table, config.features[0] if config.features else None, FILE_COLUMNS, "data.features")
        label_column = _column(table, label_key, LABEL_COLUMNS, "data.target")
        entries[split] = (_image_paths(table, file_column), table.frame[label_column].tolist(), table)
    declared = read_class_list(files["train"].parent)
    class_names = declared[0] if declared else sorted_class_names([v for _, labels, _ in entries.values() for v in labels])
    labels = {
        split: encode_labels(values, class_names, table.where, declared[1] if declared else None)
        for split, (_, values, table) in entries.items()
    }
    paths = [p for image_paths, _, _ in entries.values() for p in image_paths]
    where = {str(p): table.where(row) for image_paths, _, table in entries.values() for row, p in enumerate(image_paths)}
    tensor, kept_paths, hashes, size, channels, skipped = load_image_files(
        paths, image_size=config.image_size, channels=config.channels, on_error=config.on_error, where=where
    )
    if skipped:
        warnings.warn(f"Skipped {len(skipped)} unreadable image(s) of {len(paths)} listed in {path}.", stacklevel=2)
    splits, row = {}, 0
    skipped_set = set(skipped)
    for split, (image_paths, _, _) in entries.items():
        kept = [i for i, p in enumerate(image_paths) if str(p) not in skipped_set]
        rows = torch.arange(row, row + len(kept))
        splits[split] = RawSplit(tensor[rows], labels[split][kept], np.array(kept, dtype=np.int64))
        row += len(kept)
    tables_and_images = [*fingerprints(files.values()).items(), *((p.name, h) for p, h in zip(kept_paths, hashes))]
    return RawData("image", splits, class_names=class_names, description={
        "source": "image-csv", "path": str(path), "files": {s: str(f) for s, f in files.items()},
        "classes_file": str(declared[1]) if declared else None, "image_size": list(size), "channels": channels,
        "num_files": len(kept_paths), "skipped_files": skipped,
        "fingerprints": {"images": combined_fingerprint(tables_and_images)},
    })


__all__ = ["image_csv"]
