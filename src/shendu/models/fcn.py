"""Fully convolutional networks: a ResNet turned into a per-pixel classifier.

An FCN drops the classifier's global pooling and dense layer, scores every
position of the last feature map with convolutions, and upsamples the coarse
scores back to the input size. Coarse scores alone give blobby masks; adding
scores from an earlier, finer stage (a "skip") sharpens the boundaries, as
FCN-16s adds pool4's scores to the upsampled conv7 scores.

Here the backbone is shendu's CIFAR-style ResNet (``models/resnet.py``, its
stem and stages, same parameter names): with the CIFAR stem the last stage is
at 1/4 and the middle stage at 1/2 of the input resolution; with the ImageNet
stem (images over 64 px), at 1/16 and 1/8. Upsampling is bilinear interpolation
to the exact size, so any H and W work.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from shendu.models.registry import MODELS, boolean, check_model_inputs, positive_int, probability
from shendu.models.resnet import auto_stem, blocks_for_depth, reset_resnet_parameters, resnet_stages, resnet_stem

_INPUTS = ("image",)
_REFERENCE = ("Long, Shelhamer & Darrell 2015, Fully Convolutional Networks for Semantic Segmentation (CVPR); "
              "He et al. 2016 (backbone)")
_FORMULA = ("f1, f2, f3 = resnet stages(stem(x)); s = classifier(f3) = conv1x1(dropout(relu(BN(conv3x3(f3))))); "
            "s = up(s, size(f2)) + conv1x1(f2); logits = up(s, H x W), up = bilinear")


def fcn_classifier(in_channels: int, num_outputs: int, dropout: float) -> nn.Sequential:
    """conv3x3 -> BN -> ReLU -> Dropout -> conv1x1 to classes: the scoring head of torchvision's FCN."""
    return nn.Sequential(
        nn.Conv2d(in_channels, in_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(in_channels),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Conv2d(in_channels, num_outputs, 1),
    )


class FCNResNet(nn.Module):
    """ResNet stem and stages, a scoring head on the last stage, an optional skip from the middle stage.

    Args:
        in_channels: channels of the input images.
        num_outputs: classes (output channels).
        blocks_per_stage: n, basic blocks per ResNet stage (depth 6n + 2).
        width: channels of the first stage; the later stages have 2w and 4w.
        stem: "cifar" or "imagenet" (see :func:`shendu.models.resnet.resnet_stem`).
        dropout: dropout probability in the scoring head.
        skip: add 1x1-conv scores of the middle stage (FCN-16s style).
    """

    def __init__(self, in_channels: int, num_outputs: int, blocks_per_stage: int, width: int = 16,
                 stem: str = "cifar", dropout: float = 0.1, skip: bool = True):
        super().__init__()
        self.stem = resnet_stem(in_channels, width, stem)
        self.stages = resnet_stages(width, blocks_per_stage)
        self.classifier = fcn_classifier(4 * width, num_outputs, dropout)
        self.skip_classifier = nn.Conv2d(2 * width, num_outputs, 1) if skip else None
        reset_resnet_parameters(self, zero_init_residual=True)
        nn.init.zeros_(self.classifier[-1].bias)
        if self.skip_classifier is not None:
            # Zero, as in the paper: training starts from the coarse model and learns what the skip adds.
            nn.init.zeros_(self.skip_classifier.weight)
            nn.init.zeros_(self.skip_classifier.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        fine = self.stages[0](self.stem(x))  # (B, w, H / s, W / s), s = 1 (cifar stem) or 4 (imagenet)
        middle = self.stages[1](fine)  # (B, 2w, H / 2s, W / 2s)
        scores = self.classifier(self.stages[2](middle))  # (B, num_outputs, H / 4s, W / 4s)
        if self.skip_classifier is not None:
            scores = F.interpolate(scores, size=middle.shape[-2:], mode="bilinear", align_corners=False)
            scores = scores + self.skip_classifier(middle)  # (B, num_outputs, H / 2s, W / 2s)
        return F.interpolate(scores, size=size, mode="bilinear", align_corners=False)  # (B, num_outputs, H, W)


@MODELS.register("fcn-resnet", formula=_FORMULA, reference=_REFERENCE, inputs=_INPUTS, role="segmentation")
def fcn_resnet(
    input_shape: tuple[int, ...],
    num_outputs: int,
    depth: int = 20,
    width: int = 16,
    stem: str = "auto",
    dropout: float = 0.1,
    skip: bool = True,
) -> nn.Module:
    """FCN on a CIFAR-style ResNet: per-pixel class logits from convolutional scores, upsampled bilinearly.

    A semantic-segmentation baseline that reuses an image-classification
    backbone: few parameters (0.31M at the defaults) and a one-step decoder,
    but coarser at object boundaries than a U-Net, whose decoder climbs back
    through every resolution. Returns
    (B, num_outputs, H, W) logits for any H, W. The backbone's parameters are
    named as in ``resnet`` (``stem.*``, ``stages.*``), so a classifier's
    checkpoint can seed it (load with ``strict=False``; its ``head`` is unused).

    Formula: f1, f2, f3 = stages(stem(x))  (widths w, 2w, 4w; strides 1, 2, 2);
             s3 = conv1x1(dropout(relu(BN(conv3x3(f3)))));
             s = bilinear(s3, size of f2) + conv1x1(f2)  (when skip; zero-initialised);
             logits = bilinear(s, H x W)
    Reference: Long, Shelhamer & Darrell, "Fully Convolutional Networks for
    Semantic Segmentation", CVPR 2015; backbone: He et al., CVPR 2016.

    Args:
        input_shape: (C, H, W); any H and W (at forward time too).
        num_outputs: classes (background included).
        depth: ResNet depth 6n + 2: 8, 14, 20, 26, 32, 44, 56, ... (20).
        width: channels of the first stage (16); later stages use 2x and 4x.
        stem: "auto" (cifar for images up to 64 px, imagenet above), "cifar"
            (full resolution) or "imagenet" (4x smaller maps, for large images).
        dropout: dropout probability in the scoring head (0.1, as torchvision's FCN head).
        skip: add scores from the middle stage at twice the last stage's
            resolution (true, FCN-16s style); false: upsample the last stage's scores only (FCN-32s style).
    """
    shape = check_model_inputs("fcn-resnet", input_shape, num_outputs, _INPUTS)
    return FCNResNet(
        shape[0],
        num_outputs,
        blocks_per_stage=blocks_for_depth("fcn-resnet", depth),
        width=positive_int("fcn-resnet", "width", width),
        stem=auto_stem("fcn-resnet", stem, shape),
        dropout=probability("fcn-resnet", "dropout", dropout),
        skip=boolean("fcn-resnet", "skip", skip),
    )
