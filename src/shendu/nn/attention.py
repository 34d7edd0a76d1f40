"""Attention: multi-head scaled dot-product attention, position encodings and the Transformer block.

Attention lets every position of a sequence read from every other position
(or, in a decoder, from every earlier one) with weights it computes itself:
a query vector is compared with the key vector of each position, the scores
become a probability distribution by a softmax, and the output is the
weighted average of the value vectors. The Transformer (Vaswani et al. 2017)
is a stack of such attention layers and position-wise feed-forward layers,
each wrapped in a residual connection and a layer normalisation.

Mask convention used throughout shendu: a boolean mask is True where a key
may be attended to ("visible", a real token) and False where it must be
ignored (padding, the future). This is the opposite of the
``key_padding_mask`` of ``torch.nn.MultiheadAttention``, which is True for
positions to ignore.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from shendu.errors import DataError
from shendu.nn.activations import get_activation


def causal_mask(query_length: int, key_length: int | None = None, device: Any = None) -> torch.Tensor:
    """(T_q, T_k) boolean mask, True where query i may attend to key j, that is j <= i.

    The mask of a decoder (autoregressive model): position i sees itself and
    the past, never the future, so training on whole sequences at once cannot
    cheat by reading the token it must predict. Aligned top-left, as
    ``scaled_dot_product_attention(is_causal=True)`` is.
    """
    key_length = query_length if key_length is None else key_length
    return torch.ones(query_length, key_length, dtype=torch.bool, device=device).tril()


def visibility_mask(
    key_padding_mask: torch.Tensor | None, causal: bool, query_length: int, key_length: int, device: Any = None
) -> torch.Tensor | None:
    """Combine a padding mask and a causal mask into one broadcastable (B or 1, 1, T_q, T_k) mask.

    Returns None when nothing is masked. True = visible.
    """
    visible = None
    if key_padding_mask is not None:
        visible = key_padding_mask[:, None, None, :]  # (B, 1, 1, T_k)
    if causal:
        future = causal_mask(query_length, key_length, device=device)[None, None]  # (1, 1, T_q, T_k)
        visible = future if visible is None else visible & future
    return visible


def masked_softmax(scores: torch.Tensor, visible: torch.Tensor | None, dim: int = -1) -> torch.Tensor:
    """Softmax over ``dim`` ignoring masked scores; a row with nothing visible gets all-zero weights.

    Masked scores are set to the most negative float (not -inf) so a fully
    masked row gives a finite softmax instead of 0/0 = NaN; its weights are
    then zeroed, so such a query reads nothing (its output is zero).
    """
    if visible is None:
        return scores.softmax(dim)
    scores = scores.masked_fill(~visible, torch.finfo(scores.dtype).min)
    return scores.softmax(dim).masked_fill(~visible, 0.0)


def attention_weights(query: torch.Tensor, key: torch.Tensor, visible: torch.Tensor | None = None) -> torch.Tensor:
    """Scaled dot-product attention weights, written out step by step.

    Formula: weights = softmax(Q K^T / sqrt(d_head)), masked positions get weight 0.
    Dividing by sqrt(d_head) keeps the scores' variance near 1 whatever the
    head size, so the softmax does not saturate (Vaswani et al. 2017, 3.2.1).

    Args:
        query: (B, heads, T_q, d_head).
        key: (B, heads, T_k, d_head).
        visible: boolean mask broadcastable to (B, heads, T_q, T_k), True = may attend.

    Returns:
        (B, heads, T_q, T_k): each row sums to 1 (0 for a row with nothing visible).
    """
    scores = query @ key.transpose(-2, -1) / math.sqrt(query.shape[-1])  # (B, heads, T_q, T_k)
    return masked_softmax(scores, visible)


def fast_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    visible: torch.Tensor | None,
    causal_only: bool,
    dropout: float,
) -> torch.Tensor:
    """softmax(Q K^T / sqrt(d)) V by PyTorch's fused kernel; same result as the explicit path.

    ``scaled_dot_product_attention`` never materialises the weights when it can
    avoid it (flash / memory-efficient kernels), and is the fastest option on
    CPU too. Fully masked rows would come out as NaN from the kernel, so they
    are given every key for the computation and zeroed afterwards.
    """
    if causal_only:
        return F.scaled_dot_product_attention(query, key, value, dropout_p=dropout, is_causal=True)
    if visible is None:
        return F.scaled_dot_product_attention(query, key, value, dropout_p=dropout)
    sees_something = visible.any(dim=-1, keepdim=True)  # (B, 1, T_q, 1)
    safe = visible | ~sees_something
    output = F.scaled_dot_product_attention(query, key, value, attn_mask=safe, dropout_p=dropout)
    return output.masked_fill(~sees_something, 0.0)  # (B, heads, T_q, d_head)


class MultiHeadAttention(nn.Module):
    """Multi-head attention: several scaled dot-product attentions side by side, then mixed.

    Each head projects the inputs to its own smaller query/key/value space,
    so different heads can attend to different things (syntax, position,
    coreference); the heads' outputs are concatenated and projected back.
    Self-attention passes the same tensor as query, key and value;
    cross-attention (an encoder-decoder) takes keys and values from the
    encoder's output.

    Formula: head_h = softmax(Q W_h^Q (K W_h^K)^T / sqrt(d_head)) V W_h^V;
             output = concat(head_1..head_H) W^O, with d_head = embedding_size / heads.
    Reference: Vaswani et al., "Attention Is All You Need", NeurIPS 2017.

    Args:
        embedding_size: width of the inputs and outputs (divisible by num_heads).
        num_heads: number of heads.
        dropout: dropout on the attention weights, in training.
        bias: biases in the four projections.
        explicit: always take the explicit path (weights computed and kept in
            memory); the default uses ``scaled_dot_product_attention``.
    """

    # Their gradients pass through the softmax's logits, nearly flat at
    # initialisation, so they start small whatever the depth; training
    # diagnostics leave them out of the first/last layer comparison.
    score_projections: tuple[str, ...] = ("query_projection", "key_projection")

    def __init__(
        self, embedding_size: int, num_heads: int, dropout: float = 0.0, bias: bool = True, explicit: bool = False
    ):
        super().__init__()
        if embedding_size % num_heads != 0:
            divisor = max(d for d in range(1, num_heads + 1) if embedding_size % d == 0)
            raise ValueError(
                f"MultiHeadAttention: embedding_size must be divisible by num_heads; received embedding_size="
                f"{embedding_size}, num_heads={num_heads}. Choose e.g. num_heads={divisor}."
            )
        self.embedding_size, self.num_heads, self.head_size = embedding_size, num_heads, embedding_size // num_heads
        self.dropout, self.explicit = dropout, explicit
        self.query_projection = nn.Linear(embedding_size, embedding_size, bias=bias)
        self.key_projection = nn.Linear(embedding_size, embedding_size, bias=bias)
        self.value_projection = nn.Linear(embedding_size, embedding_size, bias=bias)
        self.output_projection = nn.Linear(embedding_size, embedding_size, bias=bias)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_heads, self.head_size).transpose(1, 2)  # (B, heads, T, d_head)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
        *,
        key_padding_mask: torch.Tensor | None = None,
        causal: bool = False,
        return_weights: bool = False,
    ) -> Any:
        """Attend from ``query`` (B, T_q, E) to ``key``/``value`` (B, T_k, E); returns (B, T_q, E).

        Args:
            key, value: default to ``query`` (self-attention); ``value`` defaults to ``key``.
            key_padding_mask: (B, T_k), True (or nonzero) for real tokens, False for padding.
            causal: query i sees keys j <= i only.
            return_weights: take the explicit path and also return the weights (B, heads, T_q, T_k).
        """
        key = query if key is None else key
        value = key if value is None else value
        batch, query_length, _ = query.shape
        key_length = key.shape[1]
        if key_padding_mask is not None:
            key_padding_mask = _checked_padding_mask(key_padding_mask, batch, key_length)
        q = self.split_heads(self.query_projection(query))  # (B, heads, T_q, d_head)
        k = self.split_heads(self.key_projection(key))  # (B, heads, T_k, d_head)
        v = self.split_heads(self.value_projection(value))  # (B, heads, T_k, d_head)
        visible = visibility_mask(key_padding_mask, causal, query_length, key_length, query.device)
        dropout = self.dropout if self.training else 0.0
        weights = None
        if return_weights or self.explicit:
            weights = attention_weights(q, k, visible)  # (B, heads, T_q, T_k)
            context = F.dropout(weights, dropout) @ v  # (B, heads, T_q, d_head)
        else:
            causal_only = causal and key_padding_mask is None and query_length == key_length
            context = fast_attention(q, k, v, visible, causal_only, dropout)
        context = context.transpose(1, 2).reshape(batch, query_length, self.embedding_size)  # (B, T_q, E)
        output = self.output_projection(context)
        return (output, weights) if return_weights else output


def _checked_padding_mask(mask: torch.Tensor, batch: int, key_length: int) -> torch.Tensor:
    if mask.shape != (batch, key_length):
        raise DataError(
            f"key_padding_mask must have shape (B, T_k) = {(batch, key_length)}; received {tuple(mask.shape)}. "
            "Pass ids != padding_id for the keys (True = real token)."
        )
    return mask if mask.dtype == torch.bool else mask != 0


class SinusoidalPositions(nn.Module):
    """Fixed sine/cosine position encodings, added to token embeddings so attention knows word order.

    Each dimension pair is a sinusoid of a different wavelength (2*pi to
    10000*2*pi), so any fixed offset is a linear function of the encoding and
    the table needs no training. A non-persistent buffer: not in state_dict.

    Formula: PE[pos, 2i] = sin(pos / 10000^(2i/E)); PE[pos, 2i+1] = cos(pos / 10000^(2i/E))
    Reference: Vaswani et al., "Attention Is All You Need", NeurIPS 2017, section 3.5.

    Args:
        max_positions: longest sequence the table covers.
        embedding_size: E, the width of the encodings.
    """

    def __init__(self, max_positions: int, embedding_size: int):
        super().__init__()
        self.max_positions = max_positions
        position = torch.arange(max_positions, dtype=torch.float64)[:, None]  # (P, 1)
        even = torch.arange(0, embedding_size, 2, dtype=torch.float64)  # 2i
        angle = position / 10000.0 ** (even / embedding_size)  # (P, ceil(E/2))
        table = torch.zeros(max_positions, embedding_size, dtype=torch.float64)
        table[:, 0::2] = torch.sin(angle)
        table[:, 1::2] = torch.cos(angle[:, : embedding_size // 2])
        self.register_buffer("table", table.float(), persistent=False)

    def forward(self, length: int) -> torch.Tensor:
        """Encodings of positions 0..length-1: (length, E)."""
        _check_length(length, self.max_positions)
        return self.table[:length]


class LearnedPositions(nn.Module):
    """Learned absolute position embeddings: one trained vector per position (BERT, GPT).

    As good as sinusoids in practice and simpler, but cannot go beyond
    ``max_positions``. Initialised normal(0, 0.02) like GPT-2.

    Reference: Gehring et al. 2017 (ConvS2S); Devlin et al. 2019 (BERT).

    Args:
        max_positions: longest sequence the table covers.
        embedding_size: E, the width of the embeddings.
    """

    def __init__(self, max_positions: int, embedding_size: int):
        super().__init__()
        self.max_positions = max_positions
        self.embedding = nn.Embedding(max_positions, embedding_size)
        nn.init.normal_(self.embedding.weight, std=0.02)

    def forward(self, length: int) -> torch.Tensor:
        """Embeddings of positions 0..length-1: (length, E)."""
        _check_length(length, self.max_positions)
        return self.embedding.weight[:length]


def _check_length(length: int, max_positions: int) -> None:
    if length > max_positions:
        raise DataError(
            f"received a sequence of {length} positions, but the position table holds {max_positions}. "
            "Shorten or crop the sequences, or build the model for longer ones (a larger input_shape / "
            "model.max_positions)."
        )


class FeedForward(nn.Module):
    """Position-wise feed-forward layer: the same two-layer MLP applied to every position.

    Formula: FFN(x) = W_2 act(W_1 x + b_1) + b_2, widening E -> ff_size -> E.
    """

    def __init__(self, embedding_size: int, ff_size: int, dropout: float, activation: Any = "gelu", bias: bool = True):
        super().__init__()
        self.expansion = nn.Linear(embedding_size, ff_size, bias=bias)
        self.activation = get_activation(activation)
        self.projection = nn.Linear(ff_size, embedding_size, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.projection(self.activation(self.expansion(x))))  # (B, T, E)


class TransformerBlock(nn.Module):
    """One Transformer layer: self-attention, optional cross-attention and a feed-forward, each residual.

    Pre-LN (``norm_first=True``, GPT-2 and most modern models) normalises the
    input of each sub-layer, ``x = x + f(LN(x))``: gradients flow straight
    through the residual path and training is stable without warm-up.
    Post-LN (the 2017 original) normalises after the sum, ``x = LN(x + f(x))``.
    A pre-LN stack needs a final LayerNorm after its last block.

    Reference: Vaswani et al. 2017; Xiong et al., "On Layer Normalization in
    the Transformer Architecture", ICML 2020.

    Args:
        embedding_size: E.
        num_heads: attention heads.
        ff_size: hidden width of the feed-forward layer (typically 4E).
        dropout: dropout on attention weights and on each sub-layer's output.
        activation: feed-forward activation spec ("gelu").
        norm_first: pre-LN (True) or post-LN (False).
        cross_attention: add a cross-attention sub-layer (a decoder block).
        bias: biases in linear layers and layer norms.
    """

    def __init__(
        self,
        embedding_size: int,
        num_heads: int,
        ff_size: int,
        dropout: float = 0.0,
        activation: Any = "gelu",
        norm_first: bool = True,
        cross_attention: bool = False,
        bias: bool = True,
    ):
        super().__init__()
        self.norm_first = norm_first
        self.self_attention = MultiHeadAttention(embedding_size, num_heads, dropout, bias)
        self.self_attention_norm = nn.LayerNorm(embedding_size, bias=bias)
        self.cross_attention = MultiHeadAttention(embedding_size, num_heads, dropout, bias) if cross_attention else None
        self.cross_attention_norm = nn.LayerNorm(embedding_size, bias=bias) if cross_attention else None
        self.feed_forward = FeedForward(embedding_size, ff_size, dropout, activation, bias)
        self.feed_forward_norm = nn.LayerNorm(embedding_size, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def residual_projections(self) -> list[torch.Tensor]:
        """Weights that write into the residual stream (GPT-2 scales their initialisation)."""
        weights = [self.self_attention.output_projection.weight, self.feed_forward.projection.weight]
        if self.cross_attention is not None:
            weights.append(self.cross_attention.output_projection.weight)
        return weights

    def forward(
        self,
        x: torch.Tensor,
        *,
        padding_mask: torch.Tensor | None = None,
        causal: bool = False,
        memory: torch.Tensor | None = None,
        memory_padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x (B, T, E) -> (B, T, E); ``memory`` (B, S, E) is what cross-attention reads."""

        def self_attend(h: torch.Tensor) -> torch.Tensor:
            return self.dropout(self.self_attention(h, key_padding_mask=padding_mask, causal=causal))

        def cross_attend(h: torch.Tensor) -> torch.Tensor:
            return self.dropout(self.cross_attention(h, memory, key_padding_mask=memory_padding_mask))

        sublayers = [(self_attend, self.self_attention_norm)]
        if self.cross_attention is not None:
            if memory is None:
                raise ValueError("TransformerBlock with cross_attention=True needs memory= (the encoder output).")
            sublayers.append((cross_attend, self.cross_attention_norm))
        sublayers.append((self.feed_forward, self.feed_forward_norm))
        for sublayer, norm in sublayers:
            x = x + sublayer(norm(x)) if self.norm_first else norm(x + sublayer(x))
        return x
