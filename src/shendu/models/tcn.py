"""Temporal convolutional network (Bai, Kolter & Koltun 2018): dilated causal convolutions with residuals.

A causal convolution pads on the left only, so the output at step t sees
steps <= t and never the future. Doubling the dilation in each block
(1, 2, 4, ...) grows the receptive field exponentially with depth while the
parameter count grows linearly: L blocks of two convolutions of width k see

    receptive_field = 1 + 2 * (k - 1) * (2**L - 1)

steps. A TCN trains in parallel over time (unlike a recurrent network) and
often matches or beats LSTMs on sequence modelling benchmarks.
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn
from torch.nn import functional
from torch.nn.utils.parametrizations import weight_norm as apply_weight_norm

from shendu.models.token_inputs import check_text_inputs, embedding_width, token_lengths
from shendu.models.registry import (
    MODELS,
    boolean,
    positive_int,
    positive_ints,
    probability,
)

_INPUTS = ("sequence", "tokens")


def receptive_field(kernel_size: int, num_blocks: int) -> int:
    """Steps that the last output sees: 1 + 2 * (k - 1) * (2**L - 1) for L blocks of two convolutions."""
    return 1 + 2 * (kernel_size - 1) * (2**num_blocks - 1)


class CausalConvolution(nn.Module):
    """Conv1d that pads (k - 1) * dilation zeros on the left only: output t sees inputs <= t; length kept."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int, weight_norm: bool):
        super().__init__()
        self.left_padding = (kernel_size - 1) * dilation
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation)
        # He normal for the ReLU that follows (as keras-tcn), set before weight norm splits the
        # weight into direction and scale. The authors' N(0, 0.01) leaves the blocks nearly
        # silent at the start, the output barely hearing anything but the last step.
        nn.init.kaiming_normal_(self.conv.weight, nonlinearity="relu")
        if weight_norm:
            apply_weight_norm(self.conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(functional.pad(x, (self.left_padding, 0)))  # (B, C_in, T) -> (B, C_out, T)


class TemporalBlock(nn.Module):
    """Two causal dilated convolutions (each -> ReLU -> dropout) plus a residual: y = relu(F(x) + shortcut(x)).

    The shortcut is a 1x1 convolution when the channel count changes, else the identity.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int, dropout: float,
                 weight_norm: bool):
        super().__init__()
        self.layers = nn.Sequential(
            CausalConvolution(in_channels, out_channels, kernel_size, dilation, weight_norm),
            nn.ReLU(),
            nn.Dropout(dropout),
            CausalConvolution(out_channels, out_channels, kernel_size, dilation, weight_norm),
            nn.ReLU(),
            nn.Dropout(dropout),
        )
        self.shortcut = nn.Identity() if in_channels == out_channels else nn.Conv1d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return functional.relu(self.layers(x) + self.shortcut(x))  # (B, C_out, T)


class TemporalConvNet(nn.Module):
    """Optional embedding -> temporal blocks with dilations 1, 2, 4, ... -> state at the last real step -> linear.

    Attribute ``receptive_field``: steps the output sees, 1 + 2 * (k - 1) * (2**L - 1).

    Args:
        input_size: features per step (F) for float sequences; ignored for tokens.
        num_outputs: output units.
        channels: output channels of each block.
        kernel_size: width of every convolution.
        dropout: dropout after each convolution.
        weight_norm: weight normalisation on every causal convolution.
        vocab_size: vocabulary size for token inputs; None for float sequences.
        padding_id: id of the padding token.
        embedding_size: width of the token embedding.
    """

    def __init__(self, input_size: int, num_outputs: int, channels: list[int], kernel_size: int = 3,
                 dropout: float = 0.1, weight_norm: bool = False, vocab_size: int | None = None,
                 padding_id: int = 0, embedding_size: int = 128):
        super().__init__()
        self.padding_id = padding_id
        self.embedding = None
        if vocab_size is not None:
            self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=padding_id)
            input_size = embedding_size
        widths = [input_size, *channels]
        self.blocks = nn.Sequential(*(
            TemporalBlock(a, b, kernel_size, 2**i, dropout, weight_norm)
            for i, (a, b) in enumerate(pairwise(widths))
        ))
        self.receptive_field = receptive_field(kernel_size, len(channels))
        self.head = nn.Linear(channels[-1], num_outputs)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Causal features at every step, (B, channels[-1], T): step t depends on inputs <= t only."""
        inputs = x if self.embedding is None else self.embedding(x)  # (B, T, F) or (B, T) ids -> (B, T, E)
        return self.blocks(inputs.transpose(1, 2))  # (B, C, T)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states = self.features(x)  # (B, C, T)
        if self.embedding is None:
            return self.head(states[:, :, -1])  # (B, num_outputs)
        # Causal, so the state at the last real token has not seen the padding after it.
        last = token_lengths(x, self.padding_id) - 1  # (B,)
        rows = torch.arange(x.shape[0], device=x.device)
        return self.head(states[rows, :, last])  # (B, num_outputs)


@MODELS.register(
    "tcn",
    formula="block_i: y = relu(x' + shortcut(x)), x' = drop(relu(cconv_d(drop(relu(cconv_d(x)))))), d = 2**i",
    reference="Bai, Kolter & Koltun 2018, An Empirical Evaluation of Generic Convolutional and Recurrent "
              "Networks for Sequence Modeling",
    inputs=_INPUTS,
    role="classifier",
)
def tcn(input_shape: tuple[int, ...], num_outputs: int, vocab_size: int | None = None, padding_id: int = 0,
        channels: list[int] | None = None, kernel_size: int = 3, dropout: float = 0.1, weight_norm: bool = False,
        embedding_size: int | None = None) -> nn.Module:
    """Temporal convolutional network: residual blocks of dilated causal convolutions, read at the last step.

    A convolutional alternative to lstm / gru for series and text: trains in
    parallel over time, has a stable gradient path through the residuals, and
    a receptive field set by its depth. Choose channels and kernel_size so the
    receptive field covers the window: with k = 3 and 3 blocks it sees 29
    steps, 4 blocks 61, 6 blocks 253. Steps further back are invisible.

    Formula: causal conv: y_t = sum_{j<k} W_j x_{t - j*d};
             block i (d = 2**i): y = relu(F(x) + shortcut(x)),
             F = dropout(relu(cconv_d(dropout(relu(cconv_d(x))))));
             output = W h_T + b;  receptive_field = 1 + 2 * (k - 1) * (2**L - 1)
    Reference: Bai, Kolter & Koltun, "An Empirical Evaluation of Generic
    Convolutional and Recurrent Networks for Sequence Modeling", arXiv:1803.01271, 2018.

    Args:
        input_shape: (T, F) for float sequences, or (T_max,) for token ids.
        num_outputs: output units (classes, or regression targets).
        vocab_size: vocabulary size (supplied by shendu for token inputs).
        padding_id: id of the padding token (supplied by shendu; 0).
        channels: output channels of each block ([32, 32, 32]); block i has dilation 2**i.
        kernel_size: width of every causal convolution (3).
        dropout: dropout after each convolution (0.1).
        weight_norm: weight normalisation of the convolutions, as in the paper (false).
        embedding_size: width of the token embedding (128); token inputs only.
    """
    kind, shape = check_text_inputs("tcn", input_shape, num_outputs, vocab_size, padding_id, _INPUTS)
    channels = [32, 32, 32] if channels is None else positive_ints("tcn", "channels", channels)
    return TemporalConvNet(
        input_size=shape[1] if kind == "sequence" else 0,
        num_outputs=num_outputs,
        channels=channels,
        kernel_size=positive_int("tcn", "kernel_size", kernel_size),
        dropout=probability("tcn", "dropout", dropout),
        weight_norm=boolean("tcn", "weight_norm", weight_norm),
        vocab_size=vocab_size if kind == "tokens" else None,
        padding_id=padding_id,
        embedding_size=embedding_width("tcn", kind, embedding_size),
    )
