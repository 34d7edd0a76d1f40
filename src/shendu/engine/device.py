"""Device, precision and data placement."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> the first CUDA GPU when there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"train.device={name!r} but no CUDA GPU is available here. Set train.device=auto or cpu."
        )
    return device


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' -> bf16 autocast on CUDA GPUs that support it, fp32 elsewhere.

    Kept fp32 on CPUs: without AVX512-BF16, bf16 autocast is ~10x slower.
    """
    if precision != "auto":
        if precision == "fp16" and device.type == "cpu":
            raise ValueError("train.precision=fp16 needs a CUDA GPU. Set train.precision=fp32 or bf16.")
        return precision
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"
    return "fp32"


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def place(tensors: Sequence[torch.Tensor], device: torch.device, budget_fraction: float = 0.5) -> tuple[torch.Tensor, ...]:
    """Move whole tensors to ``device`` when they fit; else pin them for fast copies.

    On a GPU the data stays resident when it takes under ``budget_fraction`` of
    the free memory, so batching is an index_select on the device.
    """
    if device.type != "cuda":
        return tuple(t.to(device) for t in tensors)
    size = sum(t.numel() * t.element_size() for t in tensors)
    free, _ = torch.cuda.mem_get_info(device)
    if size < budget_fraction * free:
        return tuple(t.to(device, non_blocking=True) for t in tensors)
    return tuple(t.pin_memory() for t in tensors)


def to_device(batch: Sequence[torch.Tensor], device: torch.device) -> tuple[torch.Tensor, ...]:
    if batch[0].device == device:
        return tuple(batch)
    return tuple(t.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else t.to(device) for t in batch)
