"""The before/after pictures of ``shendu explain <augmentation>``.

Every picture calls the registered augmentation itself on a small demo batch,
seeded (the global RNG is forked, so the caller's stream is untouched), and
shows the batch before (top) and after two or three independent draws:

- image ops: 8 of scikit-learn's digits, upscaled to 48x48 and coloured (a
  coloured digit on a colour gradient), so flips, rotations and colour
  jitter are all visible; mixing ops print each sample's soft label.
- text ops: a few sentences encoded with a word vocabulary, decoded back.
- series ops: four windows of a seasonal series, the draws drawn over them.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from shendu.data.augmentation import applies_to, mixes_targets  # noqa: E402
from shendu.registry import Entry  # noqa: E402

NUM_IMAGES = 8
IMAGE_SIZE = 48
NUM_DRAWS = 3
SENTENCES = [
    "the movie was good and the actors were funny",
    "a slow story with good actors",
    "funny and good but the story is slow",
    "the actors make this movie",
]


def demo_images(count: int = NUM_IMAGES, size: int = IMAGE_SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """(count, 3, size, size) pixel values in [0, 1] and their digit labels: coloured digits 0, 1, ... on gradients.

    Args:
        count: how many images, one per digit (at most 10).
        size: their height and width.
    """
    images, targets = _digits()
    picks = [targets.index(digit) for digit in range(min(count, 10))]  # the first image of each digit
    count = len(picks)
    strokes = images[picks].unsqueeze(1) / 16.0  # (N, 1, 8, 8)
    strokes = F.interpolate(strokes, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    hues = torch.arange(count, dtype=torch.float32) / count
    ink = torch.stack([_hue_to_rgb(h) for h in hues]).view(count, 3, 1, 1)
    ramp = torch.linspace(0, 1, size)
    background = torch.stack([0.15 + 0.5 * ramp.view(1, -1).expand(size, size),  # red grows to the right
                              0.25 + 0.3 * ramp.view(-1, 1).expand(size, size),  # green grows downwards
                              torch.full((size, size), 0.55)])  # (3, S, S)
    images = strokes * ink + (1 - strokes) * background.unsqueeze(0)
    return images.clamp(0, 1), torch.tensor([targets[i] for i in picks], dtype=torch.long)


@functools.lru_cache(maxsize=1)
def _digits() -> tuple[torch.Tensor, list[int]]:
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    digits = load_digits()
    return torch.tensor(digits.images, dtype=torch.float32), [int(t) for t in digits.target]


def _hue_to_rgb(hue: torch.Tensor) -> torch.Tensor:
    """A saturated colour of the given hue (0..1) in RGB."""
    k = (torch.tensor([5.0, 3.0, 1.0]) + hue * 6) % 6
    return 1 - torch.clamp(torch.minimum(k, 4 - k), 0, 1)


def demo_tokens(extra_words: list[str] = ()) -> tuple[torch.Tensor, list[str]]:
    """The demo sentences as right-padded word ids (id 0 is padding) and the vocabulary (id -> word)."""
    vocabulary = ["<pad>"]
    for word in [w for sentence in SENTENCES for w in sentence.split()] + list(extra_words):
        if word not in vocabulary:
            vocabulary.append(word)
    length = max(len(sentence.split()) for sentence in SENTENCES)
    tokens = torch.zeros(len(SENTENCES), length, dtype=torch.long)
    for row, sentence in enumerate(SENTENCES):
        ids = [vocabulary.index(word) for word in sentence.split()]
        tokens[row, : len(ids)] = torch.tensor(ids)
    return tokens, vocabulary


def demo_series(count: int = 4, steps: int = 96) -> torch.Tensor:
    """(count, steps, 1) windows of a trend plus a yearly-like cycle, standardised."""
    t = torch.arange(steps, dtype=torch.float32)
    rows = [0.02 * (i + 1) * t + torch.sin(2 * torch.pi * (t + 7 * i) / 24) for i in range(count)]
    series = torch.stack(rows).unsqueeze(-1)
    return (series - series.mean(1, keepdim=True)) / series.std(1, keepdim=True)


def draws(augmentation: Any, batch: torch.Tensor, labels: torch.Tensor | None = None, num_classes: int = 0,
          seed: int = 0, count: int = NUM_DRAWS) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """``count`` independent applications of ``augmentation`` to ``batch``, seeded, global RNG untouched."""
    results = []
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for _ in range(count):
            if labels is None:
                results.append((augmentation(batch), None))
            else:
                results.append(augmentation(batch, labels, num_classes))
    return results


def _soft_label(row: torch.Tensor) -> str:
    top = [(float(v), c) for c, v in enumerate(row.tolist()) if v > 0.005]
    return " ".join(f"{c}:{v:.2f}" for v, c in sorted(top, reverse=True)[:2])


def mosaic(rows: list[torch.Tensor], gap: int = 4) -> torch.Tensor:
    """Batches of (N, 3, S, S) images as one (H, W, 3) picture: one batch per row, white gaps between."""
    count, _, size, _ = rows[0].shape
    step = size + gap
    picture = torch.ones(len(rows) * step - gap, count * step - gap, 3)
    for r, images in enumerate(rows):
        for c in range(count):
            picture[r * step : r * step + size, c * step : c * step + size] = images[c].permute(1, 2, 0).clamp(0, 1)
    return picture


def image_grid(entry: Entry, options: dict, build: Any) -> tuple[plt.Figure, str]:
    pixels, labels = demo_images()
    mixes = mixes_targets(entry)
    results = draws(build(), pixels, labels if mixes else None, 10)
    rows = [pixels] + [out for out, _ in results]
    figure, axes = plt.subplots(figsize=(1.6 * NUM_IMAGES, 1.75 * len(rows)))
    axes.imshow(mosaic(rows).numpy(), interpolation="nearest")  # one image: far faster than a grid of axes
    step = IMAGE_SIZE + 4
    axes.set_xticks([])
    axes.set_yticks([r * step + IMAGE_SIZE / 2 for r in range(len(rows))])
    axes.set_yticklabels(["before"] + [f"draw {d + 1}" for d in range(len(results))])
    axes.tick_params(length=0)
    for spine in axes.spines.values():
        spine.set_visible(False)
    if mixes:
        captions = [[f"label {int(label)}" for label in labels]]
        captions += [[_soft_label(row) for row in soft] for _, soft in results]
        for r, row in enumerate(captions):
            for c, caption in enumerate(row):
                axes.text(c * step + IMAGE_SIZE / 2, r * step - 1, caption, ha="center", va="bottom", fontsize=8)
    note = (f"Plot: {NUM_IMAGES} scikit-learn digits, upscaled to {IMAGE_SIZE}x{IMAGE_SIZE} and coloured, as "
            f"pixel values in [0, 1]; top row before, then {len(results)} draws with seed 0")
    return figure, note + (", captioned with the mixed soft labels." if mixes else ".")


def text_table(entry: Entry, options: dict, build: Any) -> tuple[plt.Figure, str]:
    synonyms = options.get("synonyms", {})
    extra = [w for key, values in synonyms.items() for w in [key, *values]] if isinstance(synonyms, dict) else []
    tokens, vocabulary = demo_tokens(extra)
    if "vocabulary" in inspect.signature(entry.constructor).parameters:
        options = {**options, "vocabulary": vocabulary}
    results = draws(build(options), tokens)

    def words(row: torch.Tensor) -> str:
        return " ".join(vocabulary[int(t)] for t in row if int(t) != 0)

    figure, axes = plt.subplots(figsize=(11, 0.9 + 0.3 * len(SENTENCES) * (1 + len(results))))
    axes.axis("off")
    lines = []
    for i in range(len(SENTENCES)):
        lines.append(("before", words(tokens[i]), "black"))
        lines += [(f"draw {d + 1}", words(out[i]), "tab:blue") for d, (out, _) in enumerate(results)]
        lines.append(("", "", "black"))
    for n, (label, text, colour) in enumerate(lines):
        y = 1 - n / len(lines)
        axes.text(0.0, y, label, family="monospace", fontsize=9, color="grey", va="top", transform=axes.transAxes)
        axes.text(0.1, y, text, family="monospace", fontsize=9, color=colour, va="top", transform=axes.transAxes)
    return figure, f"Plot: {len(SENTENCES)} sentences as word ids, before and after {len(results)} draws with seed 0."


def series_lines(entry: Entry, options: dict, build: Any) -> tuple[plt.Figure, str]:
    series = demo_series()
    results = draws(build(), series)
    figure, panels = plt.subplots(2, 2, figsize=(11, 6), sharex=True)
    for i, axes in enumerate(panels.flat):
        axes.plot(series[i, :, 0].numpy(), color="black", linewidth=2, label="before")
        for d, (out, _) in enumerate(results):
            axes.plot(out[i, :, 0].numpy(), linewidth=1, alpha=0.8, label=f"draw {d + 1}")
        axes.grid(alpha=0.3)
        axes.set_title(f"window {i + 1}", fontsize=10)
    panels[0, 0].legend(fontsize=8)
    for axes in panels[1]:
        axes.set_xlabel("time step")
    return figure, (f"Plot: {len(series)} standardised windows of {series.shape[1]} steps (trend plus cycle), "
                    f"before (black) and {len(results)} draws with seed 0.")


def augmentation_figure(entry: Entry, options: dict) -> tuple[plt.Figure, str]:
    """The figure for ``entry`` built with ``options``, and a note on what it shows."""
    kind = applies_to(entry)[0]

    def build(with_options: dict | None = None) -> Any:
        return entry.constructor(**(options if with_options is None else with_options))

    drawer = {"image": image_grid, "text": text_table, "series": series_lines}.get(kind, image_grid)
    figure, note = drawer(entry, options, build)
    figure.suptitle(f"{entry.name}: before (top) and after", fontsize=12)
    return figure, note


__all__ = ["demo_images", "demo_tokens", "demo_series", "draws", "mosaic", "augmentation_figure"]
