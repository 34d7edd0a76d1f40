"""shendu.models: contract tests over every registered model, then family-specific checks."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from shendu.errors import ConfigError, DataError, UnknownComponentError
from shendu.models import MODELS, build_model, model_role

NUM_OUTPUTS = 3
# Tiny per-sample shapes for each input kind a model may declare in its `inputs` tag.
SHAPES = {"image": [(1, 28, 28), (3, 32, 32)], "tabular": [(10,)], "sequence": [(12, 6)],
          "tokens": []}  # token models: tests/unit/test_token_models_contract.py
OTHER_KIND_SHAPES = {"image": (1, 16, 16), "tabular": (13,), "sequence": (12, 6)}
# Roles whose outputs are not (B, num_outputs) have a contract of their own.
OWN_CONTRACT = {"segmentation": "tests/unit/test_segmentation_models.py"}


def _cases():
    for entry in MODELS.entries():
        if model_role(entry.name) in OWN_CONTRACT:
            continue
        for kind in entry.tags.get("inputs", ()):
            for shape in SHAPES[kind]:
                yield pytest.param(entry.name, shape, id=f"{entry.name}-{'x'.join(map(str, shape))}")


def _unsupported_cases():
    for entry in MODELS.entries():
        for kind, shape in OTHER_KIND_SHAPES.items():
            if kind not in entry.tags.get("inputs", ()):
                yield pytest.param(entry.name, shape, id=f"{entry.name}-{kind}")


def _build(name, shape, seed=0):
    torch.manual_seed(seed)
    return build_model(name, shape, NUM_OUTPUTS)


def _batch(shape, seed=1):
    return torch.randn(4, *shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", MODELS.names())
def test_model_entry_is_documented(name):
    entry = MODELS.entry(name)
    kinds = entry.tags.get("inputs")
    assert kinds and set(kinds) <= set(SHAPES), f"{name} needs an inputs tag from {sorted(SHAPES)}"
    assert entry.summary and entry.reference and "Args:" in entry.doc


@pytest.mark.parametrize("name, shape", list(_cases()))
def test_forward_backward(name, shape):
    model = _build(name, shape)
    model.train()
    outputs = model(_batch(shape))
    assert outputs.shape == (4, NUM_OUTPUTS) and outputs.dtype == torch.float32
    weights = torch.randn(4, NUM_OUTPUTS, generator=torch.Generator().manual_seed(2))
    (outputs * weights).sum().backward()
    for parameter_name, parameter in model.named_parameters():
        assert parameter.grad is not None, f"{parameter_name} got no gradient"
        assert torch.isfinite(parameter.grad).all(), f"{parameter_name} has a non-finite gradient"


@pytest.mark.parametrize("name, shape", list(_cases()))
def test_safetensors_round_trip(name, shape, tmp_path):
    model = _build(name, shape, seed=0)
    model.train()
    with torch.no_grad():
        model(_batch(shape, seed=3))  # moves batch-norm running statistics off their defaults
    model.eval()
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    fresh = _build(name, shape, seed=123)
    fresh.load_state_dict(load_file(str(path)))
    fresh.eval()
    x = _batch(shape)
    with torch.no_grad():
        assert torch.equal(model(x), fresh(x))


@pytest.mark.parametrize("name, shape", list(_cases()))
def test_same_seed_same_initial_weights(name, shape):
    first, second = _build(name, shape, seed=7).state_dict(), _build(name, shape, seed=7).state_dict()
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    other = _build(name, shape, seed=8).state_dict()
    assert any(not torch.equal(first[k], other[k]) for k in first)


@pytest.mark.parametrize("name, shape", list(_unsupported_cases()))
def test_unsupported_input_kind_is_a_clear_error(name, shape):
    with pytest.raises(ValueError, match=r"expects .* received") as caught:
        build_model(name, shape, NUM_OUTPUTS)
    assert str(shape) in str(caught.value)
    if "tokens" in MODELS.entry(name).tags["inputs"]:
        return  # (T,) token ids look like a feature vector: only build_model's input_kind tells them apart
    with pytest.raises(ValueError):  # the constructor checks too, when called directly
        MODELS.get(name, input_shape=shape, num_outputs=NUM_OUTPUTS)


def test_image_model_on_tabular_data_points_to_mlp():
    expected = r"cnn expects image inputs of shape \(C, H, W\); received \(13,\)\. Use model=mlp"
    with pytest.raises(DataError, match=expected):
        build_model("cnn", (13,), 2)


def test_build_model_checks():
    with pytest.raises(DataError, match="input_shape"):
        build_model("mlp", (2, 3, 4, 5), 2)
    with pytest.raises(DataError, match="num_outputs"):
        build_model("mlp", (4,), 0)
    with pytest.raises(UnknownComponentError, match="'mlp'"):
        build_model("mlpp", (4,), 2)
    with pytest.raises(ConfigError, match=r"model\.hidden_size\b.*Did you mean 'hidden_sizes'"):
        build_model({"name": "mlp", "hidden_size": [8]}, (4,), 2)
    with pytest.raises(ConfigError, match="sets num_outputs itself"):
        build_model({"name": "mlp", "num_outputs": 3}, (4,), 2)
    module = nn.Linear(4, 2)
    assert build_model(module, (4,), 2) is module
    assert build_model("mlp", [4], 2)(torch.randn(2, 4)).shape == (2, 2)  # lists work as shapes


# -- mlp and perceptron ------------------------------------------------------------
def test_perceptron_is_one_linear_layer():
    model = build_model("perceptron", (3, 8, 8), 10)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 1 and linears[0].in_features == 192 and linears[0].out_features == 10


def test_mlp_layers_follow_options():
    spec = {"name": "mlp", "hidden_sizes": [256, 128], "dropout": 0.2, "batch_norm": True}
    spec["activation"] = "tanh"
    model = build_model(spec, (20,), 4)
    widths = [(m.in_features, m.out_features) for m in model.modules() if isinstance(m, nn.Linear)]
    assert widths == [(20, 256), (256, 128), (128, 4)]
    assert sum(isinstance(m, nn.BatchNorm1d) for m in model.modules()) == 2
    assert sum(isinstance(m, nn.Tanh) for m in model.modules()) == 2
    assert all(m.p == 0.2 for m in model.modules() if isinstance(m, nn.Dropout))
    assert len([m for m in model.modules() if isinstance(m, nn.Linear)]) == 3
    defaults = build_model("mlp", (20,), 4)
    assert [m.out_features for m in defaults.modules() if isinstance(m, nn.Linear)] == [128, 64, 4]
    assert not any(isinstance(m, (nn.Dropout, nn.BatchNorm1d)) for m in defaults.modules())


def test_mlp_auto_initializer_follows_activation():
    torch.manual_seed(0)
    relu_model = build_model({"name": "mlp", "hidden_sizes": [1000]}, (2000,), 2)
    first = next(m for m in relu_model.modules() if isinstance(m, nn.Linear))
    assert first.weight.std().item() == pytest.approx(math.sqrt(2 / 2000), rel=0.02)
    assert torch.all(first.bias == 0)
    tanh_model = build_model({"name": "mlp", "hidden_sizes": [1000], "activation": "tanh"}, (2000,), 2)
    first = next(m for m in tanh_model.modules() if isinstance(m, nn.Linear))
    assert first.weight.std().item() == pytest.approx(math.sqrt(2 / 3000), rel=0.02)


def test_mlp_option_errors():
    with pytest.raises(ConfigError, match="model.dropout"):
        build_model({"name": "mlp", "dropout": 1.0}, (4,), 2)
    with pytest.raises(ConfigError, match="model.hidden_sizes"):
        build_model({"name": "mlp", "hidden_sizes": [64, 0]}, (4,), 2)
    with pytest.raises(ConfigError, match="model.batch_norm"):
        build_model({"name": "mlp", "batch_norm": "yes"}, (4,), 2)
    with pytest.raises(UnknownComponentError, match="relu"):
        build_model({"name": "mlp", "activation": "rellu"}, (4,), 2)


# -- cnn and lenet5 ------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 15, 17), (2, 4, 40)])
def test_cnn_sizes_are_computed_for_any_image(shape):
    model = build_model("cnn", shape, 5)
    assert model(torch.randn(2, *shape)).shape == (2, 5)
    dense = [m for m in model.modules() if isinstance(m, nn.Linear)][0]
    assert dense.in_features == 64 * (shape[1] // 4) * (shape[2] // 4)


def test_cnn_layers_and_errors():
    model = build_model({"name": "cnn", "channels": [8, 16, 32], "batch_norm": True}, (1, 28, 28), 10)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [8, 16, 32]
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 3
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == 3
    with pytest.raises(DataError, match="at least 8x8"):
        build_model({"name": "cnn", "channels": [8, 16, 32]}, (1, 7, 28), 10)
    with pytest.raises(ConfigError, match="model.channels"):
        build_model({"name": "cnn", "channels": []}, (1, 28, 28), 10)


def test_lenet5_matches_the_paper_on_28_and_32_pixel_digits():
    for shape in [(1, 28, 28), (1, 32, 32)]:
        model = build_model("lenet5", shape, 10)
        features = model.features(torch.randn(2, *shape))
        assert features.shape == (2, 16, 5, 5)  # the paper's 16 maps of 5x5
    widths = [m.out_features for m in model.modules() if isinstance(m, nn.Linear)]
    assert widths == [120, 84, 10]
    assert sum(isinstance(m, nn.Tanh) for m in model.modules()) == 4
    assert sum(isinstance(m, nn.AvgPool2d) for m in model.modules()) == 2
    max_pooled = build_model({"name": "lenet5", "pooling": "max", "activation": "relu"}, (3, 32, 32), 10)
    assert sum(isinstance(m, nn.MaxPool2d) for m in max_pooled.modules()) == 2


def test_lenet5_errors():
    with pytest.raises(DataError, match="at least 12x12"):
        build_model("lenet5", (1, 8, 8), 10)
    with pytest.raises(DataError, match="at least 16x16"):
        build_model({"name": "lenet5", "padding": 0}, (1, 12, 12), 10)
    with pytest.raises(ConfigError, match="model.pooling"):
        build_model({"name": "lenet5", "pooling": "median"}, (1, 28, 28), 10)


# -- resnet ----------------------------------------------------------------------------
def _weighted_layers(model):
    """Convolutions on the main path plus linear layers: what a ResNet's depth counts."""
    projections = {id(m) for b in model.modules() if hasattr(b, "shortcut") for m in b.shortcut.modules()}
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)) and id(m) not in projections]


@pytest.mark.parametrize("depth", [8, 14, 20])
def test_resnet_depth_counts_weighted_layers(depth):
    model = build_model({"name": "resnet", "depth": depth}, (3, 32, 32), 10)
    assert len(_weighted_layers(model)) == depth


@pytest.mark.parametrize("name, depth", [("resnet-8", 8), ("resnet-20", 20), ("resnet-56", 56)])
def test_resnet_variants_fix_depth(name, depth):
    model = build_model(name, (3, 32, 32), 10)
    assert len(_weighted_layers(model)) == depth
    with pytest.raises(ConfigError, match="model.depth"):
        build_model({"name": name, "depth": 14}, (3, 32, 32), 10)


def test_resnet_20_size_and_structure():
    model = build_model("resnet", (3, 32, 32), 10)
    count = sum(p.numel() for p in model.parameters())
    assert 0.26e6 < count < 0.29e6  # about 0.27M, as in He et al. table 6
    x = torch.randn(2, 3, 32, 32)
    shapes = []
    h = model.stem(x)
    for stage in model.stages:
        h = stage(h)
        shapes.append(tuple(h.shape[1:]))
    assert shapes == [(16, 32, 32), (32, 16, 16), (64, 8, 8)]


def test_resnet_invalid_depth_lists_valid_ones():
    with pytest.raises(ConfigError, match=r"model\.depth.*8, 14, 20.*56") as caught:
        build_model({"name": "resnet", "depth": 18}, (3, 32, 32), 10)
    assert "18" in str(caught.value)


def test_resnet_stem_follows_image_size():
    small = build_model("resnet-8", (3, 64, 64), 4)
    assert small.stem[0].kernel_size == (3, 3) and small.stem[0].stride == (1, 1)
    large = build_model("resnet-8", (3, 96, 96), 4)
    assert large.stem[0].kernel_size == (7, 7) and large.stem[0].stride == (2, 2)
    assert isinstance(large.stem[-1], nn.MaxPool2d)
    assert large(torch.randn(2, 3, 96, 96)).shape == (2, 4)
    forced = build_model({"name": "resnet-8", "stem": "imagenet"}, (1, 28, 28), 4)
    assert forced(torch.randn(2, 1, 28, 28)).shape == (2, 4)
    with pytest.raises(ConfigError, match="model.stem"):
        build_model({"name": "resnet", "stem": "tiny"}, (3, 32, 32), 4)


def test_resnet_zero_init_residual_and_kaiming():
    torch.manual_seed(0)
    model = build_model("resnet-8", (3, 32, 32), 4)
    blocks = [m for m in model.modules() if hasattr(m, "bn2")]
    assert blocks and all(torch.all(b.bn2.weight == 0) for b in blocks)
    assert all(torch.all(b.bn1.weight == 1) for b in blocks)
    kept = build_model({"name": "resnet-8", "zero_init_residual": False}, (3, 32, 32), 4)
    assert all(torch.all(m.bn2.weight == 1) for m in kept.modules() if hasattr(m, "bn2"))
    conv = model.stages[2][0].conv1  # 64 x 32 x 3 x 3, fan_out = 64 * 9
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / 576), rel=0.1)
