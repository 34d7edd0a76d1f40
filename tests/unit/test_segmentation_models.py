"""Contract tests over every registered model whose role is "segmentation", then U-Net and FCN specifics.

Registering a model with ``role="segmentation"`` enrols it here (the generic
``(B, num_outputs)`` contract of test_models.py skips it): it must map
(B, C, H, W) images to (B, num_outputs, H, W) logits for any H and W, run
backward, round-trip through safetensors, draw its weights from the seed only,
and be deterministic and per-sample in eval mode.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from shendu.data.shapes import make_shapes
from shendu.errors import ConfigError, DataError, UnknownComponentError
from shendu.models import MODELS, build_model, model_role

NUM_CLASSES, BATCH = 3, 2
SHAPES = [(3, 37, 45), (1, 64, 64)]  # odd, not a multiple of 2^depth; and a power of two


def _segmentation_models() -> list[str]:
    return [name for name in MODELS.names() if model_role(name) == "segmentation"]


def _cases():
    for name in _segmentation_models():
        for shape in SHAPES:
            yield pytest.param(name, shape, id=f"{name}-{'x'.join(map(str, shape))}")


def _build(spec, shape, seed=0, classes=NUM_CLASSES):
    torch.manual_seed(seed)
    return build_model(spec, shape, classes)


def _batch(shape, seed=1, batch=BATCH):
    return torch.randn(batch, *shape, generator=torch.Generator().manual_seed(seed))


def _settled(model, shape):
    """The model in eval mode after one training-mode pass has moved batch-norm statistics off their defaults."""
    model.train()
    with torch.no_grad():
        model(_batch(shape, seed=3))
    return model.eval()


def _count(model):
    return sum(p.numel() for p in model.parameters())


# -- the contract ---------------------------------------------------------------------
def test_segmentation_models_are_enrolled():
    assert {"unet", "unet-small", "fcn-resnet"} <= set(_segmentation_models())
    for name in _segmentation_models():
        assert MODELS.entry(name).tags["inputs"] == ("image",)


@pytest.mark.parametrize("name, shape", list(_cases()))
def test_forward_backward(name, shape):
    model = _build(name, shape).train()
    logits = model(_batch(shape))
    assert logits.shape == (BATCH, NUM_CLASSES, *shape[1:]) and logits.dtype == torch.float32
    logits.mul(torch.randn(logits.shape, generator=torch.Generator().manual_seed(2))).sum().backward()
    for parameter_name, parameter in model.named_parameters():
        assert parameter.grad is not None, f"{parameter_name} got no gradient"
        assert torch.isfinite(parameter.grad).all(), f"{parameter_name} has a non-finite gradient"


@pytest.mark.parametrize("name", _segmentation_models())
def test_output_size_follows_the_input_not_the_build_shape(name):
    model = _build(name, (3, 32, 32)).eval()
    with torch.no_grad():
        for height, width in [(17, 30), (40, 33), (16, 16)]:
            assert model(torch.randn(1, 3, height, width)).shape == (1, NUM_CLASSES, height, width)


@pytest.mark.parametrize("name, shape", list(_cases()))
def test_safetensors_round_trip(name, shape, tmp_path):
    model = _settled(_build(name, shape, seed=0), shape)
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    fresh = _build(name, shape, seed=123)
    fresh.load_state_dict(load_file(str(path)))
    fresh.eval()
    x = _batch(shape)
    with torch.no_grad():
        assert torch.equal(model(x), fresh(x))


@pytest.mark.parametrize("name", _segmentation_models())
def test_same_seed_same_initial_weights(name):
    shape = SHAPES[0]
    first, second = _build(name, shape, seed=7).state_dict(), _build(name, shape, seed=7).state_dict()
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    other = _build(name, shape, seed=8).state_dict()
    assert any(not torch.equal(first[k], other[k]) for k in first)


@pytest.mark.parametrize("name", _segmentation_models())
def test_eval_mode_is_deterministic_and_per_sample(name):
    shape = SHAPES[0]
    model = _settled(_build(name, shape), shape)
    x = _batch(shape, batch=3)
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
        torch.testing.assert_close(model(x[1:2]), model(x)[1:2], rtol=1e-5, atol=1e-5)  # no mixing across the batch


def test_unet_is_shift_equivariant_away_from_the_borders():
    """Shifting the input by 2^depth px shifts the logits the same way where no border is in view.

    Exact (up to float rounding) for an output pixel whose receptive field lies
    inside the image both before and after the shift: convolutions and 2x
    up/downsampling commute with shifts that are multiples of the total stride
    2^depth (which keep the pooling grid aligned); only borders (zero padding
    of the convolutions, the zeros shifted in, the pixels shifted out) break it.
    Radius of the receptive field of a depth-D U-Net of 3x3 convolutions, at
    most: encoder 3 (2^D - 1), bottleneck 2^(D+1), decoder 4 (2^D - 1) ->
    9 * 2^D - 7 = 29 px for D = 2.
    """
    depth, size = 2, 128
    margin = 9 * 2**depth
    model = _settled(_build({"name": "unet", "depth": depth, "base_channels": 4}, (3, size, size)), (3, size, size))
    x = _batch((3, size, size), batch=1)

    def shifted_logits_gap(shift):
        moved = torch.zeros_like(x)
        moved[..., shift:, shift:] = x[..., :-shift, :-shift]  # down and right, zeros shifted in
        with torch.no_grad():
            before, after = model(x), model(moved)
        inside, shifted = slice(margin, size - margin - shift), slice(margin + shift, size - margin)
        border_gap = (after[..., :shift + 2, :] - before[..., :shift + 2, :]).abs().max().item()
        return (after[..., shifted, shifted] - before[..., inside, inside]).abs().max().item(), border_gap

    interior_gap, border_gap = shifted_logits_gap(2**depth)
    assert interior_gap <= 1e-5 and border_gap > 1e-3  # the borders are not equivariant
    assert shifted_logits_gap(2**depth - 1)[0] > 1e-3  # nor is a shift that moves the pooling grid (aliasing)


# -- unet options ------------------------------------------------------------------------
def _unet_parameters(in_channels, classes, depth, base, batch_norm=True, upsampling="transposed", max_channels=None):
    """By hand: block(a, b) = 9ab + 9b^2 + 2 * (2b with BN: gamma, beta | b without: conv biases);
    up(a, b) = 4ab + b (transposed 2x2) or ab + b (bilinear then 1x1);
    total = block(C, w0) + sum_{i=1..D} block(w_{i-1}, w_i) + sum_{i<D} [up(w_{i+1}, w_i) + block(2 w_i, w_i)]
            + w0 K + K, with w_i = min(base 2^i, max_channels)."""
    widths = [min(base * 2**i, max_channels or base * 2**i) for i in range(depth + 1)]

    def block(a, b):
        return 9 * a * b + 9 * b * b + 2 * (2 * b if batch_norm else b)

    def up(a, b):
        return (4 if upsampling == "transposed" else 1) * a * b + b

    total = block(in_channels, widths[0]) + sum(block(widths[i - 1], widths[i]) for i in range(1, depth + 1))
    total += sum(up(widths[i + 1], widths[i]) + block(2 * widths[i], widths[i]) for i in range(depth))
    return total + widths[0] * classes + classes


def test_unet_parameter_count_by_hand():
    tiny = {"name": "unet", "depth": 1, "base_channels": 2, "batch_norm": False}
    # 20 + 38 (encoder) + 76 + 148 (bottleneck) + 34 (transposed 4->2) + 74 + 38 (decoder) + 6 (1x1 head)
    assert _count(build_model(tiny, (1, 8, 8), 2)) == 434 == _unet_parameters(1, 2, 1, 2, batch_norm=False)


@pytest.mark.parametrize("options", [
    {"depth": 2, "base_channels": 4},
    {"depth": 3, "base_channels": 4},
    {"depth": 2, "base_channels": 8},
    {"depth": 2, "base_channels": 4, "upsampling": "bilinear", "batch_norm": False},
    {"depth": 3, "base_channels": 4, "max_channels": 8},
])
def test_unet_parameter_count_follows_depth_and_width(options):
    model = build_model({"name": "unet", **options}, (3, 16, 16), 5)
    expected = _unet_parameters(3, 5, options["depth"], options["base_channels"], options.get("batch_norm", True),
                                options.get("upsampling", "transposed"), options.get("max_channels"))
    assert _count(model) == expected


def test_unet_defaults():
    assert _count(build_model("unet", (3, 64, 64), 4)) == _unet_parameters(3, 4, 4, 32) == 7_763_140
    assert _count(build_model("unet-small", (3, 64, 64), 4)) == _unet_parameters(3, 4, 3, 16) == 482_788
    small = build_model("unet-small", (3, 64, 64), 4)
    assert [m.out_channels for m in small.modules() if isinstance(m, nn.ConvTranspose2d)] == [16, 32, 64]


@pytest.mark.parametrize("upsampling", ["transposed", "bilinear"])
def test_unet_upsampling_modes(upsampling):
    model = build_model({"name": "unet", "depth": 2, "base_channels": 4, "upsampling": upsampling}, (3, 21, 19), 2)
    transposed = [m for m in model.modules() if isinstance(m, nn.ConvTranspose2d)]
    upsamplers = [m for m in model.modules() if isinstance(m, nn.Upsample)]
    assert (len(transposed), len(upsamplers)) == ((2, 0) if upsampling == "transposed" else (0, 2))
    x = torch.randn(2, 3, 21, 19, requires_grad=True)
    model(x).sum().backward()
    assert model(x).shape == (2, 2, 21, 19) and x.grad is not None


def test_unet_layer_options():
    plain = build_model({"name": "unet", "depth": 2, "base_channels": 4, "batch_norm": False, "dropout": 0.3,
                         "activation": "gelu"}, (3, 16, 16), 2)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in plain.modules())
    assert all(m.bias is not None for m in plain.modules() if isinstance(m, nn.Conv2d))
    assert [m.p for m in plain.modules() if isinstance(m, nn.Dropout2d)] == [0.3]
    assert sum(isinstance(m, nn.GELU) for m in plain.modules()) == 10  # 2 per block: 2 encoder, bottleneck, 2 decoder
    normed = build_model({"name": "unet", "depth": 2, "base_channels": 4}, (3, 16, 16), 2)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in normed.modules()) == 10
    assert not any(isinstance(m, nn.Dropout2d) for m in normed.modules())
    capped = build_model({"name": "unet", "depth": 3, "base_channels": 4, "max_channels": 8}, (3, 16, 16), 2)
    assert max(m.out_channels for m in capped.modules() if isinstance(m, nn.Conv2d)) == 8


def test_unet_too_small_input_names_the_minimum():
    with pytest.raises(DataError, match=r"at least 16x16 px; received input_shape \(3, 15, 40\)"):
        build_model("unet", (3, 15, 40), 2)
    with pytest.raises(DataError, match="at least 8x8"):
        build_model("unet-small", (1, 7, 7), 2)
    smallest = build_model({"name": "unet", "depth": 2}, (1, 4, 4), 2).eval()  # a 1x1 bottleneck
    assert smallest(torch.randn(1, 1, 4, 4)).shape == (1, 2, 4, 4)
    model = build_model("unet", (3, 32, 32), 2)
    with pytest.raises(DataError, match=r"at least 16x16 px; received 12x40"):
        model(torch.randn(1, 3, 12, 40))  # checked at forward time too: the model takes any size


def test_unknown_and_invalid_options_are_clear():
    options = "depth, base_channels, max_channels, upsampling, batch_norm, dropout, activation"
    with pytest.raises(ConfigError, match=rf"Did you mean 'base_channels'\? Options of 'unet': {options}\."):
        build_model({"name": "unet", "base_channel": 8}, (3, 32, 32), 2)
    with pytest.raises(ConfigError, match=r"model\.depth.*Options of 'unet-small': max_channels"):
        build_model({"name": "unet-small", "depth": 2}, (3, 32, 32), 2)  # the variant fixes its depth
    with pytest.raises(ConfigError, match=r"model\.upsampling.*'transposed', 'bilinear'"):
        build_model({"name": "unet", "upsampling": "nearest"}, (3, 32, 32), 2)
    with pytest.raises(ConfigError, match=r"model\.depth"):
        build_model({"name": "unet", "depth": 0}, (3, 32, 32), 2)
    with pytest.raises(ConfigError, match=r"model\.dropout"):
        build_model({"name": "fcn-resnet", "dropout": 1.0}, (3, 32, 32), 2)
    with pytest.raises(ConfigError, match=r"model\.depth.*8, 14, 20"):
        build_model({"name": "fcn-resnet", "depth": 18}, (3, 32, 32), 2)
    with pytest.raises(ConfigError, match=r"Options of 'fcn-resnet': depth, width, stem, dropout, skip\."):
        build_model({"name": "fcn-resnet", "blocks": 2}, (3, 32, 32), 2)
    with pytest.raises(UnknownComponentError, match="relu"):
        build_model({"name": "unet", "activation": "rellu"}, (3, 32, 32), 2)
    with pytest.raises(DataError, match="unet expects image inputs"):
        build_model("unet", (13,), 2)


# -- fcn-resnet ------------------------------------------------------------------------------
def test_fcn_backbone_is_the_resnet_one():
    fcn = build_model({"name": "fcn-resnet", "depth": 8}, (3, 32, 32), 4)
    classifier = build_model("resnet-8", (3, 32, 32), 10)
    backbone = {k for k in classifier.state_dict() if not k.startswith("head.")}
    assert backbone == {k for k in fcn.state_dict() if k.startswith(("stem.", "stages."))}
    missing, unexpected = fcn.load_state_dict(classifier.state_dict(), strict=False)  # a classifier seeds it
    assert all(k.startswith(("classifier.", "skip_classifier.")) for k in missing) and unexpected == ["head.weight",
                                                                                                       "head.bias"]
    assert _count(build_model("fcn-resnet", (3, 32, 32), 4)) == 309_208


def test_fcn_skip_is_optional_and_starts_at_zero():
    with_skip = build_model("fcn-resnet", (3, 33, 31), 4)
    assert torch.all(with_skip.skip_classifier.weight == 0)  # starts as the coarse (FCN-32s style) model
    without = build_model({"name": "fcn-resnet", "skip": False, "depth": 8}, (3, 33, 31), 4)
    assert without.skip_classifier is None
    assert without(torch.randn(2, 3, 33, 31)).shape == (2, 4, 33, 31)
    large = build_model({"name": "fcn-resnet", "depth": 8}, (3, 96, 80), 4)  # imagenet stem: 4x smaller maps
    assert large.stem[0].stride == (2, 2) and large(torch.randn(1, 3, 96, 80)).shape == (1, 4, 96, 80)


# -- learning ----------------------------------------------------------------------------------
@pytest.mark.learning
def test_unet_small_fits_the_shapes_masks():
    data = make_shapes(32, size=32, seed=0)
    images, masks = data.images, data.semantic  # (32, 3, 32, 32), (32, 32, 32) with 0 = background
    background = (masks == 0).float().mean().item()  # the accuracy of predicting background everywhere: about 0.81
    torch.manual_seed(0)
    model = build_model("unet-small", (3, 32, 32), len(data.class_names) + 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    order = torch.Generator().manual_seed(0)
    for step in range(100):  # 50 epochs of 2 batches of 16: about 6 s on 2 idle cores
        if step % 2 == 0:
            batches = torch.randperm(len(images), generator=order).chunk(2)
        batch = batches[step % 2]
        loss = F.cross_entropy(model(images[batch]), masks[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        accuracy = (model.eval()(images).argmax(dim=1) == masks).float().mean().item()
    assert accuracy > 0.95, accuracy
    assert 1 - accuracy < (1 - background) / 4, (accuracy, background)  # under a quarter of the baseline's errors
