"""Recurrent, convolutional-text and TCN models: contracts, padding, causality and reference outputs."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch.nn import functional

# Imported for their registrations (shendu.models may not import them yet).
import shendu.models.recurrent
import shendu.models.tcn
import shendu.models.textcnn  # noqa: F401
from shendu.errors import ConfigError, DataError
from shendu.models.registry import MODELS
from shendu.models.tcn import receptive_field

VOCAB, NUM_OUTPUTS, STEPS, FEATURES = 20, 3, 7, 4
SMALL = {"rnn": {"embedding_size": 6, "hidden_size": 5}, "lstm": {"embedding_size": 6, "hidden_size": 5},
         "gru": {"embedding_size": 6, "hidden_size": 5}, "textcnn": {"embedding_size": 6, "num_filters": 4},
         "tcn": {"embedding_size": 6, "channels": [5, 6]},
         "lstm-lm": {"embedding_size": 6, "hidden_size": 6, "num_layers": 2}}
CLASSIFIER_CASES = [
    ("rnn", {}), ("lstm", {}), ("gru", {}),
    ("lstm", {"bidirectional": True}), ("gru", {"bidirectional": True, "pooling": "mean", "num_layers": 2}),
    ("rnn", {"pooling": "max", "bidirectional": True}), ("lstm", {"pooling": "mean"}),
    ("gru", {"pooling": "max", "num_layers": 2, "dropout": 0.3}),
    ("textcnn", {}), ("textcnn", {"kernel_sizes": [2, 6]}), ("tcn", {}), ("tcn", {"weight_norm": True}),
]
SEQUENCE_CASES = [c for c in CLASSIFIER_CASES if c[0] != "textcnn"]


def _case_id(case):
    name, options = case
    return "-".join([name, *(f"{k}={v}" for k, v in options.items())])


def _build(name, kind="tokens", seed=0, **options):
    torch.manual_seed(seed)
    supplied = {"vocab_size": VOCAB, "padding_id": 0} if kind == "tokens" else {}
    shape = (STEPS,) if kind == "tokens" else (STEPS, FEATURES)
    small = {k: v for k, v in SMALL[name].items() if kind == "tokens" or k != "embedding_size"}
    options = {**small, **options}
    num_outputs = VOCAB if name == "lstm-lm" else NUM_OUTPUTS
    return MODELS.entry(name).constructor(input_shape=shape, num_outputs=num_outputs, **supplied, **options)


def _ids(seed=1):
    """Right-padded ids: a full row, middling rows, a one-token row and an all-padding row."""
    ids = torch.randint(1, VOCAB, (5, STEPS), generator=torch.Generator().manual_seed(seed))
    for row, length in enumerate([STEPS, 4, 2, 1, 0]):
        ids[row, length:] = 0
    return ids


def _series(seed=1):
    return torch.randn(3, STEPS, FEATURES, generator=torch.Generator().manual_seed(seed))


def _inputs(kind, seed=1):
    return _ids(seed) if kind == "tokens" else _series(seed)


def _all_cases():
    cases = [(name, options, "tokens") for name, options in CLASSIFIER_CASES]
    cases += [(name, options, "sequence") for name, options in SEQUENCE_CASES]
    cases += [("lstm-lm", {}, "tokens"), ("lstm-lm", {"tie_weights": False, "hidden_size": 5}, "tokens")]
    return [pytest.param(*c, id=f"{_case_id(c[:2])}-{c[2]}") for c in cases]


# -- contracts -------------------------------------------------------------------------
@pytest.mark.parametrize("name, options, kind", _all_cases())
def test_forward_backward_gives_every_parameter_a_finite_gradient(name, options, kind):
    model = _build(name, kind, **options).train()
    x = _inputs(kind)
    outputs = model(x)
    expected = (x.shape[0], STEPS, VOCAB) if name == "lstm-lm" else (x.shape[0], NUM_OUTPUTS)
    assert outputs.shape == expected and outputs.dtype == torch.float32
    weights = torch.randn(outputs.shape, generator=torch.Generator().manual_seed(2))
    (outputs * weights).sum().backward()
    for parameter_name, parameter in model.named_parameters():
        assert parameter.grad is not None, f"{parameter_name} got no gradient"
        assert torch.isfinite(parameter.grad).all(), f"{parameter_name} has a non-finite gradient"


@pytest.mark.parametrize("name, options, kind", _all_cases())
def test_safetensors_round_trip(name, options, kind, tmp_path):
    model = _build(name, kind, seed=0, **options).eval()
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))  # no shared tensors
    fresh = _build(name, kind, seed=123, **options)
    fresh.load_state_dict(load_file(str(path)))
    fresh.eval()
    x = _inputs(kind)
    with torch.no_grad():
        assert not torch.equal(_build(name, kind, seed=123, **options).eval()(x), model(x))
        assert torch.equal(model(x), fresh(x))


@pytest.mark.parametrize("name, inputs, role", [
    ("rnn", ("tokens", "sequence"), "classifier"), ("lstm", ("tokens", "sequence"), "classifier"),
    ("gru", ("tokens", "sequence"), "classifier"), ("textcnn", ("tokens",), "classifier"),
    ("tcn", ("sequence", "tokens"), "classifier"), ("lstm-lm", ("tokens",), "language-model"),
])
def test_entries_are_tagged_and_documented(name, inputs, role):
    entry = MODELS.entry(name)
    assert entry.tags["inputs"] == inputs and entry.tags["role"] == role
    assert entry.summary and entry.formula and entry.reference
    assert "Args:" in entry.doc and "padding_id:" in entry.doc


@pytest.mark.parametrize("name, options", [pytest.param(*c, id=_case_id(c)) for c in CLASSIFIER_CASES])
def test_appending_padding_leaves_classifier_outputs_unchanged(name, options):
    model = _build(name, **options).eval()
    ids = _ids()
    longer = torch.cat([ids, torch.zeros(ids.shape[0], 3, dtype=ids.dtype)], dim=1)
    with torch.no_grad():
        outputs, padded_outputs = model(ids), model(longer)
    assert torch.isfinite(outputs).all()  # the all-padding row too
    torch.testing.assert_close(padded_outputs, outputs, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["rnn", "gru", "tcn"])
def test_padding_changes_nothing_but_real_tokens_do(name):
    model = _build(name).eval()
    ids = _ids()
    changed = ids.clone()
    changed[1, 2] = (changed[1, 2] % (VOCAB - 1)) + 1  # a different real token inside row 1
    with torch.no_grad():
        outputs, changed_outputs = model(ids), model(changed)
    assert not torch.allclose(outputs[1], changed_outputs[1])
    torch.testing.assert_close(changed_outputs[[0, 2, 3, 4]], outputs[[0, 2, 3, 4]])


# -- recurrent classifiers against per-row runs of the same torch RNN -----------------
@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_recurrent_pooling_matches_unpadded_rows(pooling, bidirectional):
    model = _build("gru", pooling=pooling, bidirectional=bidirectional, num_layers=2).eval()
    hidden = model.hidden_size
    ids = _ids()
    with torch.no_grad():
        outputs = model(ids)
        for row, length in enumerate([STEPS, 4, 2, 1, 1]):  # the all-padding row reads one step
            states = model.rnn(model.embedding(ids[row : row + 1, :length]))[0][0]  # (length, D*H)
            if pooling == "last":
                pooled = states[-1, :hidden]
                if bidirectional:
                    pooled = torch.cat([pooled, states[0, hidden:]])
            else:
                pooled = states.mean(0) if pooling == "mean" else states.amax(0)
            torch.testing.assert_close(outputs[row], model.head(pooled), atol=1e-6, rtol=1e-5)


def test_bidirectional_lstm_last_pooling_on_series_reads_the_final_states():
    model = _build("lstm", "sequence", bidirectional=True, num_layers=2).eval()
    x = _series()
    with torch.no_grad():
        _, (final_hidden, _) = model.rnn(x)  # (layers * 2, B, H)
        expected = model.head(torch.cat([final_hidden[-2], final_hidden[-1]], dim=1))
        torch.testing.assert_close(model(x), expected)


def test_recurrent_cells_and_sizes_follow_the_name_and_options():
    for name, cell in [("rnn", torch.nn.RNN), ("lstm", torch.nn.LSTM), ("gru", torch.nn.GRU)]:
        model = _build(name, num_layers=3, bidirectional=True, dropout=0.2)
        assert type(model.rnn) is cell and model.rnn.num_layers == 3 and model.rnn.dropout == 0.2
        assert model.head.in_features == 2 * 5 and model.embedding.padding_idx == 0
    assert _build("rnn", "sequence").rnn.input_size == FEATURES
    defaults = MODELS.entry("lstm").constructor(input_shape=(9,), num_outputs=2, vocab_size=30, padding_id=0)
    assert defaults.embedding.embedding_dim == 128 and defaults.rnn.hidden_size == 128
    assert defaults.pooling == "last" and not defaults.bidirectional


# -- textcnn ---------------------------------------------------------------------------
def test_textcnn_matches_per_row_convolutions_and_ignores_the_padding_embedding():
    model = _build("textcnn").eval()
    with torch.no_grad():
        model.embedding.weight[0] = 100.0  # e.g. after an `init` option refilled it: must still not count
        ids = _ids()
        outputs = model(ids)
        for row, length in enumerate([STEPS, 4, 2, 1, 0]):
            embedded = model.embedding(ids[row, :length]) if length else torch.zeros(1, 6)  # (length, E)
            features = []
            for conv in model.convolutions:
                k = conv.kernel_size[0]
                x = functional.pad(embedded.T.unsqueeze(0), (0, max(0, k - embedded.shape[0])))  # (1, E, >= k)
                features.append(functional.relu(conv(x)).amax(dim=2)[0])
            torch.testing.assert_close(outputs[row], model.head(torch.cat(features)), atol=1e-5, rtol=1e-5)


def test_textcnn_layers_follow_options():
    model = _build("textcnn", kernel_sizes=[2, 3], num_filters=7, dropout=0.25)
    assert [c.kernel_size[0] for c in model.convolutions] == [2, 3]
    assert all(c.out_channels == 7 for c in model.convolutions) and model.head.in_features == 14
    assert model.dropout.p == 0.25
    defaults = MODELS.entry("textcnn").constructor(input_shape=(3,), num_outputs=2, vocab_size=30, padding_id=0)
    assert [c.kernel_size[0] for c in defaults.convolutions] == [3, 4, 5] and defaults.head.in_features == 300
    assert defaults(torch.tensor([[5, 6, 0]])).shape == (1, 2)  # shorter than the widest kernel


# -- tcn -------------------------------------------------------------------------------
def test_causal_convolution_matches_symmetric_padding_then_chomp():
    from shendu.models.tcn import CausalConvolution

    torch.manual_seed(0)
    layer = CausalConvolution(3, 4, kernel_size=3, dilation=4, weight_norm=False)
    x = torch.randn(2, 3, 11)
    chomp = 2 * 4  # Bai et al.'s reference: pad both sides by (k - 1) * d, drop the last (k - 1) * d outputs
    expected = functional.conv1d(x, layer.conv.weight, layer.conv.bias, padding=chomp, dilation=4)[:, :, :-chomp]
    torch.testing.assert_close(layer(x), expected)


@pytest.mark.parametrize("kind", ["sequence", "tokens"])
def test_tcn_features_are_causal(kind):
    model = _build("tcn", kind, dropout=0.0).eval()
    x = _inputs(kind)
    for step in [1, 4, STEPS - 1]:
        changed = x.clone()
        changed[:, step] = 7 if kind == "tokens" else changed[:, step] + 3.0
        with torch.no_grad():
            before, after = model.features(x), model.features(changed)
        assert torch.equal(before[:, :, :step], after[:, :, :step])
        assert not torch.allclose(before[:, :, step], after[:, :, step])


@pytest.mark.parametrize("kernel_size, channels", [(3, [8, 8]), (2, [8, 8, 8])])
def test_tcn_receptive_field_by_perturbation(kernel_size, channels):
    field = 1 + 2 * (kernel_size - 1) * (2 ** len(channels) - 1)
    model = _build("tcn", "sequence", kernel_size=kernel_size, channels=channels, dropout=0.0).eval()
    assert model.receptive_field == field == receptive_field(kernel_size, len(channels))
    steps = field + 4
    x = torch.randn(2, steps, FEATURES, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        reference = model(x)
        inside, outside = x.clone(), x.clone()
        inside[:, steps - field] += 5.0  # the oldest step the last output sees
        outside[:, : steps - field] += 5.0  # everything older
        assert not torch.allclose(model(inside), reference)
        assert torch.equal(model(outside), reference)


def test_tcn_blocks_follow_options():
    model = _build("tcn", "sequence", channels=[5, 5, 6], kernel_size=4, weight_norm=True)
    blocks = list(model.blocks)
    assert [b.layers[0].conv.dilation[0] for b in blocks] == [1, 2, 4]
    assert [b.layers[0].left_padding for b in blocks] == [3, 6, 12]
    assert isinstance(blocks[1].shortcut, torch.nn.Identity) and blocks[2].shortcut.kernel_size == (1,)
    assert blocks[0].shortcut.in_channels == FEATURES
    assert "parametrizations.weight.original0" in dict(blocks[0].layers[0].conv.named_parameters())
    tokens = _build("tcn", embedding_size=9)
    assert tokens.embedding.embedding_dim == 9 and tokens.blocks[0].shortcut.in_channels == 9


# -- lstm-lm ---------------------------------------------------------------------------
def test_lstm_lm_is_causal():
    model = _build("lstm-lm").eval()
    ids = _ids()[:2]
    for step in [0, 3, STEPS - 1]:
        changed = ids.clone()
        changed[:, step] = (changed[:, step] % (VOCAB - 1)) + 1
        with torch.no_grad():
            before, after = model(ids), model(changed)
        assert torch.equal(before[:, :step], after[:, :step])
        assert not torch.allclose(before[:, step], after[:, step])


def test_lstm_lm_carried_state_equals_one_pass():
    model = _build("lstm-lm").eval()
    ids = torch.randint(1, VOCAB, (2, 9), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        whole = model(ids)
        first, state = model(ids[:, :5], return_state=True)
        rest, _ = model(ids[:, 5:], state=state, return_state=True)
    torch.testing.assert_close(torch.cat([first, rest], dim=1), whole)
    assert model.block_size is None and state[0].shape == (2, 2, 6)


def test_lstm_lm_tied_output_is_the_embedding():
    model = _build("lstm-lm").eval()
    assert model.head is None and "head.weight" not in model.state_dict()
    ids = _ids()[:2]
    with torch.no_grad():
        hidden = model.lstm(model.embedding(ids))[0]  # (B, T, H)
        expected = hidden @ model.embedding.weight.T + model.output_bias
        torch.testing.assert_close(model(ids), expected)
    untied = _build("lstm-lm", tie_weights=False, hidden_size=8)
    assert untied.head.weight.shape == (VOCAB, 8) and untied.output_bias is None
    defaults = MODELS.entry("lstm-lm").constructor(input_shape=(16,), num_outputs=50, vocab_size=50, padding_id=0)
    assert defaults.embedding.embedding_dim == defaults.lstm.hidden_size == 256 and defaults.lstm.num_layers == 2
    assert defaults.dropout.p == 0.2 and defaults.lstm.dropout == 0.2


# -- errors ----------------------------------------------------------------------------
def test_lstm_lm_tie_weights_with_mismatched_sizes_says_how_to_fix():
    with pytest.raises(ConfigError, match=r"model\.tie_weights.*hidden_size=8.*embedding_size=8.*tie_weights=false"):
        _build("lstm-lm", embedding_size=6, hidden_size=8)
    with pytest.raises(DataError, match="num_outputs must equal vocab_size=20"):
        MODELS.entry("lstm-lm").constructor(input_shape=(8,), num_outputs=3, vocab_size=VOCAB, padding_id=0)


@pytest.mark.parametrize("name, kind, options, key", [
    ("lstm", "tokens", {"pooling": "attention"}, "pooling"),
    ("gru", "tokens", {"hidden_size": 0}, "hidden_size"),
    ("rnn", "tokens", {"dropout": 1.0}, "dropout"),
    ("lstm", "tokens", {"bidirectional": "yes"}, "bidirectional"),
    ("gru", "sequence", {"embedding_size": 8}, "embedding_size"),
    ("textcnn", "tokens", {"kernel_sizes": []}, "kernel_sizes"),
    ("textcnn", "tokens", {"num_filters": 2.5}, "num_filters"),
    ("tcn", "sequence", {"channels": "wide"}, "channels"),
    ("tcn", "sequence", {"kernel_size": 0}, "kernel_size"),
    ("tcn", "tokens", {"weight_norm": 1}, "weight_norm"),
    ("lstm-lm", "tokens", {"num_layers": -1}, "num_layers"),
])
def test_bad_options_raise_config_errors_naming_the_key(name, kind, options, key):
    with pytest.raises(ConfigError, match=rf"model\.{key}\b"):
        _build(name, kind, **options)


@pytest.mark.parametrize("name, shape, supplied, match", [
    ("textcnn", (12, 6), {}, r"textcnn expects token ids.*received input_shape \(12, 6\) without a vocab_size"),
    ("lstm-lm", (12, 6), {}, r"lstm-lm expects token ids"),
    ("rnn", (13,), {}, r"rnn expects token ids .* or float sequences of shape \(T, F\); received input_shape \(13,\)"),
    ("tcn", (1, 16, 16), {}, r"tcn expects .*received input_shape \(1, 16, 16\)"),
    ("gru", (8, 2), {"vocab_size": VOCAB}, r"received input_shape \(8, 2\) with vocab_size=20"),
    ("lstm", (8,), {"vocab_size": VOCAB, "padding_id": VOCAB}, r"padding_id must be an id in \[0, 20\)"),
    ("textcnn", (8,), {"vocab_size": 1}, r"vocab_size must be an integer >= 2"),
])
def test_wrong_inputs_are_clear_data_errors(name, shape, supplied, match):
    with pytest.raises(DataError, match=match):
        MODELS.entry(name).constructor(input_shape=shape, num_outputs=2, **supplied)
