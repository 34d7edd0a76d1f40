"""Fully connected networks: the perceptron and the multi-layer perceptron.

Both flatten each sample, so they take tabular features ``(F,)`` and small
images ``(C, H, W)`` alike (an image becomes C*H*W features, losing its
spatial layout: use ``cnn`` when that matters).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from shendu.models.registry import MODELS, boolean, check_model_inputs, option_error, positive_ints, probability
from shendu.nn import get_activation, initialize

_INPUTS = ("image", "tabular")


def dense_block(
    in_features: int, out_features: int, activation: Any, batch_norm: bool, dropout: float, layer_norm: bool = False
) -> nn.Sequential:
    """Linear -> optional BatchNorm1d or LayerNorm -> activation -> optional Dropout."""
    # A normalisation layer re-centres the output, so a bias before it would be redundant.
    normalized = batch_norm or layer_norm
    layers: list[nn.Module] = [nn.Linear(in_features, out_features, bias=not normalized)]
    if batch_norm:
        layers.append(nn.BatchNorm1d(out_features))
    if layer_norm:
        layers.append(nn.LayerNorm(out_features))
    layers.append(get_activation(activation))
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class MultiLayerPerceptron(nn.Module):
    """Flatten, a stack of dense blocks, then a linear head to ``num_outputs``.

    Args:
        in_features: features per sample after flattening.
        num_outputs: output units (classes, or regression targets).
        hidden_sizes: width of each hidden layer; empty for a single linear layer.
        activation: activation spec between layers (see: shendu list activations).
        batch_norm: insert BatchNorm1d after each hidden linear layer.
        dropout: dropout probability after each hidden activation.
        layer_norm: insert LayerNorm after each hidden linear layer instead.
    """

    def __init__(
        self,
        in_features: int,
        num_outputs: int,
        hidden_sizes: list[int],
        activation: Any = "relu",
        batch_norm: bool = False,
        dropout: float = 0.0,
        layer_norm: bool = False,
    ):
        super().__init__()
        self.flatten = nn.Flatten()
        widths = [in_features, *hidden_sizes]
        self.hidden = nn.Sequential(
            *(dense_block(a, b, activation, batch_norm, dropout, layer_norm) for a, b in zip(widths, widths[1:]))
        )
        self.head = nn.Linear(widths[-1], num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.flatten(x)  # (B, F)
        return self.head(self.hidden(x))  # (B, num_outputs)


@MODELS.register(
    "perceptron",
    formula="y = W x + b",
    reference="Rosenblatt 1958, The Perceptron: a probabilistic model for information storage",
    inputs=_INPUTS,
)
def perceptron(input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    """Single-layer perceptron: one linear layer from the flattened input to the outputs.

    Rosenblatt's perceptron, the first trainable neural network: it can only
    separate classes with hyperplanes (it cannot learn XOR). Trained with
    cross-entropy its logits make it multinomial logistic regression; use it
    as the linear baseline every deeper model must beat.

    Formula: y = W x + b   (x flattened to C*H*W or F features)
    Reference: F. Rosenblatt, Psychological Review 65(6), 1958.

    Args:
        input_shape: per-sample shape, (F,) or (C, H, W).
        num_outputs: output units.
    """
    shape = check_model_inputs("perceptron", input_shape, num_outputs, _INPUTS)
    model = MultiLayerPerceptron(math.prod(shape), num_outputs, hidden_sizes=[])
    return initialize(model, "auto", activation=None)


@MODELS.register(
    "mlp",
    formula="h_k = dropout(act(BN(W_k h_{k-1} + b_k))); y = W_out h_K + b_out",
    reference="Rumelhart, Hinton & Williams 1986, Learning representations by back-propagating errors",
    inputs=_INPUTS,
)
def mlp(
    input_shape: tuple[int, ...],
    num_outputs: int,
    hidden_sizes: list[int] | None = None,
    activation: Any = "relu",
    batch_norm: bool = False,
    dropout: float = 0.0,
    layer_norm: bool = False,
) -> nn.Module:
    """Multi-layer perceptron: fully connected hidden layers with a non-linearity between them.

    The default model for tabular data and the universal approximator of
    textbooks: with one hidden layer it can fit any continuous function, and
    depth makes that cheaper. Add dropout or batch_norm when it overfits.

    Formula: h_0 = flatten(x); h_k = dropout(act(BN(W_k h_{k-1} + b_k)));
             y = W_out h_K + b_out
    Reference: Rumelhart, Hinton & Williams, Nature 1986.

    Args:
        input_shape: per-sample shape, (F,) or (C, H, W).
        num_outputs: output units.
        hidden_sizes: width of each hidden layer ([128, 64]).
        activation: activation spec (see: shendu list activations).
        batch_norm: BatchNorm1d after each hidden linear layer.
        dropout: dropout probability after each hidden activation, in [0, 1).
        layer_norm: LayerNorm after each hidden linear layer (per-sample
            statistics: independent of the batch size; not with batch_norm).
    """
    shape = check_model_inputs("mlp", input_shape, num_outputs, _INPUTS)
    if hidden_sizes is None:
        hidden_sizes = [128, 64]
    hidden_sizes = positive_ints("mlp", "hidden_sizes", hidden_sizes, allow_empty=True)
    if batch_norm and layer_norm:
        raise option_error("mlp", "layer_norm", layer_norm, "not both batch_norm and layer_norm",
                           "Choose one: model.batch_norm=true or model.layer_norm=true.")
    model = MultiLayerPerceptron(
        math.prod(shape),
        num_outputs,
        hidden_sizes,
        activation=activation,
        batch_norm=boolean("mlp", "batch_norm", batch_norm),
        dropout=probability("mlp", "dropout", dropout),
        layer_norm=boolean("mlp", "layer_norm", layer_norm),
    )
    return initialize(model, "auto", activation=activation)
