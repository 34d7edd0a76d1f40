"""Residual networks: the CIFAR-style ResNet of He et al. (2016, section 4.2).

Each block learns a residual F(x) added to its input, y = relu(F(x) + x), so
the identity is easy to represent and gradients reach early layers through
the shortcuts: this is what made networks of 50-1000 layers trainable.

The CIFAR family has three stages of n basic blocks with widths
16, 32, 64 and depth 6n + 2 (ResNet-20, -32, -44, -56, -110). For images
larger than 64 px a 7x7 stride-2 convolution and max-pooling stem (as in the
ImageNet ResNets) shrinks the maps 4x first, which keeps 128-224 px images
affordable on a CPU.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from shendu.models.registry import MODELS, boolean, check_model_inputs, choice, option_error, positive_int
from shendu.nn import get_activation

_INPUTS = ("image",)
_REFERENCE = "He, Zhang, Ren & Sun 2016, Deep Residual Learning for Image Recognition (CVPR), section 4.2"
_FORMULA = "y = relu(BN(conv3x3(relu(BN(conv3x3(x))))) + shortcut(x)); depth = 6n + 2"
_LARGEST_CIFAR_SIDE = 64  # images up to this many px keep full resolution in the stem


class BasicBlock(nn.Module):
    """conv3x3 -> BN -> act -> conv3x3 -> BN, plus a shortcut, then act (ReLU in the paper).

    The shortcut is the identity, or a 1x1 convolution + BN projection when the
    block changes the number of channels or the resolution (option B of the paper).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, activation: Any = "relu"):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.act1, self.act2 = get_activation(activation), get_activation(activation)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.act1(self.bn1(self.conv1(x)))
        residual = self.bn2(self.conv2(residual))
        return self.act2(residual + self.shortcut(x))


def resnet_stem(in_channels: int, width: int, stem: str, activation: Any = "relu") -> nn.Sequential:
    """"cifar": conv3x3 stride 1; "imagenet": conv7x7 stride 2 + maxpool3x3 stride 2 (4x smaller)."""
    if stem == "cifar":
        conv = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        return nn.Sequential(conv, nn.BatchNorm2d(width), get_activation(activation))
    conv = nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False)
    pool = nn.MaxPool2d(3, stride=2, padding=1)
    return nn.Sequential(conv, nn.BatchNorm2d(width), get_activation(activation), pool)


def resnet_stages(width: int, blocks_per_stage: int, activation: Any = "relu") -> nn.Sequential:
    """The three stages of basic blocks (widths w, 2w, 4w; strides 1, 2, 2): the feature extractor after the stem.

    Shared by the classifier (:class:`ResNet`) and the dense-prediction heads
    (``fcn-resnet``), so both name their parameters ``stages.<stage>.<block>.*``.
    """
    stages, channels = [], width
    for stage_width, stride in ((width, 1), (2 * width, 2), (4 * width, 2)):
        blocks = [BasicBlock(channels, stage_width, stride, activation)]
        blocks += [BasicBlock(stage_width, stage_width, 1, activation) for _ in range(blocks_per_stage - 1)]
        stages.append(nn.Sequential(*blocks))
        channels = stage_width
    return nn.Sequential(*stages)


def reset_resnet_parameters(model: nn.Module, zero_init_residual: bool) -> None:
    """Kaiming normal (fan_out) convolutions, BN at gamma 1 and beta 0; optionally each block's last gamma at 0.

    As in the reference implementations; linear layers keep PyTorch's default.
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    if zero_init_residual:
        for module in model.modules():
            if isinstance(module, BasicBlock):
                nn.init.zeros_(module.bn2.weight)


def blocks_for_depth(name: str, depth: Any) -> int:
    """n for a depth of 6n + 2, or a ConfigError naming ``model.depth`` and the valid depths."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        listed = ", ".join(str(d) for d in valid_depths()) + ", 110, ..."
        raise option_error(name, "depth", depth, f"6n + 2 for n >= 1 ({listed})", "Set e.g. model.depth=20.")
    return (depth - 2) // 6


def auto_stem(name: str, stem: Any, input_shape: tuple[int, ...]) -> str:
    """Check ``stem``; "auto" -> "cifar" for images up to 64 px, "imagenet" above."""
    stem = choice(name, "stem", stem, ("auto", "cifar", "imagenet"))
    if stem == "auto":
        stem = "cifar" if min(input_shape[1:]) <= _LARGEST_CIFAR_SIDE else "imagenet"
    return stem


class ResNet(nn.Module):
    """Stem, three stages of basic blocks (widths w, 2w, 4w; strides 1, 2, 2), global pooling, linear head.

    Args:
        in_channels: channels of the input images.
        num_outputs: output units.
        blocks_per_stage: n, the number of basic blocks in each stage.
        width: channels of the first stage.
        stem: "cifar" or "imagenet" (see :func:`resnet_stem`).
        zero_init_residual: start every block's last BN at gamma = 0, so each
            block begins as the identity (Goyal et al. 2017).
        activation: activation spec after each BN and each addition (relu).
    """

    def __init__(
        self,
        in_channels: int,
        num_outputs: int,
        blocks_per_stage: int,
        width: int = 16,
        stem: str = "cifar",
        zero_init_residual: bool = True,
        activation: Any = "relu",
    ):
        super().__init__()
        self.stem = resnet_stem(in_channels, width, stem, activation)
        self.stages = resnet_stages(width, blocks_per_stage, activation)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(4 * width, num_outputs)
        self.reset_parameters(zero_init_residual)

    def reset_parameters(self, zero_init_residual: bool) -> None:
        reset_resnet_parameters(self, zero_init_residual)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))  # (B, 4w, H', W')
        x = self.pool(x).flatten(1)  # (B, 4w)
        return self.head(x)  # (B, num_outputs)


def valid_depths(count: int = 9) -> list[int]:
    """The first CIFAR ResNet depths 6n + 2: 8, 14, 20, 26, 32, 38, 44, 50, 56."""
    return [6 * n + 2 for n in range(1, count + 1)]


def _build(
    name: str,
    input_shape: tuple[int, ...],
    num_outputs: int,
    depth: int,
    width: int,
    stem: str,
    zero_init_residual: bool,
    activation: Any = "relu",
) -> ResNet:
    shape = check_model_inputs(name, input_shape, num_outputs, _INPUTS)
    return ResNet(
        shape[0],
        num_outputs,
        blocks_per_stage=blocks_for_depth(name, depth),
        width=positive_int(name, "width", width),
        stem=auto_stem(name, stem, shape),
        zero_init_residual=boolean(name, "zero_init_residual", zero_init_residual),
        activation=activation,
    )


@MODELS.register("resnet", formula=_FORMULA, reference=_REFERENCE, inputs=_INPUTS)
def resnet(
    input_shape: tuple[int, ...],
    num_outputs: int,
    depth: int = 20,
    width: int = 16,
    stem: str = "auto",
    zero_init_residual: bool = True,
    activation: Any = "relu",
) -> nn.Module:
    """Residual network (CIFAR style): three stages of residual blocks, depth 6n + 2.

    The standard strong baseline for image classification from scratch:
    ResNet-20 reaches about 91% on CIFAR-10 (He et al., table 6). Deeper
    variants (56, 110) gain a little more at proportionally higher cost.
    Batch normalisation is built in, so it trains well with SGD + momentum or
    AdamW at fairly high learning rates.

    Formula: block: y = relu(BN(conv3x3(relu(BN(conv3x3(x))))) + shortcut(x));
             stem -> 3 stages x n blocks (widths w, 2w, 4w) -> global avg pool -> linear;
             depth = 6n + 2
    Reference: He, Zhang, Ren & Sun, "Deep Residual Learning for Image
    Recognition", CVPR 2016, section 4.2.

    Args:
        input_shape: (C, H, W).
        num_outputs: output units.
        depth: 6n + 2 layers: 8, 14, 20, 26, 32, 44, 56, 110, ... (20).
        width: channels of the first stage (16); later stages use 2x and 4x.
        stem: "auto" (cifar for images up to 64 px, imagenet above), "cifar"
            (conv3x3 stride 1) or "imagenet" (conv7x7 stride 2 + maxpool stride 2).
        zero_init_residual: zero the last BN gamma of each block so blocks start
            as the identity (Goyal et al. 2017, "Accurate, Large Minibatch SGD").
        activation: activation spec after each BN and each residual addition
            (relu, as in the paper; see: shendu list activations).
    """
    return _build("resnet", input_shape, num_outputs, depth, width, stem, zero_init_residual, activation)


@MODELS.register("resnet-8", formula=_FORMULA, reference=_REFERENCE, inputs=_INPUTS)
def resnet_8(
    input_shape: tuple[int, ...],
    num_outputs: int,
    width: int = 16,
    stem: str = "auto",
    zero_init_residual: bool = True,
    activation: Any = "relu",
) -> nn.Module:
    """ResNet-8: the smallest CIFAR ResNet (one block per stage), quick to train on a CPU.

    Options as for ``resnet``, with depth fixed to 8.

    Args:
        input_shape: (C, H, W).
        num_outputs: output units.
        width: channels of the first stage (16).
        stem: "auto", "cifar" or "imagenet".
        zero_init_residual: start each block as the identity.
        activation: activation spec (relu).
    """
    return _build("resnet-8", input_shape, num_outputs, 8, width, stem, zero_init_residual, activation)


@MODELS.register("resnet-20", formula=_FORMULA, reference=_REFERENCE, inputs=_INPUTS)
def resnet_20(
    input_shape: tuple[int, ...],
    num_outputs: int,
    width: int = 16,
    stem: str = "auto",
    zero_init_residual: bool = True,
    activation: Any = "relu",
) -> nn.Module:
    """ResNet-20: three blocks per stage, about 0.27M parameters (91.3% on CIFAR-10 in the paper).

    Options as for ``resnet``, with depth fixed to 20.

    Args:
        input_shape: (C, H, W).
        num_outputs: output units.
        width: channels of the first stage (16).
        stem: "auto", "cifar" or "imagenet".
        zero_init_residual: start each block as the identity.
        activation: activation spec (relu).
    """
    return _build("resnet-20", input_shape, num_outputs, 20, width, stem, zero_init_residual, activation)


@MODELS.register("resnet-56", formula=_FORMULA, reference=_REFERENCE, inputs=_INPUTS)
def resnet_56(
    input_shape: tuple[int, ...],
    num_outputs: int,
    width: int = 16,
    stem: str = "auto",
    zero_init_residual: bool = True,
    activation: Any = "relu",
) -> nn.Module:
    """ResNet-56: nine blocks per stage, about 0.85M parameters (93.0% on CIFAR-10 in the paper).

    Options as for ``resnet``, with depth fixed to 56.

    Args:
        input_shape: (C, H, W).
        num_outputs: output units.
        width: channels of the first stage (16).
        stem: "auto", "cifar" or "imagenet".
        zero_init_residual: start each block as the identity.
        activation: activation spec (relu).
    """
    return _build("resnet-56", input_shape, num_outputs, 56, width, stem, zero_init_residual, activation)
