"""Adversarial losses: the Wasserstein GAN critic loss and the gradient penalty of WGAN-GP.

GAN training alternates two updates that a single ``loss(outputs, targets)``
cannot express on its own; the task's own step function calls the loss once
for the critic and once for the generator, telling real from fake by the
targets, and adds :func:`gradient_penalty` to the critic's loss.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from shendu.errors import ConfigError, DataError, Problem
from shendu.losses.registry import LOSSES

SCORE_LABELS = ["real sample (y = 1)", "fake sample (y = 0)"]


def _critic_profile(x: torch.Tensor) -> torch.Tensor:
    """The loss of a one-sample batch scored x, when the sample is real and when it is fake; (N, 2)."""
    loss = LOSSES.get("wasserstein")
    real, fake = torch.ones(1), torch.zeros(1)
    return torch.stack([torch.stack([loss(score.view(1), real), loss(score.view(1), fake)]) for score in x])


@LOSSES.register(
    "wasserstein",
    formula="critic: loss = mean(s(fake)) - mean(s(real)); generator: loss = -mean(s(fake)) "
    "(its fakes passed with targets 1)",
    reference="Arjovsky, Chintala & Bottou, Wasserstein Generative Adversarial Networks, ICML 2017",
    kind="adversarial",
    profile=_critic_profile,
    profile_axis="critic score s of the sample",
    profile_range=(-3.0, 3.0),
    profile_labels=SCORE_LABELS,
)
class WassersteinLoss(nn.Module):
    """Wasserstein GAN loss: the critic separates real from fake scores; the generator raises its fakes' scores.

    Use it to train a GAN whose critic (discriminator without a sigmoid)
    estimates the Wasserstein-1 distance between the data and the
    generator's samples: its gradients stay informative when the two are far
    apart, where the original GAN's saturate. The critic must be 1-Lipschitz:
    add :func:`shendu.losses.gradient_penalty` to its loss (WGAN-GP).

    Formula: critic: loss = mean(s over fake samples) - mean(s over real
    samples); generator: loss = -mean(s(fake)). One formula gives both:
    loss = mean(s where y = 0) - mean(s where y = 1) (an empty group counts 0),
    so the generator's step passes its fakes with targets 1, the usual GAN
    trick of labelling fakes as real.

    Interface: ``outputs`` are critic scores (B,) or (B, 1); ``targets`` (B,)
    are 1 for real samples and 0 for fake ones. Critic step:
    ``loss(critic(torch.cat([real, fake])), torch.cat([ones, zeros]))``;
    generator step: ``loss(critic(fake), ones)``. The loss is a difference of
    two means, not a mean over samples, so it takes no reduction option.

    Reference: M. Arjovsky, S. Chintala & L. Bottou, "Wasserstein Generative
    Adversarial Networks", ICML 2017.

    Args:
        (none) the loss has no options; the penalty weight is gradient_penalty's ``weight``.
    """

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        scores = outputs.reshape(len(outputs), -1) if outputs.dim() > 0 else outputs.reshape(1, 1)
        if scores.shape[1] != 1 or targets.numel() != len(scores):
            raise DataError(
                f"loss 'wasserstein': expected critic scores of shape (B,) or (B, 1) and targets (B,) of 1 (real) "
                f"and 0 (fake); received outputs of shape {tuple(outputs.shape)} and targets of shape "
                f"{tuple(targets.shape)}. Give the critic one output and one label per sample."
            )
        scores = scores[:, 0]
        real = (targets.reshape(-1) > 0.5).to(scores.dtype)
        fake = 1 - real
        # Sums over counts clamped at 1, not boolean indexing: no device sync, and an empty group counts 0.
        mean_fake = (scores * fake).sum() / fake.sum().clamp_min(1)
        mean_real = (scores * real).sum() / real.sum().clamp_min(1)
        return mean_fake - mean_real


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    weight: float = 10.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The WGAN-GP gradient penalty: weight * mean((||grad critic(x_hat)||_2 - 1)^2) on random interpolates.

    Add it to the critic's 'wasserstein' loss to keep the critic close to
    1-Lipschitz, instead of WGAN's weight clipping. x_hat = e * real + (1 - e) *
    fake with e ~ U(0, 1) per sample; the penalty is built with
    ``create_graph=True`` so its gradient reaches the critic's weights.
    Call it in the critic's step (not the generator's); the inputs are
    detached, so it never updates the generator.

    Formula: penalty = weight * mean_i (||d critic(x_hat_i) / d x_hat_i||_2 - 1)^2
    Reference: I. Gulrajani, F. Ahmed, M. Arjovsky, V. Dumoulin & A. Courville,
    "Improved Training of Wasserstein GANs", NeurIPS 2017 (weight lambda = 10).

    Args:
        critic: the critic, a callable from a batch (B, ...) to scores (B,) or (B, 1).
        real: a batch of real samples (B, ...).
        fake: a batch of generated samples of the same shape.
        weight: lambda >= 0; default 10.0 as in the paper.
        generator: optional torch.Generator for the interpolation weights (reproducibility).
    """
    if not isinstance(weight, (int, float)) or isinstance(weight, bool) or weight < 0:
        raise ConfigError(
            [Problem("gradient_penalty.weight", weight, "a number >= 0", "Pass weight=10.0 (the paper's lambda).")]
        )
    if real.shape != fake.shape or real.dim() == 0:
        raise DataError(
            f"gradient_penalty: expected real and fake batches of one shape (B, ...); received {tuple(real.shape)} "
            f"and {tuple(fake.shape)}. Generate as many fakes as there are real samples."
        )
    shape = (len(real),) + (1,) * (real.dim() - 1)  # one interpolation weight per sample
    mix = torch.rand(shape, generator=generator, device=real.device, dtype=real.dtype)
    interpolates = (mix * real.detach() + (1 - mix) * fake.detach()).requires_grad_(True)
    scores = critic(interpolates)
    (gradients,) = torch.autograd.grad(scores.sum(), interpolates, create_graph=True)
    norms = gradients.flatten(1).norm(2, dim=1)  # (B,)
    return weight * ((norms - 1) ** 2).mean()
