"""Losses: what training minimises, each a named, documented ``nn.Module``.

Choose one by name (``"cross-entropy"``), by mapping
(``{"name": "huber", "delta": 0.5}``), as a weighted sum
(``{"sum": [{"name": "cross-entropy", "weight": 1.0}, {"name": "dice", "weight": 0.5}]}``)
or pass a module; ``shendu list losses`` shows them all. Every loss's
``forward(outputs, targets)`` returns a scalar by default (``reduction="mean"``)
and checks that the shapes fit together. ``loss_problems(spec)`` validates a
spec without training; ``gradient_penalty`` is the WGAN-GP helper.

Families: classification (cross-entropy, binary-cross-entropy, nll, focal,
hinge, squared-hinge; asymmetric for multi-label), regression (mse, mae,
huber, smooth-l1, poisson-nll, gaussian-nll), segmentation (dice, iou,
tversky), distribution (kl-divergence, distillation), embedding
(contrastive, triplet, cosine-embedding, info-nce, nt-xent), adversarial
(wasserstein) and composite (weighted-sum).
"""

from __future__ import annotations

from shendu.losses import (
    adversarial,
    classification,
    composite,
    divergence,
    embedding,
    focal,
    margin,
    multilabel,
    overlap,
    probabilistic,
    regression,
    self_supervised,
)
from shendu.losses.adversarial import WassersteinLoss, gradient_penalty
from shendu.losses.classification import BinaryCrossEntropyLoss, CrossEntropyLoss, NegativeLogLikelihoodLoss
from shendu.losses.composite import WeightedSumLoss, build_loss, loss_problems, reads_class_probabilities
from shendu.losses.divergence import DistillationLoss, KLDivergenceLoss
from shendu.losses.embedding import ContrastiveLoss, CosineEmbeddingLoss, TripletLoss
from shendu.losses.focal import FocalLoss
from shendu.losses.margin import HingeLoss, SquaredHingeLoss
from shendu.losses.multilabel import AsymmetricLoss
from shendu.losses.overlap import DiceLoss, IoULoss, TverskyLoss
from shendu.losses.probabilistic import GaussianNegativeLogLikelihoodLoss, PoissonNegativeLogLikelihoodLoss
from shendu.losses.registry import LOSSES
from shendu.losses.regression import HuberLoss, MeanAbsoluteErrorLoss, MeanSquaredErrorLoss, SmoothL1Loss
from shendu.losses.self_supervised import InfoNCELoss, NTXentLoss

__all__ = [
    "reads_class_probabilities",
    "LOSSES",
    "AsymmetricLoss",
    "BinaryCrossEntropyLoss",
    "ContrastiveLoss",
    "CosineEmbeddingLoss",
    "CrossEntropyLoss",
    "DiceLoss",
    "DistillationLoss",
    "FocalLoss",
    "GaussianNegativeLogLikelihoodLoss",
    "HingeLoss",
    "HuberLoss",
    "InfoNCELoss",
    "IoULoss",
    "KLDivergenceLoss",
    "MeanAbsoluteErrorLoss",
    "MeanSquaredErrorLoss",
    "NTXentLoss",
    "NegativeLogLikelihoodLoss",
    "PoissonNegativeLogLikelihoodLoss",
    "SmoothL1Loss",
    "SquaredHingeLoss",
    "TripletLoss",
    "TverskyLoss",
    "WassersteinLoss",
    "WeightedSumLoss",
    "adversarial",
    "build_loss",
    "classification",
    "composite",
    "divergence",
    "embedding",
    "focal",
    "gradient_penalty",
    "loss_problems",
    "margin",
    "multilabel",
    "overlap",
    "probabilistic",
    "regression",
    "self_supervised",
]
