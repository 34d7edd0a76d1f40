"""Batch augmentations: the registry contract, the image families, build_augmentation, speed.

The contract test is parametrised over ``AUGMENTATIONS``, so every newly
registered augmentation is enrolled: it must keep shape, dtype and device,
change its input, and reproduce exactly under a fixed seed. Mixing and the
training step: test_augmentation_mixing.py; text and series:
test_augmentation_text_series.py.
"""

from __future__ import annotations

import inspect
import time
import warnings

import pytest
import torch
import torch.nn.functional as F
from augmentation_batches import NUM_CLASSES, SYNONYMS, WORDS, make_images, make_pixels, make_series, make_tokens

from shendu.config import DataConfig
from shendu.data import AUGMENTATIONS
from shendu.data.augmentation import applies_to, augmentations_for, build_augmentation, mixes_targets
from shendu.errors import ConfigError, DataError, UnknownComponentError

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
IMAGE_OPS = ["horizontal-flip", "vertical-flip", "random-crop", "random-translate", "random-erasing",
             "random-resized-crop", "rotation", "affine", "color-jitter", "gaussian-noise"]


def _build(name: str, **options):
    entry = AUGMENTATIONS.entry(name)
    options = {**entry.tags.get("explain_options", {}), **options}
    if name == "synonym-replacement":
        options.setdefault("vocabulary", WORDS)
        options["synonyms"] = SYNONYMS
    return AUGMENTATIONS.get({"name": name, **options})


def _batch_for(name: str, device: str = "cpu") -> torch.Tensor:
    kind = applies_to(AUGMENTATIONS.entry(name))[0]
    batch = {"image": make_images, "text": make_tokens, "series": make_series}[kind]()
    return batch.to(device)


def _run(op, name: str, batch: torch.Tensor, seed: int):
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if mixes_targets(AUGMENTATIONS.entry(name)):
        labels = torch.arange(len(batch), device=batch.device) % NUM_CLASSES
        return op(batch, labels, NUM_CLASSES)
    return op(batch), None


# -- the contract of every registered augmentation -------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", AUGMENTATIONS.names())
def test_every_augmentation_keeps_shape_changes_the_batch_and_reproduces(name, device):
    entry = AUGMENTATIONS.entry(name)
    assert entry.formula and set(applies_to(entry)) <= {"image", "tabular", "text", "series"}
    assert "Args:" in entry.doc, f"augmentation {name!r} documents no options"
    op, batch = _build(name), _batch_for(name, device)
    first, targets = _run(op, name, batch, seed=3)
    second, targets_again = _run(op, name, batch, seed=3)
    assert first.shape == batch.shape and first.dtype == batch.dtype and first.device == batch.device
    assert torch.equal(first, second), "the same seed must give the same batch"
    other, _ = _run(op, name, batch, seed=4)
    assert not torch.equal(first, other), "another seed should give another batch"
    changed = [not torch.equal(first[i], batch[i]) for i in range(len(batch))]
    assert sum(changed) >= len(batch) // 4, f"{name} changed only {sum(changed)} of {len(batch)} samples"
    if targets is not None:
        assert torch.equal(targets, targets_again) and targets.shape == (len(batch), NUM_CLASSES)
        assert targets.dtype == torch.float32 and torch.allclose(targets.sum(1), torch.ones(len(batch), device=device))


def _has_p(name: str) -> bool:
    return "p" in inspect.signature(AUGMENTATIONS.entry(name).constructor).parameters


# Ops whose p = 1 may still leave a sample unchanged by chance: a swap of a token with itself, a
# mixing partner that is the sample itself. They are checked on their own below.
MAY_LEAVE_A_SAMPLE = {"random-swap", "mixup", "cutmix"}


@pytest.mark.parametrize("name", [n for n in AUGMENTATIONS.names() if _has_p(n)])
def test_p_zero_is_the_identity_and_p_one_always_applies(name):
    batch = _batch_for(name)
    never, _ = _run(_build(name, p=0.0), name, batch, seed=0)
    if mixes_targets(AUGMENTATIONS.entry(name)):
        never, targets = _build(name, p=0.0)(batch, torch.arange(len(batch)) % NUM_CLASSES, NUM_CLASSES)
        assert torch.equal(targets, F.one_hot(torch.arange(len(batch)) % NUM_CLASSES, NUM_CLASSES).float())
    assert torch.equal(never, batch)
    if name not in MAY_LEAVE_A_SAMPLE:
        always, _ = _run(_build(name, p=1.0), name, batch, seed=0)
        assert all(not torch.equal(always[i], batch[i]) for i in range(len(batch)))


def test_registry_tags_route_kinds_and_mixing():
    assert set(IMAGE_OPS) | {"mixup", "cutmix"} <= set(augmentations_for("image"))
    assert set(augmentations_for("text")) == {"random-deletion", "random-swap", "synonym-replacement"}
    assert set(augmentations_for("series")) >= {"jitter", "scaling", "window-slicing", "mixup"}
    assert {n for n in AUGMENTATIONS.names() if mixes_targets(AUGMENTATIONS.entry(n))} == {"mixup", "cutmix"}


# -- image: geometry -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["horizontal-flip", "vertical-flip"])
def test_flip_equals_torch_flip(name):
    batch = make_images()
    flip = AUGMENTATIONS.get({"name": name, "p": 1.0})
    assert torch.equal(flip(batch), batch.flip(-1 if name == "horizontal-flip" else -2))
    assert torch.equal(flip(flip(batch)), batch)


def test_random_crop_is_a_shift_with_zero_fill():
    batch = make_images(count=8, channels=2, size=6)
    assert torch.equal(AUGMENTATIONS.get({"name": "random-crop", "padding": 0})(batch), batch)
    torch.manual_seed(0)
    out = AUGMENTATIONS.get({"name": "random-crop", "padding": 2})(batch)
    padded = F.pad(batch, (2, 2, 2, 2))
    for i in range(len(batch)):
        windows = [padded[i, :, top:top + 6, left:left + 6] for top in range(5) for left in range(5)]
        assert any(torch.equal(window, out[i]) for window in windows)


def test_random_erasing_fills_one_rectangle():
    batch = torch.ones(32, 3, 16, 16)
    torch.manual_seed(0)
    out = AUGMENTATIONS.get({"name": "random-erasing", "p": 1.0, "value": 0.0})(batch)
    for sample in out:
        erased = sample[0] == 0
        assert erased.any() and torch.equal(sample[1] == 0, erased)
        rows, columns = erased.any(1).nonzero().flatten(), erased.any(0).nonzero().flatten()
        assert int(erased.sum()) == len(rows) * len(columns)


def test_rotation_by_90_degrees_equals_rot90():
    batch = make_images(count=4, size=9)
    out = AUGMENTATIONS.get({"name": "rotation", "degrees": [90, 90]})(batch)
    torch.testing.assert_close(out, torch.rot90(batch, 1, dims=(-2, -1)), atol=1e-5, rtol=0)
    # A non-square image keeps its shape; 180 degrees equals flipping both axes exactly there.
    wide = make_images(count=2, size=6)[..., :4].contiguous()
    half_turn = AUGMENTATIONS.get({"name": "rotation", "degrees": [180, 180]})(wide)
    torch.testing.assert_close(half_turn, wide.flip(-1, -2), atol=1e-5, rtol=0)


def test_affine_parts_match_their_own_ops():
    batch = make_images(count=4, size=8)
    identity = AUGMENTATIONS.get({"name": "affine", "degrees": 0, "translate": 0, "scale": [1, 1], "shear": 0})
    torch.testing.assert_close(identity(batch), batch, atol=1e-6, rtol=0)
    turn = AUGMENTATIONS.get({"name": "affine", "degrees": [90, 90], "translate": 0, "scale": [1, 1], "shear": 0})
    torch.testing.assert_close(turn(batch), torch.rot90(batch, 1, dims=(-2, -1)), atol=1e-5, rtol=0)
    # translate [0.25, 0] on 8 pixels: shifts along x of up to 2 pixels, none along y. With nearest sampling each
    # output column is a whole input column (or the zero fill) and rows never move.
    shift = AUGMENTATIONS.get({"name": "affine", "degrees": 0, "translate": [0.25, 0.0], "scale": [1, 1], "shear": 0,
                               "interpolation": "nearest"})
    columns = torch.arange(1.0, 9.0).expand(16, 1, 8, 8)  # value = column index + 1
    torch.manual_seed(0)
    out = shift(columns)
    assert torch.equal(out, out[:, :, :1].expand_as(out))  # rows unchanged: every row is the same
    shifts = set()
    for row in out[:, 0, 0]:
        inside = row[row > 0]
        offset = int(torch.arange(8)[row > 0][0]) + 1 - int(inside[0])  # output column - input column
        assert torch.equal(inside, torch.arange(inside[0], inside[0] + len(inside)))  # contiguous, in order
        assert abs(offset) <= 2 and len(inside) >= 6
        shifts.add(offset)
    assert len(shifts) > 1


def test_random_resized_crop_of_the_whole_image_is_the_identity_and_zooms_otherwise():
    batch = make_images(count=4, size=8)
    whole = AUGMENTATIONS.get({"name": "random-resized-crop", "scale": [1, 1], "ratio": [1, 1]})
    torch.testing.assert_close(whole(batch), batch, atol=1e-6, rtol=0)
    # A quarter of the area at ratio 1 is a 4x4 window, upscaled by 2 with nearest: each pixel becomes 2x2.
    quarter = AUGMENTATIONS.get({"name": "random-resized-crop", "scale": [0.25, 0.25], "ratio": [1, 1],
                                 "interpolation": "nearest"})
    out = quarter(batch)
    blocks = out[..., ::2, ::2]
    assert torch.equal(out, blocks.repeat_interleave(2, -1).repeat_interleave(2, -2))
    for i in range(len(batch)):
        assert any(torch.equal(batch[i, :, t:t + 4, s:s + 4], blocks[i]) for t in range(5) for s in range(5))


# -- image: colour and noise ------------------------------------------------------------------------------
def _grey(images: torch.Tensor) -> torch.Tensor:
    return (images * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)


def test_color_jitter_matches_the_torchvision_formulas_onpixels():
    x = make_pixels()
    only = {"brightness": 0, "contrast": 0, "saturation": 0}
    assert torch.equal(AUGMENTATIONS.get({"name": "color-jitter", **only, "brightness": [1, 1]})(x), x)
    darker = AUGMENTATIONS.get({"name": "color-jitter", **only, "brightness": [0.5, 0.5]})(x)
    torch.testing.assert_close(darker, x * 0.5)
    brighter = AUGMENTATIONS.get({"name": "color-jitter", **only, "brightness": [3.0, 3.0]})(x)
    torch.testing.assert_close(brighter, (x * 3).clamp(0, 1))
    flat = AUGMENTATIONS.get({"name": "color-jitter", **only, "contrast": [0.0, 0.0]})(x)
    torch.testing.assert_close(flat, _grey(x).mean(dim=(1, 2, 3), keepdim=True).expand_as(x))
    grey = AUGMENTATIONS.get({"name": "color-jitter", **only, "saturation": [0.0, 0.0]})(x)
    torch.testing.assert_close(grey, _grey(x).expand_as(x))
    # A hue turn keeps each pixel's grey (luma) and a full turn of the circle is the identity.
    mild = 0.4 + 0.2 * x
    turned = AUGMENTATIONS.get({"name": "color-jitter", **only, "hue": [0.3, 0.3]})(mild)
    torch.testing.assert_close(_grey(turned), _grey(mild), atol=1e-5, rtol=0)
    assert (turned - mild).abs().max() > 0.01
    full = AUGMENTATIONS.get({"name": "color-jitter", **only, "hue": [0.5, 0.5]})
    torch.testing.assert_close(full(full(mild)), mild, atol=1e-5, rtol=0)


def test_color_jitter_works_on_pixel_values_of_normalised_images():
    pixels = make_pixels()
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
    shape = (1, 3, 1, 1)
    normalised = (pixels - torch.tensor(mean).view(shape)) / torch.tensor(std).view(shape)
    options = {"name": "color-jitter", "brightness": [0.7, 0.7], "contrast": [1.2, 1.2], "saturation": [0.5, 0.5]}
    on_pixels = AUGMENTATIONS.get(options)(pixels)
    on_normalised = build_augmentation([options], normalization={"mean": mean, "std": std})(normalised)
    torch.testing.assert_close(on_normalised * torch.tensor(std).view(shape) + torch.tensor(mean).view(shape),
                               on_pixels, atol=1e-5, rtol=0)


def test_color_jitter_on_grayscale_skips_saturation_and_hue():
    x = make_pixels(channels=1)
    same = AUGMENTATIONS.get({"name": "color-jitter", "brightness": 0, "contrast": 0, "saturation": 0.9, "hue": 0.4})
    assert torch.equal(same(x), x)
    darker = AUGMENTATIONS.get({"name": "color-jitter", "brightness": [0.5, 0.5], "contrast": 0, "saturation": 0.9})
    torch.testing.assert_close(darker(x), x * 0.5)
    with pytest.raises(DataError, match="3 channels"):
        AUGMENTATIONS.get({"name": "color-jitter", "mean": [0.1, 0.2]})(make_pixels())


def test_gaussian_noise_has_the_asked_spread():
    batch = torch.zeros(64, 3, 16, 16)
    torch.manual_seed(0)
    noise = AUGMENTATIONS.get({"name": "gaussian-noise", "std": 0.3})(batch)
    assert abs(float(noise.std()) - 0.3) < 0.01 and abs(float(noise.mean())) < 0.01


# -- build_augmentation ---------------------------------------------------------------------------------------
def test_build_augmentation_composes_in_order_and_checks_options():
    assert build_augmentation([]) is None
    batch = make_images()
    both = build_augmentation(["horizontal-flip", {"name": "vertical-flip", "p": 1.0}])
    torch.manual_seed(5)
    out = both(batch)
    torch.manual_seed(5)
    assert torch.equal(out, AUGMENTATIONS.get("vertical-flip", p=1.0)(AUGMENTATIONS.get("horizontal-flip")(batch)))
    with pytest.raises(UnknownComponentError, match="horizontal-flip"):
        build_augmentation(["horizontal-flips"])
    with pytest.raises(ConfigError, match="padding"):
        build_augmentation([{"name": "random-crop", "padding": -1}])
    with pytest.raises(ConfigError, match="probability"):
        build_augmentation([{"name": "random-crop", "probability": 0.5}])
    with pytest.raises(ConfigError, match="degrees"):
        build_augmentation([{"name": "rotation", "degrees": [20, 10]}])
    with pytest.raises(DataError, match=r"\(B, C, H, W\)"):
        AUGMENTATIONS.get("random-crop")(torch.zeros(4, 10))


def test_build_augmentation_checks_the_kind_of_data():
    with pytest.raises(ConfigError) as caught:
        build_augmentation(["jitter", "rotation"], input_kind="text")
    message = str(caught.value)
    assert all(word in message for word in ("jitter", "series", "random-deletion", "synonym-replacement"))
    with pytest.raises(ConfigError, match="tabular"):
        build_augmentation(["cutmix"], input_kind="tabular")
    assert build_augmentation(["mixup"], input_kind="tabular").mixes_targets


def test_augmentations_accept_config_specs():
    config = DataConfig(augment=["horizontal-flip", {"name": "random-crop", "padding": 2}, "rotation"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        augment = build_augmentation(config.augment, input_kind="image")
    assert augment(make_images()).shape == (16, 3, 12, 12)


# -- speed ---------------------------------------------------------------------------------------------------------
def test_the_full_image_list_is_fast_on_a_cifar_sized_batch():
    augment = build_augmentation(IMAGE_OPS + ["cutmix", "mixup"], input_kind="image")
    batch, labels = torch.randn(256, 3, 32, 32), torch.randint(0, 10, (256,))
    # One thread: the time of the work itself. Two threads on a machine whose cores are busy with other
    # processes spend most of their time waiting for each other, which says nothing about the ops.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        augment.apply(batch, labels, 10)  # warm-up
        times = []
        for _ in range(5):
            start = time.perf_counter()
            augment.apply(batch, labels, 10)
            times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
    print(f"\n{len(IMAGE_OPS) + 2} image augmentations on 256x3x32x32, one CPU thread: "
          f"best {min(times) * 1000:.1f} ms, median {sorted(times)[2] * 1000:.1f} ms")
    assert min(times) < 0.5  # 40-60 ms on a quiet core here; loose: other test runs may share the machine
