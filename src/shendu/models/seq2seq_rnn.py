"""Recurrent encoder-decoder with attention: a bidirectional GRU encoder and a GRU decoder that attends.

The encoder reads the source both ways and keeps one vector per source
position (the "memory"). At each target step the decoder scores every
memory vector against its own state, turns the scores into alignment
weights with a masked softmax, and reads the weighted average (the
"context") before predicting the next token. Attention removed the
fixed-size bottleneck of the first encoder-decoders (Sutskever et al. 2014)
and its weights show which source words each target word was drawn from
(``last_attention``, for alignment plots).

Shapes: B batch, S source length, t target prefix length, E embedding
size, H decoder hidden size, M = 2H memory size (forward and backward
states), A attention size, V target vocabulary.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from shendu.models.registry import MODELS, boolean, choice, positive_int, probability
from shendu.models.token_inputs import check_token_ids, token_model_inputs
from shendu.nn.attention import masked_softmax


class AdditiveAttention(nn.Module):
    """Bahdanau (additive) attention: a one-hidden-layer network scores each source position.

    Formula: score(s, h_j) = v^T tanh(W_q s + W_k h_j); a = softmax(score); c = sum_j a_j h_j
    Reference: Bahdanau, Cho & Bengio, ICLR 2015.
    """

    def __init__(self, query_size: int, memory_size: int, attention_size: int):
        super().__init__()
        self.query_layer = nn.Linear(query_size, attention_size, bias=False)
        self.key_layer = nn.Linear(memory_size, attention_size, bias=False)
        self.energy_layer = nn.Linear(attention_size, 1, bias=False)  # v

    def keys(self, memory: torch.Tensor) -> torch.Tensor:
        """W_k h_j for every source position, computed once per source: (B, S, M) -> (B, S, A)."""
        return self.key_layer(memory)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, memory: torch.Tensor,
                source_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """query (B, t, H) -> context (B, t, M) and weights (B, t, S)."""
        hidden = torch.tanh(self.query_layer(query)[:, :, None, :] + keys[:, None, :, :])  # (B, t, S, A)
        scores = self.energy_layer(hidden).squeeze(-1)  # (B, t, S)
        weights = masked_softmax(scores, source_mask[:, None, :])  # (B, t, S), padding gets 0
        return weights @ memory, weights  # (B, t, M), (B, t, S)


class MultiplicativeAttention(nn.Module):
    """Luong (multiplicative, "general") attention: a bilinear form scores each source position.

    Cheaper than additive attention (one matrix product for all positions and
    steps) and as accurate in Luong et al.'s experiments.

    Formula: score(s, h_j) = s^T W_a h_j; a = softmax(score); c = sum_j a_j h_j
    Reference: Luong, Pham & Manning, EMNLP 2015.
    """

    def __init__(self, query_size: int, memory_size: int):
        super().__init__()
        self.key_layer = nn.Linear(memory_size, query_size, bias=False)  # W_a

    def keys(self, memory: torch.Tensor) -> torch.Tensor:
        """W_a h_j for every source position: (B, S, M) -> (B, S, H)."""
        return self.key_layer(memory)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, memory: torch.Tensor,
                source_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """query (B, t, H) -> context (B, t, M) and weights (B, t, S)."""
        scores = query @ keys.transpose(1, 2)  # (B, t, H) @ (B, H, S) -> (B, t, S)
        weights = masked_softmax(scores, source_mask[:, None, :])  # (B, t, S)
        return weights @ memory, weights  # (B, t, M), (B, t, S)


class BidirectionalEncoder(nn.Module):
    """Embedding -> bidirectional GRU over the real tokens only (packed by source lengths)."""

    def __init__(self, vocab_size: int, embedding_size: int, hidden_size: int, num_layers: int,
                 dropout: float, padding_id: int):
        super().__init__()
        self.padding_id, self.num_layers = padding_id, num_layers
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=padding_id)
        self.dropout = nn.Dropout(dropout)
        self.gru = nn.GRU(embedding_size, hidden_size, num_layers, batch_first=True, bidirectional=True,
                          dropout=dropout if num_layers > 1 else 0.0)
        # The decoder starts from tanh(W [forward final; backward final]) of each layer (Bahdanau: backward only).
        self.bridge = nn.Linear(2 * hidden_size, hidden_size)

    def forward(self, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """source (B, S) -> memory (B, S, 2H), initial decoder state (B, layers, H), source_mask (B, S)."""
        batch, length = source.shape
        source_mask = source != self.padding_id  # (B, S)
        lengths = source_mask.sum(dim=1).clamp(min=1).cpu()  # an all-padding row is read as length 1
        embedded = self.dropout(self.embedding(source))  # (B, S, E)
        packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
        outputs, final = self.gru(packed)  # final: (layers * 2, B, H)
        memory, _ = pad_packed_sequence(outputs, batch_first=True, total_length=length)  # (B, S, 2H)
        final = final.view(self.num_layers, 2, batch, -1)  # (layers, direction, B, H)
        both = torch.cat([final[:, 0], final[:, 1]], dim=-1)  # (layers, B, 2H)
        initial = torch.tanh(self.bridge(both)).transpose(0, 1)  # (B, layers, H): batch first for beam search
        return memory, initial, source_mask


class AttentionDecoder(nn.Module):
    """GRU decoder that attends to the encoder memory; teacher-forced over a whole target prefix.

    Bahdanau: the previous state s_{i-1} queries the memory; the context
    enters the GRU with the embedded input. Luong: the GRU runs first and its
    new state s_i queries the memory. Both then form the attentional vector
    h~_i = tanh(W_c [s_i; c_i]) from which the next token is predicted; with
    input feeding, h~_{i-1} is also fed to the GRU at step i (Luong 3.3).
    """

    def __init__(self, vocab_size: int, embedding_size: int, hidden_size: int, memory_size: int,
                 num_layers: int, dropout: float, padding_id: int, attention: str, input_feeding: bool):
        super().__init__()
        self.attention_kind, self.input_feeding, self.hidden_size = attention, input_feeding, hidden_size
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=padding_id)
        self.dropout = nn.Dropout(dropout)
        if attention == "bahdanau":
            self.attention = AdditiveAttention(hidden_size, memory_size, hidden_size)
        else:
            self.attention = MultiplicativeAttention(hidden_size, memory_size)
        gru_input = embedding_size + (memory_size if attention == "bahdanau" else 0)
        gru_input += hidden_size if input_feeding else 0
        self.gru = nn.GRU(gru_input, hidden_size, num_layers, batch_first=True,
                          dropout=dropout if num_layers > 1 else 0.0)
        self.combine = nn.Linear(hidden_size + memory_size, hidden_size)  # W_c
        self.output = nn.Linear(hidden_size, vocab_size)

    def forward(self, state: dict[str, torch.Tensor], prefix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """prefix (B, t) -> logits (B, t, V) and attention weights (B, t, S)."""
        hidden = state["initial_hidden"].transpose(0, 1).contiguous()  # (layers, B, H)
        embedded = self.dropout(self.embedding(prefix))  # (B, t, E)
        if self.attention_kind == "luong" and not self.input_feeding:
            # No step depends on an earlier attention result: run the GRU over all steps at once.
            outputs, _ = self.gru(embedded, hidden)  # (B, t, H)
            context, weights = self.attention(outputs, state["attention_keys"], state["memory"], state["source_mask"])
            attentional = torch.tanh(self.combine(torch.cat([outputs, context], dim=-1)))  # (B, t, H)
        else:
            attentional, weights = self.step_by_step(embedded, hidden, state)
        return self.output(self.dropout(attentional)), weights  # (B, t, V), (B, t, S)

    def step_by_step(self, embedded: torch.Tensor, hidden: torch.Tensor,
                     state: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The decoder loop, one target position at a time: (B, t, H) attentional vectors and (B, t, S) weights."""
        keys, memory, source_mask = state["attention_keys"], state["memory"], state["source_mask"]
        feed = embedded.new_zeros(embedded.shape[0], 1, self.hidden_size)  # h~_0 = 0
        attentionals, all_weights = [], []
        for step in range(embedded.shape[1]):
            inputs = [embedded[:, step : step + 1]]  # (B, 1, E)
            if self.attention_kind == "bahdanau":
                context, weights = self.attention(hidden[-1][:, None], keys, memory, source_mask)  # s_{i-1} queries
                inputs.append(context)  # (B, 1, M)
            if self.input_feeding:
                inputs.append(feed)  # (B, 1, H)
            output, hidden = self.gru(torch.cat(inputs, dim=-1), hidden)  # (B, 1, H)
            if self.attention_kind == "luong":
                context, weights = self.attention(output, keys, memory, source_mask)  # s_i queries
            feed = torch.tanh(self.combine(torch.cat([output, context], dim=-1)))  # (B, 1, H)
            attentionals.append(feed)
            all_weights.append(weights)
        return torch.cat(attentionals, dim=1), torch.cat(all_weights, dim=1)


class GRUAttentionSeq2Seq(nn.Module):
    """Bidirectional GRU encoder + attentional GRU decoder; see :func:`gru_attention`."""

    def __init__(self, source_vocab: int, target_vocab: int, *, padding_id: int, embedding_size: int,
                 hidden_size: int, num_layers: int, dropout: float, attention: str, input_feeding: bool):
        super().__init__()
        self.encoder = BidirectionalEncoder(source_vocab, embedding_size, hidden_size, num_layers, dropout, padding_id)
        self.decoder = AttentionDecoder(target_vocab, embedding_size, hidden_size, 2 * hidden_size, num_layers,
                                        dropout, padding_id, attention, input_feeding)
        self.last_attention: torch.Tensor | None = None  # (B, t, S) of the latest decode, for alignment plots

    def encode(self, source: torch.Tensor) -> dict[str, torch.Tensor]:
        """source (B, S) -> state, batch first in every tensor.

        memory (B, S, 2H), attention_keys (B, S, A), initial_hidden (B, layers, H), source_mask (B, S).
        """
        check_token_ids("gru-attention", source, "source")
        memory, initial_hidden, source_mask = self.encoder(source)
        return {"memory": memory, "attention_keys": self.decoder.attention.keys(memory),
                "initial_hidden": initial_hidden, "source_mask": source_mask}

    def decode(self, state: dict[str, torch.Tensor], prefix: torch.Tensor) -> torch.Tensor:
        """Logits (B, t, V) for every position of the target prefix (B, t), teacher-forced."""
        check_token_ids("gru-attention", prefix, "target prefix")
        logits, weights = self.decoder(state, prefix)
        self.last_attention = weights.detach()
        return logits

    def forward(self, source: torch.Tensor, target_in: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(source), target_in)  # (B, T, V)


@MODELS.register(
    "gru-attention",
    formula="a_ij = softmax_j score(s, h_j); c_i = sum_j a_ij h_j; s_i = GRU(s_{i-1}, [y_{i-1}; c_i]); "
    "p(y_i) = softmax(W_o tanh(W_c [s_i; c_i]))",
    reference="Bahdanau, Cho & Bengio 2015; Luong, Pham & Manning 2015",
    inputs=("tokens",),
    role="sequence-to-sequence",
)
def gru_attention(
    input_shape: tuple[int, ...], num_outputs: int, vocab_size: int | None = None, padding_id: int = 0,
    embedding_size: int = 256, hidden_size: int = 256, num_layers: int = 1, dropout: float = 0.2,
    attention: str = "bahdanau", input_feeding: bool = False,
) -> nn.Module:
    """GRU encoder-decoder with attention: the classic neural machine translation model.

    Use it for translation or other sequence-to-sequence tasks on small data
    and CPUs, where it trains faster than a Transformer and is easy to
    inspect: ``model.last_attention`` (B, t, S) holds the alignment weights
    of the latest decode. A bidirectional GRU encodes the source (packed, so
    padding is never read); the decoder attends with additive (Bahdanau) or
    multiplicative (Luong "general") scores, padding masked.

    Formula: bahdanau: score(s_{i-1}, h_j) = v^T tanh(W_q s_{i-1} + W_k h_j);
             luong: score(s_i, h_j) = s_i^T W_a h_j;
             a_i = softmax(score); c_i = sum_j a_ij h_j; h~_i = tanh(W_c [s_i; c_i]); p(y_i) = softmax(W_o h~_i)
    Reference: Bahdanau, Cho & Bengio, "Neural Machine Translation by Jointly
    Learning to Align and Translate", ICLR 2015; Luong, Pham & Manning,
    "Effective Approaches to Attention-based Neural Machine Translation", EMNLP 2015.

    Args:
        input_shape: (S_max,), the longest source sequence.
        num_outputs: target vocabulary size.
        vocab_size: source vocabulary size (supplied by shendu).
        padding_id: the padding token id of both vocabularies (supplied; 0).
        embedding_size: source and target embedding width (256).
        hidden_size: GRU width H per direction; the memory is 2H (256).
        num_layers: stacked GRU layers in encoder and decoder (1).
        dropout: on embeddings, between GRU layers and before the output layer (0.2).
        attention: "bahdanau" (additive) or "luong" (multiplicative, general).
        input_feeding: feed the previous attentional vector to the decoder GRU
            (Luong 2015); costs a step-by-step loop for luong attention.
    """
    name = "gru-attention"
    _, vocab_size, padding_id = token_model_inputs(name, input_shape, num_outputs, vocab_size, padding_id)
    return GRUAttentionSeq2Seq(
        vocab_size, num_outputs, padding_id=padding_id,
        embedding_size=positive_int(name, "embedding_size", embedding_size),
        hidden_size=positive_int(name, "hidden_size", hidden_size),
        num_layers=positive_int(name, "num_layers", num_layers), dropout=probability(name, "dropout", dropout),
        attention=choice(name, "attention", attention, ("bahdanau", "luong")),
        input_feeding=boolean(name, "input_feeding", input_feeding),
    )
