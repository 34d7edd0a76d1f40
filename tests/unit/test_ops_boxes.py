"""shendu.ops.boxes: hand-computed overlaps, losses, NMS (ties, threshold, classes), box coding, transforms."""

from __future__ import annotations

import math
import time

import pytest
import torch

from shendu.errors import DataError
from shendu.ops import (
    batched_nms,
    box_area,
    box_iou,
    ciou_loss,
    clip_boxes,
    complete_box_iou,
    convert_boxes,
    crop_boxes,
    decode_deltas,
    decode_ltrb,
    diou_loss,
    distance_box_iou,
    encode_deltas,
    encode_ltrb,
    flip_boxes_horizontal,
    flip_boxes_vertical,
    generalized_box_iou,
    giou_loss,
    nms,
    remove_small_boxes,
    resize_boxes,
)

OVERLAPS = [box_iou, generalized_box_iou, distance_box_iou, complete_box_iou]


def boxes(*rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32).reshape(-1, 4)


def random_boxes(num: int, seed: int = 0, size: float = 100.0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    corner = torch.rand(num, 2, generator=generator) * 1000
    return torch.cat([corner, corner + torch.rand(num, 2, generator=generator) * size + 1], 1)


# -- formats and area ---------------------------------------------------------------------------


def test_convert_boxes_by_hand_and_round_trip():
    xyxy = boxes([1, 2, 4, 6])  # w = 3, h = 4, centre (2.5, 4)
    assert convert_boxes(xyxy, "xyxy", "xywh").tolist() == [[1, 2, 3, 4]]
    assert convert_boxes(xyxy, "xyxy", "cxcywh").tolist() == [[2.5, 4, 3, 4]]
    assert convert_boxes(boxes([2.5, 4, 3, 4]), "cxcywh", "xywh").tolist() == [[1, 2, 3, 4]]
    many = random_boxes(20)
    for fmt in ("xywh", "cxcywh"):
        assert torch.allclose(convert_boxes(convert_boxes(many, "xyxy", fmt), fmt, "xyxy"), many, atol=1e-4)
    with pytest.raises(ValueError, match="xyxy, xywh, cxcywh"):
        convert_boxes(xyxy, "xyxy", "yolo")


def test_box_area_clamps_degenerate_boxes():
    # 2 x 3 = 6; x2 < x1 -> 0, not -3; zero width -> 0
    assert box_area(boxes([0, 0, 2, 3], [2, 0, 1, 3], [0, 0, 0, 5])).tolist() == [6, 0, 0]
    with pytest.raises(DataError, match=r"\(\.\.\., 4\)"):
        box_area(torch.zeros(3, 5))


# -- overlaps: hand-computed values ---------------------------------------------------------------


def test_overlaps_of_two_offset_squares():
    # [0,0,2,2] and [1,1,3,3]: intersection 1, union 4 + 4 - 1 = 7 -> IoU 1/7.
    # Enclosing box [0,0,3,3], area 9 -> GIoU = 1/7 - (9 - 7)/9.
    # Centres (1,1), (2,2): distance^2 = 2; enclosing diagonal^2 = 9 + 9 = 18 -> DIoU = 1/7 - 2/18.
    # Both are squares (same aspect): v = 0, so CIoU = DIoU.
    a, b = boxes([0, 0, 2, 2]), boxes([1, 1, 3, 3])
    assert box_iou(a, b).item() == pytest.approx(1 / 7)
    assert generalized_box_iou(a, b).item() == pytest.approx(1 / 7 - 2 / 9)
    assert distance_box_iou(a, b).item() == pytest.approx(1 / 7 - 2 / 18)
    assert complete_box_iou(a, b).item() == pytest.approx(1 / 7 - 2 / 18)


def test_complete_iou_penalises_aspect_ratio():
    # [0,0,2,2] inside [0,0,2,4]: IoU = 4/8 = 0.5; centres (1,1), (1,2): distance^2 = 1;
    # enclosing [0,0,2,4]: diagonal^2 = 4 + 16 = 20 -> DIoU = 0.5 - 1/20 = 0.45.
    # v = 4/pi^2 (atan(2/4) - atan(2/2))^2, alpha = v / (1 - 0.5 + v), CIoU = 0.45 - alpha v.
    a, b = boxes([0, 0, 2, 2]), boxes([0, 0, 2, 4])
    v = 4 / math.pi**2 * (math.atan(0.5) - math.atan(1.0)) ** 2
    assert distance_box_iou(a, b).item() == pytest.approx(0.45)
    assert complete_box_iou(a, b).item() == pytest.approx(0.45 - v / (0.5 + v) * v)
    assert complete_box_iou(a, b).item() == pytest.approx(complete_box_iou(b, a).item())


def test_overlaps_of_disjoint_boxes():
    # [0,0,1,1] and [2,0,3,1]: IoU 0; enclosing [0,0,3,1] area 3, union 2 -> GIoU = -1/3;
    # centres (0.5,0.5), (2.5,0.5): distance^2 = 4, diagonal^2 = 9 + 1 = 10 -> DIoU = -0.4 (= CIoU, same aspect).
    a, b = boxes([0, 0, 1, 1]), boxes([2, 0, 3, 1])
    assert box_iou(a, b).item() == 0
    assert generalized_box_iou(a, b).item() == pytest.approx(-1 / 3)
    assert distance_box_iou(a, b).item() == pytest.approx(-0.4)
    assert complete_box_iou(a, b).item() == pytest.approx(-0.4)


@pytest.mark.parametrize("overlap", OVERLAPS)
def test_identical_boxes_score_one(overlap):
    a = boxes([1, 2, 5, 9], [0, 0, 3, 1])
    assert torch.equal(overlap(a, a).diagonal(), torch.ones(2))


@pytest.mark.parametrize("overlap", OVERLAPS)
def test_degenerate_boxes_give_zero_not_nan(overlap):
    line = boxes([1, 1, 1, 3])  # zero width: area 0
    assert overlap(line, line).item() == 0  # 0 / 0 would be NaN; the eps floor gives 0
    # the same line inside [0,0,2,4]: no intersection, union 8; the line's centre (1,2) is the box's.
    # GIoU: enclosing = the box, so (8 - 8)/8 = 0; DIoU: centre distance 0 -> both 0.
    # CIoU adds the aspect penalty: v = 4/pi^2 (atan(2/4) - atan(0/2))^2, alpha = v / (1 - 0 + v).
    v = 4 / math.pi**2 * math.atan(0.5) ** 2
    expected = -v * v / (1 + v) if overlap is complete_box_iou else 0.0
    assert overlap(line, boxes([0, 0, 2, 4])).item() == pytest.approx(expected, abs=1e-7)


def test_two_distinct_points():
    # [0,0,0,0] and [1,1,1,1]: IoU 0; enclosing area 1, union 0 -> GIoU = -1; distance^2 2 = diagonal^2 -> DIoU -1
    a, b = boxes([0, 0, 0, 0]), boxes([1, 1, 1, 1])
    assert box_iou(a, b).item() == 0
    assert generalized_box_iou(a, b).item() == -1
    assert distance_box_iou(a, b).item() == -1


@pytest.mark.parametrize("overlap", OVERLAPS)
def test_empty_inputs_give_empty_results(overlap):
    three = random_boxes(3)
    assert overlap(torch.zeros(0, 4), three).shape == (0, 3)
    assert overlap(three, torch.zeros(0, 4)).shape == (3, 0)
    assert overlap(torch.zeros(0, 4), torch.zeros(0, 4), pairwise=False).shape == (0,)


@pytest.mark.parametrize("overlap", OVERLAPS)
def test_symmetry_ranges_and_matched_pairs(overlap):
    a, b = random_boxes(30, seed=1, size=300), random_boxes(20, seed=2, size=300)
    scores = overlap(a, b)
    assert scores.shape == (30, 20) and scores.dtype == torch.float32
    assert torch.allclose(scores, overlap(b, a).T, atol=1e-6)  # equal up to rounding order
    low = {box_iou: 0.0, complete_box_iou: -2.0}.get(overlap, -1.0)
    assert scores.min() >= low and scores.max() <= 1
    # pairwise=False scores matched pairs: the diagonal of the pairwise matrix
    assert torch.allclose(overlap(a[:20], b, pairwise=False), overlap(a[:20], b).diagonal())


def test_dtypes_and_shape_errors():
    assert box_iou(boxes([0, 0, 1, 1]).double(), boxes([0, 0, 1, 1]).double()).dtype == torch.float64
    assert box_iou(torch.tensor([[0, 0, 2, 2]]), torch.tensor([[1, 1, 3, 3]])).dtype == torch.float32  # ints
    with pytest.raises(DataError, match="pairwise=False"):
        box_iou(torch.zeros(2, 3, 4), torch.zeros(2, 4))


# -- losses -----------------------------------------------------------------------------------


def test_losses_by_hand_and_reductions():
    pred, target = boxes([0, 0, 2, 2], [0, 0, 1, 1]), boxes([1, 1, 3, 3], [0, 0, 1, 1])
    # first pair as in test_overlaps_of_two_offset_squares; second pair identical -> loss 0
    giou = 1 - (1 / 7 - 2 / 9)
    assert giou_loss(pred, target, reduction="none").tolist() == pytest.approx([giou, 0])
    assert giou_loss(pred, target).item() == pytest.approx(giou / 2)
    assert giou_loss(pred, target, reduction="sum").item() == pytest.approx(giou)
    assert diou_loss(pred, target, "none").tolist() == pytest.approx([1 - (1 / 7 - 2 / 18), 0], abs=1e-6)
    assert ciou_loss(pred, target, "none").tolist() == pytest.approx([1 - (1 / 7 - 2 / 18), 0], abs=1e-6)
    # no matched boxes: 0 rather than the NaN of an empty mean
    assert giou_loss(torch.zeros(0, 4), torch.zeros(0, 4)).item() == 0
    with pytest.raises(ValueError, match="mean, sum, none"):
        giou_loss(pred, target, reduction="average")
    with pytest.raises(DataError, match="same shape"):
        giou_loss(pred, target[:1])


@pytest.mark.parametrize("loss", [giou_loss, diou_loss, ciou_loss])
def test_gradients_flow_through_the_losses(loss):
    # partly overlapping boxes, away from the kinks of min/max/clamp
    pred = torch.tensor([[0.1, 0.2, 2.3, 2.1], [5.0, 5.0, 6.5, 7.0]], dtype=torch.float64, requires_grad=True)
    target = torch.tensor([[1.0, 0.7, 3.2, 3.4], [5.4, 4.1, 7.2, 6.3]], dtype=torch.float64)
    if loss is ciou_loss:  # alpha is held constant by design, so its gradient is not the numerical one
        loss(pred, target).backward()
        assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    else:
        assert torch.autograd.gradcheck(lambda p: loss(p, target), (pred,))
    far = torch.tensor([[10.0, 10.0, 11.0, 11.0]], requires_grad=True)  # disjoint: IoU gives no gradient, GIoU does
    loss(far, boxes([0, 0, 1, 1])).backward()
    assert far.grad.abs().sum() > 0


# -- NMS --------------------------------------------------------------------------------------


def reference_nms(all_boxes, scores, threshold, classes=None) -> list[int]:
    """The textbook greedy loop: by score (ties by index), keep a box unless a kept box of its class overlaps > t."""
    iou = box_iou(all_boxes, all_boxes).tolist()  # Python floats: compared in double, as torchvision's C++ does
    order = sorted(range(len(scores)), key=lambda i: (-float(scores[i]), i))
    kept: list[int] = []
    for i in order:
        if all(iou[i][k] <= threshold for k in kept if classes is None or classes[i] == classes[k]):
            kept.append(i)
    return kept


def test_nms_by_hand():
    # A and B overlap with IoU 81/119 = 0.68 > 0.5, C is far away: B goes.
    found = nms(boxes([0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]), torch.tensor([0.9, 0.8, 0.7]), 0.5)
    assert found.tolist() == [0, 2] and found.dtype == torch.int64
    # disjoint boxes are all kept, ordered by descending score
    disjoint = boxes([0, 0, 1, 1], [2, 2, 3, 3], [4, 4, 5, 5])
    assert nms(disjoint, torch.tensor([0.1, 0.9, 0.5]), 0.5).tolist() == [1, 2, 0]


def test_nms_suppressed_boxes_do_not_suppress():
    # A=[0,0,2,2], B=[1,0,3,2], C=[2,0,4,2]: IoU(A,B) = IoU(B,C) = 2/6 = 1/3 > 0.3, IoU(A,C) = 0.
    # A removes B; B, removed, cannot remove C.
    found = nms(boxes([0, 0, 2, 2], [1, 0, 3, 2], [2, 0, 4, 2]), torch.tensor([0.9, 0.8, 0.7]), 0.3)
    assert found.tolist() == [0, 2]


def test_nms_ties_keep_the_lower_index():
    same = boxes([0, 0, 2, 2], [0, 0, 2, 2], [0, 0, 2, 2])
    assert nms(same, torch.tensor([0.5, 0.7, 0.7]), 0.5).tolist() == [1]
    assert nms(boxes([0, 0, 1, 1], [2, 2, 3, 3], [4, 4, 5, 5]), torch.full((3,), 0.5), 0.5).tolist() == [0, 1, 2]


def test_nms_iou_equal_to_threshold_is_kept():
    # [0,0,4,2] and [0,0,2,2]: intersection 4, union 8 -> IoU exactly 0.5 (representable)
    pair, scores = boxes([0, 0, 4, 2], [0, 0, 2, 2]), torch.tensor([0.9, 0.8])
    assert nms(pair, scores, 0.5).tolist() == [0, 1]  # suppress only when IoU > threshold
    assert nms(pair, scores, 0.49).tolist() == [0]


def test_nms_without_boxes():
    assert nms(torch.zeros(0, 4), torch.zeros(0), 0.5).shape == (0,)
    assert batched_nms(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.long), 0.5).shape == (0,)
    with pytest.raises(DataError, match="One score per box"):
        nms(torch.zeros(3, 4), torch.zeros(2), 0.5)


def test_nms_matches_the_greedy_reference_with_many_ties():
    # integer grid boxes: many equal scores and many equal IoUs, some exactly at the threshold
    generator = torch.Generator().manual_seed(3)
    corner = torch.randint(0, 12, (80, 2), generator=generator)
    grid = torch.cat([corner, corner + torch.randint(1, 6, (80, 2), generator=generator)], 1).float()
    scores = torch.randint(0, 5, (80,), generator=generator).float()
    for threshold in (0.0, 0.25, 0.5, 1 / 3):
        assert nms(grid, scores, threshold).tolist() == reference_nms(grid, scores, threshold)
    # enough boxes that the IoU matrix is computed in several row blocks
    many, many_scores = random_boxes(700, seed=11, size=200), torch.rand(700, generator=generator)
    assert nms(many, many_scores, 0.4).tolist() == reference_nms(many, many_scores, 0.4)


def test_batched_nms_keeps_other_classes():
    same = boxes([0, 0, 2, 2], [0, 0, 2, 2], [0, 0, 2, 2])
    scores = torch.tensor([0.9, 0.8, 0.7])
    assert batched_nms(same, scores, torch.tensor([0, 1, 0]), 0.5).tolist() == [0, 1]
    assert batched_nms(same, scores, torch.tensor([2, 1, 0]), 0.5).tolist() == [0, 1, 2]
    assert batched_nms(same, scores, torch.tensor([4, 4, 4]), 0.5).tolist() == [0]


def test_batched_nms_matches_a_per_class_loop():
    grid = random_boxes(120, seed=4, size=150)
    scores = torch.rand(120, generator=torch.Generator().manual_seed(5))
    classes = torch.randint(0, 4, (120,), generator=torch.Generator().manual_seed(6))
    found = batched_nms(grid, scores, classes, 0.3)
    assert found.tolist() == reference_nms(grid, scores, 0.3, classes.tolist())
    per_class = torch.cat(
        [torch.where(classes == c)[0][nms(grid[classes == c], scores[classes == c], 0.3)] for c in range(4)]
    )
    assert sorted(found.tolist()) == sorted(per_class.tolist())


def test_nms_of_5000_boxes_is_fast():
    # Generous bound (the target is well under 1 s; 2 s here): best of three runs, so a busy machine does not fail it.
    many, scores = random_boxes(5000, seed=7), torch.rand(5000, generator=torch.Generator().manual_seed(8))
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        nms(many, scores, 0.5)
        timings.append(time.perf_counter() - start)
    assert min(timings) < 2.0  # about 0.15 s alone on a 2-core CPU


# -- coding ------------------------------------------------------------------------------------


def test_ltrb_by_hand_and_round_trip():
    # point (5, 5) in [2, 3, 10, 9]: left 3, top 2, right 5, bottom 4
    distances = encode_ltrb(torch.tensor([[5.0, 5.0]]), boxes([2, 3, 10, 9]))
    assert distances.tolist() == [[3, 2, 5, 4]]
    assert decode_ltrb(torch.tensor([[5.0, 5.0]]), distances).tolist() == [[2, 3, 10, 9]]
    many, points = random_boxes(50).double(), torch.rand(50, 2, dtype=torch.float64) * 1000
    assert torch.allclose(decode_ltrb(points, encode_ltrb(points, many)), many, atol=1e-5, rtol=0)


def test_deltas_by_hand_and_round_trip():
    # anchor [0,0,10,10]: centre (5,5), size 10x10; box [2,2,12,22]: centre (7,12), size 10x20
    # dx = 2/10, dy = 7/10, dw = log(10/10) = 0, dh = log(20/10)
    anchor, box = boxes([0, 0, 10, 10]), boxes([2, 2, 12, 22])
    assert encode_deltas(anchor, box)[0].tolist() == pytest.approx([0.2, 0.7, 0.0, math.log(2)])
    weighted = encode_deltas(anchor, box, weights=(10, 10, 5, 5))
    assert weighted[0].tolist() == pytest.approx([2.0, 7.0, 0.0, 5 * math.log(2)])
    assert torch.allclose(decode_deltas(anchor, weighted, weights=(10, 10, 5, 5)), box)
    anchors, many = random_boxes(50, seed=9).double(), random_boxes(50, seed=10).double()
    assert torch.allclose(decode_deltas(anchors, encode_deltas(anchors, many)), many, atol=1e-5, rtol=0)


def test_decode_deltas_clamps_the_size():
    # dw = 100 is clamped to log(1000/16): width = 10 * 1000/16 = 625, centred on the anchor's centre 5
    decoded = decode_deltas(boxes([0, 0, 10, 10]), torch.tensor([[0.0, 0.0, 100.0, 0.0]]))
    assert decoded[0].tolist() == pytest.approx([5 - 312.5, 0, 5 + 312.5, 10])


# -- clipping and transforms ---------------------------------------------------------------------


def test_clip_and_remove_small_boxes():
    assert clip_boxes(boxes([-5, 2, 20, 8]), height=6, width=10).tolist() == [[0, 2, 10, 6]]
    # widths/heights (1, 5), (5, 5), (2, 0.5), (2, 2): at least 2 on both sides keeps the 2nd and the 4th
    small = boxes([0, 0, 1, 5], [0, 0, 5, 5], [0, 0, 2, 0.5], [3, 3, 5, 5])
    assert remove_small_boxes(small, 2).tolist() == [1, 3]


def test_flips_by_hand():
    box = boxes([1, 1, 4, 3])
    assert flip_boxes_horizontal(box, 10).tolist() == [[6, 1, 9, 3]]  # x: 10 - 4, 10 - 1
    assert flip_boxes_vertical(box, 8).tolist() == [[1, 5, 4, 7]]  # y: 8 - 3, 8 - 1
    many = random_boxes(10)
    assert torch.allclose(flip_boxes_horizontal(flip_boxes_horizontal(many, 1200), 1200), many)


def test_resize_boxes_by_hand():
    # (H, W) 10 x 20 -> 20 x 10: x halves, y doubles
    assert resize_boxes(boxes([2, 1, 6, 3]), (10, 20), (20, 10)).tolist() == [[1, 2, 3, 6]]


def test_crop_boxes_by_hand():
    # crop top=4, left=4, 6 x 6: shift by -4, clip to [0, 6]
    # [2,2,6,6] -> [0,0,2,2] (4 of 16 left), [8,8,12,12] -> [4,4,6,6] (4 of 16), [0,0,1,1] -> empty: dropped
    found, kept = crop_boxes(boxes([2, 2, 6, 6], [8, 8, 12, 12], [0, 0, 1, 1]), 4, 4, 6, 6)
    assert found.tolist() == [[0, 0, 2, 2], [4, 4, 6, 6]] and kept.tolist() == [0, 1]
    assert crop_boxes(boxes([2, 2, 6, 6], [8, 8, 12, 12]), 4, 4, 6, 6, min_visible=0.25)[1].tolist() == [0, 1]
    assert crop_boxes(boxes([2, 2, 6, 6], [8, 8, 12, 12]), 4, 4, 6, 6, min_visible=0.3)[1].tolist() == []
    # a crop reaching outside the image (padding): negative corner
    assert crop_boxes(boxes([0, 0, 2, 2]), -1, -3, 5, 5)[0].tolist() == [[3, 1, 5, 3]]
