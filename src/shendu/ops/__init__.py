"""Geometry operations on boxes and masks, in plain torch: the base that detection and segmentation build on.

What ``torchvision.ops`` offers, written here so that every part of shendu
(nn, losses, data, models, metrics) can use it; this package imports only
torch and ``shendu.errors``. Boxes are (..., 4) "xyxy" pixels unless a
format is named; pixel (i, j) covers [j, j+1) x [i, i+1) (COCO).

Boxes (``shendu.ops.boxes``):
    convert_boxes, box_area,
    box_iou, generalized_box_iou, distance_box_iou, complete_box_iou
        (pairwise (N, 4) x (M, 4) -> (N, M); ``pairwise=False``: matched pairs -> (N,)),
    giou_loss, diou_loss, ciou_loss,
    nms, batched_nms,
    encode_ltrb, decode_ltrb, encode_deltas, decode_deltas,
    clip_boxes, remove_small_boxes,
    flip_boxes_horizontal, flip_boxes_vertical, resize_boxes, crop_boxes.

Masks (``shendu.ops.masks``):
    polygon_to_mask, polygons_to_mask, denormalize_polygon,
    masks_to_boxes, mask_iou,
    flip_masks_horizontal, flip_masks_vertical, resize_masks, crop_masks.
"""

from shendu.ops.boxes import (
    FORMATS,
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
from shendu.ops.masks import (
    crop_masks,
    denormalize_polygon,
    flip_masks_horizontal,
    flip_masks_vertical,
    mask_iou,
    masks_to_boxes,
    polygon_to_mask,
    polygons_to_mask,
    resize_masks,
)

__all__ = [
    "FORMATS",
    "batched_nms",
    "box_area",
    "box_iou",
    "ciou_loss",
    "clip_boxes",
    "complete_box_iou",
    "convert_boxes",
    "crop_boxes",
    "crop_masks",
    "decode_deltas",
    "decode_ltrb",
    "denormalize_polygon",
    "diou_loss",
    "distance_box_iou",
    "encode_deltas",
    "encode_ltrb",
    "flip_boxes_horizontal",
    "flip_boxes_vertical",
    "flip_masks_horizontal",
    "flip_masks_vertical",
    "generalized_box_iou",
    "giou_loss",
    "mask_iou",
    "masks_to_boxes",
    "nms",
    "polygon_to_mask",
    "polygons_to_mask",
    "remove_small_boxes",
    "resize_boxes",
    "resize_masks",
]
