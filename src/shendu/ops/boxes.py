"""Box geometry: formats, overlap (IoU, GIoU, DIoU, CIoU) and its losses, NMS, box coding, transforms.

Boxes are float tensors (..., 4). The default format is "xyxy": x1, y1, x2, y2
in pixels, x to the right and y down. Pixel (i, j) covers [j, j+1) x [i, i+1),
so a box over pixel columns 2..4 has x1 = 2 and x2 = 5 (the COCO convention,
shared with ``shendu.ops.masks``). A box with x2 <= x1 or y2 <= y1 is
degenerate: its area is 0, never negative.

Every overlap function has one API: ``pairwise=True`` (the default) compares
every box of ``a`` (N, 4) with every box of ``b`` (M, 4) and returns (N, M);
``pairwise=False`` compares matched pairs, ``a`` and ``b`` broadcastable
(..., 4), and returns (...), which is what a box-regression loss needs.

Written in plain torch rather than imported from torchvision.ops: torchvision's
compiled ops are not available everywhere shendu runs, and these are a few
lines of tensor arithmetic each.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from shendu.errors import DataError, describe

FORMATS = ("xyxy", "xywh", "cxcywh")
REDUCTIONS = ("mean", "sum", "none")
EPS = 1e-7  # floor of every area/length denominator: 0 / EPS = 0 where torchvision would give NaN
# NMS computes its IoU matrix in row blocks of at most this many entries: under torch's parallel grain size,
# so each op runs in cache on one thread; on a busy 2-core machine 3x faster than 512-row blocks.
NMS_BLOCK = 2**15


def _checked(name: str, boxes: torch.Tensor) -> torch.Tensor:
    """``boxes`` as a floating tensor (..., 4), or a DataError naming the argument."""
    if not isinstance(boxes, torch.Tensor) or boxes.dim() == 0 or boxes.shape[-1] != 4:
        received = tuple(boxes.shape) if isinstance(boxes, torch.Tensor) else type(boxes).__name__
        raise DataError(f"{name}: " + describe(received, "a tensor of boxes (..., 4)", "Put x1, y1, x2, y2 last."))
    return boxes if boxes.is_floating_point() else boxes.float()


def _checked_format(name: str, value: str) -> str:
    if value not in FORMATS:
        raise ValueError(f"{name}: " + describe(value, f"one of {', '.join(FORMATS)}", "E.g. source='xywh' for COCO."))
    return value


def convert_boxes(boxes: torch.Tensor, source: str, target: str) -> torch.Tensor:
    """Convert boxes between "xyxy" (corners), "xywh" (COCO: corner and size) and "cxcywh" (YOLO, DETR: centre).

    Formula: xywh -> xyxy: (x, y, x + w, y + h); cxcywh -> xyxy: (cx - w/2, cy - h/2, cx + w/2, cy + h/2).

    Args:
        boxes: (..., 4) in the ``source`` format.
        source: the format of ``boxes``.
        target: the format wanted.

    Returns:
        (..., 4) in ``target`` format; ``boxes`` itself when the formats are equal.
    """
    source, target = _checked_format("source", source), _checked_format("target", target)
    boxes = _checked("boxes", boxes)
    if source == target:
        return boxes
    a, b, c, d = boxes.unbind(-1)
    if source == "xywh":
        c, d = a + c, b + d
    elif source == "cxcywh":
        a, b, c, d = a - c / 2, b - d / 2, a + c / 2, b + d / 2
    if target == "xywh":
        return torch.stack([a, b, c - a, d - b], -1)
    if target == "cxcywh":
        return torch.stack([(a + c) / 2, (b + d) / 2, c - a, d - b], -1)
    return torch.stack([a, b, c, d], -1)


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Area of "xyxy" boxes, (..., 4) -> (...): max(x2 - x1, 0) * max(y2 - y1, 0), so degenerate boxes give 0."""
    boxes = _checked("boxes", boxes)
    return (boxes[..., 2] - boxes[..., 0]).clamp(min=0) * (boxes[..., 3] - boxes[..., 1]).clamp(min=0)


def _overlap_scores(a: torch.Tensor, b: torch.Tensor, pairwise: bool, kind: str) -> torch.Tensor:
    """IoU and its generalisations for pairs of "xyxy" boxes; every term shares the same intersection."""
    a, b = _checked("a", a), _checked("b", b)
    if pairwise:
        if a.dim() != 2 or b.dim() != 2:
            received = (tuple(a.shape), tuple(b.shape))
            raise DataError(describe(received, "a (N, 4) and b (M, 4)", "Use pairwise=False for matched pairs."))
        a, b = a[:, None, :], b[None, :, :]  # (N, 1, 4), (1, M, 4): broadcast to (N, M, 4)
    inner = (torch.minimum(a[..., 2:], b[..., 2:]) - torch.maximum(a[..., :2], b[..., :2])).clamp(min=0)  # (..., 2)
    intersection = inner[..., 0] * inner[..., 1]
    union = box_area(a) + box_area(b) - intersection
    iou = intersection / union.clamp(min=EPS)
    if kind == "iou":
        return iou
    enclosing = torch.maximum(a[..., 2:], b[..., 2:]) - torch.minimum(a[..., :2], b[..., :2])  # (..., 2): its w, h
    if kind == "giou":
        enclosing_area = enclosing.clamp(min=0).prod(-1)
        return iou - (enclosing_area - union) / enclosing_area.clamp(min=EPS)
    centre_offset = (a[..., :2] + a[..., 2:] - b[..., :2] - b[..., 2:]) / 2  # (..., 2)
    diou = iou - centre_offset.pow(2).sum(-1) / enclosing.pow(2).sum(-1).clamp(min=EPS)
    if kind == "diou":
        return diou
    size_a, size_b = (a[..., 2:] - a[..., :2]).clamp(min=0), (b[..., 2:] - b[..., :2]).clamp(min=0)  # (..., 2)
    angle_a = torch.atan(size_a[..., 0] / size_a[..., 1].clamp(min=EPS))
    angle_b = torch.atan(size_b[..., 0] / size_b[..., 1].clamp(min=EPS))
    aspect = (4 / math.pi**2) * (angle_a - angle_b).pow(2)
    with torch.no_grad():  # alpha is a weight, not optimised through (Zheng et al.'s code, torchvision)
        alpha = aspect / (1 - iou + aspect).clamp(min=EPS)
    return diou - alpha * aspect


def box_iou(a: torch.Tensor, b: torch.Tensor, *, pairwise: bool = True) -> torch.Tensor:
    """Intersection over union (Jaccard index) of "xyxy" boxes, in [0, 1] and symmetric.

    Formula: IoU = |A ∩ B| / |A ∪ B|; a zero union (two degenerate boxes) gives 0.

    Args:
        a: (N, 4), or (..., 4) with ``pairwise=False``.
        b: (M, 4), or (..., 4) broadcastable with ``a``.
        pairwise: every a against every b (N, M); False: matched pairs (...).
    """
    return _overlap_scores(a, b, pairwise, "iou")


def generalized_box_iou(a: torch.Tensor, b: torch.Tensor, *, pairwise: bool = True) -> torch.Tensor:
    """Generalised IoU: IoU minus the share of the enclosing box that neither box covers, in [-1, 1].

    Unlike IoU it still orders disjoint boxes (by how far apart they are), so
    1 - GIoU is a box-regression loss with a gradient even without overlap.

    Formula: GIoU = IoU - (|C| - |A ∪ B|) / |C|, C the smallest box enclosing A and B.
    Reference: Rezatofighi et al., "Generalized Intersection over Union", CVPR 2019.

    Args: as :func:`box_iou`.
    """
    return _overlap_scores(a, b, pairwise, "giou")


def distance_box_iou(a: torch.Tensor, b: torch.Tensor, *, pairwise: bool = True) -> torch.Tensor:
    """Distance IoU: IoU minus the squared centre distance over the enclosing box's squared diagonal, in [-1, 1].

    Formula: DIoU = IoU - rho^2(centre_A, centre_B) / c^2, c the diagonal of the enclosing box.
    Reference: Zheng et al., "Distance-IoU Loss", AAAI 2020.

    Args: as :func:`box_iou`.
    """
    return _overlap_scores(a, b, pairwise, "diou")


def complete_box_iou(a: torch.Tensor, b: torch.Tensor, *, pairwise: bool = True) -> torch.Tensor:
    """Complete IoU: DIoU minus a penalty for different aspect ratios, in [-2, 1].

    Formula: CIoU = DIoU - alpha * v, v = 4 / pi^2 * (atan(w_b / h_b) - atan(w_a / h_a))^2,
             alpha = v / (1 - IoU + v), held constant for gradients as in the authors' code.
    Reference: Zheng et al., "Distance-IoU Loss", AAAI 2020.

    Args: as :func:`box_iou`.
    """
    return _overlap_scores(a, b, pairwise, "ciou")


def _overlap_loss(pred: torch.Tensor, target: torch.Tensor, kind: str, reduction: str) -> torch.Tensor:
    """1 - score of matched (pred, target) boxes, reduced; the mean of no boxes is 0 (not NaN), still in the graph."""
    pred, target = _checked("pred", pred), _checked("target", target)
    if pred.shape != target.shape:
        received = (tuple(pred.shape), tuple(target.shape))
        raise DataError(describe(received, "pred and target of the same shape (..., 4)", "Match each prediction."))
    if reduction not in REDUCTIONS:
        raise ValueError(describe(reduction, f"reduction one of {', '.join(REDUCTIONS)}", "Use reduction='mean'."))
    loss = 1 - _overlap_scores(pred, target, False, kind)
    if reduction == "none":
        return loss
    if loss.numel() == 0:
        return loss.sum() * 0.0
    return loss.mean() if reduction == "mean" else loss.sum()


def giou_loss(pred: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """GIoU loss of matched boxes: 1 - GIoU(pred, target), in [0, 2]; has a gradient even without overlap.

    Args:
        pred: (..., 4) predicted "xyxy" boxes.
        target: (..., 4) their matched true boxes.
        reduction: "mean", "sum" or "none" (one loss per pair); the mean of no boxes is 0.
    """
    return _overlap_loss(pred, target, "giou", reduction)


def diou_loss(pred: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """DIoU loss of matched boxes: 1 - DIoU(pred, target); also pulls the centres together. Args as giou_loss."""
    return _overlap_loss(pred, target, "diou", reduction)


def ciou_loss(pred: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """CIoU loss of matched boxes: 1 - CIoU(pred, target); also matches aspect ratios (YOLOv4 on). Args as giou_loss."""
    return _overlap_loss(pred, target, "ciou", reduction)


@torch.no_grad()
def _suppression_matrix(boxes: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """(N, N) bool, [i, j] true when IoU(box i, box j) > iou_threshold and i < j; boxes (N, 4) sorted by score.

    The same arithmetic as :func:`box_iou` (so the same floats, and the same
    decision at the threshold), but on separate coordinates, in place, in
    cache-sized row blocks and on the upper triangle only: about ten times
    faster than the general broadcast, which matters at thousands of boxes.
    """
    num_boxes = boxes.shape[0]
    # IoU > t as torchvision's C++ decides it, in double precision: for IoUs in the boxes' dtype that is
    # IoU > (the largest value of that dtype not above t); t = 1/3 rounds up in float32 and would differ.
    rounded = torch.tensor(iou_threshold, dtype=boxes.dtype)
    if rounded.item() > iou_threshold:
        rounded = torch.nextafter(rounded, torch.tensor(-math.inf, dtype=boxes.dtype))
    x1, y1, x2, y2 = (coordinate.contiguous() for coordinate in boxes.unbind(1))  # (N,) each
    area = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    suppresses = torch.zeros(num_boxes, num_boxes, dtype=torch.bool, device=boxes.device)
    block_rows = max(1, NMS_BLOCK // max(num_boxes, 1))
    for start in range(0, num_boxes, block_rows):
        rows, columns = slice(start, start + block_rows), slice(start, None)  # only j >= i can be suppressed by i
        width = torch.minimum(x2[rows, None], x2[None, columns])  # (block_rows, N - start)
        width.sub_(torch.maximum(x1[rows, None], x1[None, columns])).clamp_(min=0)
        height = torch.minimum(y2[rows, None], y2[None, columns])
        height.sub_(torch.maximum(y1[rows, None], y1[None, columns])).clamp_(min=0)
        intersection = width.mul_(height)
        union = (area[rows, None] + area[None, columns]).sub_(intersection).clamp_(min=EPS)
        torch.gt(intersection.div_(union), rounded.item(), out=suppresses[rows, columns])
    return suppresses.triu_(diagonal=1)


def _greedy_nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, classes: torch.Tensor | None):
    """Greedy NMS over boxes sorted by score; with ``classes``, only boxes of one class suppress each other."""
    boxes = _checked("boxes", boxes)
    num_boxes = boxes.shape[0]
    if boxes.dim() != 2 or scores.shape != (num_boxes,) or (classes is not None and classes.shape != scores.shape):
        received = [tuple(boxes.shape), tuple(scores.shape)] + ([tuple(classes.shape)] if classes is not None else [])
        raise DataError(describe(received, "boxes (N, 4), scores (N,) and classes (N,)", "One score per box."))
    # Stable sort: equal scores keep index order, so ties resolve the same way on every run and machine.
    order = torch.sort(scores, descending=True, stable=True).indices  # (N,)
    suppresses = _suppression_matrix(boxes[order], iou_threshold)  # (N, N); equal to the threshold keeps
    if classes is not None:
        ordered_classes = classes[order]
        suppresses &= ordered_classes[:, None] == ordered_classes[None, :]
    # The greedy pass is sequential, but only boxes that could suppress or be suppressed take part in it:
    # the others are kept whatever happens, so a sparse scene costs far fewer steps than N.
    involved = torch.where(suppresses.any(dim=0) | suppresses.any(dim=1))[0].tolist()
    removed = torch.zeros(num_boxes, dtype=torch.bool, device=boxes.device)
    for i in involved:
        if not removed[i]:
            removed |= suppresses[i]
    return order[~removed]


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Non-maximum suppression: keep the best-scored box, drop those overlapping it, repeat.

    Exactly the standard greedy algorithm (torchvision's ``nms``): boxes are
    taken in order of descending score, equal scores by ascending index; a box
    is dropped when its IoU with an already kept box is strictly greater than
    ``iou_threshold``. The IoU matrix is computed once (in row blocks), then one
    sequential pass; 5,000 boxes take well under a second on a CPU. Memory is
    an N x N boolean matrix (25 MB at 5,000 boxes): keep the top few thousand
    scores first when there are far more.

    Args:
        boxes: (N, 4) "xyxy".
        scores: (N,).
        iou_threshold: overlap above which the lower-scored box is dropped.

    Returns:
        (K,) int64 indices into ``boxes`` of the kept boxes, by descending score.
    """
    return _greedy_nms(boxes, scores, iou_threshold, None)


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Class-aware NMS: as :func:`nms` within each class; boxes of different classes never suppress each other.

    The pairwise suppression matrix is masked by "same class" before the
    greedy pass. This gives exactly the per-class loop's result (each class's
    greedy order is its own boxes in the global score order) with one pass,
    and unlike torchvision's coordinate-offset trick it never shifts
    coordinates, which in float32 would round the IoU of far-offset classes.

    Args:
        boxes: (N, 4) "xyxy".
        scores: (N,).
        classes: (N,) integer class of each box.
        iou_threshold: as in :func:`nms`.

    Returns:
        (K,) int64 indices of the kept boxes, by descending score over all classes.
    """
    return _greedy_nms(boxes, scores, iou_threshold, classes)


def encode_ltrb(points: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Distances from points to the four sides of boxes (FCOS targets): (N, 2), (N, 4) -> (N, 4).

    Formula: (left, top, right, bottom) = (x - x1, y - y1, x2 - x, y2 - y); all
    positive exactly when the point lies inside the box.
    Reference: Tian et al., "FCOS: Fully Convolutional One-Stage Object Detection", ICCV 2019.
    """
    boxes = _checked("boxes", boxes)
    return torch.cat([points - boxes[..., :2], boxes[..., 2:] - points], -1)


def decode_ltrb(points: torch.Tensor, distances: torch.Tensor) -> torch.Tensor:
    """Boxes from points and their (left, top, right, bottom) distances; the inverse of :func:`encode_ltrb`."""
    distances = _checked("distances", distances)
    return torch.cat([points - distances[..., :2], points + distances[..., 2:]], -1)


def encode_deltas(
    anchors: torch.Tensor, boxes: torch.Tensor, weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0)
) -> torch.Tensor:
    """Regression targets of boxes relative to anchors (Faster R-CNN): (N, 4), (N, 4) -> (N, 4).

    Scale-invariant: the centre shift is in anchor widths, the size change in log ratio.

    Formula: dx = wx * (cx - cx_a) / w_a; dy = wy * (cy - cy_a) / h_a;
             dw = ww * log(w / w_a); dh = wh * log(h / h_a).
    Reference: Ren et al., "Faster R-CNN", NeurIPS 2015 (eq. 2); Girshick et al., R-CNN, 2014.

    Args:
        anchors: (..., 4) "xyxy", positive width and height.
        boxes: (..., 4) "xyxy" boxes to encode, positive width and height.
        weights: (wx, wy, ww, wh) scale of each target; torchvision's RoI heads use (10, 10, 5, 5).
    """
    anchor_size, anchor_centre = _size_and_centre(_checked("anchors", anchors))
    size, centre = _size_and_centre(_checked("boxes", boxes))
    scale = size.new_tensor(list(weights))  # (4,)
    return torch.cat([(centre - anchor_centre) / anchor_size, torch.log(size / anchor_size)], -1) * scale


def decode_deltas(
    anchors: torch.Tensor,
    deltas: torch.Tensor,
    weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
    clamp: float = math.log(1000 / 16),
) -> torch.Tensor:
    """Boxes from anchors and predicted deltas; the inverse of :func:`encode_deltas`.

    ``dw`` and ``dh`` are clamped to ``clamp`` (log(1000/16), as in
    torchvision) before the exponential, so an untrained head cannot predict
    a box 10^30 pixels wide and overflow the loss.
    """
    anchor_size, anchor_centre = _size_and_centre(_checked("anchors", anchors))
    deltas = _checked("deltas", deltas)
    deltas = deltas / deltas.new_tensor(list(weights))  # (..., 4)
    centre = deltas[..., :2] * anchor_size + anchor_centre
    size = torch.exp(deltas[..., 2:].clamp(max=clamp)) * anchor_size
    return torch.cat([centre - size / 2, centre + size / 2], -1)


def _size_and_centre(boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    size = boxes[..., 2:] - boxes[..., :2]  # (..., 2): w, h
    return size, boxes[..., :2] + size / 2


def clip_boxes(boxes: torch.Tensor, height: float, width: float) -> torch.Tensor:
    """Clip "xyxy" boxes to an image of ``height`` x ``width``: x into [0, width], y into [0, height]."""
    boxes = _checked("boxes", boxes)
    x = boxes[..., 0::2].clamp(0, width)  # (..., 2): x1, x2
    y = boxes[..., 1::2].clamp(0, height)
    return torch.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], -1)


def remove_small_boxes(boxes: torch.Tensor, min_size: float) -> torch.Tensor:
    """Indices (K,) of the boxes (N, 4) whose width and height are both at least ``min_size``."""
    boxes = _checked("boxes", boxes)
    keep = (boxes[:, 2] - boxes[:, 0] >= min_size) & (boxes[:, 3] - boxes[:, 1] >= min_size)
    return torch.where(keep)[0]


def flip_boxes_horizontal(boxes: torch.Tensor, width: float) -> torch.Tensor:
    """Boxes of the image mirrored left-right (``image.flip(-1)``): x1' = width - x2, x2' = width - x1."""
    x1, y1, x2, y2 = _checked("boxes", boxes).unbind(-1)
    return torch.stack([width - x2, y1, width - x1, y2], -1)


def flip_boxes_vertical(boxes: torch.Tensor, height: float) -> torch.Tensor:
    """Boxes of the image mirrored top-bottom (``image.flip(-2)``): y1' = height - y2, y2' = height - y1."""
    x1, y1, x2, y2 = _checked("boxes", boxes).unbind(-1)
    return torch.stack([x1, height - y2, x2, height - y1], -1)


def resize_boxes(boxes: torch.Tensor, old_size: Sequence[int], new_size: Sequence[int]) -> torch.Tensor:
    """Boxes of an image resized from ``old_size`` (H, W) to ``new_size``: x times new_w / old_w, y new_h / old_h."""
    boxes = _checked("boxes", boxes)
    (old_height, old_width), (new_height, new_width) = old_size, new_size
    scale_x, scale_y = new_width / old_width, new_height / old_height
    return boxes * boxes.new_tensor([scale_x, scale_y, scale_x, scale_y])


def crop_boxes(
    boxes: torch.Tensor, top: float, left: float, height: float, width: float, min_visible: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Boxes of the crop ``image[..., top:top + height, left:left + width]``, clipped to it; lost boxes dropped.

    A box is kept when its clipped part is not empty and keeps at least
    ``min_visible`` of its area (e.g. 0.3: drop boxes mostly cut off). A box
    that was degenerate before cropping is always dropped. Index the labels
    (and masks) with the returned indices to keep them aligned.

    Args:
        boxes: (N, 4) "xyxy" in the full image.
        top, left: the crop's corner in the full image (may be negative: padding).
        height, width: the crop's size.
        min_visible: least fraction of each box's area that must remain, in [0, 1].

    Returns:
        (boxes (K, 4) in the crop's coordinates, kept (K,) int64 indices into ``boxes``).
    """
    boxes = _checked("boxes", boxes)
    shifted = boxes - boxes.new_tensor([left, top, left, top])
    clipped = clip_boxes(shifted, height, width)
    keep = (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
    if min_visible > 0:
        keep &= box_area(clipped) >= min_visible * box_area(boxes)
    kept = torch.where(keep)[0]
    return clipped[kept], kept
