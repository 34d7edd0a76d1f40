"""Regularisers set through other options: layers in models, and settings with their own key.

Registered in ``REGULARIZERS`` beside the training-time ones (``l1``, ``l2``,
``weight-decay``, ``max-norm`` in :mod:`shendu.nn.regularizers`) so every
regulariser a course names is listed, explained and documented in one place;
each entry's ``key`` tag names the option that turns it on.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from shendu.nn.registry import REGULARIZERS


# -- layers (set through model options) -------------------------------------------------
@REGULARIZERS.register(
    "dropout",
    formula="training: y = x * m / (1 - p), m_i ~ Bernoulli(1 - p); evaluation: y = x",
    reference="Srivastava et al. 2014, Dropout: A Simple Way to Prevent Neural Networks from Overfitting (JMLR)",
    applies_in="model", key="model.dropout",
)
def dropout(p: float = 0.5) -> nn.Module:
    """Dropout: zero each activation with probability p during training, so units cannot co-adapt.

    The standard regulariser of dense layers: set ``model.dropout`` (mlp, cnn).
    Survivors are scaled by 1/(1 - p) (inverted dropout) so nothing changes at
    evaluation time. Typical p: 0.1-0.3 in wide MLPs, 0.5 before a classifier.

    Formula: y = x * m / (1 - p), m_i ~ Bernoulli(1 - p) in training; y = x in evaluation
    Reference: Srivastava et al., JMLR 2014.

    Args:
        p: drop probability in [0, 1).
    """
    return nn.Dropout(p)


@REGULARIZERS.register(
    "dropout-2d",
    formula="training: y[:, c] = x[:, c] * m_c / (1 - p), one m_c ~ Bernoulli(1 - p) per channel",
    reference="Tompson, Goroshin, Jain, LeCun & Bregler 2015, Efficient Object Localization Using Convolutional Networks",
    applies_in="model", key="model.spatial_dropout",
)
def dropout_2d(p: float = 0.1) -> nn.Module:
    """Spatial (2-D) dropout: drop whole feature maps, because neighbouring pixels carry the same information.

    Use it in convolutional layers (``model.spatial_dropout`` of cnn), where
    ordinary dropout of single pixels is undone by their correlated neighbours.

    Formula: y[:, c] = x[:, c] * m_c / (1 - p), m_c ~ Bernoulli(1 - p) per sample and channel
    Reference: Tompson et al., CVPR 2015.

    Args:
        p: probability of dropping a channel (0.1).
    """
    return nn.Dropout2d(p)


@REGULARIZERS.register(
    "batch-norm",
    formula="y = gamma * (x - mean_B) / sqrt(var_B + eps) + beta; running averages at evaluation",
    reference="Ioffe & Szegedy 2015, Batch Normalization: Accelerating Deep Network Training (ICML)",
    applies_in="model", key="model.batch_norm",
)
def batch_norm(num_features: int, spatial: bool = False) -> nn.Module:
    """Batch normalisation: standardise each feature over the batch, then scale and shift it.

    Set ``model.batch_norm=true`` (mlp, cnn; built into resnet). It lets deep
    networks train at higher learning rates and its batch noise regularises a
    little. Needs batches of more than a few samples; use layer-norm otherwise.

    Formula: y = gamma * (x - mean_B) / sqrt(var_B + eps) + beta
    Reference: Ioffe & Szegedy, ICML 2015.

    Args:
        num_features: features (or channels when spatial).
        spatial: BatchNorm2d over (B, C, H, W) instead of BatchNorm1d.
    """
    return nn.BatchNorm2d(num_features) if spatial else nn.BatchNorm1d(num_features)


@REGULARIZERS.register(
    "layer-norm",
    formula="y = gamma * (x - mean_features) / sqrt(var_features + eps) + beta (per sample)",
    reference="Ba, Kiros & Hinton 2016, Layer Normalization",
    applies_in="model", key="model.layer_norm",
)
def layer_norm(num_features: int) -> nn.Module:
    """Layer normalisation: standardise each sample over its features, independent of the batch.

    Set ``model.layer_norm=true`` (mlp); the normalisation of transformers and
    recurrent networks, and the choice when batches are small.

    Formula: y = gamma * (x - mean over features) / sqrt(var + eps) + beta
    Reference: Ba, Kiros & Hinton, arXiv 1607.06450, 2016.

    Args:
        num_features: the size of the last dimension.
    """
    return nn.LayerNorm(num_features)


# -- settings with their own config key --------------------------------------------------
@REGULARIZERS.register(
    "label-smoothing",
    formula="target = (1 - e) * onehot(y) + e / C",
    reference="Szegedy et al. 2016, Rethinking the Inception Architecture for Computer Vision (CVPR)",
    applies_in="config", key="loss.label_smoothing",
)
def label_smoothing(value: float = 0.1) -> dict[str, float]:
    """Label smoothing: train toward a softened target, so the network stops pushing logits to infinity.

    Set ``loss: {name: cross-entropy, label_smoothing: 0.1}``. Improves
    calibration and often accuracy of large classifiers; hurts knowledge
    distillation from the smoothed model a little (Mueller et al. 2019).

    Formula: target = (1 - e) * onehot(y) + e / C
    Reference: Szegedy et al., CVPR 2016.

    Args:
        value: e, the mass spread over all classes (0.1).
    """
    return {"loss.label_smoothing": value}


@REGULARIZERS.register(
    "early-stopping",
    formula="stop when the monitored metric has not improved by min_delta for patience epochs; keep the best",
    reference="Prechelt 1998, Early Stopping - But When? (Neural Networks: Tricks of the Trade)",
    applies_in="config", key="train.early_stopping",
)
def early_stopping(patience: int = 5, min_delta: float = 0.0, monitor: str | None = None) -> dict[str, Any]:
    """Early stopping: stop training when validation stops improving and keep the best checkpoint.

    Set ``train.early_stopping: {patience: 5}`` (monitor defaults to the
    task's validation metric). The cheapest regulariser: it limits how far
    the weights travel from their initialisation.

    Formula: stop after `patience` epochs without an improvement > min_delta; evaluate the best epoch
    Reference: Prechelt, in Neural Networks: Tricks of the Trade, 1998.

    Args:
        patience: epochs without improvement before stopping (5).
        min_delta: the smallest change that counts as improvement (0).
        monitor: metric such as "val.loss" (default: the task's).
    """
    return {"train.early_stopping": {"patience": patience, "min_delta": min_delta, "monitor": monitor}}


@REGULARIZERS.register(
    "gradient-clipping",
    formula="by norm: g = g * min(1, c / ||g||); by value: g = clamp(g, -c, c)",
    reference="Pascanu, Mikolov & Bengio 2013, On the difficulty of training recurrent neural networks (ICML)",
    applies_in="config", key="train.clip_grad_norm",
)
def gradient_clipping(max_norm: float | None = 1.0, max_value: float | None = None) -> dict[str, Any]:
    """Gradient clipping: cap the gradient's norm (or each value) so one bad batch cannot wreck the weights.

    Set ``train.clip_grad_norm=1.0`` (the whole gradient rescaled when its
    norm exceeds c) or ``train.clip_grad_value=0.5`` (each entry clamped).
    Standard for recurrent networks and transformers.

    Formula: g = g * min(1, c / ||g||_2)   or   g = clamp(g, -c, c)
    Reference: Pascanu, Mikolov & Bengio, ICML 2013.

    Args:
        max_norm: c for clipping by norm (train.clip_grad_norm).
        max_value: c for clipping by value (train.clip_grad_value).
    """
    return {"train.clip_grad_norm": max_norm, "train.clip_grad_value": max_value}
