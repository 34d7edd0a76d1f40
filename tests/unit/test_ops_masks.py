"""shendu.ops.masks: exact polygon rasters, masks to boxes, mask IoU, and transforms consistent with the box ones."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from shendu.errors import DataError
from shendu.ops import (
    box_iou,
    crop_boxes,
    crop_masks,
    denormalize_polygon,
    flip_boxes_horizontal,
    flip_boxes_vertical,
    flip_masks_horizontal,
    flip_masks_vertical,
    mask_iou,
    masks_to_boxes,
    polygon_to_mask,
    polygons_to_mask,
    resize_boxes,
    resize_masks,
)


def grid(rows: list[str]) -> torch.Tensor:
    """A bool mask drawn as text: '#' inside, '.' outside."""
    return torch.tensor([[c == "#" for c in row] for row in rows])


def random_masks(num: int, height: int, width: int, seed: int) -> torch.Tensor:
    """Random blobs, each with at least one pixel so its box is defined."""
    generator = torch.Generator().manual_seed(seed)
    masks = torch.rand(num, height, width, generator=generator) < 0.15
    masks[torch.arange(num), torch.randint(0, height, (num,), generator=generator), 0] = True
    return masks


# -- polygons ---------------------------------------------------------------------------------


def test_triangle_covers_the_pixels_whose_centres_it_covers():
    # (0,0), (6,0), (0,3): inside when x + 2y < 6. Centres (j + .5, i + .5): j + 2i < 4.5, so
    # row 0: j <= 4 (5 pixels), row 1: j <= 2 (3), row 2: j = 0 (1): 9 pixels, no centre on the edge.
    expected = grid(["#####..", "###....", "#......", "......."])
    assert torch.equal(polygon_to_mask([0, 0, 6, 0, 0, 3], 4, 7), expected)


def test_square_in_every_input_form():
    # (1,1)-(4,3): columns 1..3, rows 1..2 -> 6 pixels
    expected = torch.zeros(5, 6, dtype=torch.bool)
    expected[1:3, 1:4] = True
    flat = [1, 1, 4, 1, 4, 3, 1, 3]
    pairs = [[1, 1], [4, 1], [4, 3], [1, 3]]
    for polygon in (flat, torch.tensor(flat), torch.tensor(flat).reshape(4, 2).float(), pairs):
        assert torch.equal(polygon_to_mask(polygon, 5, 6), expected)
    clockwise = torch.tensor(flat, dtype=torch.float32).reshape(4, 2).flip(0)
    assert torch.equal(polygon_to_mask(clockwise, 5, 6), expected)  # orientation does not matter


def test_concave_l_shape():
    # L: a 4 x 1 bar on top and a 1 x 3 leg below its left end: 4 + 3 = 7 pixels, the notch stays empty
    l_shape = [0, 0, 4, 0, 4, 1, 1, 1, 1, 4, 0, 4]
    expected = grid(["####.", "#....", "#....", "#....", "....."])
    assert torch.equal(polygon_to_mask(l_shape, 5, 5), expected)


def test_polygons_at_and_beyond_the_border():
    # the whole image, and a square from (-2,-2) to (3,3) cut off at the border: rows, columns 0..2 -> 9 pixels
    assert polygon_to_mask([0, 0, 5, 0, 5, 4, 0, 4], 4, 5).all()
    cut = polygon_to_mask([-2, -2, 3, -2, 3, 3, -2, 3], 5, 5)
    assert cut.sum() == 9 and cut[:3, :3].all()
    assert not polygon_to_mask([10, 10, 12, 10, 12, 12], 5, 5).any()  # entirely outside


def test_centres_on_an_edge_are_counted_once():
    # The diagonal of a 4 x 4 square passes through 4 pixel centres (j + i = 3). The lower-left triangle
    # (0,0),(4,0),(0,4) has 6 centres strictly inside; the 4 on the diagonal go to the other triangle
    # (10 pixels): the two tile the square with every pixel counted exactly once.
    lower = polygon_to_mask([0, 0, 4, 0, 0, 4], 4, 4)
    upper = polygon_to_mask([4, 0, 4, 4, 0, 4], 4, 4)
    assert lower.sum() == 6 and upper.sum() == 10
    assert not (lower & upper).any() and (lower | upper).all()


def test_pixel_count_approaches_the_area_of_a_circle():
    # 64-gon of radius 20: area 64/2 r^2 sin(2 pi/64) = 1253.2; the pixel count differs by boundary pixels only
    angles = torch.arange(64) * 2 * math.pi / 64
    polygon = torch.stack([25 + 20 * angles.cos(), 25 + 20 * angles.sin()], 1)
    area = 32 * 400 * math.sin(2 * math.pi / 64)
    assert abs(polygon_to_mask(polygon, 50, 50).sum().item() - area) < 2 * math.pi * 20 * 0.25


def test_degenerate_and_malformed_polygons():
    assert not polygon_to_mask([0, 0, 4, 4], 5, 5).any()  # two vertices enclose nothing
    with pytest.raises(DataError, match="even length"):
        polygon_to_mask([0, 0, 4, 0, 4], 5, 5)


def test_several_polygons_make_one_mask():
    two = polygons_to_mask([[0, 0, 2, 0, 2, 2, 0, 2], [3, 3, 5, 3, 5, 5, 3, 5]], 5, 5)
    assert two.sum() == 8 and two[:2, :2].all() and two[3:, 3:].all()
    overlapping = polygons_to_mask([[0, 0, 3, 0, 3, 3, 0, 3], [1, 1, 4, 1, 4, 4, 1, 4]], 5, 5)
    assert overlapping.sum() == 9 + 9 - 4  # a union, not even-odd across polygons
    assert not polygons_to_mask([], 5, 5).any()


def test_denormalize_polygon():
    # x by the width (4), y by the height (8)
    assert denormalize_polygon([0.5, 0.25, 1.0, 1.0], height=8, width=4).tolist() == [[2, 2], [4, 8]]


# -- masks to boxes and IoU -----------------------------------------------------------------------


def test_masks_to_boxes_by_hand():
    masks = torch.zeros(3, 5, 6, dtype=torch.bool)
    masks[0, 1:4, 2:5] = True  # columns 2..4, rows 1..3 -> (2, 1, 5, 4)
    masks[1, 4, 5] = True  # the bottom-right pixel -> (5, 4, 6, 5)
    found = masks_to_boxes(masks)  # masks[2] is empty -> (0, 0, 0, 0)
    assert found.tolist() == [[2, 1, 5, 4], [5, 4, 6, 5], [0, 0, 0, 0]] and found.dtype == torch.float32
    assert masks_to_boxes(masks[0]).tolist() == [2, 1, 5, 4]  # (H, W) -> (4,)
    assert masks_to_boxes(masks.long() * 7).tolist() == found.tolist()  # class-index masks: nonzero is inside
    assert masks_to_boxes(torch.zeros(0, 5, 6, dtype=torch.bool)).shape == (0, 4)


def test_mask_iou_by_hand():
    # a: rows 0..1, cols 0..1 (4 px); b: rows 0..1, cols 1..2 (4 px): intersection 2, union 6 -> 1/3
    a = grid(["##..", "##..", "...."])
    b = grid([".##.", ".##.", "...."])
    empty = torch.zeros(3, 4, dtype=torch.bool)
    found = mask_iou(torch.stack([a, empty]), torch.stack([b, a, empty]))
    assert found.shape == (2, 3) and found.dtype == torch.float32
    assert torch.allclose(found, torch.tensor([[1 / 3, 1, 0], [0, 0, 0]]))  # empty masks: 0, not NaN
    assert mask_iou(torch.zeros(0, 3, 4), torch.stack([a])).shape == (0, 1)
    with pytest.raises(DataError, match="same H, W"):
        mask_iou(torch.stack([a]), torch.zeros(1, 4, 4))


def test_mask_iou_of_rasterised_boxes_equals_box_iou():
    # integer boxes rasterise to exactly their pixels, so both IoUs count the same areas
    boxes = torch.tensor([[0, 0, 4, 3], [2, 1, 7, 6], [5, 5, 8, 8], [1, 1, 2, 2]], dtype=torch.float32)
    masks = torch.stack([polygon_to_mask([x1, y1, x2, y1, x2, y2, x1, y2], 9, 9) for x1, y1, x2, y2 in boxes.tolist()])
    assert torch.allclose(mask_iou(masks, masks), box_iou(boxes, boxes))
    assert torch.equal(masks_to_boxes(masks), boxes)


# -- transforms ---------------------------------------------------------------------------------


def test_resize_matches_pixel_centre_nearest_neighbour():
    values = torch.randint(0, 5, (3, 7, 9), generator=torch.Generator().manual_seed(0))
    for size in [(14, 18), (3, 4), (5, 13), (11, 2), (7, 9)]:
        expected = F.interpolate(values[None].float(), size=size, mode="nearest-exact")[0].long()
        found = resize_masks(values, size)
        assert torch.equal(found, expected) and found.dtype == torch.int64  # class indices keep their dtype
    bool_mask = values[0] > 2
    resized = resize_masks(bool_mask, (14, 18))
    assert resized.dtype == torch.bool and resized.shape == (14, 18)
    # 2 x 2 upscale by hand: every pixel becomes a 2 x 2 block
    assert resize_masks(grid(["#.", ".#"]), (4, 4)).tolist() == grid(["##..", "##..", "..##", "..##"]).tolist()


def test_flip_and_crop_by_hand():
    mask = grid(["##...", "#...."])
    assert torch.equal(flip_masks_horizontal(mask), grid(["...##", "....#"]))
    assert torch.equal(flip_masks_vertical(mask), grid(["#....", "##..."]))
    # crop rows 0..2 from -1 (one padded row on top), columns 1..3
    assert torch.equal(crop_masks(mask, top=-1, left=1, height=3, width=3), grid(["...", "#..", "..."]))
    assert not crop_masks(mask, 5, 5, 2, 2).any()  # entirely outside: all padding
    labels = torch.arange(12).reshape(3, 4)
    assert crop_masks(labels, 1, 1, 2, 2).tolist() == [[5, 6], [9, 10]]  # class indices keep their values and dtype
    assert crop_masks(labels, 0, 0, 1, 1).dtype == torch.int64


def test_flips_keep_masks_and_boxes_consistent():
    masks = random_masks(6, 7, 9, seed=1)
    boxes = masks_to_boxes(masks)
    assert torch.equal(masks_to_boxes(flip_masks_horizontal(masks)), flip_boxes_horizontal(boxes, 9))
    assert torch.equal(masks_to_boxes(flip_masks_vertical(masks)), flip_boxes_vertical(boxes, 7))


@pytest.mark.parametrize("new_size", [(14, 18), (21, 9), (7, 27)])
def test_integer_upscaling_keeps_masks_and_boxes_consistent(new_size):
    masks = random_masks(6, 7, 9, seed=2)
    expected = resize_boxes(masks_to_boxes(masks), (7, 9), new_size)
    assert torch.equal(masks_to_boxes(resize_masks(masks, new_size)), expected)


def test_downscaling_of_aligned_masks_keeps_boxes_consistent():
    # masks made of 2 x 2 blocks halve exactly: their boxes halve too
    blocks = random_masks(6, 4, 5, seed=3)
    masks = resize_masks(blocks, (8, 10))
    expected = resize_boxes(masks_to_boxes(masks), (8, 10), (4, 5))
    assert torch.equal(masks_to_boxes(resize_masks(masks, (4, 5))), expected)


def test_crop_keeps_masks_and_boxes_consistent():
    # rectangles (the box of a rectangle's crop is the crop of its box), some cut off, one lost entirely
    rectangles = torch.tensor([[1, 1, 5, 4], [6, 2, 9, 8], [0, 6, 3, 8], [7, 0, 9, 1]], dtype=torch.float32)
    masks = torch.zeros(4, 8, 9, dtype=torch.bool)
    for mask, (x1, y1, x2, y2) in zip(masks, rectangles.long().tolist()):
        mask[y1:y2, x1:x2] = True
    for top, left, height, width in [(2, 3, 5, 5), (-1, -2, 6, 7), (0, 0, 8, 9)]:
        cropped = crop_masks(masks, top, left, height, width)
        boxes, kept = crop_boxes(masks_to_boxes(masks), top, left, height, width)
        assert torch.equal(masks_to_boxes(cropped[kept]), boxes)
        lost = torch.ones(4, dtype=torch.bool)
        lost[kept] = False
        assert not cropped[lost].any()  # the boxes crop_boxes drops are exactly the masks cropped to nothing
