"""What every reader shares: decompressing, decoding UTF-8, finding split files, naming classes.

Errors name the file and the position (byte offset or line) so a user can open
the file and look. Nothing here writes to disk.
"""

from __future__ import annotations

import bz2
import hashlib
import re
import zlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shendu.errors import DataError

COMPRESSION_SUFFIXES = (".gz", ".bz2")
GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 20  # compressed bytes fed per step: an error is located to within this window
SPLIT_NAMES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
               "dev": "val", "test": "test"}


# -- bytes and text ------------------------------------------------------------------------
def base_name(path: Path) -> str:
    """The file name without a compression suffix: ``train.en.gz`` -> ``train.en``."""
    name = path.name
    for suffix in COMPRESSION_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def format_suffix(path: Path) -> str:
    """The lower-case suffix that names the format, under any compression: ``a.csv.gz`` -> ``.csv``."""
    return Path(base_name(path)).suffix.lower()


def _stream_decompress(raw: bytes, path: Path, kind: str, new: Callable[[], Any]) -> bytes:
    """Decompress every member of a gzip / bz2 file, locating truncation and corruption."""
    out: list[bytes] = []
    start = 0
    while start < len(raw):
        decompressor = new()
        position = start
        while position < len(raw) and not decompressor.eof:
            chunk = raw[position: position + CHUNK]
            try:
                out.append(decompressor.decompress(chunk))
            except (zlib.error, OSError, EOFError) as error:
                raise DataError(
                    f"{path} is corrupt: its {kind} data is invalid within compressed bytes "
                    f"{position}-{position + len(chunk)} ({error}). Download or copy the file again."
                ) from None
            position += len(chunk) - len(decompressor.unused_data)
        if not decompressor.eof:
            raise DataError(
                f"{path} is a truncated {kind} file: the compressed data stops at byte {len(raw)} before its "
                f"end marker ({sum(map(len, out))} bytes decompressed so far). Download or copy the file again."
            )
        start = position
        if not raw[start:].strip(b"\x00"):  # trailing zero padding is allowed, as gzip(1) does
            break
    return b"".join(out)


def read_bytes(path: str | Path) -> bytes:
    """A file's bytes, decompressed when it ends in ``.gz`` / ``.bz2`` or starts with the gzip magic."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist or is not a file. Check the path.")
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise DataError(f"Cannot read {path}: {error}. Check the file's permissions.") from None
    name = path.name.lower()
    if name.endswith(".gz") or raw[:2] == GZIP_MAGIC:
        if raw[:2] != GZIP_MAGIC:
            raise DataError(
                f"{path} ends in .gz but is not gzip data: byte 0 starts with {raw[:4].hex() or 'nothing'}, "
                f"expected {GZIP_MAGIC.hex()}. Rename the file without .gz if it is not compressed."
            )
        return _stream_decompress(raw, path, "gzip", lambda: zlib.decompressobj(wbits=31))
    if name.endswith(".bz2"):
        if raw[:3] != b"BZh":
            raise DataError(
                f"{path} ends in .bz2 but is not bzip2 data: byte 0 starts with {raw[:4].hex() or 'nothing'}, "
                "expected 425a68 ('BZh'). Rename the file without .bz2 if it is not compressed."
            )
        return _stream_decompress(raw, path, "bzip2", bz2.BZ2Decompressor)
    return raw


def decode_text(data: bytes, path: Path) -> str:
    """UTF-8 (a byte-order mark is dropped) -> str; a bad byte is named by offset and line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise DataError(
            f"{path} is not valid UTF-8: byte {error.start} (line {line}, column {column}) is "
            f"{data[error.start:error.start + 1].hex()} ({error.reason}). Save the file as UTF-8 "
            "(e.g. iconv -f latin1 -t utf-8 in > out)."
        ) from None


def read_text(path: str | Path) -> str:
    """A text file (plain, ``.gz`` or ``.bz2``) decoded as UTF-8."""
    return decode_text(read_bytes(path), Path(path))


def text_lines(text: str) -> list[str]:
    """Lines without their ``\\n`` / ``\\r\\n``; a final newline does not start an extra line."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def fingerprints(paths: Iterable[Path], root: Path | None = None) -> dict[str, str]:
    """sha256 of each file's bytes, keyed by its name (relative to ``root`` when given)."""
    return {
        (p.relative_to(root).as_posix() if root is not None and p.is_relative_to(root) else p.name):
            hashlib.sha256(p.read_bytes()).hexdigest()
        for p in paths
    }


def combined_fingerprint(hashes: Iterable[tuple[str, str]]) -> str:
    """One sha256 over ``name:sha256`` lines: a single fingerprint for many files (a folder of images)."""
    digest = hashlib.sha256()
    for name, file_hash in hashes:
        digest.update(f"{name}:{file_hash}\n".encode())
    return digest.hexdigest()


# -- paths and split files --------------------------------------------------------------------
def data_path(config: Any, source: str, example: str) -> Path:
    """``config.path`` resolved, or an error saying this source needs one."""
    if not config.path:
        raise DataError(f"The {source} source needs data.path; received none. Set data.path={example}.")
    path = Path(config.path).expanduser().resolve()
    if not path.exists():
        raise DataError(f"data.path {path} does not exist. Check the path.")
    return path


def first_target(config: Any) -> str | None:
    """``data.target`` as one name (the first of a list), for sources that predict a single column."""
    return config.target if isinstance(config.target, str) or config.target is None else config.target[0]


def split_of(name: str) -> str | None:
    """The split a file name names: ``train.csv`` / ``rank.train`` / ``test_2016_flickr.en`` -> train / train / test."""
    parts = base_name(Path(name)).lower().split(".")
    for part in parts:
        if part in SPLIT_NAMES:
            return SPLIT_NAMES[part]
    head = re.split(r"[_\-]", parts[0])[0]
    return SPLIT_NAMES.get(head)


def visible_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def find_split_files(folder: Path, accept: Callable[[Path], bool], what: str) -> dict[str, Path]:
    """``{split: file}`` for the accepted files of ``folder`` named train.* / val.* (valid, dev) / test.*.

    A folder with a single accepted file and no split names gives ``{"train": file}``.
    A file whose name is only the split (``test.csv``) wins over a longer one
    (``test_2016.csv``); two equally good candidates are an error.
    """
    chosen: dict[str, list[Path]] = {}
    accepted = [p for p in visible_files(folder) if accept(p) and p.name != "classes.txt"]
    for path in accepted:
        split = split_of(path.name)
        if split is not None:
            chosen.setdefault(split, []).append(path)
    if not chosen and len(accepted) == 1:
        return {"train": accepted[0]}  # one data file and no split names: it is all the data
    if not chosen:
        found = ", ".join(p.name for p in visible_files(folder)[:8]) or "nothing"
        raise DataError(
            f"{folder} holds no {what} split files; found {found}. Expected files named train.*, "
            "val.* (or valid.* / dev.*) and test.*, or set data.path to a single file."
        )
    result = {}
    for split, paths in chosen.items():
        exact = [p for p in paths if base_name(p).lower().split(".")[0] in SPLIT_NAMES]
        best = exact if exact else paths
        if len(best) > 1:
            raise DataError(
                f"{folder} has {len(best)} candidate {split} files ({', '.join(p.name for p in best)}); "
                "expected one. Move the others away or set data.path to one file."
            )
        result[split] = best[0]
    result = {split: result[split] for split in ("train", "val", "test") if split in result}
    if "train" not in result:
        raise DataError(
            f"{folder} has {', '.join(p.name for p in result.values())} but no train.* file; "
            "expected a training split. Add one, or set data.path to a single file."
        )
    return result


# -- class labels -------------------------------------------------------------------------------
def label_name(value: Any) -> str:
    """A label's name: ``3.0`` -> ``"3"`` (integers read as floats keep their integer name)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf-8", "replace")
    return str(value)


def sorted_class_names(values: Sequence[Any]) -> list[str]:
    """Distinct labels as names, numbers in numeric order (2 before 10), else sorted as text."""
    present = [v for v in values if v is not None and not (isinstance(v, float) and np.isnan(v))]
    numeric = all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in present)
    if not numeric:  # strings that all spell numbers still sort numerically
        try:
            keys = {label_name(v): float(label_name(v)) for v in present}
            return sorted(keys, key=lambda name: (keys[name], name))
        except ValueError:
            return sorted({label_name(v) for v in present})
    return list(dict.fromkeys(label_name(v) for v in sorted(set(present))))


def read_class_list(folder: Path) -> tuple[list[str], Path] | None:
    """The class names in ``folder/classes.txt`` (one per line), or None when there is none."""
    path = folder / "classes.txt"
    if not path.is_file():
        return None
    names = [line.strip() for line in text_lines(read_text(path)) if line.strip()]
    if not names:
        raise DataError(f"{path} is empty; expected one class name per line.")
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise DataError(f"{path} lists class(es) {', '.join(duplicated)} more than once; expected each once.")
    return names, path


def encode_labels(
    values: Sequence[Any], class_names: list[str], where: Callable[[int], str], declared_in: Path | None = None
) -> np.ndarray:
    """Labels -> int64 class indices into ``class_names``.

    A label is matched by name; with a declared class list (``classes.txt``) an
    integer label ``i`` that is not itself a name means the i-th class.
    ``where(row)`` names a row's position for errors ("line 7 of labels.csv").
    """
    index = {name: i for i, name in enumerate(class_names)}
    out = np.empty(len(values), dtype=np.int64)
    for row, value in enumerate(values):
        name = label_name(value)
        if name in index:
            out[row] = index[name]
            continue
        if declared_in is not None and re.fullmatch(r"\d+", name) and int(name) < len(class_names):
            out[row] = int(name)
            continue
        listed = ", ".join(class_names[:10]) + (", ..." if len(class_names) > 10 else "")
        source = f"the {len(class_names)} classes in {declared_in}" if declared_in else "the known classes"
        raise DataError(
            f"Label {name!r} on {where(row)} is not one of {source} ({listed}); expected a class name "
            f"or an index below {len(class_names)}. Fix the label{' or add it to ' + declared_in.name if declared_in else ''}."
        )
    return out


__all__ = [
    "read_bytes", "read_text", "decode_text", "text_lines", "base_name", "format_suffix", "fingerprints",
    "combined_fingerprint", "data_path", "first_target", "split_of", "find_split_files", "visible_files",
    "label_name", "sorted_class_names", "read_class_list", "encode_labels", "SPLIT_NAMES",
]
