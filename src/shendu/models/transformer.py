"""Transformer models: a BERT-style encoder classifier, a GPT-style language model, and an encoder-decoder.

All three are stacks of :class:`shendu.nn.attention.TransformerBlock` (pre-LN
by default) over token embeddings plus position encodings; they differ in
what attends to what. The encoder lets every token see every other
(bidirectional, padding masked) and classifies a summary vector; GPT lets
each token see only the past (causal) and predicts the next token at every
position; the encoder-decoder encodes a source sentence once and decodes the
target causally while reading the source through cross-attention.

Tied output layers compute ``F.linear(hidden, embedding.weight)`` rather
than sharing one ``nn.Parameter`` between two modules: the weights are the
same tensor either way, but the state dict then holds each tensor once,
which safetensors requires.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from shendu.errors import DataError
from shendu.models.registry import (
    MODELS,
    boolean,
    check_model_inputs,
    choice,
    option_error,
    positive_int,
    probability,
)
from shendu.models.token_inputs import check_next_token_outputs, check_token_ids, token_model_inputs
from shendu.nn.attention import LearnedPositions, SinusoidalPositions, TransformerBlock

_POSITIONS = {"learned": LearnedPositions, "sinusoidal": SinusoidalPositions}


def attention_sizes(
    model: str, embedding_size: Any, num_heads: Any, ff_size: Any, dropout: Any
) -> tuple[int, int, int, float]:
    """Validate embedding_size, num_heads (a divisor of it), ff_size (None = 4 x embedding_size) and dropout."""
    embedding_size = positive_int(model, "embedding_size", embedding_size)
    num_heads = positive_int(model, "num_heads", num_heads)
    if embedding_size % num_heads:
        divisor = max(d for d in range(1, num_heads + 1) if embedding_size % d == 0)
        raise option_error(model, "num_heads", num_heads, f"a divisor of embedding_size={embedding_size}",
                           f"Set e.g. model.num_heads={divisor}, or change model.embedding_size.")
    ff_size = 4 * embedding_size if ff_size is None else positive_int(model, "ff_size", ff_size)
    return embedding_size, num_heads, ff_size, probability(model, "dropout", dropout)


def init_normal(module: nn.Module, std: float = 0.02) -> None:
    """BERT/GPT initialisation: every Linear and Embedding weight ~ N(0, std), biases 0, padding rows 0."""
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Embedding)):
            nn.init.normal_(layer.weight, mean=0.0, std=std)
        if isinstance(layer, nn.Linear) and layer.bias is not None:
            nn.init.zeros_(layer.bias)
        if isinstance(layer, nn.Embedding) and layer.padding_idx is not None:
            with torch.no_grad():
                layer.weight[layer.padding_idx].zero_()


def make_blocks(
    count: int, embedding_size: int, num_heads: int, ff_size: int, dropout: float, **kwargs: Any
) -> nn.ModuleList:
    """``count`` Transformer blocks of the same shape."""
    return nn.ModuleList(TransformerBlock(embedding_size, num_heads, ff_size, dropout, **kwargs) for _ in range(count))


# -- the models ----------------------------------------------------------------------------
class TransformerEncoderClassifier(nn.Module):
    """[CLS] + embedded inputs + positions -> Transformer blocks -> LayerNorm -> pool -> Linear.

    Args:
        max_length: longest input T; the position table holds T + 1 ([CLS]).
        num_outputs: output units.
        vocab_size: token vocabulary (token inputs), or None for float series.
        num_features: F of (B, T, F) series (when vocab_size is None).
        padding_id: id of padding tokens, masked in attention and mean pooling.
        pooling: "cls" (the [CLS] position's output) or "mean" (over real tokens).
        positions: "learned" or "sinusoidal".
    """

    def __init__(self, max_length: int, num_outputs: int, *, vocab_size: int | None, num_features: int | None,
                 padding_id: int, embedding_size: int, num_heads: int, num_layers: int, ff_size: int, dropout: float,
                 positions: str, pooling: str):
        super().__init__()
        self.tokens, self.padding_id, self.pooling = vocab_size is not None, padding_id, pooling
        if self.tokens:
            self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=padding_id)
        else:
            self.embedding = nn.Linear(num_features, embedding_size)  # a series step is projected, not looked up
        self.cls_vector = nn.Parameter(torch.zeros(1, 1, embedding_size))
        self.positions = _POSITIONS[positions](max_length + 1, embedding_size)
        self.dropout = nn.Dropout(dropout)
        self.blocks = make_blocks(num_layers, embedding_size, num_heads, ff_size, dropout)
        self.norm = nn.LayerNorm(embedding_size)
        self.head = nn.Linear(embedding_size, num_outputs)
        init_normal(self)
        nn.init.normal_(self.cls_vector, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = None
        if self.tokens:
            check_token_ids("transformer-encoder", x)
            mask = x != self.padding_id  # (B, T), True = real token
        h = self.embedding(x)  # (B, T, E)
        batch, length, _ = h.shape
        h = torch.cat([self.cls_vector.expand(batch, 1, -1), h], dim=1)  # (B, 1 + T, E)
        h = self.dropout(h + self.positions(length + 1))
        attention_mask = None if mask is None else F.pad(mask, (1, 0), value=True)  # [CLS] is always visible
        for block in self.blocks:
            h = block(h, padding_mask=attention_mask)
        h = self.norm(h)
        if self.pooling == "cls":
            pooled = h[:, 0]  # (B, E)
        elif mask is None:
            pooled = h[:, 1:].mean(dim=1)
        else:
            weights = mask.unsqueeze(-1).to(h.dtype)  # (B, T, 1)
            pooled = (h[:, 1:] * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        return self.head(self.dropout(pooled))  # (B, num_outputs)


class GPT(nn.Module):
    """Token + position embeddings -> causal Transformer blocks -> LayerNorm -> logits over the vocabulary.

    Args:
        block_size: longest context (the position table's size).
        vocab_size: V, also the number of outputs.
        tie_weights: the output layer reuses the token embedding matrix.
        (other arguments as in :func:`gpt`)
    """

    def __init__(self, block_size: int, vocab_size: int, *, padding_id: int, embedding_size: int, num_heads: int,
                 num_layers: int, ff_size: int, dropout: float, bias: bool, positions: str, tie_weights: bool):
        super().__init__()
        self.block_size = block_size
        self.token_embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=padding_id)
        self.positions = _POSITIONS[positions](block_size, embedding_size)
        self.dropout = nn.Dropout(dropout)
        self.blocks = make_blocks(num_layers, embedding_size, num_heads, ff_size, dropout, bias=bias)
        self.norm = nn.LayerNorm(embedding_size, bias=bias)
        self.output = None if tie_weights else nn.Linear(embedding_size, vocab_size, bias=False)
        init_normal(self)
        for block in self.blocks:  # GPT-2: residual writes scaled by 1/sqrt(2 * layers) keep the stream's variance
            for weight in block.residual_projections():
                nn.init.normal_(weight, mean=0.0, std=0.02 / math.sqrt(2 * num_layers))

    def output_weight(self) -> torch.Tensor:
        """(V, E) matrix of the output layer: the token embedding itself when tied."""
        return self.token_embedding.weight if self.output is None else self.output.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        check_token_ids("gpt", ids)
        length = ids.shape[1]
        if length > self.block_size:
            raise DataError(
                f"gpt: received a sequence of {length} tokens, but block_size is {self.block_size} (the "
                f"longest context the model was built for). Crop the input to its last {self.block_size} "
                "tokens (generation does this), or build the model with a larger input_shape."
            )
        h = self.dropout(self.token_embedding(ids) + self.positions(length))  # (B, T, E)
        for block in self.blocks:
            h = block(h, causal=True)
        return F.linear(self.norm(h), self.output_weight())  # (B, T, V)


class TransformerSeq2Seq(nn.Module):
    """Encoder (padding masked) + decoder (causal self-attention, cross-attention) -> target logits.

    Embeddings are scaled by sqrt(E) and initialised N(0, 1/E) so that, with
    unit-amplitude sinusoids, token and position signals have similar size
    (Vaswani et al. 2017, 3.4); other linear layers are Xavier-uniform.

    Args: as in :func:`transformer_seq2seq`; source_vocab is vocab_size, target_vocab num_outputs.
    """

    def __init__(self, source_vocab: int, target_vocab: int, *, padding_id: int, embedding_size: int, num_heads: int,
                 num_encoder_layers: int, num_decoder_layers: int, ff_size: int, dropout: float,
                 max_positions: int, positions: str, shared_embeddings: bool, tie_output: bool):
        super().__init__()
        self.padding_id, self.embed_scale = padding_id, math.sqrt(embedding_size)
        self.source_embedding = nn.Embedding(source_vocab, embedding_size, padding_idx=padding_id)
        # Shared: the source table serves the target too (registered once, so the state dict holds it once).
        self.target_embedding = (
            None if shared_embeddings else nn.Embedding(target_vocab, embedding_size, padding_idx=padding_id)
        )
        self.positions = _POSITIONS[positions](max_positions, embedding_size)
        self.dropout = nn.Dropout(dropout)
        self.encoder_blocks = make_blocks(num_encoder_layers, embedding_size, num_heads, ff_size, dropout)
        self.encoder_norm = nn.LayerNorm(embedding_size)
        self.decoder_blocks = make_blocks(
            num_decoder_layers, embedding_size, num_heads, ff_size, dropout, cross_attention=True
        )
        self.decoder_norm = nn.LayerNorm(embedding_size)
        self.output = None if tie_output or shared_embeddings else nn.Linear(embedding_size, target_vocab, bias=False)
        for layer in self.modules():
            if isinstance(layer, nn.Linear):
                nn.init.xavier_uniform_(layer.weight)
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)
        for table in self.embeddings():
            nn.init.normal_(table.weight, mean=0.0, std=embedding_size**-0.5)
            with torch.no_grad():
                table.weight[padding_id].zero_()

    def embeddings(self) -> list[nn.Embedding]:
        return [self.source_embedding] + ([] if self.target_embedding is None else [self.target_embedding])

    def target_table(self) -> nn.Embedding:
        return self.source_embedding if self.target_embedding is None else self.target_embedding

    def output_weight(self) -> torch.Tensor:
        """(V_target, E) output matrix: the target embedding itself when tied."""
        return self.target_table().weight if self.output is None else self.output.weight

    def embed(self, table: nn.Embedding, ids: torch.Tensor) -> torch.Tensor:
        return self.dropout(table(ids) * self.embed_scale + self.positions(ids.shape[1]))  # (B, T, E)

    def encode(self, source: torch.Tensor) -> dict[str, torch.Tensor]:
        """source (B, S) -> {"memory": (B, S, E), "source_mask": (B, S) True = real token}."""
        check_token_ids("transformer-seq2seq", source, "source")
        source_mask = source != self.padding_id  # (B, S)
        h = self.embed(self.source_embedding, source)
        for block in self.encoder_blocks:
            h = block(h, padding_mask=source_mask)
        return {"memory": self.encoder_norm(h), "source_mask": source_mask}

    def decode(self, state: dict[str, torch.Tensor], prefix: torch.Tensor) -> torch.Tensor:
        """Logits (B, t, V) for every position of the target prefix (B, t), causal in the prefix."""
        check_token_ids("transformer-seq2seq", prefix, "target prefix")
        h = self.embed(self.target_table(), prefix)
        for block in self.decoder_blocks:
            h = block(h, causal=True, memory=state["memory"], memory_padding_mask=state["source_mask"])
        return F.linear(self.decoder_norm(h), self.output_weight())  # (B, t, V)

    def forward(self, source: torch.Tensor, target_in: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(source), target_in)  # (B, T, V)


# -- registered variants ------------------------------------------------------------------------
@MODELS.register(
    "transformer-encoder",
    formula="h = blocks([CLS; embed(x)] + pos); y = W LN(h)[CLS or masked mean] + b",
    reference="Devlin et al. 2019, BERT; Vaswani et al. 2017, Attention Is All You Need",
    inputs=("tokens", "sequence"),
    role="classifier",
)
def transformer_encoder(
    input_shape: tuple[int, ...], num_outputs: int, vocab_size: int | None = None, padding_id: int = 0,
    embedding_size: int = 128, num_heads: int = 4, num_layers: int = 2, ff_size: int | None = None,
    dropout: float = 0.1, positions: str = "learned", pooling: str = "cls",
) -> nn.Module:
    """Transformer encoder classifier (BERT-style): every token attends to every other, then one vector is classified.

    Use it for text classification (sentiment, topics) or series
    classification; it sees the whole input at once and learns long-range
    interactions, at a cost quadratic in the length. A learned [CLS] vector
    is prepended inside the model and its final state summarises the input
    (or the mean over real tokens, pooling="mean"). Padding is masked.

    Formula: h_0 = [CLS; E x] + P; h_l = Block(h_{l-1}); y = W LN(h_L)[0] + b
    Reference: Devlin et al., "BERT", NAACL 2019; Vaswani et al., NeurIPS 2017.

    Args:
        input_shape: (T_max,) for token ids, or (T, F) for float series windows.
        num_outputs: classes or regression targets.
        vocab_size: token vocabulary size (supplied by shendu for token data).
        padding_id: the padding token id (supplied; 0).
        embedding_size: model width E (128).
        num_heads: attention heads, dividing embedding_size (4).
        num_layers: Transformer blocks (2).
        ff_size: feed-forward width (None: 4 x embedding_size).
        dropout: dropout on embeddings, attention, sub-layer outputs and before the head (0.1).
        positions: "learned" (BERT) or "sinusoidal" (Vaswani).
        pooling: "cls" or "mean" (over real tokens).
    """
    name = "transformer-encoder"
    shape, num_features = tuple(input_shape), None
    if len(shape) >= 2:
        shape = check_model_inputs(name, shape, num_outputs, ("sequence",))
        max_length, num_features, vocab_size = shape[0], shape[1], None
    else:
        expected = "token ids (input_shape (T_max,) with a vocab_size) or sequence inputs of shape (T, F)"
        max_length, vocab_size, padding_id = token_model_inputs(
            name, shape, num_outputs, vocab_size, padding_id, expected
        )
    embedding_size, num_heads, ff_size, dropout = attention_sizes(name, embedding_size, num_heads, ff_size, dropout)
    return TransformerEncoderClassifier(
        max_length, num_outputs, vocab_size=vocab_size, num_features=num_features, padding_id=padding_id,
        embedding_size=embedding_size, num_heads=num_heads, num_layers=positive_int(name, "num_layers", num_layers),
        ff_size=ff_size, dropout=dropout, positions=choice(name, "positions", positions, tuple(_POSITIONS)),
        pooling=choice(name, "pooling", pooling, ("cls", "mean")),
    )


@MODELS.register(
    "gpt",
    formula="h = blocks_causal(E x + P); p(x_{t+1} | x_<=t) = softmax(LN(h_t) E^T)",
    reference="Radford et al. 2018/2019 (GPT, GPT-2); Karpathy, nanoGPT",
    inputs=("tokens",),
    role="language-model",
)
def gpt(
    input_shape: tuple[int, ...], num_outputs: int, vocab_size: int | None = None, padding_id: int = 0,
    embedding_size: int = 192, num_heads: int = 6, num_layers: int = 6, ff_size: int | None = None,
    dropout: float = 0.1, bias: bool = True, positions: str = "learned", tie_weights: bool = True,
) -> nn.Module:
    """GPT: a decoder-only Transformer language model that predicts each next token from the ones before it.

    Use it to model and generate text (characters or subwords): trained on
    whole sequences at once, position t reads only positions <= t (causal
    self-attention) and predicts token t + 1. It cannot see further back
    than ``block_size`` = input_shape[0] tokens; generation crops the context.
    Pre-LN blocks, GELU, learned positions, tied input/output embeddings and
    N(0, 0.02) initialisation with residual projections scaled by
    1/sqrt(2 * num_layers), as in GPT-2 and nanoGPT.

    Formula: h_0 = E[x] + P; h_l = Block_causal(h_{l-1}); logits_t = LN(h_L)_t E^T
    Reference: Radford et al., "Improving Language Understanding by Generative
    Pre-Training" 2018 and "Language Models are Unsupervised Multitask Learners" 2019;
    A. Karpathy, nanoGPT (github.com/karpathy/nanoGPT).

    Args:
        input_shape: (block_size,), the longest context.
        num_outputs: vocabulary size V (equal to vocab_size).
        vocab_size: token vocabulary size (supplied by shendu).
        padding_id: the padding token id (supplied; 0).
        embedding_size: model width E (192).
        num_heads: attention heads, dividing embedding_size (6).
        num_layers: Transformer blocks (6).
        ff_size: feed-forward width (None: 4 x embedding_size).
        dropout: dropout on embeddings, attention and sub-layer outputs (0.1).
        bias: biases in linear layers and layer norms (True; False is slightly faster and as good).
        positions: "learned" (GPT) or "sinusoidal".
        tie_weights: output layer = token embedding matrix (Press & Wolf 2017).
    """
    vocab_size = num_outputs if vocab_size is None else vocab_size
    block_size, vocab_size, padding_id = token_model_inputs("gpt", input_shape, num_outputs, vocab_size, padding_id)
    check_next_token_outputs("gpt", num_outputs, vocab_size)
    embedding_size, num_heads, ff_size, dropout = attention_sizes("gpt", embedding_size, num_heads, ff_size, dropout)
    return GPT(
        block_size, vocab_size, padding_id=padding_id, embedding_size=embedding_size, num_heads=num_heads,
        num_layers=positive_int("gpt", "num_layers", num_layers), ff_size=ff_size, dropout=dropout,
        bias=boolean("gpt", "bias", bias), positions=choice("gpt", "positions", positions, tuple(_POSITIONS)),
        tie_weights=boolean("gpt", "tie_weights", tie_weights),
    )


@MODELS.register(
    "transformer-seq2seq",
    formula="memory = Enc(E_s x + P); logits = LN(Dec_causal(E_t y + P, memory)) W_out",
    reference="Vaswani et al. 2017, Attention Is All You Need",
    inputs=("tokens",),
    role="sequence-to-sequence",
)
def transformer_seq2seq(
    input_shape: tuple[int, ...], num_outputs: int, vocab_size: int | None = None, padding_id: int = 0,
    embedding_size: int = 256, num_heads: int = 4, num_encoder_layers: int = 3, num_decoder_layers: int = 3,
    ff_size: int | None = 512, dropout: float = 0.1, max_positions: int = 256, positions: str = "sinusoidal",
    shared_embeddings: bool = False, tie_output: bool = True,
) -> nn.Module:
    """Transformer encoder-decoder: translates a source sequence into a target sequence.

    Use it for translation, summarisation or any sequence-to-sequence task.
    The encoder reads the whole source (padding masked); the decoder
    generates the target one token at a time, attending causally to the
    target so far and, through cross-attention, to every source position.
    Trained with teacher forcing: forward(source, target_in) gives the logits
    of target_out = target_in shifted by one. Pre-LN blocks, GELU.

    Formula: m = Enc(sqrt(E) E_s[x] + PE); h = Dec(sqrt(E) E_t[y_<t] + PE, m); p(y_t) = softmax(LN(h_t) W_out)
    Reference: Vaswani et al., "Attention Is All You Need", NeurIPS 2017.

    Args:
        input_shape: (S_max,), the longest source sequence.
        num_outputs: target vocabulary size.
        vocab_size: source vocabulary size (supplied by shendu).
        padding_id: the padding token id of both vocabularies (supplied; 0).
        embedding_size: model width E (256).
        num_heads: attention heads, dividing embedding_size (4).
        num_encoder_layers: encoder blocks (3).
        num_decoder_layers: decoder blocks (3).
        ff_size: feed-forward width (512, small for CPUs; None: 4 x embedding_size).
        dropout: dropout rate (0.1).
        max_positions: longest source or target sequence (256).
        positions: "sinusoidal" (the paper) or "learned".
        shared_embeddings: one embedding table for source, target and output
            (a joint vocabulary: needs vocab_size == num_outputs).
        tie_output: the output layer reuses the target embedding (Press & Wolf 2017).
    """
    name = "transformer-seq2seq"
    max_length, vocab_size, padding_id = token_model_inputs(name, input_shape, num_outputs, vocab_size, padding_id)
    embedding_size, num_heads, ff_size, dropout = attention_sizes(name, embedding_size, num_heads, ff_size, dropout)
    max_positions = positive_int(name, "max_positions", max_positions)
    if max_length > max_positions:
        raise option_error(name, "max_positions", max_positions, f"at least the source length {max_length}",
                           f"Set model.max_positions={max_length} or more, or shorten the sources.")
    shared_embeddings = boolean(name, "shared_embeddings", shared_embeddings)
    tie_output = boolean(name, "tie_output", tie_output)
    if shared_embeddings and vocab_size != num_outputs:
        raise option_error(name, "shared_embeddings", True, f"false when the source ({vocab_size}) and target "
                           f"({num_outputs}) vocabularies differ",
                           "Set model.shared_embeddings=false, or use one joint tokenizer.")
    if shared_embeddings and not tie_output:
        raise option_error(name, "tie_output", False, "true when shared_embeddings=true (the shared table is the "
                           "output layer too)", "Set model.tie_output=true, or model.shared_embeddings=false.")
    return TransformerSeq2Seq(
        vocab_size, num_outputs, padding_id=padding_id, embedding_size=embedding_size, num_heads=num_heads,
        num_encoder_layers=positive_int(name, "num_encoder_layers", num_encoder_layers),
        num_decoder_layers=positive_int(name, "num_decoder_layers", num_decoder_layers), ff_size=ff_size,
        dropout=dropout, max_positions=max_positions, positions=choice(name, "positions", positions, tuple(_POSITIONS)),
        shared_embeddings=shared_embeddings, tie_output=tie_output,
    )
