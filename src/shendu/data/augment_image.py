"""Image augmentations that move or blank whole pixels: flips, shifted crops, random erasing.

Each takes a float batch (B, C, H, W) on any device and returns a batch of the
same shape and dtype. They run after preprocessing, on normalised images, so a
fill of 0 means "the mean colour" of the training set.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from shendu.data.augment_checks import (
    check_images,
    check_integer,
    check_probability,
    check_range,
    option_problem,
    sample_mask,
    where_samples,
)
from shendu.data.registry import AUGMENTATIONS


def _shifted_crops(batch: torch.Tensor, pad_height: int, pad_width: int) -> torch.Tensor:
    """Zero-pad each image, then cut it back to (H, W) at a random offset per sample."""
    size, _, height, width = batch.shape
    device = batch.device
    padded = F.pad(batch, (pad_width, pad_width, pad_height, pad_height))  # (B, C, H + 2ph, W + 2pw)
    top = torch.randint(0, 2 * pad_height + 1, (size,), device=device)
    left = torch.randint(0, 2 * pad_width + 1, (size,), device=device)
    rows = (top[:, None] + torch.arange(height, device=device))[:, :, None]  # (B, H, 1)
    columns = (left[:, None] + torch.arange(width, device=device))[:, None, :]  # (B, 1, W)
    samples = torch.arange(size, device=device)[:, None, None]  # (B, 1, 1)
    # Advanced indices around a slice put the indexed dimensions first: (B, H, W, C).
    return padded[samples, :, rows, columns].permute(0, 3, 1, 2).contiguous()


@AUGMENTATIONS.register("horizontal-flip", formula="x'[:, :, i, j] = x[:, :, i, W-1-j] with probability p",
                        applies_to="image")
class HorizontalFlip:
    """Mirror each image left-right with probability p.

    Use it when left and right carry no meaning (natural photos, most
    objects); not for text or digits, where a mirrored 2 is no longer a 2.

    Args:
        p: probability that a sample is flipped.
    """

    def __init__(self, p: float = 0.5):
        self.p = check_probability("horizontal-flip", p)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        check_images(batch, "horizontal-flip")
        return where_samples(sample_mask(batch, self.p), batch.flip(-1), batch)

    def __repr__(self) -> str:
        return f"HorizontalFlip(p={self.p})"


@AUGMENTATIONS.register("vertical-flip", formula="x'[:, :, i, j] = x[:, :, H-1-i, j] with probability p",
                        applies_to="image")
class VerticalFlip:
    """Mirror each image top-bottom with probability p.

    Use it when images have no natural "up": aerial and satellite views,
    microscopy, textures. Not for everyday photos or characters.

    Args:
        p: probability that a sample is flipped.
    """

    def __init__(self, p: float = 0.5):
        self.p = check_probability("vertical-flip", p)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        check_images(batch, "vertical-flip")
        return where_samples(sample_mask(batch, self.p), batch.flip(-2), batch)

    def __repr__(self) -> str:
        return f"VerticalFlip(p={self.p})"


@AUGMENTATIONS.register(
    "random-crop",
    formula="pad by `padding` zeros on every side, then crop H x W at a uniform random offset per sample",
    reference="Krizhevsky et al. 2012; the standard CIFAR recipe of He et al. 2016",
    applies_to="image",
)
class RandomCrop:
    """Zero-pad each image by ``padding`` pixels, then crop it back to its size at a random offset.

    The classic small-image augmentation (CIFAR: padding 4 on 32x32): it
    teaches the network that an object shifted by a few pixels is the same
    object. With padding 0 it is the identity.

    Args:
        padding: pixels of zero padding on each side (the largest shift).
    """

    def __init__(self, padding: int = 4):
        self.padding = check_integer("random-crop", "padding", padding, 0, "4")

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        check_images(batch, "random-crop")
        return _shifted_crops(batch, self.padding, self.padding)

    def __repr__(self) -> str:
        return f"RandomCrop(padding={self.padding})"


@AUGMENTATIONS.register(
    "random-translate",
    formula="shift by (dy, dx), dy ~ U{-round(s*H)..round(s*H)}, dx likewise with W, s = max_shift; zero fill",
    applies_to="image",
)
class RandomTranslation:
    """Shift each image by a random whole number of pixels, up to ``max_shift`` of its size.

    Like ``random-crop`` but sized relative to the image, so one setting suits
    28x28 digits and 224x224 photos alike. Uncovered pixels become 0 (the mean
    after normalisation).

    Args:
        max_shift: largest shift as a fraction of height (vertical) and width (horizontal), in [0, 1).
    """

    def __init__(self, max_shift: float = 0.1):
        if isinstance(max_shift, bool) or not isinstance(max_shift, (int, float)) or not 0.0 <= max_shift < 1.0:
            raise option_problem("random-translate", "max_shift", max_shift, "a fraction in [0, 1)", "0.1")
        self.max_shift = float(max_shift)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        check_images(batch, "random-translate")
        pad_height = int(round(self.max_shift * batch.shape[2]))
        pad_width = int(round(self.max_shift * batch.shape[3]))
        return _shifted_crops(batch, pad_height, pad_width)

    def __repr__(self) -> str:
        return f"RandomTranslation(max_shift={self.max_shift})"


@AUGMENTATIONS.register(
    "random-erasing",
    formula="with probability p, fill a rectangle of area a*H*W (a ~ U(area)) and aspect r (log r ~ U(log ratio))",
    reference="Zhong et al. 2020, 'Random Erasing Data Augmentation', AAAI",
    applies_to="image",
)
class RandomErasing:
    """Blank out a random rectangle of each image with probability p.

    Use it against occlusion and over-reliance on one region of the image
    (a cheap, strong regulariser for image classifiers). The rectangle covers
    a random fraction of the image area within ``area`` and has a random
    height/width ratio within ``ratio``; it is filled with ``value``
    (0 = the mean after normalisation).

    Args:
        p: probability that a sample gets a rectangle.
        area: [low, high] fraction of the image area to erase.
        ratio: [low, high] height / width ratio of the rectangle.
        value: fill value.
    """

    def __init__(self, p: float = 0.5, area: Sequence[float] = (0.02, 0.33),
                 ratio: Sequence[float] = (0.3, 3.3), value: float = 0.0):
        self.p = check_probability("random-erasing", p)
        self.area = check_range("random-erasing", "area", area, 0.0, 1.0, "[0.02, 0.33]")
        self.ratio = check_range("random-erasing", "ratio", ratio, 0.0, math.inf, "[0.3, 3.3]")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise option_problem("random-erasing", "value", value, "a number", "0.0")
        self.value = float(value)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        check_images(batch, "random-erasing")
        size, _, height, width = batch.shape
        device = batch.device
        draws = torch.rand(5, size, device=device)  # one draw per random quantity and sample
        area = (self.area[0] + (self.area[1] - self.area[0]) * draws[0]) * height * width
        log_low, log_high = math.log(self.ratio[0]), math.log(self.ratio[1])
        aspect = torch.exp(log_low + (log_high - log_low) * draws[1])
        box_height = torch.sqrt(area * aspect).round().clamp(1, height)
        box_width = torch.sqrt(area / aspect).round().clamp(1, width)
        top = (draws[2] * (height - box_height + 1)).floor()
        left = (draws[3] * (width - box_width + 1)).floor()
        rows = torch.arange(height, device=device).view(1, height, 1)
        columns = torch.arange(width, device=device).view(1, 1, width)

        def column(values: torch.Tensor) -> torch.Tensor:
            return values.view(size, 1, 1)

        inside = (
            (rows >= column(top)) & (rows < column(top + box_height))
            & (columns >= column(left)) & (columns < column(left + box_width))
        )  # (B, H, W)
        erase = inside & column(draws[4] < self.p)
        return batch.masked_fill(erase[:, None], self.value)

    def __repr__(self) -> str:
        return f"RandomErasing(p={self.p}, area={self.area}, ratio={self.ratio}, value={self.value})"


__all__ = ["HorizontalFlip", "VerticalFlip", "RandomCrop", "RandomTranslation", "RandomErasing"]
