"""Plain convolutional networks: the tutorial CNN and LeNet-5.

Both stack convolution -> non-linearity -> pooling blocks that trade spatial
resolution for channels, then classify the flattened feature maps with dense
layers. Feature-map sizes are computed arithmetically from the input shape,
so a too-small image fails at construction with a clear message rather than
deep inside a forward pass.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from shendu.errors import DataError
from shendu.models.registry import (
    MODELS,
    boolean,
    check_model_inputs,
    choice,
    option_error,
    positive_int,
    positive_ints,
    probability,
)
from shendu.nn import get_activation, initialize

_INPUTS = ("image",)


def conv_block(
    in_channels: int, out_channels: int, activation: Any, batch_norm: bool, spatial_dropout: float = 0.0
) -> nn.Sequential:
    """Conv2d 3x3 (size-preserving) -> optional BatchNorm2d -> activation -> MaxPool2d 2x2 -> optional Dropout2d."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=not batch_norm)
    ]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers += [get_activation(activation), nn.MaxPool2d(2)]
    if spatial_dropout > 0:
        # Neighbouring pixels are correlated, so dropping single pixels barely
        # regularises a conv layer; Dropout2d drops whole feature maps instead.
        layers.append(nn.Dropout2d(spatial_dropout))
    return nn.Sequential(*layers)


class ConvNet(nn.Module):
    """Conv blocks, then flatten -> Linear -> activation -> Dropout -> Linear.

    Args:
        input_shape: (C, H, W) with H, W >= 2 ** len(channels).
        num_outputs: output units.
        channels: output channels of each conv block (each halves H and W).
        hidden_size: width of the dense layer.
        activation: activation spec.
        batch_norm: BatchNorm2d after each convolution.
        dropout: dropout probability before the output layer.
        spatial_dropout: Dropout2d probability after each conv block (0: none).
    """

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        num_outputs: int,
        channels: list[int],
        hidden_size: int = 128,
        activation: Any = "relu",
        batch_norm: bool = False,
        dropout: float = 0.5,
        spatial_dropout: float = 0.0,
    ):
        super().__init__()
        in_channels, height, width = input_shape
        widths = [in_channels, *channels]
        self.features = nn.Sequential(
            *(conv_block(a, b, activation, batch_norm, spatial_dropout) for a, b in zip(widths, widths[1:]))
        )
        # Each block keeps the size through its padded conv, then floor-halves it.
        scale = 2 ** len(channels)
        flat_features = channels[-1] * (height // scale) * (width // scale)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat_features, hidden_size),
            get_activation(activation),
            nn.Dropout(dropout),
            nn.Linear(hidden_size, num_outputs),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))  # (B, C, H, W) -> (B, num_outputs)


def lenet_sizes(height: int, width: int, padding: int) -> tuple[int, int]:
    """Feature-map (H, W) after LeNet-5's conv5 -> pool2 -> conv5 -> pool2; may be <= 0."""

    def side(n: int) -> int:
        n = (n + 2 * padding - 4) // 2  # conv 5x5 with padding, then 2x2 pooling
        return (n - 4) // 2  # conv 5x5 unpadded, then 2x2 pooling

    return side(height), side(width)


class LeNet5(nn.Module):
    """LeNet-5: two conv/subsample stages (6 and 16 maps) and dense layers 120 -> 84 -> outputs.

    Args:
        input_shape: (C, H, W), at least 16x16 after padding.
        num_outputs: output units.
        activation: activation spec (tanh, as in the paper).
        pooling: "avg" (the paper's subsampling) or "max".
        padding: zero padding of the first convolution.
    """

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        num_outputs: int,
        activation: Any = "tanh",
        pooling: str = "avg",
        padding: int = 2,
    ):
        super().__init__()
        in_channels, height, width = input_shape
        pool = nn.AvgPool2d if pooling == "avg" else nn.MaxPool2d
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5, padding=padding),
            get_activation(activation),
            pool(2),
            nn.Conv2d(6, 16, kernel_size=5),
            get_activation(activation),
            pool(2),
        )
        map_height, map_width = lenet_sizes(height, width, padding)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * map_height * map_width, 120),
            get_activation(activation),
            nn.Linear(120, 84),
            get_activation(activation),
            nn.Linear(84, num_outputs),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))  # (B, C, H, W) -> (B, num_outputs)


@MODELS.register(
    "cnn",
    formula="[conv3x3 -> act -> maxpool2] x len(channels) -> dense -> act -> dropout -> dense",
    reference="Keras MNIST convnet example (Chollet); LeCun et al. 1998",
    inputs=_INPUTS,
)
def cnn(
    input_shape: tuple[int, ...],
    num_outputs: int,
    channels: list[int] | None = None,
    hidden_size: int = 128,
    activation: Any = "relu",
    batch_norm: bool = False,
    dropout: float = 0.5,
    spatial_dropout: float = 0.0,
) -> nn.Module:
    """Small convolutional network: conv-pool blocks, then a dropout-regularised dense classifier.

    The conv-pool-conv-pool-dense-dropout-dense network of deep-learning
    tutorials (the Keras MNIST example): reaches about 99% test accuracy on
    MNIST in a few epochs on a CPU. A good first model for small images
    (digits, MNIST, Fashion-MNIST, CIFAR at ~70-80%); use resnet for more.

    Formula: for each c in channels: x = maxpool2(act(BN(conv3x3(x))));
             y = W2 dropout(act(W1 flatten(x) + b1)) + b2
    Reference: F. Chollet, "Simple MNIST convnet", keras.io examples;
    LeCun et al., Proc. IEEE 1998.

    Args:
        input_shape: (C, H, W) with H and W at least 2 ** len(channels).
        num_outputs: output units.
        channels: output channels of each conv block ([32, 64]); each halves H and W.
        hidden_size: width of the dense layer (128).
        activation: activation spec (relu).
        batch_norm: BatchNorm2d after each convolution.
        dropout: dropout probability before the output layer (0.5).
        spatial_dropout: Dropout2d probability after each conv block (0): drops
            whole feature maps (Tompson et al. 2015).
    """
    shape = check_model_inputs("cnn", input_shape, num_outputs, _INPUTS)
    channels = [32, 64] if channels is None else positive_ints("cnn", "channels", channels)
    smallest = 2 ** len(channels)
    if min(shape[1:]) < smallest:
        raise DataError(
            f"cnn with {len(channels)} conv-pool blocks halves the image {len(channels)} times, so it "
            f"needs images of at least {smallest}x{smallest} px; received input_shape {shape!r}. "
            f"Use fewer blocks (e.g. model.channels=[32]) or resize the images (data.image_size)."
        )
    model = ConvNet(
        shape,
        num_outputs,
        channels,
        hidden_size=positive_int("cnn", "hidden_size", hidden_size),
        activation=activation,
        batch_norm=boolean("cnn", "batch_norm", batch_norm),
        dropout=probability("cnn", "dropout", dropout),
        spatial_dropout=probability("cnn", "spatial_dropout", spatial_dropout),
    )
    return initialize(model, "auto", activation=activation)


@MODELS.register(
    "lenet5",
    formula="conv5x5(6) -> act -> pool2 -> conv5x5(16) -> act -> pool2 -> 120 -> 84 -> outputs",
    reference="LeCun, Bottou, Bengio & Haffner 1998, Gradient-Based Learning Applied to Document Recognition",
    inputs=_INPUTS,
)
def lenet5(
    input_shape: tuple[int, ...],
    num_outputs: int,
    activation: Any = "tanh",
    pooling: str = "avg",
    padding: Any = "auto",
) -> nn.Module:
    """LeNet-5: LeCun's 1998 digit-recognition network, the first modern convnet.

    Two convolution + subsampling stages (6 then 16 feature maps of 5x5
    kernels) followed by dense layers of 120 and 84 units. The paper fed
    32x32 images (28x28 digits with a border), so images smaller than 32 px
    get a 2-pixel zero border at the first convolution. Simplified from the
    paper as is customary: plain average pooling instead of trainable
    subsampling, full C3 connectivity, and a linear output layer instead of
    RBF units.

    Formula: x -> tanh(conv5x5 -> 6) -> avgpool2 -> tanh(conv5x5 -> 16) -> avgpool2
             -> tanh(W1 . + b1) [120] -> tanh(W2 . + b2) [84] -> W3 . + b3
    Reference: LeCun, Bottou, Bengio & Haffner, Proc. IEEE 86(11), 1998.

    Args:
        input_shape: (C, H, W); at least 12x12 px (16x16 when padding=0).
        num_outputs: output units.
        activation: activation spec ("tanh", as in the paper).
        pooling: "avg" (the paper's subsampling) or "max".
        padding: zero padding of the first convolution; "auto" pads by 2 for
            images smaller than 32 px (28x28 MNIST becomes the paper's 32x32).
    """
    shape = check_model_inputs("lenet5", input_shape, num_outputs, _INPUTS)
    pooling = choice("lenet5", "pooling", pooling, ("avg", "max"))
    if padding == "auto":
        padding = 2 if min(shape[1:]) < 32 else 0
    elif isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        expected = "'auto' or a non-negative integer"
        raise option_error("lenet5", "padding", padding, expected, "Set model.padding=auto.")
    if min(lenet_sizes(shape[1], shape[2], padding)) < 1:
        smallest = 16 - 2 * padding
        raise DataError(
            f"lenet5 needs images of at least {smallest}x{smallest} px with padding={padding}; "
            f"received input_shape {shape!r}. Use model=cnn for small images, or resize them "
            "(data.image_size=28)."
        )
    model = LeNet5(shape, num_outputs, activation=activation, pooling=pooling, padding=padding)
    return initialize(model, "auto", activation=activation)
