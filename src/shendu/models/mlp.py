"""Fully connected networks: the perceptron and the multi-layer perceptron.

Both flatten each sample, so they take tabular features ``(F,)``, small
images ``(C, H, W)`` and series windows ``(T, F)`` alike (an image becomes
C*H*W features, losing its spatial layout: use ``cnn`` when that matters; a
window becomes T*F lagged values, the classic autoregressive MLP forecaster).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from shendu.models.registry import MODELS, boolean, check_model_inputs, option_error, positive_ints, probability
from shendu.nn import get_activation, initialize

_INPUTS = ("image", "tabular", "sequence")


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


def embedding_size(cardinality: int) -> int:
    """Width of a categorical embedding: min(50, (K + 1) // 2), the fast.ai course's rule of thumb."""
    return max(1, min(50, (cardinality + 1) // 2))


class CategoricalEmbedding(nn.Module):
    """Replace index-coded categorical columns by learned embedding vectors; pass the others through.

    Use it for categorical features with many values (``data.categorical_encoding:
    index``): one-hot would add a column per category, an embedding learns a short
    dense vector per category instead (Guo & Berkhahn 2016, "Entity embeddings of
    categorical variables"). Code 0 is the unseen / missing category.

    Args:
        in_features: columns of the encoded feature matrix.
        cardinalities: {column position: K + 1} for each index-coded column.
    """

    def __init__(self, in_features: int, cardinalities: dict[int, int]):
        super().__init__()
        positions = sorted(int(p) for p in cardinalities)
        self.register_buffer("code_positions", torch.tensor(positions, dtype=torch.long), persistent=False)
        numeric = [i for i in range(in_features) if i not in set(positions)]
        self.register_buffer("numeric_positions", torch.tensor(numeric, dtype=torch.long), persistent=False)
        sizes = {p: int(cardinalities[p] if p in cardinalities else cardinalities[str(p)]) for p in positions}
        self.embeddings = nn.ModuleList(nn.Embedding(sizes[p], embedding_size(sizes[p])) for p in positions)
        self.out_features = len(numeric) + sum(e.embedding_dim for e in self.embeddings)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        codes = x.index_select(1, self.code_positions).round().long()  # (B, K) category codes stored as floats
        parts = [x.index_select(1, self.numeric_positions)]  # (B, F - K)
        parts += [embedding(codes[:, i]) for i, embedding in enumerate(self.embeddings)]  # K x (B, d_k)
        return torch.cat(parts, dim=1)  # (B, F - K + sum d_k)


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
        embeddings: {column position: cardinality} of index-coded categorical
            columns, embedded by :class:`CategoricalEmbedding` before the first layer.
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
        embeddings: dict[int, int] | None = None,
    ):
        super().__init__()
        self.flatten = nn.Flatten()
        self.embedding = CategoricalEmbedding(in_features, embeddings) if embeddings else None
        if self.embedding is not None:
            in_features = self.embedding.out_features
        widths = [in_features, *hidden_sizes]
        self.hidden = nn.Sequential(
            *(dense_block(a, b, activation, batch_norm, dropout, layer_norm) for a, b in zip(widths, widths[1:]))
        )
        self.head = nn.Linear(widths[-1], num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.flatten(x)  # (B, F)
        if self.embedding is not None:
            x = self.embedding(x)  # (B, F') numeric columns + embedded categories
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
    categorical_embeddings=True,
)
def mlp(
    input_shape: tuple[int, ...],
    num_outputs: int,
    hidden_sizes: list[int] | None = None,
    activation: Any = "relu",
    batch_norm: bool = False,
    dropout: float = 0.0,
    layer_norm: bool = False,
    embeddings: dict[int, int] | None = None,
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
        embeddings: {column position: cardinality} of categorical columns coded
            as indices (``data.categorical_encoding: index``), each embedded in
            min(50, (K+1)//2) dimensions. Tasks fill it in from the run's
            preprocessing; there is no need to set it by hand.
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
        embeddings=_embedding_positions(embeddings, math.prod(shape)),
    )
    return initialize(model, "auto", activation=activation)


def _embedding_positions(embeddings: Any, in_features: int) -> dict[int, int] | None:
    if not embeddings:
        return None
    if not isinstance(embeddings, dict):
        raise option_error("mlp", "embeddings", embeddings, "a mapping {column position: cardinality}",
                           "Leave it unset: tasks fill it in from data.categorical_encoding=index.")
    checked = {}
    for position, cardinality in embeddings.items():
        if not str(position).isdigit() or int(position) >= in_features or not isinstance(cardinality, int) or cardinality < 1:
            raise option_error("mlp", "embeddings", embeddings,
                               f"column positions below {in_features} mapped to positive cardinalities",
                               "Leave it unset: tasks fill it in from data.categorical_encoding=index.")
        checked[int(position)] = cardinality
    return checked
