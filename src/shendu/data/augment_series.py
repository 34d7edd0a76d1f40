"""Time-series augmentations on windows (B, T, F): jitter, scaling, window slicing.

Each takes a float batch of B windows of T time steps and F features
((B, T) is read as one feature) and returns the same shape. Series are
standardised before they reach augmentations, so ``sigma`` is in units of
each feature's standard deviation.
"""

from __future__ import annotations

import torch

from shendu.data.augment_checks import check_number, check_probability, check_series, with_probability
from shendu.data.registry import AUGMENTATIONS

SERIES_REFERENCE = ("Um et al. 2017, 'Data Augmentation of Wearable Sensor Data for Parkinson's Disease Monitoring "
                    "using Convolutional Neural Networks', ICMI")


def _restore(result: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """Back to (B, T) when the batch came as (B, T)."""
    return result.squeeze(-1) if original.ndim == 2 else result


@AUGMENTATIONS.register(
    "jitter",
    formula="x'[t, f] = x[t, f] + e, e ~ N(0, sigma^2) independently per step and feature, with probability p",
    reference=SERIES_REFERENCE,
    applies_to="series",
)
class Jitter:
    """Add small gaussian noise to every step of each window.

    Use it for sensor and measurement series (accelerometers, temperatures),
    where the exact value at one step is noisy anyway; it keeps a forecaster
    or classifier from fitting that noise. sigma 0.03 is the setting of Um
    et al.; raise it for noisier data.

    Args:
        sigma: standard deviation of the noise, in standardised units.
        p: probability that a window gets noise.
    """

    def __init__(self, sigma: float = 0.03, p: float = 1.0):
        self.sigma = check_number("jitter", "sigma", sigma, 0.0, example="0.03")
        self.p = check_probability("jitter", p)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        series = check_series(batch, "jitter")
        if self.p == 0.0 or self.sigma == 0.0:
            return batch
        return _restore(with_probability(self.p, series + self.sigma * torch.randn_like(series), series), batch)

    def __repr__(self) -> str:
        return f"Jitter(sigma={self.sigma}, p={self.p})"


@AUGMENTATIONS.register(
    "scaling",
    formula="x'[t, f] = k * x[t, f], k ~ N(1, sigma^2) per window (per window and feature with per_feature)",
    reference=SERIES_REFERENCE,
    applies_to="series",
)
class Scaling:
    """Multiply each window by a random factor near 1.

    Use it when the amplitude of a pattern varies but its meaning does not
    (the same gesture done with more force, a sales curve at another
    scale). On standardised data the scaling is about the feature's mean.

    Args:
        sigma: standard deviation of the factor around 1.
        p: probability that a window is scaled.
        per_feature: draw one factor per feature (Um et al.) instead of one per window.
    """

    def __init__(self, sigma: float = 0.1, p: float = 1.0, per_feature: bool = False):
        self.sigma = check_number("scaling", "sigma", sigma, 0.0, example="0.1")
        self.p = check_probability("scaling", p)
        self.per_feature = bool(per_feature)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        series = check_series(batch, "scaling")
        if self.p == 0.0 or self.sigma == 0.0:
            return batch
        shape = (series.shape[0], 1, series.shape[2] if self.per_feature else 1)
        factors = 1.0 + self.sigma * torch.randn(shape, device=series.device, dtype=series.dtype)
        return _restore(with_probability(self.p, series * factors, series), batch)

    def __repr__(self) -> str:
        return f"Scaling(sigma={self.sigma}, p={self.p}, per_feature={self.per_feature})"


@AUGMENTATIONS.register(
    "window-slicing",
    formula="take a slice of L = round(fraction*T) steps at a uniform start, stretch it back to T steps "
            "by linear interpolation",
    reference="Le Guennec, Malinowski & Tavenard 2016, 'Data Augmentation for Time Series Classification "
              "using Convolutional Neural Networks', ECML/PKDD workshop AALTD",
    applies_to="series",
)
class WindowSlicing:
    """Crop a random slice of each window and stretch it back to the full length.

    Use it for series classification, where the label holds for any large
    part of the window: the model sees the pattern at slightly different
    positions and speeds. 0.9 (the paper's setting) keeps 90% of the window.

    Args:
        fraction: the slice's share of the window, in (0, 1].
        p: probability that a window is sliced.
    """

    def __init__(self, fraction: float = 0.9, p: float = 1.0):
        self.fraction = check_number("window-slicing", "fraction", fraction, 0.0, 1.0, "0.9", include_low=False)
        self.p = check_probability("window-slicing", p)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        series = check_series(batch, "window-slicing")
        size, steps, features = series.shape
        if self.p == 0.0 or self.fraction == 1.0 or steps < 2:
            return batch
        length = min(steps, max(2, round(self.fraction * steps)))
        start = torch.floor(torch.rand(size, 1, device=series.device) * (steps - length + 1))  # (B, 1)
        where = start + torch.linspace(0, length - 1, steps, device=series.device)  # (B, T) fractional steps
        below = where.floor().long().clamp(max=steps - 1)
        above = (below + 1).clamp(max=steps - 1)
        weight = (where - below).to(series.dtype).unsqueeze(-1)  # (B, T, 1)

        def at(index: torch.Tensor) -> torch.Tensor:
            return series.gather(1, index.unsqueeze(-1).expand(size, steps, features))  # (B, T, F)

        return _restore(with_probability(self.p, torch.lerp(at(below), at(above), weight), series), batch)

    def __repr__(self) -> str:
        return f"WindowSlicing(fraction={self.fraction}, p={self.p})"


__all__ = ["Jitter", "Scaling", "WindowSlicing"]
