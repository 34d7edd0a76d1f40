"""Fetching dataset files: resumable HTTP downloads with checksums and a progress bar.

Each file goes through ``<name>.part``: an interrupted transfer is resumed with
an HTTP ``Range`` request (in the same call, and again in a later one), the
finished bytes are checked against the recorded digest, and only then renamed
into place, so a half-written or corrupt file never carries the real name.

Standard library only (urllib): a download is a few files from well-known
hosts, and no HTTP client would earn its place as a dependency here.

``SHENDU_DATASET_MIRROR=http://host:port/path/`` replaces every official URL by
``<mirror>/<dataset>/<relative path>``: for users behind a proxy or with an
internal copy, and for tests, which serve files from a local server.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
import warnings
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from shendu.errors import DataError

MIRROR_VARIABLE = "SHENDU_DATASET_MIRROR"
ALGORITHMS = ("sha256", "md5")
CHUNK_BYTES = 1 << 16
USER_AGENT = "shendu-dataset-download"


@dataclass(frozen=True)
class DataFile:
    """One file a dataset needs: where it sits, what its bytes hash to, where to fetch it.

    Args:
        path: relative to the dataset folder ("train.tsv", "train/image/0.png").
        checksum: ``"sha256:<hex>"`` or ``"md5:<hex>"`` (md5 only where the
            publisher gives nothing else); None: unverified (a warning prints the sha256).
        urls: official download URLs, tried in order; empty: the file must be
            put in place by hand (or come from ``$SHENDU_DATASET_MIRROR``).
        checksum_of: "file" (the bytes as stored) or "gunzipped" (the
            decompressed content of a .gz, which any faithful re-compression keeps).
        alternatives: other names accepted in place of ``path`` (an un-gzipped copy).
        extract_prefix: set for a zip archive: after verification it is unpacked
            into the dataset folder, this leading folder stripped, then deleted.
        provides: for an archive: the paths whose presence shows it was unpacked.
    """

    path: str
    checksum: str | None
    urls: tuple[str, ...] = ()
    checksum_of: str = "file"
    alternatives: tuple[str, ...] = ()
    extract_prefix: str | None = None
    provides: tuple[str, ...] = ()

    @property
    def is_archive(self) -> bool:
        return self.extract_prefix is not None

    def present_in(self, folder: Path) -> Path | None:
        """The path holding this file in ``folder`` (any accepted name), or None."""
        if self.is_archive:
            return folder if all((folder / p).exists() for p in self.provides) else None
        for name in (self.path, *self.alternatives):
            if (folder / name).is_file():
                return folder / name
        return None


class Unreachable(Exception):
    """No server answered (connection refused, DNS failure, timeout): the caller reports what to fetch by hand."""


class DownloadFailed(DataError):
    """Every URL of a file answered with an HTTP error (404, 500, ...)."""


# -- checksums -----------------------------------------------------------------------
def split_checksum(checksum: str) -> tuple[str, str]:
    """``"sha256:ab12..."`` -> ``("sha256", "ab12...")``."""
    algorithm, _, digest = checksum.partition(":")
    if algorithm not in ALGORITHMS or not digest:
        raise ValueError(f"checksums read 'sha256:<hex>' or 'md5:<hex>'; received {checksum!r}")
    return algorithm, digest.lower()


def file_digest(path: Path, algorithm: str = "sha256", gunzipped: bool = False) -> str:
    """Hex digest of a file's bytes, or of its decompressed content when ``gunzipped``."""
    digest = hashlib.new(algorithm, usedforsecurity=False)
    try:
        with (gzip.open(path, "rb") if gunzipped else path.open("rb")) as handle:
            for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
                digest.update(chunk)
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(
            f"Cannot read {path} to check it: {error}. The file is corrupt; delete it and fetch it again."
        ) from None
    return digest.hexdigest()


def verify_file(spec: DataFile, path: Path, name: str | None = None) -> str | None:
    """Check ``path`` against ``spec``'s checksum; return an 'expected ..., received ...' problem or None.

    ``name`` is the file's final name when ``path`` is a ``.part`` file: a
    "gunzipped" checksum applies to a ``.gz`` name (an un-gzipped copy is hashed as is).
    """
    if spec.checksum is None:
        return None
    algorithm, expected = split_checksum(spec.checksum)
    gunzipped = spec.checksum_of == "gunzipped" and (name or path.name).endswith(".gz")
    received = file_digest(path, algorithm, gunzipped)
    if received == expected:
        return None
    what = f"{algorithm} of the decompressed content" if gunzipped else algorithm
    return f"expected {what} {expected}, received {received}"


# -- URLs --------------------------------------------------------------------------------
def urls_for(spec: DataFile, dataset: str) -> tuple[str, ...]:
    """Where ``spec`` is fetched from: ``$SHENDU_DATASET_MIRROR/<dataset>/<path>`` if set, else its own URLs."""
    mirror = os.environ.get(MIRROR_VARIABLE, "").strip()
    if mirror:
        return (f"{mirror.rstrip('/')}/{dataset}/{spec.path}",)
    return spec.urls


# -- progress ------------------------------------------------------------------------------
def human_bytes(count: float) -> str:
    """``1234567`` -> ``"1.2 MB"`` (decimal units, as download sizes are quoted)."""
    if count < 1000:
        return f"{count:.0f} B"
    for unit in ("kB", "MB"):
        count /= 1000
        if count < 1000:
            return f"{count:.1f} {unit}"
    return f"{count / 1000:.1f} GB"


class Progress:
    """A download's progress on stderr: a redrawn bar on a terminal, a plain line per 10% elsewhere.

    Args:
        label: what is downloading (the file name).
        total: expected bytes in all, or None when the server does not say.
        done: bytes already there (a resumed download).
        stream: where to write; default ``sys.stderr``.
    """

    def __init__(self, label: str, total: int | None, done: int = 0, stream: IO[str] | None = None):
        self.label, self.total, self.done = label, total, done
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start, self.start_bytes = time.monotonic(), done
        self.last_draw, self.last_tenth = 0.0, self._tenth()

    def _tenth(self) -> int:
        return int(10 * self.done / self.total) if self.total else 0

    def _rate(self) -> float:
        return (self.done - self.start_bytes) / max(time.monotonic() - self.start, 1e-6)

    def _text(self) -> str:
        rate = f"{human_bytes(self._rate())}/s"
        if not self.total:
            return f"{self.label}: {human_bytes(self.done)} ({rate})"
        fraction = min(self.done / self.total, 1.0)
        return f"{self.label}: {fraction:4.0%} {human_bytes(self.done)} of {human_bytes(self.total)} ({rate})"

    def update(self, count: int) -> None:
        self.done += count
        if self.tty:
            now = time.monotonic()
            if now - self.last_draw >= 0.1:
                filled = int(24 * self.done / self.total) if self.total else 0
                bar = f"[{'#' * filled}{'.' * (24 - filled)}] " if self.total else ""
                self.stream.write(f"\r{bar}{self._text()}\033[K")
                self.stream.flush()
                self.last_draw = now
        elif self.total and self._tenth() > self.last_tenth:
            self.last_tenth = self._tenth()
            self.stream.write(self._text() + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write(f"\r{self._text()}\033[K\n")
        elif not self.total:
            self.stream.write(self._text() + "\n")
        self.stream.flush()


# -- one transfer --------------------------------------------------------------------------
def _transfer(url: str, part: Path, label: str, timeout: float) -> bool:
    """Append the rest of ``url`` to ``part`` (Range from its size); True when the server sent everything."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT, **({"Range": f"bytes={offset}-"} if offset else {})}
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:  # the .part already holds the whole file
            return True
        raise
    with response:
        if offset and response.status != 206:
            offset = 0  # the server ignored the Range: start over
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        progress = Progress(label, total, offset)
        received = offset
        with part.open("ab" if offset else "wb") as handle:
            try:
                for chunk in iter(lambda: response.read(CHUNK_BYTES), b""):
                    handle.write(chunk)
                    received += len(chunk)
                    progress.update(len(chunk))
            except (http.client.IncompleteRead, ConnectionError, TimeoutError, OSError):
                pass  # a cut connection: what arrived is kept for the Range request that follows
        progress.close()
    return total is None or received >= total


def fetch(spec: DataFile, destination: Path, dataset: str, *, attempts: int = 3, timeout: float = 30.0) -> Path:
    """Download ``spec`` into ``destination`` (a file path) through a resumable ``.part`` file.

    Tries each URL in turn (the mirror alone when ``$SHENDU_DATASET_MIRROR`` is
    set); an interrupted transfer is resumed with a Range request, up to
    ``attempts`` times; the finished file is verified, then renamed into place.

    Raises:
        Unreachable: no URL could be connected to (offline); the ``.part`` is kept.
        DataError: a checksum mismatch (the bad file is deleted), HTTP errors
            from every URL, or a transfer that kept breaking off.
    """
    urls = urls_for(spec, dataset)
    destination.parent.mkdir(parents=True, exist_ok=True)
    part = destination.with_name(destination.name + ".part")
    failures: list[str] = []
    answered = False  # did any server answer (with an HTTP error)?
    for url in urls:
        for _ in range(attempts):
            try:
                complete = _transfer(url, part, destination.name, timeout)
            except urllib.error.HTTPError as error:
                failures.append(f"{url}: HTTP {error.code} {error.reason}")
                answered = True
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as error:
                failures.append(f"{url}: {getattr(error, 'reason', error)}")
                break
            if complete:
                _finish(spec, part, destination, url)
                return destination
        else:
            held = part.stat().st_size if part.exists() else 0
            raise DataError(
                f"The download of {url} broke off {attempts} times; {human_bytes(held)} are kept in {part}. "
                "Run the same command again to resume from there."
            )
    if failures and not answered:
        raise Unreachable("; ".join(failures))
    if part.exists() and part.stat().st_size == 0:
        part.unlink()
    listed = "\n".join(f"  - {failure}" for failure in failures)
    raise DownloadFailed(f"Cannot download {spec.path} for dataset {dataset!r}:\n{listed}")


def _finish(spec: DataFile, part: Path, destination: Path, url: str) -> None:
    """Verify a complete ``.part``; rename it into place, or delete it and raise with both digests."""
    if spec.checksum is None:
        warnings.warn(
            f"{destination.name} from {url} has no published checksum, so it was not verified; "
            f"its sha256 is {file_digest(part)}.",
            stacklevel=4,
        )
    else:
        problem = verify_file(spec, part, destination.name)
        if problem:
            part.unlink()
            raise DataError(
                f"The download of {url} is corrupt: {problem}. The bad file was deleted. "
                "Run again to retry; if it fails again, the server holds a different file (check the mirror)."
            )
    part.replace(destination)


def unpack(spec: DataFile, archive: Path, folder: Path) -> None:
    """Unzip ``archive`` into ``folder`` (stripping ``spec.extract_prefix``), then delete it.

    Members land in a staging folder first and are moved into place at the end,
    so an interrupted unpacking never looks like a complete dataset.
    """
    staging = folder / ".unpacking"
    shutil.rmtree(staging, ignore_errors=True)
    prefix = spec.extract_prefix or ""
    try:
        with zipfile.ZipFile(archive) as bundle:
            for member in bundle.infolist():
                name = member.filename
                if member.is_dir() or not name.startswith(prefix):
                    continue
                target = (staging / name[len(prefix):]).resolve()
                if not target.is_relative_to(staging.resolve()):
                    raise DataError(
                        f"{archive} holds the entry {name!r}, which points outside its folder; refusing to unpack it."
                    )
                target.parent.mkdir(parents=True, exist_ok=True)
                with bundle.open(member) as source, target.open("wb") as sink:
                    shutil.copyfileobj(source, sink)
    except zipfile.BadZipFile as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise DataError(
            f"{archive} is not a readable zip archive ({error}); delete it and download it again."
        ) from None
    except DataError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if not staging.is_dir():
        raise DataError(f"{archive} holds no files under {prefix!r}; expected the dataset's folders there. "
                        "It is another archive: delete it and download it again.")
    for item in sorted(staging.iterdir()):
        existing = folder / item.name
        if existing.is_dir():
            shutil.rmtree(existing)
        elif existing.exists():
            existing.unlink()
        item.replace(existing)
    staging.rmdir()
    archive.unlink()


def fetch_all(specs: Sequence[DataFile], folder: Path, dataset: str) -> None:
    """Fetch each of ``specs`` into ``folder``, unpacking archives; stops at the first failure."""
    for spec in specs:
        target = fetch(spec, folder / spec.path, dataset)
        if spec.is_archive:
            unpack(spec, target, folder)


__all__ = [
    "DataFile", "Unreachable", "DownloadFailed", "Progress", "fetch", "fetch_all", "unpack", "file_digest",
    "verify_file",
    "split_checksum", "urls_for", "human_bytes", "MIRROR_VARIABLE",
]
