"""Small seeded batches of every kind for the augmentation tests (imported by test_augmentation*.py)."""

from __future__ import annotations

import torch

NUM_CLASSES = 5
WORDS = ["<pad>", "the", "movie", "was", "good", "film", "great", "fine", "story", "plot", "slow", "dull"]
SYNONYMS = {"movie": ["film"], "good": ["great", "fine"], "story": ["plot"], "slow": ["dull"]}


def make_images(count: int = 16, channels: int = 3, size: int = 12, seed: int = 0) -> torch.Tensor:
    return torch.randn(count, channels, size, size, generator=torch.Generator().manual_seed(seed))


def make_pixels(count: int = 8, channels: int = 3, size: int = 10) -> torch.Tensor:
    """Pixel values in [0.05, 0.95]: clamping to [0, 1] never bites."""
    return 0.05 + 0.9 * torch.rand(count, channels, size, size, generator=torch.Generator().manual_seed(1))


def make_tokens(count: int = 16, length: int = 12) -> torch.Tensor:
    """Token ids 1..11 of WORDS, right-padded with 0; every row has 3..length real tokens, the first 'movie'."""
    generator = torch.Generator().manual_seed(2)
    tokens = torch.randint(1, len(WORDS), (count, length), generator=generator)
    tokens[:, 0] = WORDS.index("movie")  # a word with a synonym in every row
    lengths = torch.randint(3, length + 1, (count, 1), generator=generator)
    return tokens.masked_fill(torch.arange(length) >= lengths, 0)


def make_series(count: int = 16, steps: int = 24, features: int = 3) -> torch.Tensor:
    return torch.randn(count, steps, features, generator=torch.Generator().manual_seed(3)).cumsum(1)
