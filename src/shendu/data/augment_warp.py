"""Image augmentations that resample the pixel grid: random resized crop, rotation, affine.

Each builds one 2x3 matrix per sample and resamples the whole batch with a
single ``affine_grid`` + ``grid_sample`` call (bilinear by default), so a
batch of 256 images costs one kernel, not 256. Matrices are written in
centred pixel coordinates (x to the right, y down, origin at the image
centre), where a rotation is a rotation even for non-square images, then
converted to the [-1, 1] coordinates ``affine_grid`` reads. Pixels that come
from outside the image are filled by ``padding_mode``: "zeros" (the mean
colour, since images are normalised), "border" or "reflection".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from shendu.data.augment_checks import (
    check_choice,
    check_images,
    check_probability,
    check_range,
    constant,
    is_number,
    is_number_pair,
    option_problem,
    sample_mask,
    symmetric_range,
    where_samples,
)
from shendu.data.registry import AUGMENTATIONS

INTERPOLATIONS = ("bilinear", "nearest")
PADDING_MODES = ("zeros", "border", "reflection")


def resample(batch: torch.Tensor, inverse: torch.Tensor, offset: torch.Tensor,
             interpolation: str = "bilinear", padding_mode: str = "zeros") -> torch.Tensor:
    """Output pixel at centred pixel position q reads the input at ``inverse @ q + offset``.

    Args:
        batch: images (B, C, H, W).
        inverse: (B, 2, 2) the inverse of each sample's forward transform, in centred pixels (x, y).
        offset: (B, 2) in centred pixels (x, y).
    """
    _, _, height, width = batch.shape
    half = constant((width / 2, height / 2), batch, torch.float32)  # (x, y)
    # In [-1, 1] coordinates u = q / half: u_in = (half^-1 A half) u_out + offset / half.
    linear = inverse.float() * half.view(1, 1, 2) / half.view(1, 2, 1)  # (B, 2, 2)
    theta = torch.cat([linear, (offset.float() / half).unsqueeze(-1)], dim=-1).to(batch.dtype)  # (B, 2, 3)
    grid = F.affine_grid(theta, list(batch.shape), align_corners=False)  # (B, H, W, 2)
    return F.grid_sample(batch, grid, mode=interpolation, padding_mode=padding_mode, align_corners=False)


def _uniform(low: float, high: float, size: int, device: torch.device) -> torch.Tensor:
    return low + (high - low) * torch.rand(size, device=device)


def rotation_matrices(angles: torch.Tensor) -> torch.Tensor:
    """(B, 2, 2) forward rotations by ``angles`` (radians), counter-clockwise as displayed (y points down)."""
    cos, sin = torch.cos(angles), torch.sin(angles)
    return torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2)


def _inverse_2x2(matrices: torch.Tensor) -> torch.Tensor:
    a, b, c, d = matrices[:, 0, 0], matrices[:, 0, 1], matrices[:, 1, 0], matrices[:, 1, 1]
    determinant = (a * d - b * c).view(-1, 1, 1)
    return torch.stack([torch.stack([d, -b], -1), torch.stack([-c, a], -1)], -2) / determinant


class _Warp:
    """Shared by the three warps: options for resampling, the ``p`` mask, and the call."""

    name = ""

    def __init__(self, p: float, interpolation: str, padding_mode: str):
        self.p = check_probability(self.name, p)
        self.interpolation = check_choice(self.name, "interpolation", interpolation, INTERPOLATIONS)
        self.padding_mode = check_choice(self.name, "padding_mode", padding_mode, PADDING_MODES)

    def transforms(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(inverse (B, 2, 2), offset (B, 2)) in centred pixels for each sample."""
        raise NotImplementedError

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        check_images(batch, self.name)
        if self.p == 0.0 or batch.shape[0] == 0:
            return batch
        apply = sample_mask(batch, self.p) if self.p < 1.0 else None
        inverse, offset = self.transforms(batch)
        warped = resample(batch, inverse, offset, self.interpolation, self.padding_mode)
        return warped if apply is None else where_samples(apply, warped, batch)


@AUGMENTATIONS.register(
    "random-resized-crop",
    formula="area fraction a ~ U(scale), log r ~ U(log ratio); crop w = round(sqrt(a*H*W*r)), "
            "h = round(sqrt(a*H*W/r)) (cut to the image) at a uniform whole-pixel position, resized back to H x W",
    reference="Szegedy et al. 2015, 'Going Deeper with Convolutions' (the Inception crop)",
    applies_to="image",
)
class RandomResizedCrop(_Warp):
    """Crop a random part of each image, of random area and aspect ratio, and resize it to the full size.

    The standard ImageNet training augmentation: the network sees objects at
    many scales and positions, and learns from parts of them. For small
    images (32x32) raise the lower end of ``scale`` (e.g. [0.35, 1]) so the
    crop keeps the object. A crop too wide or too tall for the image is cut
    to its side (torchvision draws again instead), so its area is then a
    little smaller than drawn. All crops are resampled in one batched call.

    Args:
        scale: [low, high] fraction of the image area the crop covers.
        ratio: [low, high] width / height ratio of the crop (drawn uniformly in log space).
        p: probability that a sample is cropped (torchvision: always).
        interpolation: "bilinear" or "nearest".
    """

    name = "random-resized-crop"

    def __init__(self, scale: Sequence[float] = (0.08, 1.0), ratio: Sequence[float] = (3 / 4, 4 / 3),
                 p: float = 1.0, interpolation: str = "bilinear"):
        super().__init__(p, interpolation, "zeros")  # the crop lies inside the image: nothing to fill
        self.scale = check_range(self.name, "scale", scale, 0.0, 1.0, "[0.08, 1.0]")
        self.ratio = check_range(self.name, "ratio", ratio, 0.0, math.inf, "[0.75, 1.333]")

    def transforms(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        size, _, height, width = batch.shape
        device = batch.device
        area = _uniform(*self.scale, size, device) * height * width
        aspect = torch.exp(_uniform(math.log(self.ratio[0]), math.log(self.ratio[1]), size, device))
        # Whole-pixel crops at whole-pixel positions, as torchvision cuts them.
        crop_width = torch.sqrt(area * aspect).round().clamp(1, width)
        crop_height = torch.sqrt(area / aspect).round().clamp(1, height)
        left = (torch.rand(size, device=device) * (width - crop_width + 1)).floor()
        top = (torch.rand(size, device=device) * (height - crop_height + 1)).floor()
        inverse = torch.diag_embed(torch.stack([crop_width / width, crop_height / height], -1))  # (B, 2, 2)
        offset = torch.stack([left + (crop_width - width) / 2, top + (crop_height - height) / 2], -1)  # crop centre
        return inverse, offset

    def __repr__(self) -> str:
        return f"RandomResizedCrop(scale={self.scale}, ratio={self.ratio}, p={self.p})"


@AUGMENTATIONS.register(
    "rotation",
    formula="rotate by an angle ~ U(degrees) about the image centre (counter-clockwise positive); bilinear",
    applies_to="image",
)
class Rotation(_Warp):
    """Rotate each image by a random angle about its centre.

    Use it when orientation carries no label (cells, satellite tiles, most
    objects within +-15 degrees); keep it small for digits and text, where a
    6 turned 180 degrees is a 9. Corners that come from outside the image are
    filled by ``padding_mode``.

    Args:
        degrees: d for angles in [-d, d], or [low, high]; positive turns counter-clockwise.
        p: probability that a sample is rotated.
        interpolation: "bilinear" or "nearest".
        padding_mode: fill from outside the image: "zeros" (the mean colour), "border" or "reflection".
    """

    name = "rotation"

    def __init__(self, degrees: float | Sequence[float] = 15.0, p: float = 1.0,
                 interpolation: str = "bilinear", padding_mode: str = "zeros"):
        super().__init__(p, interpolation, padding_mode)
        self.degrees = symmetric_range(self.name, "degrees", degrees, 0.0, -360.0, 360.0, "15")

    def transforms(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        angles = torch.deg2rad(_uniform(*self.degrees, batch.shape[0], batch.device))
        # The inverse of a rotation is the rotation by minus the angle.
        return rotation_matrices(-angles), torch.zeros(batch.shape[0], 2, device=batch.device)

    def __repr__(self) -> str:
        return f"Rotation(degrees={self.degrees}, p={self.p})"


def _translate_range(value: Any) -> tuple[float, float]:
    """translate: a fraction t (both axes) or [tx, ty], each in [0, 1)."""
    pair = [value, value] if is_number(value) else value
    if not is_number_pair(pair) or not all(0.0 <= v < 1.0 for v in pair):
        raise option_problem("affine", "translate", value, "a fraction in [0, 1), or [x, y] fractions", "0.1")
    return float(pair[0]), float(pair[1])


@AUGMENTATIONS.register(
    "affine",
    formula="x' = T + R(angle) Sh(shear) s x (centred pixels); angle ~ U(degrees), s ~ U(scale), "
            "shear ~ U(shear) along x, T ~ U(-translate, translate) * (W, H)",
    applies_to="image",
)
class Affine(_Warp):
    """Rotate, shift, scale and shear each image at once, by one random affine map per sample.

    The general geometric augmentation: small random rotations, shifts,
    zooms and shears teach invariance to viewpoint and framing in one
    resampling (composing separate ops would blur the image several times).
    Set any part to 0 (or scale to [1, 1]) to leave it out.

    Args:
        degrees: rotation: d for angles in [-d, d], or [low, high].
        translate: largest shift as a fraction of the width and height: t, or [tx, ty].
        scale: [low, high] zoom factor (> 1 enlarges).
        shear: shear angle along x in degrees: s for [-s, s], or [low, high].
        p: probability that a sample is transformed.
        interpolation: "bilinear" or "nearest".
        padding_mode: fill from outside the image: "zeros" (the mean colour), "border" or "reflection".
    """

    name = "affine"

    def __init__(self, degrees: float | Sequence[float] = 10.0, translate: float | Sequence[float] = 0.1,
                 scale: Sequence[float] = (0.9, 1.1), shear: float | Sequence[float] = 5.0, p: float = 1.0,
                 interpolation: str = "bilinear", padding_mode: str = "zeros"):
        super().__init__(p, interpolation, padding_mode)
        self.degrees = symmetric_range(self.name, "degrees", degrees, 0.0, -360.0, 360.0, "10")
        self.translate = _translate_range(translate)
        self.scale = check_range(self.name, "scale", scale, 0.0, math.inf, "[0.9, 1.1]")
        self.shear = symmetric_range(self.name, "shear", shear, 0.0, -80.0, 80.0, "5")

    def transforms(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        size, _, height, width = batch.shape
        device = batch.device
        angles = torch.deg2rad(_uniform(*self.degrees, size, device))
        shears = torch.tan(torch.deg2rad(_uniform(*self.shear, size, device)))
        scales = _uniform(*self.scale, size, device)
        shift = torch.stack([_uniform(-self.translate[0], self.translate[0], size, device) * width,
                             _uniform(-self.translate[1], self.translate[1], size, device) * height], -1)  # (B, 2)
        shear = torch.eye(2, device=device).repeat(size, 1, 1)
        shear[:, 0, 1] = shears
        forward = rotation_matrices(angles) @ shear * scales.view(-1, 1, 1)  # (B, 2, 2)
        inverse = _inverse_2x2(forward)
        # Forward: q = A p + T, so the input point of output q is A^-1 q - A^-1 T.
        return inverse, -(inverse @ shift.unsqueeze(-1)).squeeze(-1)

    def __repr__(self) -> str:
        return (f"Affine(degrees={self.degrees}, translate={self.translate}, scale={self.scale}, "
                f"shear={self.shear}, p={self.p})")


__all__ = ["RandomResizedCrop", "Rotation", "Affine", "resample", "rotation_matrices"]
