"""Text -> token ids, fitted on the training split and stored with the run.

:class:`TextPreprocessing` is the text counterpart of
:class:`shendu.data.preprocessing.Preprocessing`: it holds the fitted
tokenizer(s), the sequence length and the class names, turns new strings into
padded id tensors at predict time exactly as in training, and round-trips
through JSON (``to_dict`` / ``from_dict``) so that nothing in a run is a pickle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from shendu.data.sequences import pad_sequences
from shendu.data.tokenizers import tokenizer_from_dict
from shendu.errors import DataError

TEXT_TARGET_KINDS = ("classification", "language-model", "sequence-to-sequence")
MAX_LENGTH_CAP = 256  # default cap on tokens per sample when data.text.max_length is not set


@dataclass
class TextPreprocessing:
    """A run's text encoding: tokenizer(s), lengths and class names.

    Args:
        target_kind: "classification", "language-model" or "sequence-to-sequence".
        tokenizer: the fitted tokenizer of the inputs (sequence-to-sequence: of the source side).
        max_length: tokens kept per sample (classification, seq2seq source and target); None for language models.
        block_size: language models: tokens of context per window.
        class_names: classification: the name of each class index.
        target_tokenizer: sequence-to-sequence with separate vocabularies: the target side's tokenizer.
        target_max_length: sequence-to-sequence: tokens kept per target sentence (plus <bos> and <eos>).
    """

    target_kind: str
    tokenizer: Any
    max_length: int | None = None
    block_size: int | None = None
    class_names: list[str] | None = None
    target_tokenizer: Any | None = None
    target_max_length: int | None = None

    input_kind = "tokens"
    normalization = None  # what photometric augmentations read; text has none

    def __post_init__(self) -> None:
        if self.target_kind not in TEXT_TARGET_KINDS:
            raise ValueError(f"target_kind must be one of {TEXT_TARGET_KINDS}; received {self.target_kind!r}.")

    @property
    def output_tokenizer(self) -> Any:
        """The tokenizer of what the model writes: the target side's, else the shared one."""
        return self.target_tokenizer if self.target_tokenizer is not None else self.tokenizer

    @property
    def input_shape(self) -> tuple[int]:
        """(T,): the longest input the model is built for (block size for language models)."""
        return (self.block_size if self.target_kind == "language-model" else self.max_length,)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    @property
    def padding_id(self) -> int:
        return self.tokenizer.padding_id

    def summary(self) -> dict[str, Any]:
        """The settings in words, for the data description."""
        facts: dict[str, Any] = {"tokenizer": self.tokenizer.name, "vocab_size": self.tokenizer.vocab_size}
        if self.target_tokenizer is not None:
            facts["target_vocab_size"] = self.target_tokenizer.vocab_size
        for key in ("max_length", "block_size", "target_max_length"):
            if getattr(self, key) is not None:
                facts[key] = getattr(self, key)
        return facts

    # -- applying ------------------------------------------------------------------
    def encode_texts(self, texts: Sequence[str], *, target: bool = False, add_bos: bool = False,
                     add_eos: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Strings -> (ids (N, T) right-padded with <pad>, lengths (N,)), truncated to the run's length."""
        texts = _strings(texts)
        tokenizer = self.output_tokenizer if target else self.tokenizer
        limit = self.target_max_length if target else self.max_length
        sequences = tokenizer.encode_batch(texts, add_bos=add_bos, add_eos=add_eos)
        if limit is not None and add_eos:  # truncation keeps the closing <eos>
            sequences = [s if len(s) <= limit else [*s[: limit - 1], s[-1]] for s in sequences]
        return pad_sequences(sequences, max_length=limit, padding_id=tokenizer.padding_id)

    def encode_inputs(self, raw: Any) -> torch.Tensor:
        """Predict-time inputs (a string or a list of strings) -> padded ids (N, T)."""
        return self.encode_texts(raw, add_eos=self.target_kind == "sequence-to-sequence")[0]

    def decode(self, ids: Any, *, target: bool = True) -> str:
        """Ids -> text with the output (target) tokenizer, special tokens dropped."""
        return (self.output_tokenizer if target else self.tokenizer).decode(ids)

    # -- storing --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        record = {"kind": "text", "target_kind": self.target_kind, "tokenizer": self.tokenizer.to_dict(),
                  "max_length": self.max_length, "block_size": self.block_size, "class_names": self.class_names,
                  "target_max_length": self.target_max_length}
        if self.target_tokenizer is not None:
            record["target_tokenizer"] = self.target_tokenizer.to_dict()
        return record

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> TextPreprocessing:
        target = record.get("target_tokenizer")
        return cls(record["target_kind"], tokenizer_from_dict(record["tokenizer"]), record.get("max_length"),
                   record.get("block_size"), record.get("class_names"),
                   tokenizer_from_dict(target) if target is not None else None, record.get("target_max_length"))


def _strings(texts: Any) -> list[str]:
    """A string or a sequence of strings -> a list of strings; anything else is an error naming the item."""
    if isinstance(texts, str):
        return [texts]
    if hasattr(texts, "tolist") and not isinstance(texts, list):
        texts = texts.tolist()
    if not isinstance(texts, Sequence):
        raise DataError(f"Text inputs must be a string or a list of strings; received {type(texts).__name__}. "
                        'Pass e.g. ["a fine film", "dull"].')
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise DataError(f"Text input {index} is {type(text).__name__} ({text!r:.40}); expected a string. "
                            "Convert it with str(), or drop it.")
    return list(texts)


__all__ = ["TextPreprocessing", "TEXT_TARGET_KINDS", "MAX_LENGTH_CAP"]
