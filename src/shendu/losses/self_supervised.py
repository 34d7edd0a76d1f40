"""Self-supervised contrastive losses on two views of a batch: InfoNCE and SimCLR's NT-Xent.

Both take ``outputs = (z1, z2)``, two (B, D) embeddings of the same B samples
(two augmentations of an image, or an image and its caption), where row i of
z1 and row i of z2 are a positive pair and every other pairing is a negative.
Similarities are cosines (the rows are L2-normalised) divided by a
temperature. ``targets`` is ignored: the pairing is the label.

They differ in the negatives. 'info-nce' contrasts z1[i] only with the rows
of the other view (B - 1 negatives, a (B, B) similarity matrix), as in CPC
and CLIP. 'nt-xent' pools both views into 2B samples and contrasts each with
all 2B - 2 others, including the same view's rows, as in SimCLR. Both exist
because neither is a special case of the other.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from shendu.losses.registry import LOSSES, check_choice, check_number, check_reduction, check_tensor_pair, reduce

VIEWS_AXIS = "cosine similarity of the positive pair (negatives at similarity 0)"


def _views_profile(name: str):
    """The loss of sample 0 in a batch of two whose positive pair has cosine x and whose negatives have 0."""

    def profile(x: torch.Tensor) -> torch.Tensor:
        loss = LOSSES.get({"name": name, "reduction": "none"})
        basis = torch.eye(3, dtype=x.dtype)
        values = []
        for similarity in x:  # one small batch per point: the negatives of a batch are shared
            positive = torch.stack([similarity, similarity.new_zeros(()), (1 - similarity**2).clamp_min(0).sqrt()])
            first, second = basis[:2], torch.stack([positive, basis[1]])  # (2, 3) each
            values.append(loss((first, second), None)[0])
        return torch.stack(values)

    return profile


def _check_views(name: str, outputs: Any) -> tuple[torch.Tensor, torch.Tensor]:
    first, second = check_tensor_pair(name, outputs, 2, "two views (z1, z2) of the batch")
    return F.normalize(first, dim=1), F.normalize(second, dim=1)


@LOSSES.register(
    "info-nce",
    summary="InfoNCE (NT-Xent over cross-view negatives): pick each sample's other view among the batch.",
    formula="loss_i = -log(exp(s(z1_i, z2_i) / T) / sum_j exp(s(z1_i, z2_j) / T)), s = cosine; "
    "symmetric: mean of the z1 -> z2 and z2 -> z1 directions",
    reference="van den Oord, Li & Vinyals, Representation Learning with Contrastive Predictive Coding, 2018; "
    "Radford et al., CLIP, ICML 2021 (symmetric form)",
    kind="embedding",
    profile=_views_profile("info-nce"),
    profile_axis=VIEWS_AXIS,
    profile_range=(-0.99, 0.99),  # at ±1 the unit vector built from x has an infinite slope
)
class InfoNCELoss(nn.Module):
    """InfoNCE (NT-Xent over cross-view negatives): pick each sample's other view among the batch.

    Use it for contrastive self-supervised or multi-modal pre-training
    (CPC, MoCo, CLIP): each row of z1 must identify its partner in z2 among
    the B rows of z2, a B-way classification whose logits are cosine
    similarities over a temperature T. Larger batches give more negatives and
    a tighter bound on the mutual information between the views. For
    SimCLR's loss, where the same view's rows are negatives too, use 'nt-xent'.

    Formula: S = normalize(z1) @ normalize(z2)^T / T, a (B, B) matrix;
    loss_i = cross_entropy(S[i], i); with ``symmetric`` (the default, as in
    CLIP) loss_i = 0.5 * (cross_entropy(S[i], i) + cross_entropy(S[:, i], i)).

    Interface: ``outputs = (z1, z2)``, two (B, D) embeddings whose row i is a
    positive pair; ``targets`` is ignored (pass None).

    Reference: A. van den Oord, Y. Li & O. Vinyals, "Representation Learning with
    Contrastive Predictive Coding", 2018; A. Radford et al., "Learning Transferable
    Visual Models From Natural Language Supervision" (CLIP), ICML 2021.

    Args:
        temperature: T > 0; smaller sharpens the softmax over negatives. Default 0.1.
        symmetric: average both directions (z1 -> z2 and z2 -> z1); default True.
        reduction: "mean" (default), "sum" or "none" (one loss per sample i).
    """

    def __init__(self, *, temperature: float = 0.1, symmetric: bool = True, reduction: str = "mean"):
        super().__init__()
        self.temperature = check_number("info-nce", "temperature", temperature, minimum=0.0, positive=True,
                                        example="0.1")
        self.symmetric = check_choice("info-nce", "symmetric", symmetric, (True, False))
        self.reduction = check_reduction("info-nce", reduction)

    def forward(self, outputs: Any, targets: Any = None) -> torch.Tensor:
        first, second = _check_views("info-nce", outputs)
        similarities = first @ second.T / self.temperature  # (B, B); the diagonal holds the positives
        labels = torch.arange(len(first), device=first.device)
        loss = F.cross_entropy(similarities, labels, reduction="none")
        if self.symmetric:
            loss = 0.5 * (loss + F.cross_entropy(similarities.T, labels, reduction="none"))
        return reduce(loss, self.reduction)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, symmetric={self.symmetric}, reduction={self.reduction!r}"


@LOSSES.register(
    "nt-xent",
    formula="z = [z1; z2] (2B rows), s = cosine; loss_k = -log(exp(s(z_k, z_pos(k)) / T) / "
    "sum_{j != k} exp(s(z_k, z_j) / T)); sample i gets 0.5 * (loss_i + loss_{i+B})",
    reference="Chen, Kornblith, Norouzi & Hinton, A Simple Framework for Contrastive Learning of Visual "
    "Representations (SimCLR), ICML 2020",
    kind="embedding",
    profile=_views_profile("nt-xent"),
    profile_axis=VIEWS_AXIS,
    profile_range=(-0.99, 0.99),  # at ±1 the unit vector built from x has an infinite slope
)
class NTXentLoss(nn.Module):
    """NT-Xent, SimCLR's loss: each of 2B views must find its partner among all other 2B - 1 views.

    Use it for SimCLR-style self-supervised pre-training on two augmentations
    of each image. Unlike 'info-nce', the rows of the same view are negatives
    too, so each anchor is contrasted with 2B - 2 negatives and both views are
    anchors; no separate symmetric option is needed.

    Formula: z = [normalize(z1); normalize(z2)] (2B, D); S = z @ z^T / T with
    the diagonal (self-similarity) excluded; the positive of row k is row
    k + B (mod 2B); loss_k = cross_entropy(S[k], positive(k)); the loss of
    sample i is 0.5 * (loss_i + loss_{i+B}).

    Interface: ``outputs = (z1, z2)``, two (B, D) embeddings whose row i is a
    positive pair; ``targets`` is ignored (pass None).

    Reference: T. Chen, S. Kornblith, M. Norouzi & G. Hinton, "A Simple Framework
    for Contrastive Learning of Visual Representations" (SimCLR), ICML 2020.

    Args:
        temperature: T > 0; default 0.1 (SimCLR used 0.1 to 0.5 depending on batch size).
        reduction: "mean" (default), "sum" or "none" (one loss per sample i, both its views averaged).
    """

    def __init__(self, *, temperature: float = 0.1, reduction: str = "mean"):
        super().__init__()
        self.temperature = check_number("nt-xent", "temperature", temperature, minimum=0.0, positive=True,
                                        example="0.1")
        self.reduction = check_reduction("nt-xent", reduction)

    def forward(self, outputs: Any, targets: Any = None) -> torch.Tensor:
        first, second = _check_views("nt-xent", outputs)
        size = len(first)
        views = torch.cat([first, second])  # (2B, D)
        similarities = views @ views.T / self.temperature  # (2B, 2B)
        self_mask = torch.eye(2 * size, dtype=torch.bool, device=views.device)
        # -inf rather than a large negative number: exp(-inf) = 0 exactly, in any precision.
        similarities = similarities.masked_fill(self_mask, -math.inf)
        positives = torch.arange(2 * size, device=views.device).roll(size)  # k -> k + B (mod 2B)
        loss = F.cross_entropy(similarities, positives, reduction="none")  # (2B,)
        return reduce(0.5 * (loss[:size] + loss[size:]), self.reduction)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, reduction={self.reduction!r}"
