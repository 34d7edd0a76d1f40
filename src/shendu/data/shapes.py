"""Procedural shapes: images of circles, squares and triangles with exact boxes, instance masks and class maps.

Use it where a test or a tutorial needs vision data whose answer is known
exactly: semantic segmentation, detection and instance segmentation on a
few hundred 64 x 64 images, made in about a second, no download. The
writers save the same data as YOLO, COCO and image + mask folders, so the
readers of those formats are tested on files laid out as users' files are.

Geometry is exact (``shendu.ops`` rasterises, pixel (i, j) covers
[j, j+1) x [i, i+1)). Every shape fills a square cell of ``s`` x ``s`` whole
pixels, s in [min_size, max_size], fully inside the image:
    circle: the pixels whose centres lie within s / 2 of the cell's centre;
    square: the whole cell, so exactly s^2 pixels;
    triangle: apex on the cell's top edge, base on its bottom edge (each base
        corner inset by up to s / 4), vertices on a 1/16-pixel grid.

Determinism: one local ``torch.Generator``; every random draw is an integer
or a uniform float made exactly from integer bits, and every later operation
is +, -, *, / or a comparison (correctly rounded in IEEE arithmetic), so the
same seed gives bit-identical data on any machine. That is why the pixel
noise is Irwin-Hall (the sum of 12 uniforms, minus 6: mean 0, variance 1,
its CDF within 0.003 of the Gaussian's, cut off at 6 sigma) rather than torch's
Box-Muller ``randn``, whose log and cos round differently across CPUs and
libms. Images are quantised to k / 255, so PNGs written by the savers read
back to exactly ``images``.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml
from PIL import Image

from shendu.errors import describe
from shendu.ops import convert_boxes, masks_to_boxes, polygon_to_mask

SHAPES = ("circle", "square", "triangle")
CIRCLE_VERTICES = 32
# The 32-gon of equal area to the unit circle (radius sqrt(2 pi / (32 sin(2 pi / 32)))): its raster matches the disc's.
_RADIUS = math.sqrt(2 * math.pi / (CIRCLE_VERTICES * math.sin(2 * math.pi / CIRCLE_VERTICES)))
_ANGLES = [2 * math.pi * k / CIRCLE_VERTICES for k in range(CIRCLE_VERTICES)]
# Rounded to 2^-20 so that a libm differing in the last bit of cos or sin cannot change the polygons.
UNIT_POLYGON = torch.tensor([[round(_RADIUS * f(a) * 2**20) / 2**20 for f in (math.cos, math.sin)] for a in _ANGLES],
                            dtype=torch.float64)  # (32, 2)
VERTEX_GRID = 16  # triangle vertices are multiples of 1/16 pixel: exact in float32, so polygons re-rasterise exactly
PLACEMENT_ATTEMPTS = 64  # candidate cells per object; without overlap the first free one is taken
COLOUR_ATTEMPTS = 32  # candidate colours per object; the first with enough contrast is taken
MIN_CONTRAST = 0.5  # least RGB distance (in [0, 1] units) between an object's colour and the background's
MIN_OBJECT_CONTRAST = 0.3  # ... and between two objects' colours in one image
GAP = 1  # pixels kept free between cells when objects may not overlap: instances never touch
MIN_VISIBLE_PIXELS = 8  # an object showing fewer pixels (after occlusion) is dropped and not drawn
MIN_VISIBLE_SIDE = 3  # ... likewise one whose visible box is thinner than this in x or y
NOISE_TERMS, NOISE_LEVELS = 12, 2**16  # Irwin-Hall: the sum of 12 uniform integers in [0, 2^16)


@dataclass
class ShapesData:
    """Images with exact targets for segmentation, detection and instance segmentation (from :func:`make_shapes`).

    Attributes:
        images: (N, 3, H, W) float32 in [0, 1], multiples of 1/255.
        targets: one dict per image, K objects (K may be 0), in drawing order (later ones on top):
            "boxes": (K, 4) float32 "xyxy" pixels, tight around the visible mask (``masks_to_boxes``);
            "labels": (K,) int64 in 0..C-1, the index of the shape in ``class_names``;
            "masks": (K, H, W) bool visible instance masks, pairwise disjoint;
            "polygons": K tensors (P, 2) float32 of pixel (x, y) vertices: the shape's whole outline even
                where it is occluded, as YOLO-seg and COCO store it (circle 32, square 4, triangle 3 vertices).
        semantic: (N, H, W) int64 class map: 0 is background and class c is c + 1 (the offset keeps 0 free),
            equal to the instance masks painted in order.
        class_names: the shape of each class index, e.g. ("circle", "square", "triangle").
    """

    images: torch.Tensor
    targets: list[dict]
    semantic: torch.Tensor
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return self.images.shape[0]


def make_shapes(
    num_images: int, *, size: int | Sequence[int] = 64, seed: int = 0, min_objects: int = 1, max_objects: int = 4,
    classes: Sequence[str] = SHAPES, noise: float = 0.1, min_size: int = 8, max_size: int | None = None,
    allow_overlap: bool = False, empty_fraction: float = 0.0,
) -> ShapesData:
    """Make ``num_images`` images of random circles, squares and triangles on noisy backgrounds, with exact targets.

    Each image has a random background colour; each object a random size, a
    random place fully inside the image and a random colour at least 0.5 from
    the background's (RGB distance, channels in [0, 1]) and 0.3 from the other
    objects'. Colour says nothing about the class: only the shape does. Then
    every pixel gets noise of standard deviation ``noise`` and is clipped to
    [0, 1]. Without overlap, objects are placed in free cells 1 pixel apart
    (64 attempts each, so a crowded image may hold fewer than asked); with
    overlap, later objects hide earlier ones, whose masks lose those pixels.
    An object left with fewer than 8 visible pixels, or under 3 pixels wide or
    tall, is dropped and not drawn, so images and targets always agree.

    Args:
        num_images: how many images, N.
        size: image size, an int or (H, W).
        seed: the only source of randomness; equal seeds give bit-identical data.
        min_objects, max_objects: objects drawn per image (uniform, both included).
        classes: the shapes to draw; their order fixes the label indices.
        noise: standard deviation of the pixel noise, about Gaussian (Irwin-Hall, see the module); 0: flat colours.
        min_size, max_size: side of each object's cell in pixels; ``max_size`` defaults to min(H, W) // 2.
        allow_overlap: let objects overlap and occlude each other.
        empty_fraction: share of the images that hold no object (rounded to a count).
    """
    (height, width), classes, max_size = _checked_arguments(
        num_images, size, min_objects, max_objects, classes, noise, min_size, max_size, empty_fraction)
    generator = torch.Generator().manual_seed(seed)
    num_empty = round(empty_fraction * num_images)
    empty = set(torch.randperm(num_images, generator=generator)[:num_empty].tolist())
    images = torch.empty(num_images, 3, height, width, dtype=torch.float32)
    semantic = torch.zeros(num_images, height, width, dtype=torch.int64)
    targets = []
    for index in range(num_images):
        background = torch.rand(3, generator=generator, dtype=torch.float64)
        count = 0 if index in empty else int(torch.randint(min_objects, max_objects + 1, (1,), generator=generator))
        objects = _draw_objects(generator, count, classes, (height, width), min_size, max_size,
                                allow_overlap, background)
        canvas = background[:, None, None].expand(3, height, width)  # (3, H, W) float64
        target = _visible_target(objects, height, width)
        for label, colour, mask in zip(target["labels"].tolist(), target["colours"], target["masks"]):
            canvas = torch.where(mask, colour[:, None, None], canvas)
            semantic[index][mask] = label + 1
        del target["colours"]
        pixels = (canvas + noise * _irwin_hall_noise(generator, (3, height, width))).clamp(0, 1)
        images[index] = (pixels * 255 + 0.5).to(torch.int64).to(torch.float32) / 255  # round to k / 255
        targets.append(target)
    return ShapesData(images, targets, semantic, classes)


def _checked_arguments(num_images, size, min_objects, max_objects, classes, noise, min_size, max_size, empty_fraction):
    """(H, W), the class names and max_size, or a ValueError naming the argument, what it got and a fix."""
    def fail(name, value, expected, fix):
        raise ValueError(f"make_shapes: {name} " + describe(value, expected, fix))

    if not isinstance(num_images, int) or num_images < 0:
        fail("num_images", num_images, "a non-negative integer", "E.g. num_images=256.")
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or not all(isinstance(s, int) and s >= 8 for s in pair):
        fail("size", size, "an integer >= 8 or a pair (H, W) of them", "E.g. size=64 or size=(48, 64).")
    side = min(pair)
    classes = tuple(classes)
    for name in classes:
        if name not in SHAPES:
            close = difflib.get_close_matches(str(name), SHAPES, n=1)
            fail("classes", name, f"shapes among {', '.join(SHAPES)}", f"Did you mean {close[0]!r}?" if close else "")
    if not classes or len(set(classes)) != len(classes):
        fail("classes", classes, "at least one shape, none repeated", f"E.g. classes={SHAPES}.")
    if not isinstance(min_objects, int) or not isinstance(max_objects, int) or not 0 <= min_objects <= max_objects:
        fail("min_objects, max_objects", (min_objects, max_objects), "integers 0 <= min <= max", "E.g. 1 and 4.")
    if not isinstance(min_size, int) or not 4 <= min_size <= side:
        fail("min_size", min_size, f"an integer in [4, {side}] (the image's shorter side)", "E.g. min_size=8.")
    max_size = max(min_size, side // 2) if max_size is None else max_size
    if not isinstance(max_size, int) or not min_size <= max_size <= side:
        fail("max_size", max_size, f"an integer in [min_size={min_size}, {side}]", f"E.g. max_size={side // 2}.")
    if not 0 <= noise < math.inf:
        fail("noise", noise, "a standard deviation >= 0", "E.g. noise=0.1.")
    if not 0 <= empty_fraction <= 1:
        fail("empty_fraction", empty_fraction, "a share in [0, 1]", "E.g. empty_fraction=0.1.")
    return pair, classes, max_size


def _draw_objects(generator, count, classes, image_size, min_size, max_size, allow_overlap, background):
    """Place ``count`` objects: a list of (label, colour (3,) float64, full mask (H, W), polygon (P, 2) float32)."""
    height, width = image_size
    objects, cells, colours = [], [], [background]
    for _ in range(count):
        # All of an object's randomness in one draw, used or not: the stream never depends on what fitted.
        uniforms = torch.rand(4 + 3 * PLACEMENT_ATTEMPTS + 3 * COLOUR_ATTEMPTS, generator=generator,
                              dtype=torch.float64)
        label = int(uniforms[0] * len(classes))
        placement = uniforms[4:4 + 3 * PLACEMENT_ATTEMPTS].reshape(3, PLACEMENT_ATTEMPTS)
        sides = min_size + (placement[0] * (max_size - min_size + 1)).long()  # (A,) cell sides
        lefts = (placement[1] * (width - sides + 1)).long()  # (A,) so that left + side <= width
        tops = (placement[2] * (height - sides + 1)).long()
        free = torch.ones(PLACEMENT_ATTEMPTS, dtype=torch.bool)
        for left, top, side in [] if allow_overlap else cells:
            free &= ((lefts + sides + GAP <= left) | (left + side + GAP <= lefts)
                     | (tops + sides + GAP <= top) | (top + side + GAP <= tops))
        if not free.any():
            continue
        attempt = int(free.to(torch.uint8).argmax())  # the first free candidate
        cell = (int(lefts[attempt]), int(tops[attempt]), int(sides[attempt]))
        colour = _distinct_colour(uniforms[4 + 3 * PLACEMENT_ATTEMPTS:].reshape(COLOUR_ATTEMPTS, 3), colours)
        mask, polygon = _rasterise(classes[label], cell, uniforms[1:4], height, width)
        objects.append((label, colour, mask, polygon))
        cells.append(cell)
        colours.append(colour)
    return objects


def _distinct_colour(candidates: torch.Tensor, taken: list[torch.Tensor]) -> torch.Tensor:
    """The first candidate colour far enough from the background (``taken[0]``) and the other objects' colours.

    Squared distances, so no square root rounds; when no candidate qualifies
    (rare: over half of the cube is far enough) the one with the widest margin.
    """
    floors = torch.tensor([MIN_CONTRAST**2] + [MIN_OBJECT_CONTRAST**2] * (len(taken) - 1), dtype=torch.float64)
    distances = ((candidates[:, None, :] - torch.stack(taken)[None]) ** 2).sum(-1)  # (COLOUR_ATTEMPTS, len(taken))
    margins = (distances - floors).amin(dim=1)  # (COLOUR_ATTEMPTS,)
    good = margins >= 0
    return candidates[int(good.to(torch.uint8).argmax()) if good.any() else int(margins.argmax())]


def _rasterise(shape: str, cell: tuple[int, int, int], uniforms: torch.Tensor, height: int, width: int):
    """The full (H, W) bool mask and the (P, 2) float32 outline of one shape in its cell (left, top, side)."""
    left, top, side = cell
    if shape == "circle":
        # In doubled integer coordinates: pixel centre 2j + 1, cell centre 2 * left + side, radius side.
        xs = torch.arange(width) * 2 + 1 - (2 * left + side)  # (W,)
        ys = torch.arange(height) * 2 + 1 - (2 * top + side)  # (H,)
        mask = ys[:, None] ** 2 + xs[None, :] ** 2 <= side**2  # (H, W)
        centre = torch.tensor([left + side / 2, top + side / 2], dtype=torch.float64)
        return mask, (centre + UNIT_POLYGON * (side / 2)).to(torch.float32)
    if shape == "square":
        mask = torch.zeros(height, width, dtype=torch.bool)
        mask[top:top + side, left:left + side] = True
        corners = [[left, top], [left + side, top], [left + side, top + side], [left, top + side]]
        return mask, torch.tensor(corners, dtype=torch.float32)
    # Triangle: apex anywhere on the top edge, base corners inset by up to side / 4, all on the 1/16 grid.
    steps = torch.tensor([side * VERTEX_GRID + 1, side * VERTEX_GRID / 4, side * VERTEX_GRID / 4], dtype=torch.float64)
    apex, inset_left, inset_right = (uniforms * steps).floor().tolist()  # in 1/16 pixels
    vertices = torch.tensor([[left * VERTEX_GRID + apex, top * VERTEX_GRID],
                             [(left + side) * VERTEX_GRID - inset_right, (top + side) * VERTEX_GRID],
                             [left * VERTEX_GRID + inset_left, (top + side) * VERTEX_GRID]], dtype=torch.float64)
    vertices = vertices / VERTEX_GRID  # exact: multiples of 1/16
    # Rasterised in its cell only, then placed: the same pixels as on the whole image, since with vertices
    # on the 1/16 grid every edge crossing is computed exactly, in either frame.
    mask = torch.zeros(height, width, dtype=torch.bool)
    offset = torch.tensor([left, top], dtype=torch.float64)
    mask[top:top + side, left:left + side] = polygon_to_mask(vertices - offset, side, side)
    return mask, vertices.to(torch.float32)


def _visible_target(objects: list, height: int, width: int) -> dict:
    """The target dict of the objects left visible, each mask minus what later kept objects cover.

    Back to front: whether an object stays depends only on the objects drawn
    after it, so dropping one (too little left to see) never changes a later one.
    """
    covered = torch.zeros(height, width, dtype=torch.bool)
    kept = []
    for label, colour, mask, polygon in reversed(objects):
        visible = mask & ~covered
        box = masks_to_boxes(visible)
        if int(visible.sum()) >= MIN_VISIBLE_PIXELS and bool((box[2:] - box[:2] >= MIN_VISIBLE_SIDE).all()):
            kept.append((label, colour, visible, polygon, box))
            covered |= mask
    kept.reverse()
    return {
        "boxes": torch.stack([k[4] for k in kept]) if kept else torch.zeros(0, 4),
        "labels": torch.tensor([k[0] for k in kept], dtype=torch.int64),
        "masks": torch.stack([k[2] for k in kept]) if kept else torch.zeros(0, height, width, dtype=torch.bool),
        "polygons": [k[3] for k in kept],
        "colours": [k[1] for k in kept],
    }


def _irwin_hall_noise(generator: torch.Generator, shape: tuple[int, ...]) -> torch.Tensor:
    """Approximately standard normal float64 noise, exactly reproducible: (sum of 12 uniforms in [0, 1)) - 6.

    Integers in [0, 2^16) summed exactly, then one division by a power of two.
    Variance 1 - 2^-32. Drawn term by term: one (12, ...) tensor summed would
    exceed torch's parallel grain size at 64 x 64 and go much slower on a busy CPU.
    """
    total = torch.zeros(shape, dtype=torch.int64)
    for _ in range(NOISE_TERMS):
        total += torch.randint(0, NOISE_LEVELS, shape, generator=generator)
    return (total.to(torch.float64) - NOISE_TERMS * (NOISE_LEVELS - 1) / 2) / NOISE_LEVELS


# -- writers ---------------------------------------------------------------------------------
def _file_stem(index: int) -> str:
    return f"{index:06d}"


def _save_png(image: torch.Tensor, path: Path) -> None:
    """Write a (3, H, W) float image in [0, 1] (or an (H, W) uint8 map) as a PNG; k / 255 reads back exactly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if image.dim() == 3:
        array = (image * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()  # (H, W, 3), rounded
        Image.fromarray(np.ascontiguousarray(array)).save(path)  # uint8 (H, W, 3): mode "RGB"
    else:
        Image.fromarray(image.to(torch.uint8).numpy()).save(path)  # uint8 (H, W): mode "L"


def _clipped(polygon: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Vertices (P, 2) clipped into the image; only a circle's 32-gon can poke out, by under 0.4% of its radius."""
    return torch.minimum(polygon.clamp(min=0), torch.tensor([width, height], dtype=polygon.dtype))


def _numbers(values) -> str:
    return " ".join(f"{float(v):.6f}" for v in values)


def save_yolo(data: ShapesData, root: str | Path, split: str = "train", *, segments: bool = False) -> Path:
    """Write ``data`` in the YOLO (Ultralytics) layout; returns the path of ``data.yaml``.

    Layout:
        root/images/<split>/000000.png  the images, numbered from 0
        root/labels/<split>/000000.txt  one line per object (empty file: no object):
            detection (default): ``class cx cy w h``, the box centre and size divided by the image width/height;
            ``segments=True`` (YOLO-seg): ``class x1 y1 x2 y2 ...``, the shape's polygon, x / W and y / H,
                clipped to [0, 1]; the whole outline, also where later objects hide part of it.
        root/data.yaml  ``path`` (absolute root), ``train: images/train``, ``val: images/val``, a key for
            each other split present under root/images, and ``names``, the class names as a list.
    Class indices are the labels (0-based). Call once per split; data.yaml is rewritten each time.
    """
    root = Path(root)
    height, width = data.images.shape[-2:]
    scale = torch.tensor([width, height, width, height], dtype=torch.float32)
    for index, (image, target) in enumerate(zip(data.images, data.targets)):
        _save_png(image, root / "images" / split / f"{_file_stem(index)}.png")
        if segments:
            rows = [(_clipped(polygon, height, width) / scale[:2]).flatten() for polygon in target["polygons"]]
        else:
            rows = list(convert_boxes(target["boxes"], "xyxy", "cxcywh") / scale)
        lines = [f"{label} {_numbers(row)}\n" for label, row in zip(target["labels"].tolist(), rows)]
        labels_path = root / "labels" / split / f"{_file_stem(index)}.txt"
        labels_path.parent.mkdir(parents=True, exist_ok=True)
        labels_path.write_text("".join(lines))
    splits = {"train": "images/train", "val": "images/val"}
    splits.update({p.name: f"images/{p.name}" for p in sorted((root / "images").iterdir()) if p.is_dir()})
    config = {"path": str(root.resolve()), **splits, "names": list(data.class_names)}
    (root / "data.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return root / "data.yaml"


def save_coco(data: ShapesData, root: str | Path, split: str = "train") -> Path:
    """Write ``data`` in the COCO layout; returns the path of the annotation file.

    Layout:
        root/<split>/000000.png  the images
        root/annotations/instances_<split>.json  {"info", "licenses": [],
            "images": [{id (1-based), file_name "000000.png", height, width}],
            "annotations": [{id (1-based), image_id, category_id (label + 1), bbox [x, y, w, h] (the tight box of
                the visible mask), area (visible mask pixels), iscrowd 0, segmentation [[x1, y1, x2, y2, ...]]
                (the shape's whole outline in pixels, also where later objects hide part of it)}],
            "categories": [{id, name, supercategory "shape"}]}
    """
    root = Path(root)
    height, width = data.images.shape[-2:]
    images, annotations = [], []
    for index, (image, target) in enumerate(zip(data.images, data.targets)):
        _save_png(image, root / split / f"{_file_stem(index)}.png")
        images.append({"id": index + 1, "file_name": f"{_file_stem(index)}.png", "height": height, "width": width})
        boxes = convert_boxes(target["boxes"], "xyxy", "xywh").tolist()
        areas = target["masks"].flatten(1).sum(1).tolist()
        for label, box, area, polygon in zip(target["labels"].tolist(), boxes, areas, target["polygons"]):
            outline = [round(v, 4) for v in _clipped(polygon, height, width).flatten().tolist()]
            annotations.append({
                "id": len(annotations) + 1, "image_id": index + 1, "category_id": label + 1, "bbox": box,
                "area": area, "iscrowd": 0, "segmentation": [outline],
            })
    categories = [{"id": c + 1, "name": name, "supercategory": "shape"} for c, name in enumerate(data.class_names)]
    document = {"info": {"description": "shendu procedural shapes"}, "licenses": [], "images": images,
                "annotations": annotations, "categories": categories}
    path = root / "annotations" / f"instances_{split}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    return path


def save_masks(data: ShapesData, root: str | Path, split: str = "train") -> Path:
    """Write ``data`` as image + mask folders (semantic segmentation); returns root/<split>.

    Layout:
        root/<split>/images/000000.png  the RGB images
        root/<split>/masks/000000.png   single-channel (mode "L") PNGs of ``semantic``: 0 background, c + 1 class c
    """
    folder = Path(root) / split
    for index, (image, semantic) in enumerate(zip(data.images, data.semantic)):
        _save_png(image, folder / "images" / f"{_file_stem(index)}.png")
        _save_png(semantic, folder / "masks" / f"{_file_stem(index)}.png")
    return folder
