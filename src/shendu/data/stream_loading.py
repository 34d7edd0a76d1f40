"""``load_stream``: a ``DataBundle`` whose splits stream from shard folders or Parquet files.

Used by ``load_data`` when ``data.stream=true``. ``data.path`` is one of:

- a shard folder with ``train/`` (and optionally ``val/``, ``test/``)
  subfolders written by :func:`shendu.data.shards.write_shards`, or a single
  split folder holding ``index.json`` (used as train);
- a ``.parquet`` file, a folder of them (train), or a folder with ``train/``
  (``val/``, ``test/``) subfolders of them; ``data.target`` names the target.

Splits follow the in-memory rules (``shendu.data.splits``): a test split of
its own is kept; a validation split without a test split becomes the test
split; what is missing is held out as **whole shards** (Parquet: whole row
groups) drawn with the run's seed, never individual rows, so no pass over the
data is needed. Train streams shuffled (shard order, then a shuffle buffer);
validation and test stream in file order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from shendu.data.imbalance import class_weights_from_counts, detect_imbalance
from shendu.data.loading import DataBundle
from shendu.data.parquet_shards import ParquetShards, parquet_files
from shendu.data.preprocessing import preprocessing_options
from shendu.data.shards import INDEX_NAME, NpyShards
from shendu.data.stream_fit import class_names_of, fit_stream_preprocessing
from shendu.data.streaming import ShardStream
from shendu.errors import ConfigError, DataError, Problem

SPLITS = ("train", "val", "test")
EVAL_BATCH_SIZE = 256


def _unsupported(config: Any) -> list[Problem]:
    """Options that need the whole split in memory, which streaming never has."""
    checks = [
        ("data.limit", config.limit, config.limit is not None, "Leave data.limit unset, or write fewer rows."),
        ("data.split", config.split, config.split not in ("auto", "random"),
         "Streaming holds out whole shards at random; write val/ and test/ folders for another split."),
        ("data.folds", config.folds, config.folds is not None, "Cross-validation needs in-memory data (data.stream=false)."),
        ("data.missing", config.missing, config.missing not in ("mean", "raise"),
         "Streaming imputes with running means; set data.missing=mean (or raise)."),
        ("data.categorical", config.categorical, bool(config.categorical),
         "Streaming reads numeric features only; encode categories as numbers first."),
        ("data.imbalance.resample", config.imbalance.resample, config.imbalance.resample != "none",
         "Resampling needs in-memory data; use data.imbalance.class_weights=true instead."),
        ("data.imbalance.balanced_batches", config.imbalance.balanced_batches, config.imbalance.balanced_batches,
         "Balanced batches need in-memory data; use data.imbalance.class_weights=true instead."),
        ("data.source", config.source, config.source not in (None, "parquet"),
         "Streaming reads data.path (a shard folder or Parquet); convert a catalog dataset with write_shards."),
    ]
    return [Problem(key, value, "a setting that streaming supports", fix) for key, value, bad, fix in checks if bad]


def _is_shard_folder(path: Path) -> bool:
    return (path / INDEX_NAME).is_file()


def open_splits(config: Any, target_kind: str, class_names: list[str] | None = None) -> tuple[dict[str, Any], str]:
    """The shard readers of each split the data ships with, and the format ("shards" or "parquet").

    ``class_names``: a run's classes; Parquet labels are read as those (else found by a scan of train).
    """
    if not config.path:
        raise DataError("data.stream=true needs data.path: a shard folder (write_shards) or Parquet file(s).")
    path = Path(config.path).expanduser()
    if not path.exists():
        raise DataError(f"data.path {path} does not exist. Point it at a shard folder or a Parquet file.")

    def parquet(files: list[Path], class_values: Any = None) -> ParquetShards:
        """class_values (train's, for val / test) take precedence over class_names."""
        return ParquetShards(files, target=config.target, features=config.features, target_kind=target_kind,
                             class_values=class_values, class_names=class_names)

    if path.is_file():
        if path.suffix != ".parquet":
            raise DataError(f"data.stream=true reads shard folders or .parquet files; received the file {path}. "
                            "Convert it with shendu.data.write_shards, or set data.stream=false.")
        return {"train": parquet([path])}, "parquet"
    if _is_shard_folder(path):
        return {"train": NpyShards(path)}, "shards"
    if _is_shard_folder(path / "train"):
        return {name: NpyShards(path / name) for name in SPLITS if _is_shard_folder(path / name)}, "shards"
    if (path / "train").is_dir() and any((path / "train").glob("*.parquet")):
        found = {name: path / name for name in SPLITS if (path / name).is_dir() and any((path / name).glob("*.parquet"))}
        train = parquet(parquet_files(found["train"]))
        others = {name: parquet(parquet_files(folder), train.class_values)
                  for name, folder in found.items() if name != "train"}
        return {"train": train, **others}, "parquet"
    if any(path.glob("*.parquet")):
        return {"train": parquet(parquet_files(path))}, "parquet"
    raise DataError(
        f"{path} is neither a shard folder (train/{INDEX_NAME} written by shendu.data.write_shards) nor Parquet "
        "(a .parquet file, a folder of them, or train/ val/ test/ folders of them). Check data.path."
    )


def hold_out(parts: dict[str, Any], *, val_fraction: float, test_fraction: float, seed: int) -> dict[str, str]:
    """Complete ``parts`` to train / val / test, holding out whole shards; returns where each came from."""
    origins = {"train": "own train split"}
    if "test" in parts:
        origins["test"] = "own test split"
    elif "val" in parts:
        parts["test"] = parts.pop("val")
        origins["test"] = "the data's validation split, used as test (the data has no test split)"
    wanted = [name for name, present in (("test", "test" in parts), ("val", "val" in parts)) if not present]
    if not wanted:
        origins["val"] = "own validation split"
        return origins
    train = parts["train"]
    count = len(train.rows)
    fractions = {"test": test_fraction, "val": val_fraction}
    sizes = {name: max(1, round(fractions[name] * count)) for name in wanted}
    if count - sum(sizes.values()) < 1:
        raise DataError(
            f"Cannot hold out whole shards for {' and '.join(wanted)} from the {count} training shard(s) of "
            f"{train.shard_name(0)}: streaming holds out whole shards, and at least one must stay for training. "
            "Write more, smaller shards (rows_per_shard), or write val/ and test/ folders."
        )
    order = np.random.default_rng([seed % 2**64, 7]).permutation(count)
    taken = 0
    for name in wanted:
        chosen = sorted(int(s) for s in order[taken:taken + sizes[name]])
        taken += sizes[name]
        parts[name] = train.subset(chosen)
        origins[name] = (f"whole shards held out from train: {len(chosen)} of {count} shards ({parts[name].num_rows} rows; "
                         f"data.{name}_fraction={fractions[name]:g} asked), shards {chosen[:20]}"
                         f"{' ...' if len(chosen) > 20 else ''}, seed {seed}")
    parts["train"] = train.subset(sorted(int(s) for s in order[taken:]))
    origins["train"] = "own train split minus the held-out shards"
    return origins


def _check_kinds(shards: Any, target_kind: str) -> None:
    if target_kind == "classification" and not np.issubdtype(shards.target_dtype, np.integer):
        raise DataError(f"The task needs class labels; {shards.shard_name(0)} holds {shards.target_dtype} targets. "
                        "Store integer class indices, or use a regression task.")


def _align(stored: Any, shards: Any) -> None:
    """New data must match what a run's stored preprocessing was fitted on."""
    if shards.input_kind != stored.input_kind or tuple(shards.input_shape) != tuple(stored.input_shape):
        raise DataError(f"The run was trained on {stored.input_kind} inputs {tuple(stored.input_shape)}; "
                        f"{shards.shard_name(0)} holds {shards.input_kind} inputs {tuple(shards.input_shape)}.")
    if stored.input_kind == "tabular" and list(shards.feature_names) != list(stored.feature_names):
        raise DataError(f"The run was trained on features {stored.feature_names}; this data has {shards.feature_names}.")
    if stored.target_kind == "classification":
        names = class_names_of(shards, len(stored.class_names) - 1)
        if names != list(stored.class_names):
            raise DataError(f"The run's classes are {stored.class_names}; this data's are {names}. "
                            "Write the shards with the run's class_names, in the same order.")


def _class_counts(shards: Any, num_classes: int) -> list[int]:
    counts = np.zeros(num_classes, dtype=np.int64)
    for shard in range(len(shards.rows)):
        labels = shards.targets_of(shard)
        counts += np.bincount(labels, minlength=num_classes)[:num_classes]
    return counts.tolist()


def _size(num_bytes: int) -> str:
    return f"{num_bytes / 2**20:.1f} MiB" if num_bytes >= 2**20 else f"{num_bytes / 2**10:.1f} KiB"


def _imbalance(config: Any, counts: np.ndarray, names: list[str]) -> tuple[dict[str, Any], torch.Tensor | None]:
    """Imbalance record of the training counts, and class weights when ``data.imbalance.class_weights``."""
    record = detect_imbalance(counts, names, config.warn_ratio,
                              "data.imbalance.class_weights=true" if config.class_weights else None)
    if not config.class_weights:
        return record, None
    weights = class_weights_from_counts(counts, names)  # from counts: the streamed targets are never held at once
    record["class_weights"] = dict(zip(names, weights.tolist()))
    record["class_weights_from"] = "the training counts of the streamed preprocessing pass"
    return record, weights


def _describe(facts: dict[str, Any], config: Any, parts: dict[str, Any], streams: dict[str, Any],
              preprocessing: Any, train_counts: np.ndarray | None) -> torch.Tensor | None:
    """Add samples, class counts, imbalance, memory and fingerprints to ``facts``; return class weights."""
    facts["samples"] = {name: stream.num_samples for name, stream in streams.items() if stream is not None}
    class_weights = None
    if preprocessing.target_kind == "classification":
        names = preprocessing.class_names
        if train_counts is not None:
            facts["imbalance"], class_weights = _imbalance(config.imbalance, np.asarray(train_counts), names)
        counts = {"train": [int(c) for c in train_counts] if train_counts is not None
                  else _class_counts(parts["train"], len(names))}
        counts.update({name: _class_counts(parts[name], len(names)) for name in ("val", "test") if name in parts})
        facts["class_counts"] = {split: dict(zip(names, values)) for split, values in counts.items()}
    row_bytes, largest = int(parts["train"].row_bytes), int(parts["train"].rows.max())
    facts["streaming"] = {
        "shards": {name: len(part.rows) for name, part in parts.items()},
        "shuffle_buffer": streams["train"].capacity,
        "memory": f"shuffle buffer {_size(streams['train'].capacity * row_bytes)} + one shard "
                  f"<= {_size(largest * row_bytes)} of stored inputs",
    }
    facts["fingerprints"] = {name: part.fingerprint() for name, part in parts.items()}
    return class_weights


def load_stream(config: Any, *, target_kind: str, seed: int, preprocessing: Any = None) -> DataBundle:
    """Open a shard folder or Parquet data as streamed train / val / test splits.

    Use it (through ``load_data`` with ``data.stream=true``) for data larger
    than memory. The train split is a shuffled :class:`ShardStream` in batches
    of 64 until the caller sets ``train.batch_size`` with
    ``bundle.train.with_batch_size``; val and test stream in file order in
    batches of 256.

    Args:
        config: ``shendu.config.DataConfig`` (path, target, features, shuffle_buffer, fractions, scaling).
        target_kind: "classification" or "regression".
        seed: seeds the held-out shards and every epoch's order.
        preprocessing: a run's stored preprocessing, applied instead of fitting one.
    """
    problems = _unsupported(config)
    if target_kind == "regression" and config.imbalance.class_weights:
        problems.append(Problem("data.imbalance.class_weights", True, "false for regression targets",
                                "Set data.imbalance.class_weights=false, or use a classification task."))
    if problems:
        raise ConfigError(problems)
    parts, kind = open_splits(config, target_kind, preprocessing.class_names if preprocessing is not None else None)
    _check_kinds(parts["train"], target_kind)
    try:
        origins = hold_out(parts, val_fraction=config.val_fraction, test_fraction=config.test_fraction, seed=seed)
    except DataError:
        if preprocessing is None:
            raise
        # New data for a trained run, too small to hold shards out: every row is read by --split all.
        origins = {"train": "all of the data (too few shards to hold out val / test; evaluate with split=all)"}
    facts: dict[str, Any] = {"source": kind, "path": str(Path(config.path).expanduser().resolve()),
                             "target_kind": target_kind, "seed": seed}
    if preprocessing is None:
        options = preprocessing_options(config)
        preprocessing, train_counts = fit_stream_preprocessing(
            parts["train"], target_kind=target_kind, scaling_name=options["scaling"],
            target_transform=options["target_transform"], missing=options["missing"])
        facts["preprocessing"] = "fitted on the training split in one streamed pass"
    else:
        for part in parts.values():
            _align(preprocessing, part)
        train_counts = None
        facts["preprocessing"] = "stored with the run (not refitted)"
    streams = {
        "train": ShardStream(parts["train"], preprocessing, shuffle=True, seed=seed, shuffle_buffer=config.shuffle_buffer,
                             name="the train split"),
        **{name: ShardStream(parts[name], preprocessing, batch_size=EVAL_BATCH_SIZE, shuffle=False,
                             name=f"the {name} split") if name in parts else None for name in ("val", "test")},
    }
    facts["preprocessing_options"] = preprocessing.summary()
    facts["splits"] = origins
    class_weights = _describe(facts, config, parts, streams, preprocessing, train_counts)
    return DataBundle(
        train=streams["train"], val=streams["val"], test=streams["test"], input_kind=preprocessing.input_kind,
        input_shape=tuple(preprocessing.input_shape), class_names=preprocessing.class_names,
        target_names=preprocessing.target_names, feature_names=preprocessing.feature_names,
        preprocessing=preprocessing, description=facts, class_weights=class_weights,
    )


__all__ = ["load_stream", "open_splits", "hold_out"]
