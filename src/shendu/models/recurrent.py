"""Recurrent networks: Elman RNN, LSTM and GRU classifiers, and an LSTM language model.

A recurrent network reads a sequence one step at a time, carrying a hidden
state h_t = cell(x_t, h_{t-1}) forward, so it handles any length with a fixed
number of parameters. The classifiers (``rnn``, ``lstm``, ``gru``) take token
ids ``(B, T)`` (embedded first) or float series ``(B, T, F)`` and pool the
per-step states into one vector; ``lstm-lm`` predicts the next token at
every position.

Token ids are right-padded with ``padding_id``. The classifiers read real
tokens only: a row's length is one past its last non-padding id, states past
it are masked, and bidirectional networks run on packed sequences so the
backward direction starts at the last real token. Appending more padding
therefore leaves every output unchanged.

This module also holds the input checks and the length helper that the other
token / sequence families (``textcnn``, ``tcn``) share.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from shendu.models.token_inputs import check_next_token_outputs, check_text_inputs, embedding_width, token_lengths
from shendu.models.registry import (
    MODELS,
    boolean,
    choice,
    option_error,
    positive_int,
    probability,
)

_INPUTS = ("tokens", "sequence")
_REFERENCE_SUFFIX = "; pooling over real tokens with packed sequences (PyTorch pack_padded_sequence)"


# -- the classifier ------------------------------------------------------------------
class RecurrentClassifier(nn.Module):
    """Optional embedding -> multi-layer RNN / LSTM / GRU -> pooling over real steps -> dropout -> linear.

    Args:
        cell: nn.RNN, nn.LSTM or nn.GRU.
        input_size: features per step (F) for float sequences; ignored for tokens.
        num_outputs: output units.
        vocab_size: vocabulary size for token inputs; None for float sequences.
        padding_id: id of the padding token (its embedding starts at zero).
        embedding_size: width of the token embedding.
        hidden_size: units of the recurrent state, per direction.
        num_layers: stacked recurrent layers.
        bidirectional: also run a right-to-left network and concatenate its states.
        dropout: dropout between recurrent layers and before the linear head.
        pooling: "last", "mean" or "max" over the real steps.
    """

    def __init__(
        self,
        cell: type[nn.RNNBase],
        input_size: int,
        num_outputs: int,
        vocab_size: int | None = None,
        padding_id: int = 0,
        embedding_size: int = 128,
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        pooling: str = "last",
    ):
        super().__init__()
        self.padding_id, self.hidden_size = padding_id, hidden_size
        self.bidirectional, self.pooling = bidirectional, pooling
        self.embedding = None
        if vocab_size is not None:
            self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=padding_id)
            input_size = embedding_size
        # Between-layer dropout only exists with two or more layers (torch warns otherwise).
        self.rnn = cell(input_size, hidden_size, num_layers=num_layers, batch_first=True,
                        dropout=dropout if num_layers > 1 else 0.0, bidirectional=bidirectional)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.embedding is None:
            inputs = x  # (B, T, F)
            lengths = torch.full((x.shape[0],), x.shape[1], device=x.device, dtype=torch.long)
        else:
            inputs = self.embedding(x)  # (B, T) ids -> (B, T, E)
            lengths = token_lengths(x, self.padding_id)  # (B,)
        states = self.run(inputs, lengths, padded=self.embedding is not None)  # (B, T, D*H)
        return self.head(self.dropout(self.pool(states, lengths)))  # (B, num_outputs)

    def run(self, inputs: torch.Tensor, lengths: torch.Tensor, padded: bool) -> torch.Tensor:
        """Per-step states of the last layer, (B, T, directions * hidden_size)."""
        if padded and self.bidirectional:
            # The backward direction must start at each row's last real token, not at the
            # padding: packing does that. A forward-only network needs no packing (states
            # before the padding never see it), which spares the host sync on lengths.
            packed = pack_padded_sequence(inputs, lengths.cpu(), batch_first=True, enforce_sorted=False)
            states, _ = self.rnn(packed)
            return pad_packed_sequence(states, batch_first=True, total_length=inputs.shape[1])[0]
        return self.rnn(inputs)[0]

    def pool(self, states: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """One vector per row from the states at real steps, (B, directions * hidden_size)."""
        batch, steps, _ = states.shape
        if self.pooling == "last":
            rows = torch.arange(batch, device=states.device)
            last = states[rows, lengths - 1, : self.hidden_size]  # (B, H) forward state at the last real step
            if not self.bidirectional:
                return last
            first = states[:, 0, self.hidden_size :]  # (B, H) backward state, having read the whole row
            return torch.cat([last, first], dim=1)  # (B, 2H)
        valid = (torch.arange(steps, device=states.device)[None, :] < lengths[:, None]).unsqueeze(-1)  # (B, T, 1)
        if self.pooling == "mean":
            return (states * valid).sum(dim=1) / lengths[:, None].to(states.dtype)
        return states.masked_fill(~valid, float("-inf")).amax(dim=1)


def _recurrent_classifier(
    name: str, cell: type[nn.RNNBase], input_shape: Sequence[int], num_outputs: int, vocab_size: Any,
    padding_id: Any, options: dict[str, Any],
) -> RecurrentClassifier:
    kind, shape = check_text_inputs(name, input_shape, num_outputs, vocab_size, padding_id, _INPUTS)
    return RecurrentClassifier(
        cell,
        input_size=shape[1] if kind == "sequence" else 0,
        num_outputs=num_outputs,
        vocab_size=vocab_size if kind == "tokens" else None,
        padding_id=padding_id,
        embedding_size=embedding_width(name, kind, options["embedding_size"]),
        hidden_size=positive_int(name, "hidden_size", options["hidden_size"]),
        num_layers=positive_int(name, "num_layers", options["num_layers"]),
        bidirectional=boolean(name, "bidirectional", options["bidirectional"]),
        dropout=probability(name, "dropout", options["dropout"]),
        pooling=choice(name, "pooling", options["pooling"], ("last", "mean", "max")),
    )


_CLASSIFIER_ARGS = """
    Args:
        input_shape: (T_max,) for token ids, or (T, F) for float sequences.
        num_outputs: output units (classes, or regression targets).
        vocab_size: vocabulary size (supplied by shendu for token inputs).
        padding_id: id of the padding token (supplied by shendu; 0).
        embedding_size: width of the token embedding (128); token inputs only.
        hidden_size: units of the recurrent state per direction (128).
        num_layers: stacked recurrent layers (1).
        bidirectional: also read right to left and concatenate both states (false).
        dropout: dropout between recurrent layers and before the head (0).
        pooling: "last" (state at the last real step; bidirectional: forward
            state there + backward state at step 0), "mean" or "max" over real steps.
"""


def _append_classifier_args(constructor: Any) -> Any:
    constructor.__doc__ = (constructor.__doc__ or "").rstrip() + "\n" + _CLASSIFIER_ARGS
    return constructor


@MODELS.register(
    "rnn",
    formula="h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh); y = W pool(h) + b",
    reference="Elman 1990, Finding Structure in Time" + _REFERENCE_SUFFIX,
    inputs=_INPUTS,
    role="classifier",
)
@_append_classifier_args
def rnn(input_shape: tuple[int, ...], num_outputs: int, vocab_size: int | None = None, padding_id: int = 0,
        embedding_size: int | None = None, hidden_size: int = 128, num_layers: int = 1,
        bidirectional: bool = False, dropout: float = 0.0, pooling: str = "last") -> nn.Module:
    """Elman recurrent network (tanh cell) classifier over token ids or float sequences.

    The simplest recurrent network: one tanh layer fed its own previous
    output. Gradients through many steps vanish or explode (Bengio et al.
    1994), so it only learns short dependencies (tens of steps); it is here
    to teach, and as the baseline that lstm and gru improve on.

    Formula: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh); y = W pool(h_1..h_T) + b
    Reference: J. L. Elman, "Finding Structure in Time", Cognitive Science 14, 1990.
    """
    options = {"embedding_size": embedding_size, "hidden_size": hidden_size, "num_layers": num_layers,
               "bidirectional": bidirectional, "dropout": dropout, "pooling": pooling}
    return _recurrent_classifier("rnn", nn.RNN, input_shape, num_outputs, vocab_size, padding_id, options)


@MODELS.register(
    "lstm",
    formula="c_t = f * c_{t-1} + i * g; h_t = o * tanh(c_t); y = W pool(h) + b",
    reference="Hochreiter & Schmidhuber 1997, Long Short-Term Memory" + _REFERENCE_SUFFIX,
    inputs=_INPUTS,
    role="classifier",
)
@_append_classifier_args
def lstm(input_shape: tuple[int, ...], num_outputs: int, vocab_size: int | None = None, padding_id: int = 0,
         embedding_size: int | None = None, hidden_size: int = 128, num_layers: int = 1,
         bidirectional: bool = False, dropout: float = 0.0, pooling: str = "last") -> nn.Module:
    """Long short-term memory classifier: gated recurrent cells that keep long-range information.

    The cell state c is updated additively, so gradients flow over hundreds
    of steps: the standard recurrent choice for text classification and
    series. A bidirectional LSTM with max pooling is a strong text baseline.

    Formula: [i, f, g, o] = [sig, sig, tanh, sig](W x_t + U h_{t-1} + b);
             c_t = f * c_{t-1} + i * g;  h_t = o * tanh(c_t);  y = W pool(h_1..h_T) + b
    Reference: Hochreiter & Schmidhuber, "Long Short-Term Memory", Neural Computation 9(8), 1997.
    """
    options = {"embedding_size": embedding_size, "hidden_size": hidden_size, "num_layers": num_layers,
               "bidirectional": bidirectional, "dropout": dropout, "pooling": pooling}
    return _recurrent_classifier("lstm", nn.LSTM, input_shape, num_outputs, vocab_size, padding_id, options)


@MODELS.register(
    "gru",
    formula="h_t = (1 - z) * n + z * h_{t-1}; n = tanh(W_n x_t + r * (U_n h_{t-1})); y = W pool(h) + b",
    reference="Cho et al. 2014, Learning Phrase Representations using RNN Encoder-Decoder" + _REFERENCE_SUFFIX,
    inputs=_INPUTS,
    role="classifier",
)
@_append_classifier_args
def gru(input_shape: tuple[int, ...], num_outputs: int, vocab_size: int | None = None, padding_id: int = 0,
        embedding_size: int | None = None, hidden_size: int = 128, num_layers: int = 1,
        bidirectional: bool = False, dropout: float = 0.0, pooling: str = "last") -> nn.Module:
    """Gated recurrent unit classifier: an LSTM simplified to two gates and no separate cell state.

    Usually matches an LSTM's accuracy with a quarter fewer parameters and
    slightly faster steps; a good default recurrent network for small data.

    Formula: r = sig(W_r x_t + U_r h_{t-1} + b_r);  z = sig(W_z x_t + U_z h_{t-1} + b_z);
             n = tanh(W_n x_t + b_n + r * (U_n h_{t-1} + b_hn));  h_t = (1 - z) * n + z * h_{t-1}
    Reference: Cho et al., "Learning Phrase Representations using RNN Encoder-Decoder
    for Statistical Machine Translation", EMNLP 2014.
    """
    options = {"embedding_size": embedding_size, "hidden_size": hidden_size, "num_layers": num_layers,
               "bidirectional": bidirectional, "dropout": dropout, "pooling": pooling}
    return _recurrent_classifier("gru", nn.GRU, input_shape, num_outputs, vocab_size, padding_id, options)


# -- the language model --------------------------------------------------------------
class LSTMLanguageModel(nn.Module):
    """Embedding -> dropout -> multi-layer LSTM -> dropout -> linear to the vocabulary, at every step.

    With ``tie_weights`` the output projection is the embedding matrix itself
    (logits = h W_emb^T + b), computed with ``functional.linear`` so that the
    state dict holds the shared matrix once (safetensors refuses tensors that
    share memory).

    ``block_size`` is None: the model takes any context length. Generation can
    re-run the whole window each step, or carry the LSTM state:
    ``logits, state = model(ids, return_state=True)``, then
    ``model(next_ids, state=state, return_state=True)`` continues from there.

    Args:
        vocab_size: tokens in the vocabulary (= output units).
        padding_id: id of the padding token.
        embedding_size: width of the token embedding.
        hidden_size: units of each LSTM layer.
        num_layers: stacked LSTM layers.
        dropout: dropout on the embeddings, between LSTM layers and before the output layer.
        tie_weights: share the embedding matrix with the output layer.
    """

    block_size = None

    def __init__(self, vocab_size: int, padding_id: int = 0, embedding_size: int = 256, hidden_size: int = 256,
                 num_layers: int = 2, dropout: float = 0.2, tie_weights: bool = True):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=padding_id)
        self.lstm = nn.LSTM(embedding_size, hidden_size, num_layers=num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.tie_weights = tie_weights
        self.head = None if tie_weights else nn.Linear(hidden_size, vocab_size)
        self.output_bias = nn.Parameter(torch.zeros(vocab_size)) if tie_weights else None
        # The PyTorch word-language-model example's U(-0.1, 0.1): with tied weights the
        # default N(0, 1) embedding would start the logits far too large.
        with torch.no_grad():
            nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
            self.embedding.weight[padding_id].zero_()
            if self.head is not None:
                nn.init.uniform_(self.head.weight, -0.1, 0.1)
                nn.init.zeros_(self.head.bias)

    def forward(
        self, ids: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None, return_state: bool = False
    ) -> Any:
        """Next-token logits (B, T, V); with ``return_state`` also the final (h, c), each (layers, B, H)."""
        embedded = self.dropout(self.embedding(ids))  # (B, T, E)
        outputs, new_state = self.lstm(embedded, state)  # (B, T, H)
        outputs = self.dropout(outputs)
        if self.head is None:
            logits = functional.linear(outputs, self.embedding.weight, self.output_bias)  # (B, T, V)
        else:
            logits = self.head(outputs)  # (B, T, V)
        return (logits, new_state) if return_state else logits


@MODELS.register(
    "lstm-lm",
    formula="h_t = LSTM(E[x_t], h_{t-1}); p(x_{t+1} | x_<=t) = softmax(W h_t + b), W = E when tied",
    reference="Zaremba et al. 2014; Merity et al. 2017 (AWD-LSTM); Press & Wolf 2017 (weight tying)",
    inputs=("tokens",),
    role="language-model",
)
def lstm_lm(input_shape: tuple[int, ...], num_outputs: int, vocab_size: int | None = None, padding_id: int = 0,
            embedding_size: int = 256, hidden_size: int = 256, num_layers: int = 2, dropout: float = 0.2,
            tie_weights: bool = True) -> nn.Module:
    """LSTM language model: predicts the next token at every position from everything before it.

    The classic word-level language model (Zaremba et al.'s medium model is
    2 x 650 units with dropout 0.5). Cheaper per token than a transformer and
    unbounded in context (``block_size`` is None), though it forgets beyond a
    few hundred tokens. Tying the output layer to the embedding (Press & Wolf;
    Inan et al.) cuts parameters and improves perplexity; it needs
    embedding_size == hidden_size.

    Formula: e_t = dropout(E[x_t]);  h_t = LSTM_L(e_t, h_{t-1});
             logits_t = W dropout(h_t) + b, with W = E when tie_weights
    Reference: Zaremba, Sutskever & Vinyals 2014, "Recurrent Neural Network
    Regularization"; Merity, Keskar & Socher 2017, "Regularizing and Optimizing
    LSTM Language Models" (AWD-LSTM); Press & Wolf 2017, "Using the Output
    Embedding to Improve Language Models".

    Args:
        input_shape: (T_max,), the training window; the model itself takes any length.
        num_outputs: output units; must equal vocab_size.
        vocab_size: vocabulary size (supplied by shendu).
        padding_id: id of the padding token (supplied by shendu; 0).
        embedding_size: width of the token embedding (256).
        hidden_size: units of each LSTM layer (256).
        num_layers: stacked LSTM layers (2).
        dropout: dropout on embeddings, between layers and before the output layer (0.2).
        tie_weights: share the embedding matrix with the output layer (true).
    """
    check_text_inputs("lstm-lm", input_shape, num_outputs, vocab_size, padding_id, ("tokens",))
    check_next_token_outputs("lstm-lm", num_outputs, vocab_size)
    embedding_size = positive_int("lstm-lm", "embedding_size", embedding_size)
    hidden_size = positive_int("lstm-lm", "hidden_size", hidden_size)
    tie_weights = boolean("lstm-lm", "tie_weights", tie_weights)
    if tie_weights and embedding_size != hidden_size:
        received = f"embedding_size={embedding_size}, hidden_size={hidden_size}"
        fix = (f"Set model.embedding_size={hidden_size} (equal to hidden_size), "
               "or model.tie_weights=false for an untied output layer.")
        raise option_error("lstm-lm", "tie_weights", received, "embedding_size == hidden_size when tying weights", fix)
    return LSTMLanguageModel(vocab_size, padding_id, embedding_size, hidden_size,
                             num_layers=positive_int("lstm-lm", "num_layers", num_layers),
                             dropout=probability("lstm-lm", "dropout", dropout), tie_weights=tie_weights)
