"""Multilabel targets from tables: 0/1 label columns, or one column of separated label lists.

A multilabel sample carries a set of labels (a photo can show a beach and a
city). Sources read such targets in one of two layouts and turn them into
int64 (N, L) of 0/1, one column per label, with the label names beside:

- **label columns**: one column per label holding 0 or 1 (also True / False);
  ``data.target: [beach, urban, ...]`` names them;
- **label lists**: one column holding each sample's labels separated by
  spaces, commas or ``|`` (``"beach urban"``, ``"beach,urban"``,
  ``"beach|urban"``); an empty cell is a sample with no label. The label
  names are the sorted distinct labels, or the lines of a ``classes.txt``
  beside the data, which then lists every allowed label.

``where(row)`` names a row for errors ("line 7 of labels.csv").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shendu.data.formats_io import label_name
from shendu.errors import DataError

LABEL_SEPARATOR = re.compile(r"[\s,|]+")
PRESENT, ABSENT = {"1", "true", "True", "TRUE"}, {"0", "false", "False", "FALSE"}
LIST_COLUMNS = ("labels", "tags", "label", "class", "classes")  # a label-list column, in order of preference


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def encode_label_columns(columns: Mapping[str, Sequence[Any]], where: Callable[[int], str]) -> np.ndarray:
    """0/1 label columns ``{name: values}`` -> int64 (N, L) in the mapping's order.

    Args:
        columns: each label's column of 0 / 1 (or True / False) values.
        where: names a row for errors.
    """
    matrix = []
    for name, values in columns.items():
        column = np.empty(len(values), dtype=np.int64)
        for row, value in enumerate(values):
            text = "" if _missing(value) else label_name(value)
            if text not in PRESENT and text not in ABSENT:
                raise DataError(
                    f"Label column {name!r} holds {text or 'nothing'!r} on {where(row)}; expected 0 or 1 (label "
                    "absent / present) in every row. Fix the value, or leave the column out of data.target."
                )
            column[row] = text in PRESENT
        matrix.append(column)
    return np.stack(matrix, axis=1) if matrix else np.zeros((0, 0), dtype=np.int64)


def split_label_list(value: Any) -> list[str]:
    """``"beach urban"`` / ``"beach,urban"`` / ``"beach|urban"`` -> ``["beach", "urban"]``; empty -> []."""
    if _missing(value):
        return []
    return [part for part in LABEL_SEPARATOR.split(label_name(value).strip()) if part]


def encode_label_lists(values: Sequence[Any], label_names: list[str], where: Callable[[int], str],
                       declared_in: Path | None = None) -> np.ndarray:
    """Separated label lists -> int64 (N, L) of 0/1 over ``label_names``; an unknown label is an error.

    Args:
        values: one cell per sample (see :func:`split_label_list`).
        label_names: the labels, in column order.
        where: names a row for errors.
        declared_in: the ``classes.txt`` that declared ``label_names``, named in errors.
    """
    index = {name: i for i, name in enumerate(label_names)}
    matrix = np.zeros((len(values), len(label_names)), dtype=np.int64)
    for row, value in enumerate(values):
        for label in split_label_list(value):
            if label not in index:
                listed = ", ".join(label_names[:10]) + (", ..." if len(label_names) > 10 else "")
                source = f"the labels listed in {declared_in}" if declared_in else "the known labels"
                raise DataError(
                    f"Label {label!r} on {where(row)} is not one of {source} ({listed}); expected labels "
                    "separated by spaces, commas or '|'. Fix the label"
                    + (f" or add it to {declared_in.name}." if declared_in else ".")
                )
            matrix[row, index[label]] = 1
    return matrix


def label_list_names(values: Sequence[Any]) -> list[str]:
    """The sorted distinct labels of separated label lists."""
    return sorted({label for value in values for label in split_label_list(value)})


def check_label_count(label_names: Sequence[str], where: str) -> None:
    """Multilabel needs at least two labels (one 0/1 label is a binary classification)."""
    if len(label_names) < 2:
        raise DataError(
            f"{where} defines {len(label_names)} label(s) ({', '.join(label_names) or 'none'}); multilabel "
            "classification expects at least 2. With one yes/no label, use a classification task with 2 classes."
        )


__all__ = ["LIST_COLUMNS", "encode_label_columns", "encode_label_lists", "split_label_list", "label_list_names",
           "check_label_count"]
