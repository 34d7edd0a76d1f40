"""ARFF (Weka's attribute-relation file format), dense and sparse, with MEKA multi-label headers.

A file is a header (``@relation``, one ``@attribute`` per column) and a
``@data`` section of one instance per line: dense (``5.1,3.5,Iris-setosa``) or
sparse (``{0 5.1, 3 Iris-setosa}``: unlisted values are 0, or the first
nominal value). ``%`` starts a comment, ``?`` is a missing value, names and
values may be quoted. MEKA marks multi-label data in the relation name:
``@relation 'Scene: -C 6'`` says the first 6 attributes are the labels
(``-C -6``: the last 6).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from shendu.data.formats_io import read_text, text_lines
from shendu.errors import DataError

NUMERIC_TYPES = ("numeric", "real", "integer")
MEKA_LABELS = re.compile(r"(?:^|\s)-C\s+(-?\d+)")


@dataclass
class ArffData:
    """An ARFF file: its rows, its relation name and which columns are labels.

    Args:
        frame: one column per attribute, in file order: numeric -> float64, nominal ->
            category (declared values, in order), string / date -> text; missing -> NaN.
        relation: the ``@relation`` name.
        label_count: MEKA multi-label files: the number of label attributes (0 otherwise).
        label_names: the label attributes (empty when label_count is 0).
        feature_names: every other attribute, in file order.
        nominal: each nominal attribute's declared values.
        types: each attribute's type: "numeric", "nominal", "string" or "date".
    """

    frame: pd.DataFrame
    relation: str
    label_count: int = 0
    label_names: list[str] = field(default_factory=list)
    feature_names: list[str] = field(default_factory=list)
    nominal: dict[str, list[str]] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)


def _unquote(token: str) -> str:
    token = token.strip()
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "'\"":
        return re.sub(r"\\(.)", r"\1", token[1:-1])
    return token


def split_values(text: str, separator: str, path: Path, line: int) -> list[str]:
    """Split ``text`` at ``separator`` outside single / double quotes; values stay quoted."""
    values, current, quote, escaped = [], [], None, False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\" and quote:
            current.append(char)
            escaped = True
        elif quote:
            current.append(char)
            if char == quote:
                quote = None
        elif char in "'\"":
            current.append(char)
            quote = char
        elif char == separator:
            values.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if quote:
        raise DataError(f"{path}: line {line} has an unclosed {quote} quote. Close it or escape it with a backslash.")
    values.append("".join(current).strip())
    return values


def _first_token(text: str, path: Path, line: int) -> tuple[str, str]:
    """(name, rest) of ``'a name' rest`` or ``name rest``."""
    text = text.strip()
    if text[:1] in ("'", '"'):
        match = re.match(r"(['\"])((?:\\.|(?!\1).)*)\1", text)
        if not match:
            raise DataError(f"{path}: line {line} has an unclosed quote in {text!r}. Close the quote.")
        return _unquote(match.group(0)), text[match.end():].strip()
    match = re.match(r"[^\s{]+", text)
    if not match:
        raise DataError(f"{path}: line {line} is missing a name after the keyword; received {text!r}.")
    return match.group(0), text[match.end():].strip()


def _attribute(rest: str, path: Path, line: int) -> tuple[str, str, list[str] | None]:
    name, kind = _first_token(rest, path, line)
    if kind.startswith("{"):
        if not kind.endswith("}"):
            raise DataError(f"{path}: line {line}: the nominal values of {name!r} lack a closing brace.")
        return name, "nominal", [_unquote(v) for v in split_values(kind[1:-1], ",", path, line) if v != ""]
    word = kind.split()[0].lower() if kind else ""
    if word in NUMERIC_TYPES:
        return name, "numeric", None
    if word in ("string", "date"):
        return name, word, None
    raise DataError(
        f"{path}: line {line}: attribute {name!r} has type {kind or '(none)'!r}; expected numeric, real, integer, "
        "string, date or {value, ...}. (Relational attributes are not supported.)"
    )


def _parse_header(lines: list[str], path: Path) -> tuple[str, list[tuple[str, str, list[str] | None]], int]:
    relation, attributes = None, []
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("%"):
            continue
        keyword = line.split(None, 1)[0].lower()
        rest = line[len(keyword):].strip()
        if keyword == "@relation":
            relation = _first_token(rest, path, number)[0] if rest else ""
        elif keyword == "@attribute":
            attributes.append(_attribute(rest, path, number))
        elif keyword == "@data":
            if not attributes:
                raise DataError(f"{path}: @data on line {number} comes before any @attribute; expected a header.")
            return relation or "", attributes, number
        else:
            raise DataError(
                f"{path}: line {number} starts with {keyword!r}; expected @relation, @attribute or @data in the header."
            )
    raise DataError(f"{path} has no @data line; expected a header ending in @data, then one instance per line.")


def _sparse_row(text: str, attributes: list, path: Path, line: int) -> list[str]:
    row = [a[2][0] if a[1] == "nominal" and a[2] else ("" if a[1] == "string" else "0") for a in attributes]
    if text.strip():
        for pair in split_values(text, ",", path, line):
            index, _, value = pair.strip().partition(" ")
            if not index.isdigit() or int(index) >= len(attributes) or not value.strip():
                raise DataError(
                    f"{path}: line {line} has the sparse entry {pair.strip()!r}; expected 'index value' with an index "
                    f"below {len(attributes)}."
                )
            row[int(index)] = value.strip()
    return row


def _data_rows(lines: list[str], start: int, attributes: list, path: Path) -> tuple[list[list[str]], list[int]]:
    rows, numbers = [], []
    for number in range(start + 1, len(lines) + 1):
        line = lines[number - 1].strip()
        if not line or line.startswith("%"):
            continue
        if line.startswith("{"):
            end = line.find("}")
            if end < 0:
                raise DataError(f"{path}: line {number} opens a sparse instance with '{{' but never closes it.")
            row = _sparse_row(line[1:end], attributes, path, number)
        else:
            row = line.split(",") if "'" not in line and '"' not in line else split_values(line, ",", path, number)
            if len(row) == len(attributes) + 1 and row[-1].strip().startswith("{"):
                row = row[:-1]  # an instance weight {w}: not used
            if len(row) != len(attributes):
                raise DataError(
                    f"{path}: line {number} has {len(row)} values; the header declares {len(attributes)} attributes. "
                    f"Fix line {number}."
                )
        rows.append(row)
        numbers.append(number)
    return rows, numbers


def _column(values: np.ndarray, attribute: tuple, numbers: list[int], path: Path) -> pd.Series | pd.Categorical:
    name, kind, declared = attribute
    if kind == "numeric":
        try:  # fast path: every value a number (float() ignores surrounding spaces)
            return pd.Series(values.astype(np.float64))
        except ValueError:
            pass
    cleaned = np.array([v.strip() for v in values], dtype=object)
    missing = cleaned == "?"
    if kind == "numeric":
        converted = pd.to_numeric(pd.Series(np.where(missing, "nan", cleaned)), errors="coerce").to_numpy(np.float64)
        bad = np.isnan(converted) & ~missing & (np.char.lower(cleaned.astype(str)) != "nan")
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{path}: line {numbers[row]}, attribute {name!r}: {cleaned[row]!r} is not a number; expected a number "
                "or ? for missing."
            )
        return pd.Series(converted)
    unquoted = np.array([None if m else _unquote(v) for v, m in zip(cleaned, missing)], dtype=object)
    if kind == "nominal":
        allowed = set(declared)
        bad = [i for i, v in enumerate(unquoted) if v is not None and v not in allowed]
        if bad:
            row = bad[0]
            raise DataError(
                f"{path}: line {numbers[row]}, attribute {name!r}: {unquoted[row]!r} is not one of its declared "
                f"values {{{', '.join(declared)}}}. Fix the value or the @attribute line."
            )
        return pd.Categorical(unquoted, categories=declared)
    return pd.Series(unquoted, dtype=object)


def read_arff(path: str | Path) -> ArffData:
    """Read an ARFF file (dense or sparse, plain / .gz / .bz2), with MEKA multi-label headers.

    Use it for Weka / MEKA / OpenML datasets. Numeric attributes become
    floats, nominal ones categories with their declared values, string and
    date attributes text; ``?`` is missing. A relation name carrying
    ``-C n`` (MEKA) marks the first n attributes as labels (``-C -n``: the
    last n). Errors name the file and the line.
    Reference: Weka's ARFF format (Witten & Frank, "Data Mining", appendix);
    MEKA (Read et al., JMLR 2016).

    Args:
        path: the .arff file (optionally .gz / .bz2).
    """
    path = Path(path).expanduser()
    lines = text_lines(read_text(path))
    if not any(line.strip() for line in lines):
        raise DataError(f"{path} is empty; expected an ARFF header (@relation, @attribute, @data) and data lines.")
    relation, attributes, data_line = _parse_header(lines, path)
    names = [a[0] for a in attributes]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise DataError(f"{path}: attribute(s) {', '.join(duplicated)} are declared twice; expected unique names.")
    rows, numbers = _data_rows(lines, data_line, attributes, path)
    if not rows:
        raise DataError(f"{path} has a header but no instances after @data (line {data_line}); expected data lines.")
    matrix = np.array(rows, dtype=object)  # (N, A) strings
    frame = pd.DataFrame({a[0]: _column(matrix[:, i], a, numbers, path) for i, a in enumerate(attributes)})
    label_count = 0
    match = MEKA_LABELS.search(relation)
    if match:
        label_count = int(match.group(1))
        if not 0 < abs(label_count) < len(attributes):
            raise DataError(
                f"{path}: the relation {relation!r} declares {abs(label_count)} labels (-C); expected between 1 and "
                f"{len(attributes) - 1} (the file has {len(attributes)} attributes)."
            )
    labels = names[:label_count] if label_count > 0 else names[label_count:] if label_count < 0 else []
    return ArffData(
        frame=frame, relation=relation, label_count=abs(label_count), label_names=labels,
        feature_names=[n for n in names if n not in labels],
        nominal={a[0]: list(a[2]) for a in attributes if a[1] == "nominal"},
        types={a[0]: a[1] for a in attributes},
    )


__all__ = ["ArffData", "read_arff", "split_values"]
