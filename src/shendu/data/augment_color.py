"""Photometric image augmentations: colour jitter and gaussian noise.

Augmentations run on normalised images, z = (x - mean[c]) / std[c] with x the
pixel value in [0, 1]. Brightness (x * b) and saturation (a blend with the
grey of each pixel) are defined on pixel values, so 'color-jitter' takes the
normalisation's per-channel ``mean`` and ``std``: it un-normalises, jitters
exactly as torchvision does on [0, 1] images (clamping to [0, 1]) and
normalises again. In training shendu supplies them from the run's
preprocessing; called directly without them, the inputs are taken to be
pixel values in [0, 1] (mean 0, std 1). 'gaussian-noise' needs no statistics:
its ``std`` is in normalised units, i.e. a fraction of each channel's spread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from shendu.data.augment_checks import (
    check_images,
    check_number,
    check_probability,
    constant,
    is_number,
    option_problem,
    symmetric_range,
    where_samples,
    with_probability,
)
from shendu.data.registry import AUGMENTATIONS
from shendu.errors import DataError

LUMA = (0.299, 0.587, 0.114)  # ITU-R 601 grey, as torchvision's rgb_to_grayscale
RGB_TO_YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))
YIQ_TO_RGB = tuple(map(tuple, torch.linalg.inv(torch.tensor(RGB_TO_YIQ, dtype=torch.float64)).tolist()))


def _check_statistics(option: str, value: Any, positive: bool) -> tuple[float, ...] | None:
    if value is None:
        return None
    values = [value] if is_number(value) else value
    ok = isinstance(values, Sequence) and not isinstance(values, str) and len(values) > 0 and all(
        is_number(v) and (v > 0 if positive else True) for v in values)
    if not ok:
        kind = "positive number" if positive else "number"
        raise option_problem("color-jitter", option, value, f"null, or one {kind} per channel (pixel scale 0..1)",
                             "[0.485, 0.456, 0.406]" if option == "mean" else "[0.229, 0.224, 0.225]")
    return tuple(float(v) for v in values)


def _per_channel(values: tuple[float, ...] | None, default: float, batch: torch.Tensor) -> torch.Tensor:
    channels = batch.shape[1]
    values = (default,) if values is None else values
    if len(values) == 1:
        values = values * channels
    if len(values) != channels:
        raise DataError(
            f"Augmentation 'color-jitter' was given normalisation statistics for {len(values)} channels; the "
            f"images have {channels} channels (shape {tuple(batch.shape)}). Give one mean and std per channel."
        )
    return constant(values, batch).view(1, channels, 1, 1)


def hue_matrices(shifts: torch.Tensor) -> torch.Tensor:
    """(B, 3, 3) RGB -> RGB maps that turn the hue by ``shifts`` (fractions of the colour circle) in YIQ space."""
    to_yiq, from_yiq = constant(RGB_TO_YIQ, shifts), constant(YIQ_TO_RGB, shifts)
    angles = 2 * math.pi * shifts
    cos, sin, one, zero = torch.cos(angles), torch.sin(angles), torch.ones_like(angles), torch.zeros_like(angles)
    rotation = torch.stack([torch.stack([one, zero, zero], -1),  # luma Y is kept
                            torch.stack([zero, cos, -sin], -1),
                            torch.stack([zero, sin, cos], -1)], -2)  # (B, 3, 3)
    return from_yiq @ rotation @ to_yiq


@AUGMENTATIONS.register(
    "color-jitter",
    formula="on pixels x in [0, 1]: x = b*x; x = c*x + (1-c)*mean(grey(x)); x = s*x + (1-s)*grey(x); "
            "hue turned by h in YIQ; clamp to [0, 1] after each; b, c, s ~ U(1-v, 1+v), h ~ U(-hue, hue)",
    reference="torchvision.transforms.ColorJitter; Krizhevsky et al. 2012 (colour augmentation)",
    applies_to="image",
    uses_normalization=True,
)
class ColorJitter:
    """Randomly change the brightness, contrast, saturation and (optionally) hue of each image.

    Use it when lighting and camera colour vary between photos but carry no
    label: natural images, products, cells under different stains. Factors
    are drawn per sample; the order is fixed (brightness, contrast,
    saturation, hue; torchvision shuffles it per call). Saturation and hue
    need colour: on grayscale images they are no-ops, and brightness and
    contrast still apply. Hue is turned in YIQ space, a linear stand-in for
    torchvision's HSV turn that keeps the grey of each pixel.

    Images arrive normalised; the op works on pixel values using the
    normalisation's ``mean`` and ``std`` (see the module notes), which shendu
    fills in during training. Leave them unset in a configuration.

    Args:
        brightness: v for a factor in [max(0, 1 - v), 1 + v], or [low, high]; 0 leaves it out.
        contrast: as brightness, for the blend with the image's mean grey.
        saturation: as brightness, for the blend with each pixel's grey (colour images only).
        hue: h in [0, 0.5] for a turn in [-h, h] of the colour circle, or [low, high]; 0 leaves it out.
        p: probability that a sample is jittered.
        mean: per-channel mean of the normalisation (pixel scale 0..1); default 0, i.e. pixel inputs.
        std: per-channel std of the normalisation; default 1.
    """

    def __init__(self, brightness: float | Sequence[float] = 0.4, contrast: float | Sequence[float] = 0.4,
                 saturation: float | Sequence[float] = 0.4, hue: float | Sequence[float] = 0.0, p: float = 1.0,
                 mean: float | Sequence[float] | None = None, std: float | Sequence[float] | None = None):
        name = "color-jitter"
        self.brightness = symmetric_range(name, "brightness", brightness, 1.0, 0.0, math.inf, "0.4")
        self.contrast = symmetric_range(name, "contrast", contrast, 1.0, 0.0, math.inf, "0.4")
        self.saturation = symmetric_range(name, "saturation", saturation, 1.0, 0.0, math.inf, "0.4")
        self.hue = symmetric_range(name, "hue", hue, 0.0, -0.5, 0.5, "0.1")
        self.p = check_probability(name, p)
        self.mean = _check_statistics("mean", mean, positive=False)
        self.std = _check_statistics("std", std, positive=True)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        check_images(batch, "color-jitter")
        mean, std = _per_channel(self.mean, 0.0, batch), _per_channel(self.std, 1.0, batch)
        size, channels = batch.shape[:2]
        if self.p == 0.0 or size == 0:
            return batch
        draws = torch.rand(5, size, device=batch.device, dtype=batch.dtype)  # one per factor, and for p

        def factors(bounds: tuple[float, float], row: int) -> torch.Tensor:
            return (bounds[0] + (bounds[1] - bounds[0]) * draws[row]).view(-1, 1, 1, 1)

        colour = channels == 3
        luma = constant(LUMA, batch).view(1, 3, 1, 1)

        def grey(pixels: torch.Tensor) -> torch.Tensor:  # (B, 1, H, W)
            return (pixels * luma).sum(1, keepdim=True) if colour else pixels.mean(1, keepdim=True)

        pixels = batch * std + mean  # (B, C, H, W) in [0, 1]
        if self.brightness != (1.0, 1.0):
            pixels = (pixels * factors(self.brightness, 0)).clamp(0.0, 1.0)
        if self.contrast != (1.0, 1.0):
            level = grey(pixels).mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
            pixels = torch.lerp(level, pixels, factors(self.contrast, 1)).clamp(0.0, 1.0)
        if colour and self.saturation != (1.0, 1.0):
            pixels = torch.lerp(grey(pixels), pixels, factors(self.saturation, 2)).clamp(0.0, 1.0)
        if colour and self.hue != (0.0, 0.0):
            turn = hue_matrices(factors(self.hue, 3).flatten())  # (B, 3, 3)
            pixels = torch.einsum("bij,bjhw->bihw", turn, pixels).clamp(0.0, 1.0)
        jittered = (pixels - mean) / std
        return jittered if self.p == 1.0 else where_samples(draws[4] < self.p, jittered, batch)

    def __repr__(self) -> str:
        return (f"ColorJitter(brightness={self.brightness}, contrast={self.contrast}, "
                f"saturation={self.saturation}, hue={self.hue}, p={self.p})")


@AUGMENTATIONS.register(
    "gaussian-noise",
    formula="x' = x + std * e, e ~ N(0, 1) per pixel, with probability p (x normalised)",
    reference="Bishop 1995, 'Training with Noise is Equivalent to Tikhonov Regularization'",
    applies_to="image",
)
class GaussianNoise:
    """Add independent gaussian noise to every pixel of each image.

    Use it against sensor noise and to smooth what the network learns (with
    small noise it acts like weight decay on the input gradient). Images are
    normalised, so ``std`` is in units of each channel's standard deviation:
    0.1 is mild, 0.5 strong.

    Args:
        std: standard deviation of the noise, in normalised units.
        p: probability that a sample gets noise.
    """

    def __init__(self, std: float = 0.1, p: float = 1.0):
        self.std = check_number("gaussian-noise", "std", std, 0.0, example="0.1")
        self.p = check_probability("gaussian-noise", p)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        check_images(batch, "gaussian-noise")
        if self.p == 0.0 or self.std == 0.0:
            return batch
        return with_probability(self.p, batch + self.std * torch.randn_like(batch), batch)

    def __repr__(self) -> str:
        return f"GaussianNoise(std={self.std}, p={self.p})"


__all__ = ["ColorJitter", "GaussianNoise", "hue_matrices"]
