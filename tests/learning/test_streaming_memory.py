"""Streaming trains on a generated dataset larger than 2 GB on disk with peak memory under 1 GB.

The dataset (uint8 3x32x32 images of 10 classes, each class a fixed bright
pattern over noise) is written as shards in chunks, so generating it stays
small too. A child process trains on it through ``shendu.api.train`` with
``data.stream=true`` for one full epoch and reports its own peak resident
memory (VmHWM: anonymous memory plus mapped file pages), which is asserted.
The files are deleted at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from shendu.data.shards import write_shards

pytestmark = pytest.mark.learning

SHAPE = (3, 32, 32)
ROWS_PER_SHARD = 16384  # 48 MiB of pixels per shard
TRAIN_SHARDS = 44  # 44 x 16384 x 3072 bytes = 2.22e9 bytes > 2 GiB
PEAK_LIMIT = 2**30

# The claim is about memory; one thread keeps the epoch fast on a 2-core machine shared with other
# processes, where OpenMP threads spin-waiting on each other make two threads many times slower.
CHILD = r"""
import json, sys, time
import torch
torch.set_num_threads(1)
import shendu.api as api
started = time.perf_counter()
run = api.train(task="image-classification", data={"path": sys.argv[1], "stream": True, "shuffle_buffer": 8192},
                model={"name": "mlp", "hidden_sizes": [16]}, optimizer={"name": "adamw", "lr": 0.003},
                train={"epochs": 1, "batch_size": 1024, "progress": "none"},
                output={"dir": sys.argv[2], "plots": False})
status = open("/proc/self/status").read()
manifest = json.loads((run.path / "manifest.json").read_text())
print(json.dumps({"peak_bytes": int(status.split("VmHWM:")[1].split()[0]) * 1024,
                  "seconds": time.perf_counter() - started, "steps": run.summary["steps"],
                  "phases": run.summary["seconds"], "test_accuracy": run.metrics["test"]["accuracy"],
                  "data": manifest["data"]}))
"""


def write_dataset(root: Path) -> int:
    """train/ (> 2 GiB), val/ and test/ (one shard each); returns the bytes of train/ on disk."""
    rng = np.random.default_rng(0)
    width = int(np.prod(SHAPE))
    noise = rng.integers(0, 160, size=(4096, width), dtype=np.uint8)
    patterns = ((rng.random((10, width)) < 0.2) * 90).astype(np.uint8)  # 160 + 90 stays within uint8

    def chunks(count: int, seed: int):
        chunk_rng = np.random.default_rng(seed)
        for _ in range(count):
            labels = chunk_rng.integers(0, 10, ROWS_PER_SHARD)
            images = noise[chunk_rng.integers(0, len(noise), ROWS_PER_SHARD)]
            images += patterns[labels]
            yield images.reshape(ROWS_PER_SHARD, *SHAPE), labels

    names = [str(i) for i in range(10)]
    write_shards(root / "train", chunks(TRAIN_SHARDS, 1), rows_per_shard=ROWS_PER_SHARD, class_names=names)
    write_shards(root / "val", chunks(1, 2), rows_per_shard=ROWS_PER_SHARD, class_names=names)
    write_shards(root / "test", chunks(1, 3), rows_per_shard=ROWS_PER_SHARD, class_names=names)
    return sum(path.stat().st_size for path in (root / "train").iterdir())


def test_streaming_trains_on_more_than_2_gb_with_under_1_gb_of_memory(tmp_path):
    root, runs = tmp_path / "big", tmp_path / "runs"
    try:
        started = time.perf_counter()
        train_bytes = write_dataset(root)
        written = time.perf_counter() - started
        assert train_bytes > 2 * 2**30
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        result = subprocess.run([sys.executable, "-c", CHILD, str(root), str(runs)], capture_output=True, text=True,
                                timeout=900, env=env, check=False)
        assert result.returncode == 0, result.stderr[-4000:]
        report = json.loads(result.stdout.strip().splitlines()[-1])
        samples = report["data"]["samples"]
        row_bytes = int(np.prod(SHAPE))
        # Each epoch streams every training row exactly once (tests/unit/test_streaming.py); the
        # preprocessing fit is one more pass; validation and test are read at the end.
        streamed = 2 * samples["train"] * row_bytes + 2 * samples["val"] * row_bytes + samples["test"] * row_bytes
        print(f"\ndataset: {train_bytes / 1e9:.2f} GB of train shards on disk ({samples['train']} samples), "
              f"written in {written:.1f} s")
        print(f"child: peak RSS {report['peak_bytes'] / 2**20:.0f} MiB (limit {PEAK_LIMIT / 2**20:.0f} MiB), "
              f"read {streamed / 1e9:.2f} GB (fit pass + 1 epoch + val/test), {report['seconds']:.1f} s "
              f"({report['phases']}), {report['steps']} steps, test accuracy {report['test_accuracy']:.3f}")
        assert report["steps"] * 1024 >= samples["train"]  # the whole epoch was trained
        assert report["peak_bytes"] < PEAK_LIMIT
        assert report["test_accuracy"] > 0.9  # it learned from what it read
    finally:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(runs, ignore_errors=True)
