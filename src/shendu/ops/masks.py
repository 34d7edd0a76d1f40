"""Mask geometry: polygons to masks, masks to boxes, mask IoU, and the transforms that match the box ones.

Pixel convention (COCO, shared with ``shendu.ops.boxes``): pixel (i, j), row i
and column j, covers [j, j+1) x [i, i+1) and has its centre at (j + 0.5, i + 0.5).
A polygon covers a pixel when it covers the pixel's centre; a mask covering
columns 2..4 has the box x1 = 2, x2 = 5.

The transforms here and in ``shendu.ops.boxes`` agree: for a mask m,
``masks_to_boxes(flip_masks_horizontal(m)) == flip_boxes_horizontal(masks_to_boxes(m), W)``,
likewise for vertical flips and integer upscales, always; and for crops
wherever the crop cuts a mask that fills its box there (a crop can cut an L
shape's box tighter than the cropped box). So an image, its boxes and its
masks stay consistent under augmentation.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from shendu.errors import DataError, describe

Polygon = torch.Tensor | Sequence[float] | Sequence[Sequence[float]]


def _vertices(polygon: Polygon) -> torch.Tensor:
    """A polygon as (K, 2) float64 vertices, from (K, 2), a flat [x1, y1, x2, y2, ...] list or a (2K,) tensor."""
    if isinstance(polygon, torch.Tensor):
        vertices = polygon.detach().to(torch.float64)
    else:
        vertices = torch.tensor(list(polygon), dtype=torch.float64)
    if vertices.dim() == 1 and vertices.numel() % 2 == 0:
        vertices = vertices.reshape(-1, 2)
    if vertices.dim() != 2 or vertices.shape[1] != 2:
        raise DataError(
            "polygon: "
            + describe(tuple(vertices.shape), "(K, 2) vertices or a flat [x1, y1, x2, y2, ...] of even length")
        )
    return vertices


def denormalize_polygon(polygon: Polygon, height: int, width: int) -> torch.Tensor:
    """Pixel coordinates (K, 2) of a polygon given in [0, 1] (YOLO-seg labels): x * width, y * height."""
    return _vertices(polygon) * torch.tensor([width, height], dtype=torch.float64)


def polygon_to_mask(polygon: Polygon, height: int, width: int) -> torch.Tensor:
    """Rasterise one polygon into an (H, W) boolean mask: a pixel is inside when its centre is, by the even-odd rule.

    The even-odd rule counts how many polygon edges a ray from the pixel
    centre to the right crosses; an odd count is inside. It handles concave
    and self-intersecting polygons, and parts outside the image are cut off.
    A centre exactly on an edge is inside on left and top edges and outside on
    right and bottom ones, so polygons that tile the plane cover each pixel
    once. Fewer than 3 vertices enclose nothing: an empty mask.

    Vectorised over rows: for every row of pixel centres the x of each edge's
    crossing is computed at once, (H, K), sorted, and every centre of the row
    counts the crossings to its right by binary search, (H, W). No loop over
    pixels or edges, and memory O(H * K + H * W) rather than O(H * W * K).

    Formula: inside(x, y) = #{edges (x0, y0)-(x1, y1): (y0 > y) != (y1 > y) and
             x < x0 + (y - y0) * (x1 - x0) / (y1 - y0)} is odd   (PNPOLY, W. R. Franklin).

    Args:
        polygon: (K, 2) vertices or a flat [x1, y1, x2, y2, ...], pixel coordinates.
        height, width: size of the mask.
    """
    vertices = _vertices(polygon)
    if vertices.shape[0] < 3:
        return torch.zeros(height, width, dtype=torch.bool)
    x0, y0 = vertices[:, 0], vertices[:, 1]  # (K,) each: the edges' start points
    x1, y1 = vertices.roll(-1, dims=0).unbind(1)  # (K,) each: their end points, closing the ring
    centre_y = torch.arange(height, dtype=torch.float64)[:, None] + 0.5  # (H, 1)
    centre_x = torch.arange(width, dtype=torch.float64) + 0.5  # (W,)
    spans = (y0 > centre_y) != (y1 > centre_y)  # (H, K): the edge crosses the row's centre line
    rise = torch.where(y1 == y0, torch.ones_like(y0), y1 - y0)  # horizontal edges never span: avoid 0 / 0
    crossing_x = (x1 - x0) * (centre_y - y0) / rise + x0  # (H, K)
    crossing_x = torch.where(spans, crossing_x, float("-inf")).sort(dim=1).values  # misses never count
    at_or_left = torch.searchsorted(crossing_x, centre_x.expand(height, width).contiguous(), right=True)  # (H, W)
    return (vertices.shape[0] - at_or_left) % 2 == 1


def polygons_to_mask(polygons: Sequence[Polygon], height: int, width: int) -> torch.Tensor:
    """(H, W) boolean union of several polygons of one object (a COCO "segmentation" list); none gives all False."""
    mask = torch.zeros(height, width, dtype=torch.bool)
    for polygon in polygons:  # a handful per object; each is vectorised
        mask |= polygon_to_mask(polygon, height, width)
    return mask


def _checked_masks(name: str, masks: torch.Tensor) -> torch.Tensor:
    if not isinstance(masks, torch.Tensor) or masks.dim() < 2:
        received = tuple(masks.shape) if isinstance(masks, torch.Tensor) else type(masks).__name__
        raise DataError(f"{name}: " + describe(received, "a mask tensor (H, W) or (N, H, W)",
                                                "Drop the channel axis of (N, 1, H, W) masks: masks[:, 0]."))
    return masks


def masks_to_boxes(masks: torch.Tensor) -> torch.Tensor:
    """Tight "xyxy" boxes around masks: (N, H, W) -> (N, 4) float32, or (H, W) -> (4,).

    The box covers whole pixels: a mask over columns 2..4 and rows 1..3 gives
    (2, 1, 5, 4). An empty mask gives the box (0, 0, 0, 0), which has area 0;
    drop such boxes with ``box_area(boxes) > 0`` where they must not count.
    Nonzero values of integer or float masks count as inside.
    """
    masks = _checked_masks("masks", masks)
    single = masks.dim() == 2
    masks = (masks[None] if single else masks) != 0  # (N, H, W) bool
    height, width = masks.shape[-2:]
    columns = masks.any(dim=1).to(torch.uint8)  # (N, W): the column holds a mask pixel
    rows = masks.any(dim=2).to(torch.uint8)  # (N, H)
    # argmax returns the first maximum: the first occupied column, and from the flipped side the last.
    x1, x2 = columns.argmax(dim=1), width - columns.flip(1).argmax(dim=1)
    y1, y2 = rows.argmax(dim=1), height - rows.flip(1).argmax(dim=1)
    boxes = torch.stack([x1, y1, x2, y2], dim=1).to(torch.float32)  # (N, 4)
    boxes = torch.where(masks.flatten(1).any(dim=1)[:, None], boxes, torch.zeros_like(boxes))
    return boxes[0] if single else boxes


def mask_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU of boolean masks: (N, H, W) x (M, H, W) -> (N, M) float32; two empty masks give 0.

    Formula: IoU = |A ∩ B| / |A ∪ B|, counted in pixels (one matrix product for all intersections).
    """
    a, b = _checked_masks("a", a), _checked_masks("b", b)
    if a.dim() != 3 or b.dim() != 3 or a.shape[1:] != b.shape[1:]:
        received = (tuple(a.shape), tuple(b.shape))
        raise DataError(describe(received, "a (N, H, W) and b (M, H, W) of the same H, W",
                                 "Add a leading axis to a single mask (mask[None]) and resize both to one size."))
    # float32 counts pixels exactly up to 2^24; larger masks count in float64
    dtype = torch.float32 if a.shape[1] * a.shape[2] <= 2**24 else torch.float64
    flat_a = (a != 0).flatten(1).to(dtype)  # (N, H*W)
    flat_b = (b != 0).flatten(1).to(dtype)  # (M, H*W)
    intersection = flat_a @ flat_b.T  # (N, M)
    union = flat_a.sum(1)[:, None] + flat_b.sum(1)[None, :] - intersection
    return (intersection / union.clamp(min=1)).to(torch.float32)


def flip_masks_horizontal(masks: torch.Tensor) -> torch.Tensor:
    """Masks (..., H, W) mirrored left-right; matches ``flip_boxes_horizontal(boxes, W)``."""
    return _checked_masks("masks", masks).flip(-1)


def flip_masks_vertical(masks: torch.Tensor) -> torch.Tensor:
    """Masks (..., H, W) mirrored top-bottom; matches ``flip_boxes_vertical(boxes, H)``."""
    return _checked_masks("masks", masks).flip(-2)


def _nearest_sources(old: int, new: int) -> torch.Tensor:
    """For each of ``new`` output pixels, the input pixel under its centre: floor((i + 0.5) * old / new).

    In integers, (2i + 1) * old // (2 * new), so exact for any sizes.
    """
    return (2 * torch.arange(new) + 1) * old // (2 * new)


def resize_masks(masks: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Masks (..., H, W) resized to ``size`` (new_h, new_w) by nearest neighbour; dtype kept (bool or class index).

    Each output pixel takes the input pixel under its centre (pixel-centre
    nearest neighbour, as ``F.interpolate(mode="nearest-exact")``; plain
    "nearest" samples each output pixel's top-left corner, which shifts
    content by up to a pixel). An integer upscale turns every pixel into a
    whole block, so boxes agree with ``resize_boxes``; so do downscales of
    masks aligned to the factor's blocks. Class indices are never blended.

    Args:
        masks: (H, W) or (N, H, W), any dtype.
        size: (new_h, new_w).
    """
    masks = _checked_masks("masks", masks)
    new_height, new_width = size
    rows = _nearest_sources(masks.shape[-2], new_height).to(masks.device)  # (new_h,)
    columns = _nearest_sources(masks.shape[-1], new_width).to(masks.device)  # (new_w,)
    return masks[..., rows[:, None], columns[None, :]]  # (..., new_h, new_w)


def crop_masks(masks: torch.Tensor, top: int, left: int, height: int, width: int) -> torch.Tensor:
    """Masks of the crop ``[top:top + height, left:left + width]``: (..., H, W) -> (..., height, width).

    Parts of the crop outside the image (negative ``top``/``left``, or past the
    edge) are zero: padding, as in ``crop_boxes`` with the same arguments. A
    mask cropped to nothing is all zero, where ``crop_boxes`` drops its box.
    """
    masks = _checked_masks("masks", masks)
    old_height, old_width = masks.shape[-2:]
    cropped = masks.new_zeros(*masks.shape[:-2], height, width)
    source_top, source_left = max(top, 0), max(left, 0)
    source_bottom, source_right = min(top + height, old_height), min(left + width, old_width)
    if source_bottom > source_top and source_right > source_left:
        cropped[..., source_top - top : source_bottom - top, source_left - left : source_right - left] = masks[
            ..., source_top:source_bottom, source_left:source_right
        ]
    return cropped
