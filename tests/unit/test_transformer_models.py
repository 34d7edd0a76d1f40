"""Attention layers, Transformer models and the GRU encoder-decoder: references, masks, causality, round trips."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

import shendu.models.seq2seq_rnn  # registers gru-attention
import shendu.models.transformer  # noqa: F401  (registers the Transformer models)
from shendu.errors import ConfigError, DataError
from shendu.models.registry import MODELS
from shendu.nn.attention import (
    MultiHeadAttention,
    SinusoidalPositions,
    TransformerBlock,
    attention_weights,
    causal_mask,
    masked_softmax,
)

SOURCE_VOCAB, TARGET_VOCAB, LENGTH = 11, 13, 8
TINY = {
    "transformer-encoder": {"embedding_size": 16, "num_heads": 2, "num_layers": 2, "ff_size": 24},
    "gpt": {"embedding_size": 16, "num_heads": 2, "num_layers": 2},
    "transformer-seq2seq": {"embedding_size": 16, "num_heads": 2, "num_encoder_layers": 2, "num_decoder_layers": 2,
                            "ff_size": 24},
    "gru-attention": {"embedding_size": 8, "hidden_size": 8},
}
OUTPUTS = {"transformer-encoder": 3, "gpt": SOURCE_VOCAB, "transformer-seq2seq": TARGET_VOCAB,
           "gru-attention": TARGET_VOCAB}
VARIANTS = [
    ("transformer-encoder", {}),
    ("transformer-encoder", {"pooling": "mean", "positions": "sinusoidal"}),
    ("gpt", {}),
    ("gpt", {"tie_weights": False, "bias": False, "positions": "sinusoidal"}),
    ("transformer-seq2seq", {}),
    ("transformer-seq2seq", {"tie_output": False, "positions": "learned"}),
    ("gru-attention", {}),
    ("gru-attention", {"attention": "luong"}),
    ("gru-attention", {"attention": "luong", "input_feeding": True, "num_layers": 2}),
    ("gru-attention", {"input_feeding": True}),
]
SEQ2SEQ = [v for v in VARIANTS if v[0] in ("transformer-seq2seq", "gru-attention") and v[1] != {"input_feeding": True}]
# One of each model for the round trip, plus an untied output layer (an extra tensor in the state dict).
ROUND_TRIP = [VARIANTS[i] for i in (0, 2, 3, 4, 6)]


def build(name, seed=0, input_shape=(LENGTH,), vocab_size=SOURCE_VOCAB, **options):
    torch.manual_seed(seed)
    options = {**TINY[name], **options}
    return MODELS.entry(name).constructor(
        input_shape=input_shape, num_outputs=OUTPUTS[name], vocab_size=vocab_size, padding_id=0, **options
    )


def token_ids(batch, length, vocab, seed=1, lengths=None):
    """Random ids in [1, vocab), right-padded with 0 after the given lengths."""
    ids = torch.randint(1, vocab, (batch, length), generator=torch.Generator().manual_seed(seed))
    if lengths is not None:
        ids[torch.arange(length)[None, :] >= torch.tensor(lengths)[:, None]] = 0
    return ids


def run(model, name, source, target=None):
    if name in ("transformer-seq2seq", "gru-attention"):
        target = token_ids(source.shape[0], 5, TARGET_VOCAB, seed=2) if target is None else target
        return model(source, target)
    return model(source)


def variant_id(variant):
    name, options = variant
    return name + "".join(f"-{k}={v}" for k, v in options.items())


# -- nn.attention ----------------------------------------------------------------------------
def copy_into_torch(ours: MultiHeadAttention, reference: nn.MultiheadAttention) -> None:
    with torch.no_grad():
        reference.in_proj_weight.copy_(torch.cat([ours.query_projection.weight, ours.key_projection.weight,
                                                  ours.value_projection.weight]))
        reference.in_proj_bias.copy_(torch.cat([ours.query_projection.bias, ours.key_projection.bias,
                                                ours.value_projection.bias]))
        reference.out_proj.weight.copy_(ours.output_projection.weight)
        reference.out_proj.bias.copy_(ours.output_projection.bias)


@pytest.mark.parametrize("explicit", [False, True])
def test_multi_head_attention_matches_torch(explicit):
    torch.manual_seed(0)
    ours = MultiHeadAttention(12, 3, explicit=explicit).eval()
    reference = nn.MultiheadAttention(12, 3, batch_first=True).eval()
    copy_into_torch(ours, reference)
    query, memory = torch.randn(2, 5, 12), torch.randn(2, 7, 12)
    real = torch.tensor([[True] * 7, [True] * 4 + [False] * 3])
    expected, _ = reference(query, memory, memory, key_padding_mask=~real)  # torch: True = ignore
    assert torch.allclose(ours(query, memory, memory, key_padding_mask=real), expected, atol=1e-5)
    expected, _ = reference(query, query, query, attn_mask=~causal_mask(5))
    assert torch.allclose(ours(query, causal=True), expected, atol=1e-5)


def test_explicit_and_fused_paths_agree_and_weights_are_masked():
    torch.manual_seed(0)
    attention = MultiHeadAttention(8, 2).eval()
    x = torch.randn(3, 6, 8)
    real = torch.tensor([[True] * 6, [True] * 2 + [False] * 4, [False] * 6])  # last row: no visible key at all
    for mask, causal in [(None, False), (None, True), (real, False), (real, True)]:
        fused = attention(x, key_padding_mask=mask, causal=causal)
        explicit, weights = attention(x, key_padding_mask=mask, causal=causal, return_weights=True)
        assert torch.isfinite(fused).all() and torch.allclose(fused, explicit, atol=1e-5)
        assert weights.shape == (3, 2, 6, 6)
        if causal:
            assert (weights.masked_select(~causal_mask(6)) == 0).all()
        if mask is not None:
            assert (weights[1, :, :, 2:] == 0).all() and torch.allclose(weights[1].sum(-1), torch.ones(2, 6))
            # A query that sees nothing reads nothing: its output is just the output bias.
            assert torch.allclose(fused[2], attention.output_projection.bias.expand(6, 8), atol=1e-6)


def test_fully_masked_rows_give_finite_values_and_gradients():
    scores = torch.randn(2, 4, requires_grad=True)
    visible = torch.tensor([[True, False, True, False], [False] * 4])
    weights = masked_softmax(scores, visible)
    assert torch.equal(weights[1], torch.zeros(4)) and torch.allclose(weights[0].sum(), torch.tensor(1.0))
    assert weights[0, 1] == 0 and weights[0, 3] == 0
    (weights * torch.arange(4.0)).sum().backward()
    assert torch.isfinite(scores.grad).all()
    attention = MultiHeadAttention(4, 2)
    x = torch.randn(1, 3, 4, requires_grad=True)
    attention(x, key_padding_mask=torch.zeros(1, 3, dtype=torch.bool)).sum().backward()
    assert torch.isfinite(x.grad).all()


def test_attention_weights_against_hand_computation():
    query, key = torch.tensor([[[[1.0, 0.0]]]]), torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])  # (1, 1, T, 2)
    weights = attention_weights(query, key)
    high, low = math.exp(1 / math.sqrt(2)), 1.0
    assert torch.allclose(weights, torch.tensor([[[[high / (high + low), low / (high + low)]]]]))


def test_causal_mask_and_padding_mask_checks():
    assert torch.equal(causal_mask(3), torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=torch.bool))
    with pytest.raises(DataError, match=r"key_padding_mask must have shape .*\(2, 3\)"):
        MultiHeadAttention(4, 2)(torch.randn(2, 3, 4), key_padding_mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="divisible by num_heads.*num_heads=3"):
        MultiHeadAttention(6, 4)


def test_sinusoidal_positions_closed_form():
    table = SinusoidalPositions(10, 8).table  # PE[pos, 2i] = sin(pos / 10000^(2i/8)), PE[pos, 2i+1] = cos(...)
    assert table[1, 0] == pytest.approx(math.sin(1.0)) and table[1, 1] == pytest.approx(math.cos(1.0))
    assert table[2, 2] == pytest.approx(math.sin(2 / 10.0))  # 10000^(2/8) = 10
    assert table[3, 5] == pytest.approx(math.cos(3 / 100.0))  # 10000^(4/8) = 100
    assert table[7, 7] == pytest.approx(math.cos(7 / 1000.0))  # 10000^(6/8) = 1000
    assert torch.equal(table[0, 0::2], torch.zeros(4)) and torch.equal(table[0, 1::2], torch.ones(4))
    assert SinusoidalPositions(4, 5)(3).shape == (3, 5)  # odd widths work
    with pytest.raises(DataError, match="12 positions.*holds 10"):
        SinusoidalPositions(10, 8)(12)


@pytest.mark.parametrize("norm_first", [True, False])
def test_transformer_block_matches_torch_encoder_layer(norm_first):
    torch.manual_seed(0)
    ours = TransformerBlock(8, 2, 16, dropout=0.0, norm_first=norm_first).eval()
    reference = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation="gelu", batch_first=True,
                                           norm_first=norm_first).eval()
    copy_into_torch(ours.self_attention, reference.self_attn)
    pairs = [(reference.linear1, ours.feed_forward.expansion), (reference.linear2, ours.feed_forward.projection),
             (reference.norm1, ours.self_attention_norm), (reference.norm2, ours.feed_forward_norm)]
    with torch.no_grad():
        for theirs, mine in pairs:
            theirs.weight.copy_(mine.weight)
            theirs.bias.copy_(mine.bias)
    x = torch.randn(2, 5, 8, requires_grad=True)  # grad on: torch's inference fast path would zero padded rows
    real = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    expected = reference(x, src_key_padding_mask=~real)
    assert torch.allclose(ours(x, padding_mask=real)[real], expected[real], atol=1e-5)


# -- every model: forward, backward, round trip ---------------------------------------------------
@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_forward_backward_gives_finite_gradients(variant):
    name, options = variant
    model = build(name, **options).train()
    source = token_ids(3, LENGTH, SOURCE_VOCAB, lengths=[8, 5, 2])
    outputs = run(model, name, source)
    expected = {"transformer-encoder": (3, 3), "gpt": (3, LENGTH, SOURCE_VOCAB)}.get(name, (3, 5, TARGET_VOCAB))
    assert outputs.shape == expected and outputs.dtype == torch.float32
    (outputs * torch.randn(outputs.shape, generator=torch.Generator().manual_seed(3))).sum().backward()
    for parameter_name, parameter in model.named_parameters():
        assert parameter.grad is not None, f"{parameter_name} got no gradient"
        assert torch.isfinite(parameter.grad).all(), f"{parameter_name} has a non-finite gradient"


def test_transformer_encoder_on_float_series():
    model = build("transformer-encoder", input_shape=(6, 4), vocab_size=None).eval()
    assert model(torch.randn(2, 6, 4)).shape == (2, 3)


@pytest.mark.parametrize("variant", ROUND_TRIP, ids=variant_id)
def test_safetensors_round_trip(variant, tmp_path):
    name, options = variant
    model = build(name, seed=0, **options).eval()
    save_file(model.state_dict(), str(tmp_path / "model.safetensors"))  # no tensor stored twice, even when tied
    fresh = build(name, seed=123, **options).eval()
    fresh.load_state_dict(load_file(str(tmp_path / "model.safetensors")))
    source = token_ids(2, LENGTH, SOURCE_VOCAB, lengths=[8, 3])
    with torch.no_grad():
        assert torch.equal(run(model, name, source), run(fresh, name, source))


# -- masks and causality --------------------------------------------------------------------------
@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_transformer_encoder_ignores_padding(pooling):
    model = build("transformer-encoder", input_shape=(12,), pooling=pooling).eval()
    ids = token_ids(3, 7, SOURCE_VOCAB, lengths=[7, 4, 1])
    with torch.no_grad():
        short, padded = model(ids), model(torch.nn.functional.pad(ids, (0, 5)))
        assert torch.allclose(short, padded, atol=1e-5)
        longer = ids.clone()
        longer[1, 4] = 5  # a real token where there was padding does change the output
        assert not torch.allclose(model(longer)[1], short[1], atol=1e-4)


def test_gpt_is_causal():
    model = build("gpt").eval()
    ids = token_ids(2, LENGTH, SOURCE_VOCAB)
    with torch.no_grad():
        logits = model(ids)
        for t in (0, 3, LENGTH - 1):
            changed = ids.clone()
            changed[:, t] = changed[:, t] % (SOURCE_VOCAB - 1) + 1  # a different non-padding id
            new = model(changed)
            assert torch.allclose(new[:, :t], logits[:, :t], atol=1e-6)
            assert not torch.allclose(new[:, t], logits[:, t], atol=1e-4)


@pytest.mark.parametrize("variant", SEQ2SEQ, ids=variant_id)
def test_seq2seq_decoder_is_causal_and_forward_equals_decode_of_encode(variant):
    name, options = variant
    model = build(name, **options).eval()
    source = token_ids(2, LENGTH, SOURCE_VOCAB, lengths=[8, 5])
    target = token_ids(2, 6, TARGET_VOCAB, seed=4)
    with torch.no_grad():
        logits = model(source, target)
        assert torch.equal(logits, model.decode(model.encode(source), target))
        for t in (0, 2, 5):
            changed = target.clone()
            changed[:, t] = changed[:, t] % (TARGET_VOCAB - 1) + 1
            new = model(source, changed)
            assert torch.allclose(new[:, :t], logits[:, :t], atol=1e-6)
            assert not torch.allclose(new[:, t:], logits[:, t:], atol=1e-4)


@pytest.mark.parametrize("variant", SEQ2SEQ, ids=variant_id)
def test_seq2seq_ignores_source_padding_and_state_is_batch_first(variant):
    name, options = variant
    model = build(name, input_shape=(12,), **options).eval()
    source = token_ids(2, LENGTH, SOURCE_VOCAB, lengths=[8, 3])
    target = token_ids(2, 5, TARGET_VOCAB, seed=4)
    with torch.no_grad():
        logits = model(source, target)
        assert torch.allclose(model(torch.nn.functional.pad(source, (0, 4)), target), logits, atol=1e-5)
        source_embedding = model.source_embedding if name == "transformer-seq2seq" else model.encoder.embedding
        source_embedding.weight[0] = 5.0  # what a padded position would read, if anything read it
        assert torch.allclose(model(source, target), logits, atol=1e-5)
        state = model.encode(source)
        order = torch.tensor([1, 0, 0])  # beam search reorders and repeats rows of every state tensor
        reordered = {key: value.index_select(0, order) for key, value in state.items()}
        assert torch.allclose(model.decode(reordered, target[order]), logits[order], atol=1e-5)


def test_gru_attention_exposes_alignment_weights():
    model = build("gru-attention").eval()
    source = token_ids(2, LENGTH, SOURCE_VOCAB, lengths=[8, 3])
    with torch.no_grad():
        model(source, token_ids(2, 5, TARGET_VOCAB))
    weights = model.last_attention
    assert weights.shape == (2, 5, LENGTH)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 5)) and (weights[1, :, 3:] == 0).all()


# -- sizes, tying and errors ---------------------------------------------------------------------
def test_gpt_rejects_sequences_longer_than_block_size():
    model = build("gpt")
    assert model.block_size == LENGTH
    with pytest.raises(DataError, match=r"received a sequence of 9 tokens, but block_size is 8.*Crop"):
        model(token_ids(1, LENGTH + 1, SOURCE_VOCAB))


def test_tied_weights_share_storage():
    tied, untied = build("gpt"), build("gpt", tie_weights=False)
    assert tied.output_weight() is tied.token_embedding.weight
    assert "output.weight" not in tied.state_dict() and "output.weight" in untied.state_dict()
    sizes = [sum(p.numel() for p in model.parameters()) for model in (untied, tied)]
    assert sizes[0] - sizes[1] == SOURCE_VOCAB * 16
    captured = {}
    tied.eval().norm.register_forward_hook(lambda module, inputs, output: captured.update(hidden=output))
    with torch.no_grad():  # logits are the final hidden states times the embedding matrix, transposed
        logits = tied(token_ids(1, 4, SOURCE_VOCAB))
    assert torch.allclose(logits, captured["hidden"] @ tied.token_embedding.weight.T, atol=1e-6)
    shared = build("transformer-seq2seq", vocab_size=TARGET_VOCAB, shared_embeddings=True)
    assert shared.target_table() is shared.source_embedding
    assert shared.output_weight() is shared.source_embedding.weight
    assert not any(key.startswith(("target_embedding", "output")) for key in shared.state_dict())
    default = build("transformer-seq2seq")
    assert default.output_weight() is default.target_embedding.weight


def test_option_and_input_errors():
    with pytest.raises(ConfigError, match=r"model\.num_heads.*divisor of embedding_size=16"):
        build("gpt", num_heads=3)
    with pytest.raises(ConfigError, match=r"model\.shared_embeddings"):
        build("transformer-seq2seq", shared_embeddings=True)  # 11 source ids, 13 target ids
    with pytest.raises(ConfigError, match=r"model\.pooling"):
        build("transformer-encoder", pooling="max")
    with pytest.raises(ConfigError, match=r"model\.attention"):
        build("gru-attention", attention="dot")
    with pytest.raises(ConfigError, match=r"model\.max_positions"):
        build("transformer-seq2seq", input_shape=(300,))
    with pytest.raises(DataError, match="num_outputs must equal vocab_size"):
        MODELS.entry("gpt").constructor(input_shape=(8,), num_outputs=5, vocab_size=SOURCE_VOCAB)
    with pytest.raises(DataError, match=r"expects token ids.*received input_shape \(13,\) without vocab_size"):
        build("transformer-encoder", input_shape=(13,), vocab_size=None)
    with pytest.raises(DataError, match="padding_id"):
        MODELS.entry("gru-attention").constructor(input_shape=(8,), num_outputs=5, vocab_size=4, padding_id=4)
    with pytest.raises(DataError, match="must be token ids"):
        build("gpt")(torch.randn(2, 4))
