"""A training process SIGKILLed mid-epoch resumes to the same final weights, bitwise."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

pytestmark = pytest.mark.learning


def train_command(mnist: Path, output: Path) -> list[str]:
    return [
        sys.executable, "-m", "shendu.cli", "train", "--task", "image-classification", "--data", str(mnist),
        "--output-dir", str(output), "--progress", "lines",
        "output.name=kill", "data.limit=8000", "model={name: cnn, channels: [16, 32], hidden_size: 64}",
        "optimizer={name: adamw, lr: 0.003}", "schedule=one-cycle",
        "train.epochs=3", "train.batch_size=64", "train.checkpoint_every_steps=10",
    ]


def read_state(run: Path) -> dict | None:
    try:
        return json.loads((run / "checkpoints" / "last" / "state.json").read_text())["state"]
    except (OSError, json.JSONDecodeError):
        return None


def test_sigkill_mid_epoch_then_resume_equals_uninterrupted_run(data_root, tmp_path):
    mnist = data_root / "mnist"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    reference_dir, killed_dir = tmp_path / "reference", tmp_path / "killed"
    subprocess.run(train_command(mnist, reference_dir), check=True, env=env, capture_output=True, timeout=600)

    process = subprocess.Popen(train_command(mnist, killed_dir), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    run = killed_dir / "kill-0001"
    deadline = time.monotonic() + 300
    state = None
    while time.monotonic() < deadline and process.poll() is None:
        state = read_state(run)
        if state and state["epoch"] == 1 and state["batch"] >= 20:  # mid epoch 2
            break
        time.sleep(0.01)
    assert process.poll() is None, "training finished before it could be killed: " + process.stderr.read().decode()[-2000:]
    time.sleep(0.1)  # let it run past the checkpoint, so work is lost and redone
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    killed_at = read_state(run)
    assert killed_at["epoch"] == 1 and 0 < killed_at["batch"]
    assert not (run / "summary.json").exists()

    resumed = subprocess.run([sys.executable, "-m", "shendu.cli", "train", "--resume", str(run), "--progress", "lines"],
                             env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    expected = load_file(str(reference_dir / "kill-0001" / "checkpoints" / "last" / "model.safetensors"))
    actual = load_file(str(run / "checkpoints" / "last" / "model.safetensors"))
    assert expected.keys() == actual.keys()
    for name in expected:
        assert torch.equal(expected[name], actual[name]), name
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    reference_records = [json.loads(line) for line in (reference_dir / "kill-0001" / "metrics.jsonl").read_text().splitlines()]
    history = [r for r in records if "kind" not in r]
    reference_history = [r for r in reference_records if "kind" not in r]
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert [r["val"] for r in history] == [r["val"] for r in reference_history]
    # Gradient-norm records after the checkpoint were dropped and recomputed: the same lines, once each.
    diagnostics = [r for r in records if r.get("kind") == "diagnostics"]
    assert diagnostics and diagnostics == [r for r in reference_records if r.get("kind") == "diagnostics"]
