"""SVMlight / LibSVM text with query groups: ``<label> [qid:<q>] <index>:<value> ... [# comment]``.

Learning-to-rank data (LETOR, MSLR, LightGBM's examples) comes in this form:
one document per line, its graded relevance first, sparse features after,
documents of one query together. The query of each line comes from ``qid:``
tokens or from a LightGBM ``.query`` file holding how many consecutive lines
each query has.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shendu.data.formats_io import read_text, text_lines
from shendu.errors import DataError


@dataclass
class SvmlightData:
    """An SVMlight file as dense arrays.

    Args:
        features: float32 (N, F), zeros where a line lists no value.
        relevance: float64 (N,): the first number of each line (label / graded relevance).
        groups: int64 (N,): each line's query, numbered 0, 1, ... in order of appearance;
            None when the file has neither qid: tokens nor a .query file.
        num_features: F.
        zero_based: whether feature indices start at 0 (else at 1, as SVMlight writes them).
    """

    features: np.ndarray
    relevance: np.ndarray
    groups: np.ndarray | None
    num_features: int
    zero_based: bool


@dataclass
class ParsedSvmlight:
    """One file's lines as sparse triplets, before the feature width is fixed."""

    path: Path
    relevance: np.ndarray
    rows: np.ndarray
    columns: np.ndarray  # indices as written
    values: np.ndarray
    qids: list[int] | None
    lines: np.ndarray  # each row's line in the file


def _bad_token(path: Path, number: int, token: str, what: str) -> DataError:
    return DataError(
        f"{path}: line {number} has the token {token!r}; expected {what}. Each line reads "
        f"'<label> [qid:<query>] <index>:<value> ...'; fix line {number}."
    )


def parse_svmlight(path: str | Path) -> ParsedSvmlight:
    """Parse a file's lines into triplets; errors name the line and the token."""
    path = Path(path).expanduser()
    relevance, rows, columns, values, qids, numbers = [], [], [], [], [], []
    for number, line in enumerate(text_lines(read_text(path)), 1):
        tokens = line.split("#", 1)[0].split()
        if not tokens:
            continue
        try:
            label = float(tokens[0])
        except ValueError:
            raise _bad_token(path, number, tokens[0], "a number (the label) first") from None
        row = len(relevance)
        qid = None
        for token in tokens[1:]:
            index, colon, value = token.partition(":")
            if not colon:
                raise _bad_token(path, number, token, "index:value")
            if index == "qid":
                if not value.lstrip("-").isdigit():
                    raise _bad_token(path, number, token, "qid:<integer>")
                qid = int(value)
                continue
            try:
                columns.append(int(index))
                values.append(float(value))
            except ValueError:
                raise _bad_token(path, number, token, "index:value with an integer index and a number") from None
            if columns[-1] < 0:
                raise _bad_token(path, number, token, "a feature index >= 0")
            rows.append(row)
        if (qid is None) != (not qids) and relevance:
            raise DataError(
                f"{path}: line {number} {'has no' if qid is None else 'has a'} qid: token while earlier lines "
                f"{'do' if qid is None else 'do not'}; expected qid: on every line or on none."
            )
        if qid is not None:
            qids.append(qid)
        relevance.append(label)
        numbers.append(number)
    if not relevance:
        raise DataError(f"{path} is empty (no data lines); expected '<label> <index>:<value> ...' lines.")
    return ParsedSvmlight(
        path, np.array(relevance, dtype=np.float64), np.array(rows, dtype=np.int64),
        np.array(columns, dtype=np.int64), np.array(values, dtype=np.float64), qids or None,
        np.array(numbers, dtype=np.int64),
    )


def read_query_file(path: Path, num_rows: int, data_path: Path) -> np.ndarray:
    """A LightGBM ``.query`` file (documents per query, one count a line) -> int64 (N,) query index."""
    counts = []
    for number, line in enumerate(text_lines(read_text(path)), 1):
        if not line.strip():
            continue
        if not line.strip().isdigit() or int(line) <= 0:
            raise DataError(
                f"{path}: line {number} is {line.strip()!r}; expected a positive integer (the number of documents "
                "of one query)."
            )
        counts.append(int(line))
    if sum(counts) != num_rows:
        raise DataError(
            f"{path} lists {len(counts)} queries holding {sum(counts)} documents in all, but {data_path} has "
            f"{num_rows} lines; expected the counts to sum to {num_rows}. The two files do not belong together."
        )
    return np.repeat(np.arange(len(counts), dtype=np.int64), counts)


def default_query_path(path: Path) -> Path:
    """Where LightGBM keeps a data file's query counts: ``rank.train`` -> ``rank.train.query``."""
    return path.with_name(path.name + ".query")


def query_groups(parsed: ParsedSvmlight, query_path: str | Path | None) -> np.ndarray | None:
    """The query index of each row: from ``query_path``, else qid: tokens, else ``<path>.query``, else None."""
    default = default_query_path(parsed.path)
    if query_path is not None or (parsed.qids is None and default.is_file()):
        return read_query_file(Path(query_path or default).expanduser(), len(parsed.relevance), parsed.path)
    if parsed.qids is None:
        return None
    _, first, inverse = np.unique(np.array(parsed.qids), return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))  # number queries by first appearance
    return order[inverse].astype(np.int64)


def densify(parsed: ParsedSvmlight, num_features: int, zero_based: bool) -> np.ndarray:
    """Sparse triplets -> float32 (N, num_features)."""
    columns = parsed.columns if zero_based else parsed.columns - 1
    if len(columns) and (columns.min() < 0 or columns.max() >= num_features):
        position = int(np.flatnonzero((columns < 0) | (columns >= num_features))[0])
        line = int(parsed.lines[parsed.rows[position]])
        raise DataError(
            f"{parsed.path}: line {line} has feature index {int(parsed.columns[position])}; expected "
            f"{'0' if zero_based else '1'} to {num_features - (1 if zero_based else 0)} "
            f"({num_features} features, {'zero' if zero_based else 'one'}-based)."
        )
    features = np.zeros((len(parsed.relevance), num_features), dtype=np.float32)
    features[parsed.rows, columns] = parsed.values
    return features


def feature_width(parsed: list[ParsedSvmlight], zero_based: bool | None) -> tuple[int, bool]:
    """(num_features, zero_based) covering every file: zero-based as soon as any index 0 appears."""
    if zero_based is None:
        zero_based = any(len(p.columns) and p.columns.min() == 0 for p in parsed)
    largest = max((int(p.columns.max()) for p in parsed if len(p.columns)), default=-1)
    return largest + 1 if zero_based else max(largest, 0), zero_based


def read_svmlight(
    path: str | Path, query_path: str | Path | None = None, *, num_features: int | None = None,
    zero_based: bool | None = None,
) -> SvmlightData:
    """Read SVMlight / LibSVM text (with qid: tokens or a LightGBM .query file) into dense arrays.

    Use it for learning-to-rank data and LibSVM-format sets. Each line is
    ``<label> [qid:<query>] <index>:<value> ...``, ``#`` starts a comment.
    The queries come from ``query_path``, else the lines' qid: tokens, else a
    ``<path>.query`` file beside the data (LightGBM's form: one count of
    documents per query per line). Indices are one-based unless an index 0
    appears (as scikit-learn's ``load_svmlight_file`` decides).
    Reference: Joachims, SVMlight (1999); LightGBM's lambdarank example.

    Args:
        path: the data file (optionally .gz / .bz2).
        query_path: a .query file; default ``<path>.query`` when there are no qid: tokens.
        num_features: the width F (default: the largest index seen).
        zero_based: whether indices start at 0; None decides from the data.
    """
    parsed = parse_svmlight(path)
    width, zero_based = feature_width([parsed], zero_based)
    width = num_features if num_features is not None else width
    return SvmlightData(densify(parsed, width, zero_based), parsed.relevance, query_groups(parsed, query_path),
                        width, zero_based)


__all__ = ["SvmlightData", "read_svmlight", "parse_svmlight", "read_query_file", "query_groups", "densify",
           "feature_width", "ParsedSvmlight", "default_query_path"]
