"""U-Net: an encoder-decoder for semantic segmentation, one class score per pixel.

The encoder halves the resolution ``depth`` times (two 3x3 convolutions, then
2x2 max pooling) while doubling the channels; the decoder upsamples back and,
at each resolution, concatenates the encoder's feature maps of that size (the
skip connections), so fine localisation from early layers meets the context of
deep ones. A final 1x1 convolution scores every pixel: the output is
``(B, num_outputs, H, W)`` logits, for cross-entropy against a ``(B, H, W)``
class map.

Any H and W work: the input is padded at the bottom and right up to a multiple
of 2^depth by mirroring (reflection) and the logits are cropped back. Mirroring
follows the paper's overlap-tile strategy ("the missing context is
extrapolated by mirroring the input image"): the padded band looks like the
image, whereas a zero band is a false dark edge that biases predictions near
the bottom and right borders. Padding only bottom and right keeps the pooling
grid anchored at the top-left pixel, so shifting the input by a multiple of
2^depth shifts the logits the same way away from the borders.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from shendu.errors import DataError
from shendu.models.registry import MODELS, boolean, check_model_inputs, choice, positive_int, probability
from shendu.nn import get_activation, initialize

_INPUTS = ("image",)
_ROLE = "segmentation"
_REFERENCE = "Ronneberger, Fischer & Brox 2015, U-Net: Convolutional Networks for Biomedical Image Segmentation (MICCAI)"
_FORMULA = ("encoder: x_i = conv_block(maxpool2(x_{i-1})), widths c * 2^i; decoder: "
            "y_i = conv_block(concat(x_i, up(y_{i+1}))); logits = conv1x1(y_0)")
UPSAMPLING = ("transposed", "bilinear")


def conv_block(in_channels: int, out_channels: int, activation: Any, batch_norm: bool) -> nn.Sequential:
    """Two (conv3x3 -> optional BatchNorm2d -> activation), size-preserving ("same" padding, unlike the paper's valid)."""
    layers: list[nn.Module] = []
    for channels in (in_channels, out_channels):
        layers.append(nn.Conv2d(channels, out_channels, 3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(get_activation(activation))
    return nn.Sequential(*layers)


def upsampler(in_channels: int, out_channels: int, mode: str) -> nn.Module:
    """2x upsampling to ``out_channels``: a 2x2 stride-2 transposed conv, or bilinear then a 1x1 conv."""
    if mode == "transposed":
        return nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)
    # Bilinear has no weights and no checkerboard artefacts; the 1x1 conv halves the channels.
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                         nn.Conv2d(in_channels, out_channels, 1))


def unet_widths(depth: int, base_channels: int, max_channels: int | None) -> list[int]:
    """Channels at each resolution, encoder stages then the bottleneck: min(c * 2^i, max_channels), i = 0..depth."""
    return [min(base_channels * 2**i, max_channels or base_channels * 2**i) for i in range(depth + 1)]


class UNet(nn.Module):
    """Encoder stages, a bottleneck with dropout, decoder stages with concatenated skips, a 1x1 classifier.

    Args:
        in_channels: channels of the input images.
        num_outputs: classes (output channels).
        widths: channels per resolution, depth + 1 of them (see :func:`unet_widths`).
        upsampling: "transposed" or "bilinear" (see :func:`upsampler`).
        batch_norm: BatchNorm2d after each 3x3 convolution.
        dropout: Dropout2d probability after the bottleneck.
        activation: activation spec.
    """

    def __init__(self, in_channels: int, num_outputs: int, widths: list[int], upsampling: str = "transposed",
                 batch_norm: bool = True, dropout: float = 0.0, activation: Any = "relu"):
        super().__init__()
        self.depth = len(widths) - 1
        inputs = [in_channels, *widths[:-2]]
        self.encoder = nn.ModuleList(conv_block(a, b, activation, batch_norm) for a, b in zip(inputs, widths))
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = conv_block(widths[-2], widths[-1], activation, batch_norm)
        # Dropout2d drops whole feature maps: neighbouring pixels are too correlated for per-pixel dropout to regularise.
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.upsample = nn.ModuleList(upsampler(widths[i + 1], widths[i], upsampling) for i in range(self.depth))
        self.decoder = nn.ModuleList(conv_block(2 * widths[i], widths[i], activation, batch_norm)
                                     for i in range(self.depth))
        self.classifier = nn.Conv2d(widths[0], num_outputs, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        multiple = 2**self.depth
        if min(height, width) < multiple:
            raise DataError(
                f"unet of depth {self.depth} halves the image {self.depth} times, so it needs images of at "
                f"least {multiple}x{multiple} px; received {height}x{width}. Use a smaller model.depth "
                "or larger images (data.image_size)."
            )
        # Mirror-pad bottom and right to a multiple of 2^depth (pad < 2^depth <= side, as reflection needs).
        if height % multiple or width % multiple:
            x = F.pad(x, (0, -width % multiple, 0, -height % multiple), mode="reflect")
        skips = []
        for stage in self.encoder:
            x = stage(x)  # (B, c_i, H / 2^i, W / 2^i)
            skips.append(x)
            x = self.pool(x)
        x = self.dropout(self.bottleneck(x))  # (B, c_depth, H / 2^depth, W / 2^depth)
        for i in reversed(range(self.depth)):
            x = self.decoder[i](torch.cat([skips[i], self.upsample[i](x)], dim=1))  # (B, c_i, H / 2^i, W / 2^i)
        return self.classifier(x)[..., :height, :width]  # (B, num_outputs, H, W)


def _build(name: str, input_shape: tuple[int, ...], num_outputs: int, depth: Any, base_channels: Any,
           max_channels: Any, upsampling: Any, batch_norm: Any, dropout: Any, activation: Any) -> UNet:
    shape = check_model_inputs(name, input_shape, num_outputs, _INPUTS)
    depth = positive_int(name, "depth", depth)
    smallest = 2**depth
    if min(shape[1:]) < smallest:
        raise DataError(
            f"{name} of depth {depth} halves the image {depth} times, so it needs images of at least "
            f"{smallest}x{smallest} px; received input_shape {shape!r}. Use a smaller model.depth "
            "or larger images (data.image_size)."
        )
    base_channels = positive_int(name, "base_channels", base_channels)
    max_channels = None if max_channels is None else positive_int(name, "max_channels", max_channels)
    model = UNet(
        shape[0],
        num_outputs,
        unet_widths(depth, base_channels, max_channels),
        upsampling=choice(name, "upsampling", upsampling, UPSAMPLING),
        batch_norm=boolean(name, "batch_norm", batch_norm),
        dropout=probability(name, "dropout", dropout),
        activation=activation,
    )
    return initialize(model, "auto", activation=activation)


@MODELS.register("unet", formula=_FORMULA, reference=_REFERENCE, inputs=_INPUTS, role=_ROLE)
def unet(
    input_shape: tuple[int, ...],
    num_outputs: int,
    depth: int = 4,
    base_channels: int = 32,
    max_channels: int | None = None,
    upsampling: str = "transposed",
    batch_norm: bool = True,
    dropout: float = 0.0,
    activation: Any = "relu",
) -> nn.Module:
    """U-Net: encoder-decoder with skip connections, class logits for every pixel.

    The standard model for semantic segmentation from scratch, strong with
    little data (the paper trained on 30 images with heavy augmentation).
    Returns (B, num_outputs, H, W) logits for any H, W of at least 2^depth
    (inputs are mirror-padded to a multiple of 2^depth and the logits cropped
    back). Defaults: depth 4, widths 32-64-128-256-512, about 7.8M parameters
    (the paper: 64-1024, 31M); ``unet-small`` is a CPU-sized variant.

    Formula: encoder i = 0..depth-1: x_i = block(x_{i-1} pooled by maxpool2), c_i = min(c * 2^i, max_channels);
             block = 2 x (conv3x3 -> BN -> act); bottleneck: block at c_depth, then Dropout2d;
             decoder i = depth-1..0: y_i = block(concat(x_i, up(y_{i+1})));
             up = convtranspose2x2 stride 2, or bilinear x2 -> conv1x1; logits = conv1x1(y_0)
    Reference: Ronneberger, Fischer & Brox, "U-Net: Convolutional Networks for
    Biomedical Image Segmentation", MICCAI 2015.

    Args:
        input_shape: (C, H, W), H and W at least 2^depth (any other size at forward time too).
        num_outputs: classes (background included).
        depth: how many times the encoder halves the resolution (4).
        base_channels: channels at full resolution (32), doubled at each halving.
        max_channels: cap on the channels of any stage (none).
        upsampling: "transposed" (2x2 stride-2 transposed convolution, as in the
            paper) or "bilinear" (bilinear x2 then a 1x1 convolution halving the channels).
        batch_norm: BatchNorm2d after each 3x3 convolution (true; the 2015 paper predates it).
        dropout: Dropout2d probability at the bottleneck (0; the paper used dropout there).
        activation: activation spec (relu; see: shendu list activations).
    """
    return _build("unet", input_shape, num_outputs, depth, base_channels, max_channels, upsampling, batch_norm,
                  dropout, activation)


@MODELS.register("unet-small", formula=_FORMULA, reference=_REFERENCE, inputs=_INPUTS, role=_ROLE)
def unet_small(
    input_shape: tuple[int, ...],
    num_outputs: int,
    max_channels: int | None = None,
    upsampling: str = "transposed",
    batch_norm: bool = True,
    dropout: float = 0.0,
    activation: Any = "relu",
) -> nn.Module:
    """U-Net-small: depth 3, widths 16-32-64-128 (about 0.48M parameters), quick to train on a CPU.

    Options as for ``unet``, with depth fixed to 3 and base_channels to 16;
    needs images of at least 8x8 px.

    Args:
        input_shape: (C, H, W), H and W at least 8.
        num_outputs: classes (background included).
        max_channels: cap on the channels of any stage (none).
        upsampling: "transposed" or "bilinear".
        batch_norm: BatchNorm2d after each 3x3 convolution (true).
        dropout: Dropout2d probability at the bottleneck (0).
        activation: activation spec (relu).
    """
    return _build("unet-small", input_shape, num_outputs, 3, 16, max_channels, upsampling, batch_norm, dropout,
                  activation)
