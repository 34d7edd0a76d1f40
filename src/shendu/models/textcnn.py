"""Convolutional text classifier (Kim 2014): n-gram detectors over word embeddings, max over time.

Each 1-d convolution of width k slides over the embedded tokens and scores
every k-gram; max-over-time pooling keeps each filter's best match anywhere
in the text, so the features do not depend on where a phrase occurs or on
the text's length.

Padding never takes part: embeddings at padding positions are zeroed, and only
windows made of real tokens compete in the max (a text shorter than the window
keeps its single, zero-filled window). Appending padding therefore leaves
every output unchanged.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from shendu.models.token_inputs import check_text_inputs, embedding_width, token_lengths
from shendu.models.registry import MODELS, positive_int, positive_ints, probability
from shendu.nn import initialize

_INPUTS = ("tokens",)


class TextConvNet(nn.Module):
    """Embedding -> parallel Conv1d (one per kernel size) -> ReLU -> masked max over time -> dropout -> linear.

    Args:
        vocab_size: tokens in the vocabulary.
        num_outputs: output units.
        padding_id: id of the padding token.
        embedding_size: width of the token embedding.
        kernel_sizes: window widths, one convolution each.
        num_filters: filters per kernel size.
        dropout: dropout on the pooled features.
    """

    def __init__(self, vocab_size: int, num_outputs: int, padding_id: int = 0, embedding_size: int = 128,
                 kernel_sizes: tuple[int, ...] = (3, 4, 5), num_filters: int = 100, dropout: float = 0.5):
        super().__init__()
        self.padding_id = padding_id
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=padding_id)
        self.convolutions = nn.ModuleList(nn.Conv1d(embedding_size, num_filters, k) for k in kernel_sizes)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(num_filters * len(kernel_sizes), num_outputs)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        real = ids != self.padding_id  # (B, T)
        lengths = token_lengths(ids, self.padding_id)  # (B,)
        # Zeroed explicitly, not trusted to padding_idx: an `init` option may refill that row.
        x = (self.embedding(ids) * real.unsqueeze(-1)).transpose(1, 2)  # (B, E, T)
        widest = max(conv.kernel_size[0] for conv in self.convolutions)
        if x.shape[2] < widest:
            x = functional.pad(x, (0, widest - x.shape[2]))  # (B, E, widest): short texts get one window
        pooled = []
        for conv in self.convolutions:
            scores = functional.relu(conv(x))  # (B, filters, T - k + 1)
            windows = torch.arange(scores.shape[2], device=ids.device)  # (T - k + 1,)
            # Window p holds tokens p .. p + k - 1; it is real when it ends before the
            # padding, and window 0 always counts (a text shorter than k).
            real_windows = (lengths - conv.kernel_size[0] + 1).clamp(min=1)  # (B,)
            valid = windows[None, :] < real_windows[:, None]  # (B, T - k + 1)
            # ReLU outputs are >= 0, so a masked 0 never beats a real window.
            pooled.append(scores.masked_fill(~valid.unsqueeze(1), 0.0).amax(dim=2))  # (B, filters)
        return self.head(self.dropout(torch.cat(pooled, dim=1)))  # (B, num_outputs)


@MODELS.register(
    "textcnn",
    formula="c_k = relu(conv1d_k(E[x])); h = concat_k(max_t c_k); y = W dropout(h) + b",
    reference="Kim 2014, Convolutional Neural Networks for Sentence Classification",
    inputs=_INPUTS,
    role="classifier",
)
def textcnn(input_shape: tuple[int, ...], num_outputs: int, vocab_size: int | None = None, padding_id: int = 0,
            embedding_size: int | None = None, kernel_sizes: list[int] | None = None, num_filters: int = 100,
            dropout: float = 0.5) -> nn.Module:
    """Convolutional text classifier (Kim 2014): parallel n-gram filters, max over time, linear head.

    Fast to train, fully parallel over the text, and strong on sentence-level
    tasks (sentiment, topic, intent) where a few key phrases decide the label;
    it ignores word order beyond the widest kernel. Use lstm / gru or a
    transformer when long-range order matters.

    Formula: for each kernel size k: c_k[f, p] = relu(w_{k,f} . E[x_p .. x_{p+k-1}] + b_{k,f});
             h = concat_k (max_p c_k[:, p]);  y = W dropout(h) + b
    Reference: Y. Kim, "Convolutional Neural Networks for Sentence
    Classification", EMNLP 2014 (the CNN-rand variant: embeddings learned from scratch).

    Args:
        input_shape: (T_max,); texts of any length work, shorter than the widest kernel too.
        num_outputs: output units (classes).
        vocab_size: vocabulary size (supplied by shendu).
        padding_id: id of the padding token (supplied by shendu; 0).
        embedding_size: width of the token embedding (128).
        kernel_sizes: window widths in tokens, one convolution each ([3, 4, 5]).
        num_filters: filters per kernel size (100).
        dropout: dropout on the pooled features (0.5, as in the paper).
    """
    kind, _ = check_text_inputs("textcnn", input_shape, num_outputs, vocab_size, padding_id, _INPUTS)
    kernel_sizes = [3, 4, 5] if kernel_sizes is None else positive_ints("textcnn", "kernel_sizes", kernel_sizes)
    model = TextConvNet(
        vocab_size,
        num_outputs,
        padding_id=padding_id,
        embedding_size=embedding_width("textcnn", kind, embedding_size),
        kernel_sizes=tuple(kernel_sizes),
        num_filters=positive_int("textcnn", "num_filters", num_filters),
        dropout=probability("textcnn", "dropout", dropout),
    )
    # He initialisation suits the ReLU filters; the embedding keeps N(0, 1) under "auto".
    return initialize(model, "auto", activation="relu")
