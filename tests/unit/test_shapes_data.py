"""shendu.data.shapes: procedural shapes with exact targets, and their YOLO, COCO and mask-folder writers."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from shendu.data.shapes import ShapesData, make_shapes, save_coco, save_masks, save_yolo
from shendu.ops import box_iou, convert_boxes, denormalize_polygon, mask_iou, masks_to_boxes, polygons_to_mask

VERTICES = {"circle": 32, "square": 4, "triangle": 3}


@pytest.fixture(scope="module")
def plain() -> ShapesData:
    """No overlap, a non-square size so that a swapped H and W shows."""
    return make_shapes(32, size=(48, 64), seed=1, max_size=24)


@pytest.fixture(scope="module")
def crowded() -> ShapesData:
    """Overlapping objects: later ones hide parts of earlier ones."""
    return make_shapes(32, size=48, seed=2, allow_overlap=True, min_objects=3, max_objects=6, min_size=10, max_size=24)


def instances(data: ShapesData):
    """(image index, object index, label, mask, polygon, box) of every object."""
    for i, target in enumerate(data.targets):
        for k, (label, mask, polygon, box) in enumerate(
            zip(target["labels"].tolist(), target["masks"], target["polygons"], target["boxes"])
        ):
            yield i, k, label, mask, polygon, box


@pytest.fixture(scope="module")
def crowded_wholes(crowded) -> dict[tuple[int, int], tuple[torch.Tensor, bool]]:
    """(image, object) -> (the whole shape's raster (H, W), True when no later object covers any of it)."""
    wholes = {}
    for i, target in enumerate(crowded.targets):
        rasters = [polygons_to_mask([p], 48, 48) for p in target["polygons"]]
        for k, whole in enumerate(rasters):
            wholes[i, k] = whole, not any((whole & later).any() for later in rasters[k + 1:])
    return wholes


def png(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


def assert_same_data(a: ShapesData, b: ShapesData) -> None:
    assert torch.equal(a.images, b.images) and torch.equal(a.semantic, b.semantic)
    assert a.class_names == b.class_names and len(a.targets) == len(b.targets)
    for ta, tb in zip(a.targets, b.targets):
        assert all(torch.equal(ta[key], tb[key]) for key in ("boxes", "labels", "masks"))
        assert len(ta["polygons"]) == len(tb["polygons"])
        assert all(torch.equal(p, q) for p, q in zip(ta["polygons"], tb["polygons"]))


# -- generation -----------------------------------------------------------------------------
def test_same_seed_gives_identical_data_and_the_global_rng_is_untouched():
    state = torch.random.get_rng_state()
    first = make_shapes(6, size=32, seed=7, allow_overlap=True, empty_fraction=0.2)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert_same_data(first, make_shapes(6, size=32, seed=7, allow_overlap=True, empty_fraction=0.2))
    other = make_shapes(6, size=32, seed=8, allow_overlap=True, empty_fraction=0.2)
    assert not torch.equal(first.images, other.images)
    assert not torch.equal(first.semantic, other.semantic)


def test_shapes_and_dtypes(plain, crowded):
    for data, (height, width) in ((plain, (48, 64)), (crowded, (48, 48))):
        assert len(data) == 32 and data.class_names == ("circle", "square", "triangle")
        assert data.images.shape == (32, 3, height, width) and data.images.dtype == torch.float32
        assert 0 <= data.images.min() and data.images.max() <= 1
        assert torch.equal(data.images, (data.images * 255).round() / 255)  # multiples of 1/255: PNGs are exact
        assert data.semantic.shape == (32, height, width) and data.semantic.dtype == torch.int64
        for target in data.targets:
            count = len(target["labels"])
            assert target["boxes"].shape == (count, 4) and target["boxes"].dtype == torch.float32
            assert target["labels"].dtype == torch.int64 and set(target["labels"].tolist()) <= {0, 1, 2}
            assert target["masks"].shape == (count, height, width) and target["masks"].dtype == torch.bool
            assert len(target["polygons"]) == count
            for label, polygon in zip(target["labels"].tolist(), target["polygons"]):
                assert polygon.shape == (VERTICES[data.class_names[label]], 2) and polygon.dtype == torch.float32
    counts = [len(t["labels"]) for t in plain.targets]
    assert min(counts) >= 1 and max(counts) <= 4 and len(set(counts)) > 1


def test_boxes_are_tight_around_the_masks_inside_the_image_and_not_tiny(plain, crowded):
    for data in (plain, crowded):
        height, width = data.images.shape[-2:]
        for target in data.targets:
            boxes, masks = target["boxes"], target["masks"]
            assert torch.equal(boxes, masks_to_boxes(masks))
            assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= width).all() and (boxes[:, 3] <= height).all()
            assert (boxes[:, 2:] - boxes[:, :2] >= 3).all()
            assert (masks.flatten(1).sum(1) >= 8).all()


def test_semantic_map_is_the_instance_masks_painted_in_order(plain, crowded):
    for data in (plain, crowded):
        for semantic, target in zip(data.semantic, data.targets):
            painted = torch.zeros_like(semantic)
            for label, mask in zip(target["labels"].tolist(), target["masks"]):
                painted[mask] = label + 1  # 0 is background, class c is c + 1
            assert torch.equal(painted, semantic)
            # Visible instance masks never share a pixel, also when the shapes overlap.
            assert int(target["masks"].sum()) == int((semantic > 0).sum())


def test_overlap_hides_earlier_objects(crowded, crowded_wholes):
    hidden = 0
    for i, k, label, mask, _, _ in instances(crowded):
        whole = crowded_wholes[i, k][0]
        if crowded.class_names[label] == "square":
            assert (mask & ~whole).sum() == 0  # the visible part lies within the whole square
            hidden += int(mask.sum() < whole.sum())
    assert hidden > 0


def test_no_overlap_when_not_allowed(plain):
    # Six cells of 16 to 24 pixels rarely all fit in 48 x 48: those that find no free place are left out.
    packed = make_shapes(16, size=48, seed=6, min_objects=6, max_objects=6, min_size=16, max_size=24)
    assert min(len(t["labels"]) for t in packed.targets) < 6
    for target in plain.targets + packed.targets:
        count = len(target["labels"])
        off_diagonal = ~torch.eye(count, dtype=torch.bool)
        assert (mask_iou(target["masks"], target["masks"])[off_diagonal] == 0).all()
        assert (box_iou(target["boxes"], target["boxes"])[off_diagonal] == 0).all()
        a, b = target["boxes"][:, None], target["boxes"][None]  # (K, 1, 4), (1, K, 4)
        gaps = torch.stack([a[..., 0] - b[..., 2], b[..., 0] - a[..., 2], a[..., 1] - b[..., 3], b[..., 1] - a[..., 3]])
        assert (gaps.amax(0)[off_diagonal] >= 1).all()  # instances never touch: at least 1 pixel between boxes


def test_exact_areas_of_fixed_size_circles_and_squares():
    # A disc of diameter 8 centred on a pixel corner: per quadrant, pixel centres at offsets 0.5..3.5 with
    # a^2 + b^2 <= 16 are 4 + 4 + 3 + 2 = 13, so 52 pixels (pi * 16 = 50.3); the square covers 8 * 8 = 64.
    data = make_shapes(8, size=40, seed=4, classes=("circle", "square"), min_size=8, max_size=8, max_objects=3)
    areas = {0: set(), 1: set()}
    for _, _, label, mask, _, box in instances(data):
        areas[label].add(int(mask.sum()))
        assert (box[2:] - box[:2]).tolist() == [8, 8]
    assert areas == {0: {52}, 1: {64}}


def test_circle_area_is_close_to_pi_r_squared_and_square_area_is_side_squared(plain):
    circles = 0
    for _, _, label, mask, _, box in instances(plain):
        width, height = (box[2:] - box[:2]).tolist()
        name, area = plain.class_names[label], int(mask.sum())
        if name == "square":
            assert width == height and area == width * height
        if name == "circle" and width >= 10:  # smaller discs are too coarse for a few percent
            assert width == height and abs(area / (math.pi * width**2 / 4) - 1) < 0.04
            circles += 1
    assert circles >= 5


def test_colours_keep_contrast_with_the_background_and_each_other():
    data = make_shapes(32, size=48, seed=5, noise=0.0)
    for image, semantic, target in zip(data.images, data.semantic, data.targets):
        background = image[:, semantic == 0]  # (3, pixels): one flat colour without noise
        assert (background == background[:, :1]).all()
        colours = [image[:, mask][:, 0] for mask in target["masks"]]
        for colour, mask in zip(colours, target["masks"]):
            assert (image[:, mask] == colour[:, None]).all()
            assert torch.dist(colour, background[:, 0]) >= 0.5 - 2 / 255
        for a in range(len(colours)):
            for b in range(a + 1, len(colours)):
                assert torch.dist(colours[a], colours[b]) >= 0.3 - 2 / 255


def test_noise_has_the_requested_standard_deviation(plain):
    stds = []
    for image, semantic in zip(plain.images, plain.semantic):
        background = image[:, semantic == 0]  # (3, pixels)
        mean = background.mean(1)
        unclipped = (mean > 0.35) & (mean < 0.65)  # far from 0 and 1, so clipping does not shrink it
        stds += background.std(1)[unclipped].tolist()
    assert len(stds) > 10 and abs(float(np.median(stds)) - 0.1) < 0.005


def test_empty_fraction_gives_images_without_objects():
    data = make_shapes(20, size=32, seed=3, empty_fraction=0.25, min_size=6, max_size=12)
    empty = [i for i, target in enumerate(data.targets) if len(target["labels"]) == 0]
    assert len(empty) == 5  # round(0.25 * 20)
    for i in empty:
        target = data.targets[i]
        assert target["boxes"].shape == (0, 4) and target["boxes"].dtype == torch.float32
        assert target["labels"].shape == (0,) and target["labels"].dtype == torch.int64
        assert target["masks"].shape == (0, 32, 32) and target["masks"].dtype == torch.bool
        assert target["polygons"] == [] and (data.semantic[i] == 0).all()


@pytest.mark.parametrize(
    "arguments, words",
    [
        ({"classes": ("circel",)}, "Did you mean 'circle'"),
        ({"min_size": 40}, "min_size"),
        ({"max_size": 4}, "max_size"),
        ({"empty_fraction": 1.5}, "empty_fraction"),
        ({"min_objects": 3, "max_objects": 2}, "min_objects"),
        ({"size": (4, 64)}, "size"),
    ],
)
def test_bad_arguments_are_named(arguments, words):
    with pytest.raises(ValueError, match=words):
        make_shapes(2, size=arguments.pop("size", 32), **arguments)


def test_makes_256_images_quickly():
    start = time.perf_counter()
    make_shapes(256, size=64)
    assert time.perf_counter() - start < 10  # about 0.5 s on one idle core; generous against a busy machine


# -- writers --------------------------------------------------------------------------------
def test_yolo_detection_labels_round_trip(plain, tmp_path):
    config_path = save_yolo(plain, tmp_path)
    config = yaml.safe_load(config_path.read_text())
    assert config == {"path": str(tmp_path.resolve()), "train": "images/train", "val": "images/val",
                      "names": ["circle", "square", "triangle"]}
    for i, target in enumerate(plain.targets):
        pixels = png(tmp_path / "images" / "train" / f"{i:06d}.png")  # (H, W, 3) uint8
        assert np.array_equal(pixels, (plain.images[i] * 255).round().byte().permute(1, 2, 0).numpy())
        rows = [line.split() for line in (tmp_path / "labels" / "train" / f"{i:06d}.txt").read_text().splitlines()]
        assert [int(row[0]) for row in rows] == target["labels"].tolist()
        normalised = torch.tensor([[float(v) for v in row[1:]] for row in rows])  # (K, 4) cx cy w h
        expected = convert_boxes(target["boxes"], "xyxy", "cxcywh") / torch.tensor([64, 48, 64, 48])
        assert torch.allclose(normalised, expected, atol=1 / 64)
        assert torch.allclose(normalised, expected, atol=1e-6)  # 6 decimals


def test_yolo_segment_labels_round_trip(crowded, tmp_path):
    save_yolo(crowded, tmp_path, split="val", segments=True)
    for i, target in enumerate(crowded.targets):
        rows = [line.split() for line in (tmp_path / "labels" / "val" / f"{i:06d}.txt").read_text().splitlines()]
        assert [int(row[0]) for row in rows] == target["labels"].tolist()
        for row, label, polygon in zip(rows, target["labels"].tolist(), target["polygons"]):
            values = [float(v) for v in row[1:]]
            assert len(values) == 2 * VERTICES[crowded.class_names[label]] and 0 <= min(values) <= max(values) <= 1
            back = denormalize_polygon(values, 48, 48)  # (P, 2) pixels
            assert torch.allclose(back, polygon.double().clamp(0, 48), atol=48e-6)


def test_coco_annotations_round_trip(crowded, crowded_wholes, tmp_path):
    path = save_coco(crowded, tmp_path, split="val")
    assert path == tmp_path / "annotations" / "instances_val.json"
    document = json.loads(path.read_text())
    assert document["categories"] == [{"id": c + 1, "name": n, "supercategory": "shape"}
                                      for c, n in enumerate(("circle", "square", "triangle"))]
    assert [image["id"] for image in document["images"]] == list(range(1, 33))
    annotations = document["annotations"]
    assert [a["id"] for a in annotations] == list(range(1, len(annotations) + 1))
    checked = 0
    for annotation, (i, k, label, mask, _, box) in zip(annotations, instances(crowded), strict=True):
        image = document["images"][i]
        assert (image["file_name"], image["height"], image["width"]) == (f"{i:06d}.png", 48, 48)
        assert (tmp_path / "val" / image["file_name"]).is_file()
        assert annotation["image_id"] == i + 1 and annotation["category_id"] == label + 1
        assert annotation["bbox"] == convert_boxes(box, "xyxy", "xywh").tolist()
        assert annotation["area"] == int(mask.sum()) and annotation["iscrowd"] == 0
        if crowded_wholes[i, k][1]:
            drawn = polygons_to_mask(annotation["segmentation"], 48, 48)
            assert float(mask_iou(drawn[None], mask[None])) > 0.9
            checked += 1
    assert checked >= 20


def test_polygons_of_unoccluded_squares_and_triangles_rasterise_to_their_masks_exactly(crowded, crowded_wholes):
    exact = 0
    for i, k, label, mask, _, _ in instances(crowded):
        whole, visible_whole = crowded_wholes[i, k]
        if crowded.class_names[label] != "circle" and visible_whole:
            assert torch.equal(whole, mask)
            exact += 1
    assert exact >= 10


def test_mask_folders_round_trip(plain, tmp_path):
    folder = save_masks(plain, tmp_path, split="test")
    assert folder == tmp_path / "test"
    for i in range(len(plain)):
        with Image.open(folder / "masks" / f"{i:06d}.png") as mask:
            assert mask.mode == "L"
            assert np.array_equal(np.asarray(mask), plain.semantic[i].numpy())
        pixels = png(folder / "images" / f"{i:06d}.png")
        assert np.array_equal(pixels, (plain.images[i] * 255).round().byte().permute(1, 2, 0).numpy())
