"""The dataset catalogue: named datasets, where their files are, and fetching them.

``CATALOG`` maps each name (``shendu list datasets``) to a :class:`DatasetEntry`:
what the dataset is, the reader its files resolve to, and the files it needs
with their checksums and official URLs. Each entry is also a registered
``DATASETS`` source, so ``data.source=sst2`` works like any other source.

``locate(name)`` finds the folder holding a dataset's files, in this order:
an explicit ``data.path`` (or its ``<name>/`` subfolder), ``$SHENDU_DATA/<name>``,
``~/.cache/shendu/<name>``. When files are missing and downloading is allowed,
they are fetched into ``$SHENDU_DATA/<name>`` (else ``~/.cache/shendu/<name>``)
with resumption and checksum verification (``shendu.data.download``); offline,
the error lists exactly which files to put in which folder and where to get
them. ``$SHENDU_DATASET_MIRROR`` replaces the official URLs by
``<mirror>/<dataset>/<relative path>``.
"""

from __future__ import annotations

import os
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from shendu.data.catalog_entries import ENTRIES, DatasetEntry
from shendu.data.download import DataFile, DownloadFailed, Unreachable, fetch_all, urls_for, verify_file
from shendu.data.registry import DATASETS
from shendu.data.sources import not_data_error, read_bundled
from shendu.data.splits import RawData
from shendu.errors import DataError

CATALOG: dict[str, DatasetEntry] = {entry.name: entry for entry in ENTRIES}
"""Every named dataset: name -> :class:`DatasetEntry` (files, checksums, URLs, reader)."""

LISTED_FILES = 12  # an error lists this many missing files by name; longer lists are grouped by folder


def catalog_entry(name: str | DatasetEntry) -> DatasetEntry:
    """The entry for ``name`` (an entry is returned as is); a did-you-mean error for an unknown name."""
    if isinstance(name, DatasetEntry):
        return name
    if name not in CATALOG:
        raise DATASETS.unknown(name)
    return CATALOG[name]


# -- where files are looked for ---------------------------------------------------------------
def default_folders(name: str) -> list[Path]:
    """``$SHENDU_DATA/<name>`` (when set), then ``~/.cache/shendu/<name>``."""
    store = os.environ.get("SHENDU_DATA", "").strip()
    folders = [Path(store).expanduser() / name] if store else []
    return folders + [Path.home() / ".cache" / "shendu" / name]


def search_folders(name: str, path: str | Path | None = None) -> list[Path]:
    """Where dataset ``name`` is looked for: ``path`` and ``path/<name>`` if given, else :func:`default_folders`.

    A ``path`` naming one of the dataset's files stands for the folder holding it.
    """
    if path is None or str(path) == "":
        return default_folders(name)
    folder = Path(path).expanduser()
    if folder.is_file():
        folder = folder.parent
    return [folder, folder / name]


def missing_files(entry: DatasetEntry, folder: Path) -> list[DataFile]:
    """The files of ``entry`` that ``folder`` lacks (any accepted name counts as present)."""
    return [spec for spec in entry.files if spec.present_in(folder) is None]


def find(name: str | DatasetEntry, path: str | Path | None = None) -> Path | None:
    """The first search folder holding every file of the dataset, or None."""
    entry = catalog_entry(name)
    return next((f for f in search_folders(entry.name, path) if f.is_dir() and not missing_files(entry, f)), None)


def _writable_folder(name: str) -> Path | None:
    for folder in default_folders(name):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK):
            return folder
    return None


# -- the messages ------------------------------------------------------------------------------
def _file_lines(specs: list[DataFile], folder: Path, dataset: str) -> list[str]:
    """``folder/path`` (and where to get it) per file; long lists grouped by subfolder."""
    if len(specs) <= LISTED_FILES:
        lines = []
        for spec in specs:
            urls = urls_for(spec, dataset)
            source = f"from {urls[0]}" if urls else "not downloadable: see below where to get it"
            lines += [f"  {folder / spec.path}", f"      {source}"]
        return lines
    groups: dict[str, list[str]] = defaultdict(list)
    for spec in specs:
        parent, _, base = spec.path.rpartition("/")
        groups[parent].append(base)
    return [
        f"  {folder / parent if parent else folder}{os.sep}  {len(names)} file(s): {', '.join(names[:4])}"
        f"{', ...' if len(names) > 4 else ''}"
        for parent, names in groups.items()
    ] + [f"  (the full list with checksums: shendu.data.catalog.CATALOG[{dataset!r}].files)"]


def missing_message(entry: DatasetEntry, folder: Path, reason: str, looked: list[Path]) -> str:
    """The error for the files ``folder`` lacks: which files to put where, where to get them, and why."""
    specs = missing_files(entry, folder)
    lines = [f"Dataset {entry.name!r} is missing {len(specs)} file(s), and {reason}. Put them here:"]
    lines += _file_lines(specs, folder, entry.name)
    if entry.origin:
        manual = any(not urls_for(spec, entry.name) for spec in specs)
        lines.append(f"{'Get them' if manual else 'Or get them by hand'} from: {entry.origin}")
    lines.append("Looked in: " + ", ".join(str(f) for f in looked) + ".")
    return "\n".join(lines)


def _missing_error(entry: DatasetEntry, folder: Path, reason: str, looked: list[Path]) -> DataError:
    return DataError(missing_message(entry, folder, reason, looked))


def _explicit_path_error(entry: DatasetEntry, path: str | Path, download: bool) -> DataError:
    looked = search_folders(entry.name, path)
    folder = min((f for f in looked if f.is_dir()), key=lambda f: len(missing_files(entry, f)), default=looked[0])
    fallback = default_folders(entry.name)[0]
    reason = (
        f"data.path points at {Path(path).expanduser()}, so shendu does not download into it "
        f"(unset data.path to download into {fallback})"
        if download else "data.download is false"
    )
    return _missing_error(entry, folder, reason, looked)


# -- locate --------------------------------------------------------------------------------------
def _no_files(entry: DatasetEntry) -> str | None:
    """Why a bundled set or an environment has no files to locate; None for a dataset with files."""
    if entry.bundled_with:
        return f"bundled with {entry.bundled_with}, nothing to download"
    if entry.environment:
        return f"a gymnasium environment ({entry.environment}), no files"
    return None


def locate(name: str | DatasetEntry, path: str | Path | None = None, download: bool = True) -> Path:
    """The folder holding every file of a catalogue dataset, downloading missing ones if allowed.

    Looks in ``path`` (and ``path/<name>``) when given, else ``$SHENDU_DATA/<name>``
    then ``~/.cache/shendu/<name>``. Missing files are downloaded into
    ``$SHENDU_DATA/<name>`` (else ``~/.cache/shendu/<name>``), each verified
    against its checksum; nothing is downloaded into an explicit ``path``.

    Args:
        name: a catalogue name ("sst2") or a :class:`DatasetEntry`.
        path: a folder (or one of the dataset's files) to use instead of the defaults.
        download: fetch missing files; False: fail with the list of files to put in place.

    Raises:
        DataError: bundled sets and environments have no files; files are missing
            and cannot be downloaded (offline, ``download=False``, or manual files):
            the message lists each file's full destination path and its source.
    """
    entry = catalog_entry(name)
    what = _no_files(entry)
    if what:
        raise DataError(f"Dataset {entry.name!r} is {what}: there is no folder to locate. "
                        f"Use data.source={entry.name} directly.")
    found = find(entry, path)
    if found is not None:
        return found
    if path is not None and str(path) != "":
        raise _explicit_path_error(entry, path, download)
    looked = default_folders(entry.name)
    destination = _writable_folder(entry.name) if download else None
    if destination is None:
        reason = "data.download is false" if not download else "none of these folders is writable"
        raise _missing_error(entry, looked[0], reason, looked)
    try:
        _download_missing(entry, destination, looked)
    except DataError:
        if not any(destination.iterdir()):
            destination.rmdir()  # leave no empty folder behind a failed first download
        raise
    return destination


def _download_missing(entry: DatasetEntry, destination: Path, looked: list[Path]) -> None:
    """Fetch the files ``destination`` lacks; manual files and an unreachable server fail with the list."""
    missing = missing_files(entry, destination)
    if any(not urls_for(spec, entry.name) for spec in missing):
        raise _missing_error(entry, destination, "shendu cannot download them (no official copy has this layout; "
                             "a $SHENDU_DATASET_MIRROR can serve them)", looked)
    print(f"Downloading dataset {entry.name!r}: {len(missing)} file(s) into {destination}", file=sys.stderr)
    try:
        fetch_all(missing, destination, entry.name)
    except Unreachable as error:
        raise _missing_error(entry, destination, f"the download server cannot be reached ({error})", looked) from None
    except DownloadFailed as error:
        raise DataError(f"{error}\n" + missing_message(entry, destination, "the download failed", looked)) from None


def where(name: str | DatasetEntry, path: str | Path | None = None) -> str:
    """One line on where a dataset's files are, or why it has none (``shendu data where NAME``); never downloads."""
    entry = catalog_entry(name)
    what = _no_files(entry)
    if what:
        return f"{entry.name}: {what}"
    found = find(entry, path)
    if found is not None:
        return f"{entry.name}: {len(entry.files)} file(s) in {found}"
    looked = search_folders(entry.name, path)
    return (f"{entry.name}: not found (looked in {', '.join(str(f) for f in looked)}); "
            f"{len(entry.files)} file(s) would be downloaded into {default_folders(entry.name)[0]}")


VERIFIED, UNPACKED, UNVERIFIED = "ok", "unpacked", "present (no published checksum)"
"""The statuses :func:`verify` gives a file that is in place (anything else names a problem)."""


def verify_passed(report: dict[str, str]) -> bool:
    """Whether every file of a :func:`verify` report is in place."""
    return all(status in (VERIFIED, UNPACKED, UNVERIFIED) for status in report.values())


def verify(name: str | DatasetEntry, path: str | Path | None = None) -> dict[str, str]:
    """Check every file of a located dataset against its checksum: relative path -> "ok" or the problem.

    Never downloads. Archives are checked when downloaded and deleted once
    unpacked, so an unpacked one reads "unpacked".
    """
    entry = catalog_entry(name)
    folder = find(entry, path)
    if folder is None:
        looked = search_folders(entry.name, path)
        candidate = next((f for f in looked if f.is_dir()), looked[0])
        return {spec.path: "missing" for spec in missing_files(entry, candidate)} or {"": "not found"}
    report = {}
    for spec in entry.files:
        present = spec.present_in(folder)
        if spec.is_archive:
            report[spec.path] = UNPACKED
        elif spec.checksum is None:
            report[spec.path] = UNVERIFIED
        else:
            report[spec.path] = verify_file(spec, present) or VERIFIED  # type: ignore[arg-type]
    return report


# -- reading a catalogue dataset -------------------------------------------------------------------
def with_hints(config: Any, name: str) -> Any:
    """``config`` with catalogue dataset ``name``'s hints (target column, time split, ...) for every
    setting the user did not set; unchanged for any other source. ``load_data`` applies it before splitting."""
    hints = CATALOG[name].hints if name in CATALOG else {}
    # A setting at its default counts as unset: a run's saved config spells every default out.
    defaults = {key: field.default for key, field in type(config).model_fields.items()}
    update = {key: value for key, value in hints.items()
              if key not in config.model_fields_set or getattr(config, key) == defaults.get(key)}
    return config.model_copy(update=update) if update else config


def reader_config(entry: DatasetEntry, config: Any, folder: Path) -> Any:
    """The ``DataConfig`` the reader source receives: the located path, and the entry's hints."""
    path = folder / entry.reader_path if entry.reader_path else folder
    return with_hints(config, entry.name).model_copy(update={"source": entry.reader, "path": str(path)})


def load_entry(entry: DatasetEntry, config: Any, target_kind: str) -> RawData:
    """Read a catalogue dataset: locate (and fetch) its files, then hand them to its reader."""
    problem = not_data_error(entry.name, DATASETS.entry(entry.name).tags)
    if problem:
        raise problem
    if entry.bundled_with:
        return read_bundled(entry.name, config, target_kind)
    folder = locate(entry, config.path, download=config.download)
    if entry.reader not in DATASETS:
        raise DataError(f"Dataset {entry.name!r} is read by the {entry.reader!r} reader, which this installation "
                        f"lacks. Its files are in {folder}.")
    raw = DATASETS.entry(entry.reader).constructor(reader_config(entry, config, folder), target_kind=target_kind)
    raw.description = {**raw.description, "source": entry.name, "reader": entry.reader}
    if entry.class_names:  # the entry names the classes its reader only numbers (Fashion-MNIST's "T-shirt/top", ...)
        _name_classes(raw, entry, folder)
    return raw


def _name_classes(raw: RawData, entry: DatasetEntry, folder: Path) -> None:
    names = list(entry.class_names)
    largest = max((int(part.targets.max()) for part in raw.splits.values() if len(part)), default=-1)
    if largest >= len(names):
        raise DataError(
            f"{entry.name} in {folder} holds label {largest}; expected class indices 0-{len(names) - 1}. "
            "A file is from another dataset: remove it and let shendu download it again (shendu data download "
            f"{entry.name})."
        )
    raw.class_names = names


def _constructor(entry: DatasetEntry) -> Any:
    def read(config: Any, *, target_kind: str = entry.target_kinds[0]) -> RawData:
        return load_entry(entry, config, target_kind)

    read.__doc__ = entry.doc
    read.__name__ = read.__qualname__ = entry.name.replace("-", "_")
    return read


def register(entry: DatasetEntry) -> None:
    """Enrol a catalogue entry in ``DATASETS`` with its tags (``shendu list datasets`` / ``explain``)."""
    DATASETS.add(
        entry.name, _constructor(entry), input_kind=entry.input_kind, target_kinds=entry.target_kinds,
        reader=entry.reader, files=entry.files, hints=dict(entry.hints), bundled_with=entry.bundled_with,
        environment=entry.environment, awaiting_task=entry.awaiting_task,
    )


for _entry in ENTRIES:
    register(_entry)


__all__ = ["CATALOG", "DatasetEntry", "DataFile", "locate", "find", "verify", "where", "search_folders",
           "default_folders", "missing_files", "reader_config", "with_hints", "catalog_entry"]
