"""Metric-learning losses on embeddings: contrastive pairs, triplets and cosine embedding.

They train a model whose outputs are embeddings, so that similar inputs land
close together and dissimilar ones far apart (face verification, retrieval,
Siamese networks). Their ``outputs`` are a tuple of (B, D) embeddings, not
one tensor; the step function returns the tuple from running the model on
each part of the batch.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from shendu.errors import DataError
from shendu.losses.registry import LOSSES, check_choice, check_number, check_reduction, check_tensor_pair, reduce

PAIR_LABELS = ["similar pair (y = 1)", "dissimilar pair (y = 0)"]


def _check_pair_targets(name: str, targets: Any, size: int) -> torch.Tensor:
    if not isinstance(targets, torch.Tensor) or tuple(targets.shape) != (size,):
        received = tuple(targets.shape) if isinstance(targets, torch.Tensor) else type(targets).__name__
        raise DataError(
            f"loss {name!r}: expected targets of shape ({size},), one label per pair (1 similar, 0 or -1 "
            f"dissimilar); received {received}. Give one label per pair, e.g. targets.view(-1)."
        )
    return targets


def _contrastive_profile(x: torch.Tensor) -> torch.Tensor:
    """'contrastive' at distance x for a similar and a dissimilar pair; (N, 2)."""
    loss = LOSSES.get({"name": "contrastive", "reduction": "none"})
    return torch.stack([loss(x, torch.ones_like(x)), loss(x, torch.zeros_like(x))], dim=1)


@LOSSES.register(
    "contrastive",
    formula="loss = 0.5 * (y * d^2 + (1 - y) * max(0, m - d)^2), d = ||x1 - x2||_2, y = 1 similar / 0 dissimilar",
    reference="Hadsell, Chopra & LeCun, Dimensionality Reduction by Learning an Invariant Mapping, CVPR 2006",
    kind="embedding",
    profile=_contrastive_profile,
    profile_axis="distance d between the pair",
    profile_range=(0.0, 2.0),
    profile_labels=PAIR_LABELS,
)
class ContrastiveLoss(nn.Module):
    """Contrastive (pairwise margin) loss: pull similar pairs together, push dissimilar ones beyond a margin.

    Use it to train a Siamese network from pairs labelled same / different
    (signature or face verification, near-duplicate detection). Similar pairs
    pay their squared distance; dissimilar pairs pay only while closer than
    the margin m, so the embedding is not pushed apart without bound.

    Formula: loss = 0.5 * (y * d^2 + (1 - y) * max(0, m - d)^2) with d the
    Euclidean distance between the two embeddings (torch's pairwise_distance,
    which adds eps = 1e-6 to the difference so the gradient at d = 0 is defined).

    Interface: ``outputs`` is either the pair of embeddings ``(x1, x2)``, each
    (B, D), or the distances (B,) computed by the model; ``targets`` (B,)
    holds 1 for a similar pair and 0 (or -1) for a dissimilar one.

    Reference: R. Hadsell, S. Chopra & Y. LeCun, "Dimensionality Reduction by
    Learning an Invariant Mapping", CVPR 2006 (their Y is 1 for dissimilar; here 1 means similar).

    Args:
        margin: m > 0, the distance beyond which dissimilar pairs cost nothing; default 1.0.
        reduction: "mean" (default), "sum" or "none" (one loss per pair).
    """

    def __init__(self, *, margin: float = 1.0, reduction: str = "mean"):
        super().__init__()
        self.margin = check_number("contrastive", "margin", margin, minimum=0.0, positive=True, example="1.0")
        self.reduction = check_reduction("contrastive", reduction)

    def forward(self, outputs: Any, targets: torch.Tensor) -> torch.Tensor:
        if isinstance(outputs, torch.Tensor):
            if outputs.dim() != 1:
                raise DataError(
                    f"loss 'contrastive': expected outputs as a pair (x1, x2) of (B, D) embeddings or distances "
                    f"(B,); received one tensor of shape {tuple(outputs.shape)}. Return (x1, x2) from the model."
                )
            distances = outputs
        else:
            first, second = check_tensor_pair("contrastive", outputs, 2, "pair of embeddings (x1, x2)")
            distances = F.pairwise_distance(first, second)  # (B,)
        similar = (_check_pair_targets("contrastive", targets, len(distances)) > 0).to(distances.dtype)
        loss = 0.5 * (similar * distances**2 + (1 - similar) * F.relu(self.margin - distances) ** 2)
        return reduce(loss, self.reduction)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, reduction={self.reduction!r}"


def _triplet_profile(x: torch.Tensor) -> torch.Tensor:
    """'triplet' in one dimension: anchor 0, negative at 1, positive at x, so d(a, p) = x and d(a, n) = 1."""
    anchor = torch.zeros(len(x), 1, dtype=x.dtype)
    outputs = (anchor, x[:, None], torch.ones_like(anchor))
    return LOSSES.get({"name": "triplet", "reduction": "none"})(outputs, None)


@LOSSES.register(
    "triplet",
    formula="loss = max(0, d(a, p) - d(a, n) + m), d(u, v) = ||u - v||_p",
    reference="Schroff, Kalenichenko & Philbin, FaceNet: A Unified Embedding for Face Recognition and "
    "Clustering, CVPR 2015",
    kind="embedding",
    profile=_triplet_profile,
    profile_axis="distance anchor–positive d(a, p) (with d(a, n) = 1)",
    profile_range=(0.0, 3.0),
)
class TripletLoss(nn.Module):
    """Triplet margin loss: an anchor must be closer to a positive than to a negative, by a margin.

    Use it for metric learning when you can form triplets (anchor, an example
    of the same identity, an example of another): face recognition, person
    re-identification, image retrieval. Only relative distances matter, which
    suits ranking better than the absolute targets of 'contrastive'. Which
    triplets you mine (hard, semi-hard) matters as much as the loss.

    Formula: loss = max(0, d(a, p) - d(a, n) + m), d(u, v) = ||u - v + eps||_p
    (torch's triplet_margin_loss). With ``swap``, d(a, n) is replaced by
    min(d(a, n), d(p, n)) (Balntas et al., 2016).

    Interface: ``outputs`` is the tuple ``(anchor, positive, negative)`` of
    three (B, D) embeddings; ``targets`` is ignored (pass None): the triplet
    structure is the label.

    Reference: F. Schroff, D. Kalenichenko & J. Philbin, "FaceNet: A Unified
    Embedding for Face Recognition and Clustering", CVPR 2015.

    Args:
        margin: m > 0, how much closer the positive must be; default 1.0.
        p: the norm degree of the distance (> 0); default 2 (Euclidean).
        swap: use the distance swap of Balntas et al.; default False.
        reduction: "mean" (default), "sum" or "none" (one loss per triplet).
    """

    def __init__(self, *, margin: float = 1.0, p: float = 2.0, swap: bool = False, reduction: str = "mean"):
        super().__init__()
        self.margin = check_number("triplet", "margin", margin, minimum=0.0, positive=True, example="1.0")
        self.p = check_number("triplet", "p", p, minimum=0.0, positive=True, example="2")
        self.swap = check_choice("triplet", "swap", swap, (False, True))
        self.reduction = check_reduction("triplet", reduction)

    def forward(self, outputs: Any, targets: Any = None) -> torch.Tensor:
        anchor, positive, negative = check_tensor_pair(
            "triplet", outputs, 3, "(anchor, positive, negative) embeddings"
        )
        return F.triplet_margin_loss(
            anchor, positive, negative, margin=self.margin, p=self.p, swap=self.swap, reduction=self.reduction
        )

    def extra_repr(self) -> str:
        return f"margin={self.margin}, p={self.p}, swap={self.swap}, reduction={self.reduction!r}"


def _cosine_profile(x: torch.Tensor) -> torch.Tensor:
    """'cosine-embedding' of unit vectors at cosine similarity x, similar and dissimilar; (N, 2)."""
    first = torch.tensor([1.0, 0.0], dtype=x.dtype).expand(len(x), 2)
    second = torch.stack([x, (1 - x**2).clamp_min(0).sqrt()], dim=1)  # (N, 2), cos(first, second) = x
    loss = LOSSES.get({"name": "cosine-embedding", "reduction": "none"})
    return torch.stack([loss((first, second), torch.ones_like(x)), loss((first, second), -torch.ones_like(x))], 1)


@LOSSES.register(
    "cosine-embedding",
    formula="loss = 1 - cos(x1, x2) if y = 1 else max(0, cos(x1, x2) - m)",
    reference="torch.nn.CosineEmbeddingLoss; Hadsell, Chopra & LeCun, CVPR 2006 (the pairwise margin idea)",
    kind="embedding",
    profile=_cosine_profile,
    profile_axis="cosine similarity cos(x1, x2) of the pair",
    profile_range=(-0.99, 0.99),  # at ±1 the unit vector built from x has an infinite slope
    profile_labels=["similar pair (y = +1)", "dissimilar pair (y = -1)"],
)
class CosineEmbeddingLoss(nn.Module):
    """Cosine embedding loss: similar pairs toward cosine 1, dissimilar pairs below a cosine margin.

    Use it for pairs labelled similar / dissimilar when only the direction of
    an embedding matters, not its length (text and sentence embeddings,
    retrieval by cosine similarity). It is the angular counterpart of 'contrastive'.

    Formula: loss = 1 - cos(x1, x2) for y = +1; max(0, cos(x1, x2) - m) for y = -1.

    Interface: ``outputs`` is the pair ``(x1, x2)`` of (B, D) embeddings;
    ``targets`` (B,) holds +1 for similar pairs and -1 (or 0) for dissimilar.

    Reference: torch.nn.CosineEmbeddingLoss; the pairwise margin idea of Hadsell,
    Chopra & LeCun, CVPR 2006.

    Args:
        margin: m in [-1, 1]; dissimilar pairs cost nothing below cosine m. Default 0.0 (orthogonal is enough).
        reduction: "mean" (default), "sum" or "none" (one loss per pair).
    """

    def __init__(self, *, margin: float = 0.0, reduction: str = "mean"):
        super().__init__()
        self.margin = check_number(
            "cosine-embedding", "margin", margin, minimum=-1.0, maximum=1.0, include_maximum=True, example="0.5"
        )
        self.reduction = check_reduction("cosine-embedding", reduction)

    def forward(self, outputs: Any, targets: torch.Tensor) -> torch.Tensor:
        first, second = check_tensor_pair("cosine-embedding", outputs, 2, "pair of embeddings (x1, x2)")
        targets = _check_pair_targets("cosine-embedding", targets, len(first))
        signs = torch.where(targets > 0, 1, -1)  # 0/1 and -1/+1 labels alike, without a device sync
        return F.cosine_embedding_loss(first, second, signs, margin=self.margin, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, reduction={self.reduction!r}"
