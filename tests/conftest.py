"""Shared fixtures: paths to the real datasets and small real tensors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
# The real datasets sit in ../shared/data beside the checkout; SHENDU_TEST_DATA overrides.
CANDIDATES = [Path(p) for p in (os.environ.get("SHENDU_TEST_DATA"), ROOT.parent / "shared" / "data", "/work/shared/data") if p]
DATA = next((p for p in CANDIDATES if (p / "mnist").is_dir()), CANDIDATES[0])


@pytest.fixture(scope="session")
def data_root() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"real datasets not found at {DATA}")
    return DATA


@pytest.fixture(scope="session")
def digits_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's digits as (N, 64) float inputs in [0, 1] and int64 labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return torch.tensor(digits.data, dtype=torch.float32) / 16.0, torch.tensor(digits.target, dtype=torch.int64)
