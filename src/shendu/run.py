"""A run directory: layout, manifest, metrics log, checkpoints.

Layout (``runs/<name>-<NNNN>/``)::

    config.yaml        the resolved run configuration
    manifest.json      versions, platform, seed, data fingerprints, git commit, times
    data.json          preprocessing fitted on train (input kind and shape, classes,
                       statistics), re-applied by predict and evaluate
    metrics.jsonl      one JSON object per logged epoch (or step)
    checkpoints/last/  model.safetensors, training.safetensors, state.json
    checkpoints/best/  the same, for the best epoch by the monitored metric
    plots/             loss and metric curves, confusion matrix
    predictions/       what ``predict`` writes
    summary.json       final metrics per split, best epoch, wall times

Nothing in it is a pickle. Checkpoint writes are atomic: files go to a
temporary directory, are fsynced, and replace the old checkpoint by rename; a
crash between the two renames leaves ``.<name>.old`` which ``load`` recovers.
Each checkpoint's ``state.json`` carries the SHA-256 of its tensor files,
verified on load.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from shendu.errors import CheckpointError

CHECKPOINT_FILES = ("model.safetensors", "training.safetensors")


# -- structures with tensors <-> (JSON, tensor dict) ---------------------------
def split_tensors(value: Any, prefix: str = "") -> tuple[Any, dict[str, torch.Tensor]]:
    """Replace every tensor in a nested structure by a reference; return (json, tensors).

    Tuples and dicts with non-string keys are tagged so that :func:`join_tensors`
    rebuilds exactly the original structure (optimizer state dicts use int keys).
    """
    tensors: dict[str, torch.Tensor] = {}

    def encode(node: Any, path: str) -> Any:
        if isinstance(node, torch.Tensor):
            key = path or "value"
            tensors[key] = node.detach().cpu().contiguous()
            return {"__tensor__": key}
        if isinstance(node, Mapping):
            if all(isinstance(k, str) for k in node):
                return {k: encode(v, f"{path}.{k}" if path else k) for k, v in node.items()}
            return {"__items__": [[k, encode(v, f"{path}.{k}")] for k, v in node.items()]}
        if isinstance(node, tuple):
            return {"__tuple__": [encode(v, f"{path}.{i}") for i, v in enumerate(node)]}
        if isinstance(node, list):
            return [encode(v, f"{path}.{i}") for i, v in enumerate(node)]
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        raise TypeError(f"cannot store a {type(node).__name__} in a checkpoint at {path!r}")

    return encode(value, prefix), tensors


def join_tensors(value: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    """Inverse of :func:`split_tensors`."""
    if isinstance(value, dict):
        if set(value) == {"__tensor__"}:
            return tensors[value["__tensor__"]]
        if set(value) == {"__tuple__"}:
            return tuple(join_tensors(v, tensors) for v in value["__tuple__"])
        if set(value) == {"__items__"}:
            return {k: join_tensors(v, tensors) for k, v in value["__items__"]}
        return {k: join_tensors(v, tensors) for k, v in value.items()}
    if isinstance(value, list):
        return [join_tensors(v, tensors) for v in value]
    return value


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to ``path`` via a temporary file, fsync and rename."""
    path = Path(path)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2, default=str)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


# -- checkpoints -------------------------------------------------------------
def _unshared(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Copies of tensors that share storage with an earlier one (tied weights: a language model's embedding
    and output layer); safetensors refuses shared storage, and loading fills both names from equal values."""
    seen: set[int] = set()
    result = {}
    for key, tensor in tensors.items():
        pointer = tensor.untyped_storage().data_ptr()
        result[key] = tensor.clone() if pointer in seen else tensor
        seen.add(pointer)
    return result


def save_checkpoint(directory: Path, model_state: Mapping[str, torch.Tensor], training: Any, state: dict) -> Path:
    """Atomically write a checkpoint directory.

    Args:
        directory: e.g. ``run/checkpoints/last``; replaced as a whole.
        model_state: the model's ``state_dict()``.
        training: nested structure (optimizer, schedule, RNG, ...) with tensors.
        state: JSON-able progress (epoch, step, history, ...).
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.tmp-"))
    try:
        model_tensors = _unshared({k: v.detach().cpu().contiguous() for k, v in model_state.items()})
        save_file(model_tensors, str(temporary / "model.safetensors"))
        training_json, training_tensors = split_tensors(training)
        save_file(training_tensors, str(temporary / "training.safetensors"))
        checksums = {}
        for name in CHECKPOINT_FILES:
            _fsync(temporary / name)
            checksums[name] = sha256(temporary / name)
        document = {"format": 1, "state": state, "training": training_json, "sha256": checksums}
        write_json_atomic(temporary / "state.json", document)
        old = directory.parent / f".{directory.name}.old"
        if old.exists():
            shutil.rmtree(old)
        if directory.exists():
            os.replace(directory, old)
        os.replace(temporary, directory)
        if old.exists():
            shutil.rmtree(old)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)
    return directory


def load_checkpoint(directory: Path) -> tuple[dict[str, torch.Tensor], Any, dict]:
    """Read a checkpoint written by :func:`save_checkpoint`, verifying checksums.

    Returns ``(model_state, training, state)``.
    """
    directory = Path(directory)
    if not directory.exists():
        old = directory.parent / f".{directory.name}.old"
        if old.exists():  # killed between the two renames of save_checkpoint
            directory = old
        else:
            raise CheckpointError(
                f"No checkpoint at {directory}. Expected a directory with state.json and "
                f"{', '.join(CHECKPOINT_FILES)}. Check the run path; a run killed before its "
                "first checkpoint cannot be resumed — start it again."
            )
    try:
        document = json.loads((directory / "state.json").read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise CheckpointError(f"Checkpoint {directory}/state.json is unreadable ({error}). It is corrupt; use another checkpoint.") from None
    for name in CHECKPOINT_FILES:
        expected = document.get("sha256", {}).get(name)
        path = directory / name
        actual = sha256(path) if path.exists() else "missing"
        if actual != expected:
            raise CheckpointError(
                f"Checkpoint file {path} failed its checksum: expected sha256 {expected}, "
                f"received {actual}. The file is corrupt or was changed; use the other "
                "checkpoint (best/last) or retrain."
            )
    try:
        # Cloned: safetensors hands back tensors at unaligned offsets, on which some kernels
        # (L-BFGS's dot products) round differently, and exact resume must be bitwise.
        model_state = {k: v.clone() for k, v in load_file(str(directory / "model.safetensors")).items()}
        training_tensors = {k: v.clone() for k, v in load_file(str(directory / "training.safetensors")).items()}
    except SafetensorError as error:
        raise CheckpointError(f"Checkpoint {directory} cannot be read: {error}") from None
    return model_state, join_tensors(document["training"], training_tensors), document["state"]


# -- the run directory --------------------------------------------------------
def _git_commit() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def environment() -> dict[str, str]:
    """Versions a user pastes into a bug report (``shendu env``)."""
    from importlib.metadata import PackageNotFoundError, version

    info = {"python": sys.version.split()[0], "platform": platform.platform(), "torch": torch.__version__}
    for package in ("shendu", "numpy", "torchmetrics", "safetensors", "pydantic", "scikit-learn", "pandas", "pillow", "matplotlib"):
        try:
            info[package] = version(package)
        except PackageNotFoundError:
            info[package] = "not installed"
    info["cuda"] = torch.version.cuda or "none"
    info["cuda_available"] = str(torch.cuda.is_available())
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    info["threads"] = str(torch.get_num_threads())
    return info


def numbered_directory(parent: str | Path, name: str) -> Path:
    """Create ``parent/<name>-<NNNN>`` with the next free number (safe against concurrent creators)."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "run"
    pattern = re.compile(re.escape(safe) + r"-(\d{4,})$")
    numbers = [int(m.group(1)) for p in parent.iterdir() if (m := pattern.match(p.name))]
    number = max(numbers, default=0) + 1
    while True:
        path = parent / f"{safe}-{number:04d}"
        try:
            path.mkdir()
            return path
        except FileExistsError:  # another process took it
            number += 1


class RunDirectory:
    """One run's directory on disk (see the module docstring for the layout)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    # creation and opening
    @classmethod
    def create(cls, parent: str | Path, name: str) -> RunDirectory:
        """Make ``parent/<name>-<NNNN>`` with the next free number."""
        path = numbered_directory(parent, name)
        for sub in ("checkpoints", "plots", "predictions"):
            (path / sub).mkdir()
        return cls(path)

    @classmethod
    def open(cls, path: str | Path) -> RunDirectory:
        run = cls(path)
        if not (run.path / "config.yaml").is_file():
            raise CheckpointError(
                f"{run.path} is not a shendu run directory: expected {run.path / 'config.yaml'}. "
                "Pass the directory printed by 'shendu train' (e.g. runs/mnist-cnn-0001)."
            )
        return run

    # paths
    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    def checkpoint(self, which: str = "last") -> Path:
        return self.path / "checkpoints" / which

    @property
    def plots(self) -> Path:
        return self.path / "plots"

    @property
    def predictions(self) -> Path:
        return self.path / "predictions"

    # documents
    def write_json(self, name: str, data: Any) -> None:
        write_json_atomic(self.path / name, data)

    def read_json(self, name: str) -> Any:
        path = self.path / name
        if not path.is_file():
            raise CheckpointError(f"{path} is missing; the run directory is incomplete. Retrain, or pass a finished run.")
        return json.loads(path.read_text())

    def write_manifest(self, seed: int, data_description: dict, started: str) -> None:
        self.write_json(
            "manifest.json",
            {"shendu_format": 1, "environment": environment(), "git_commit": _git_commit(),
             "seed": seed, "data": data_description, "started": started, "finished": None},
        )

    def update_manifest(self, **fields: Any) -> None:
        manifest = self.read_json("manifest.json")
        manifest.update(fields)
        self.write_json("manifest.json", manifest)

    def log(self, record: Mapping[str, Any]) -> None:
        """Append one JSON line to metrics.jsonl (flushed, so a crash loses nothing earlier)."""
        with open(self.metrics_path, "a") as handle:
            handle.write(json.dumps(record, default=float) + "\n")
            handle.flush()

    def records(self) -> list[dict]:
        """Every line of metrics.jsonl: epoch records and step records with a ``kind`` (diagnostics)."""
        if not self.metrics_path.is_file():
            return []
        return [json.loads(line) for line in self.metrics_path.read_text().splitlines() if line.strip()]

    def history(self, kind: str = "epoch") -> list[dict]:
        """The records of one kind: "epoch" (one per epoch, no ``kind`` key) or e.g. "diagnostics"."""
        return [r for r in self.records() if r.get("kind", "epoch") == kind]

    def truncate_log(self, last_epoch: int, last_step: int | None = None) -> None:
        """Drop records after ``last_epoch`` (and step records after ``last_step``): a resumed run rewrites them."""
        def kept_record(record: dict) -> bool:
            if "kind" in record and last_step is not None:
                return record.get("step", 0) <= last_step
            return record.get("epoch", 0) <= last_epoch

        kept = [r for r in self.records() if kept_record(r)]
        with open(self.metrics_path, "w") as handle:
            for record in kept:
                handle.write(json.dumps(record) + "\n")

    def __repr__(self) -> str:
        return f"RunDirectory({str(self.path)!r})"
