"""Tokenizers: text -> integer ids and back, trained on the training split.

Four built-ins share one surface (:class:`Tokenizer`), chosen by name from
``TOKENIZERS`` (``shendu list tokenizers``): ``char`` (one id per character),
``word`` (one id per regex word), ``bpe`` (byte-pair encoding) and
``wordpiece`` (BERT's subwords). The subword ones are trained by HuggingFace's
``tokenizers`` library, which is fast and well kept; char and word are a few
lines of numpy and ``re`` (in :mod:`shendu.data.tokenizer_codecs`), where the
library would add nothing.

Every tokenizer reserves the same ids: ``<pad>``=0, ``<unk>``=1, ``<bos>``=2,
``<eos>``=3, then any extra ``special_tokens`` from 4. A tokenizer is a
:class:`Tokenizer` holding a *codec* (the part that differs: how the
vocabulary is learned and how text is cut); ``to_dict`` / ``tokenizer_from_dict``
store and restore it as JSON, with the same ids for any text. The codecs and
the fixed special ids live in :mod:`shendu.data.tokenizer_codecs`; this module
is the surface and the registry.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from shendu.data.tokenizer_codecs import (
    BOS_ID,
    CONFIG_KEY,
    EOS_ID,
    FIXED_SPECIALS,
    PADDING_ID,
    UNKNOWN_ID,
    WORD_PATTERN,
    CharacterCodec,
    SubwordCodec,
    WordCodec,
    _num_specials,
    _problem,
)
from shendu.errors import DataError
from shendu.registry import Registry

TOKENIZERS = Registry("tokenizer", "tokenizers")
"""Tokenizers: ``constructor(**options) -> Tokenizer`` (not yet fitted)."""


# -- option checks -------------------------------------------------------------------------------
def _check_options(name: str, vocab_size: Any, min_frequency: Any, lowercase: Any, special_tokens: Any) -> dict[str, Any]:
    """Validate the options every tokenizer takes; return them as a JSON-able dict."""
    special_tokens = [] if special_tokens is None else special_tokens
    valid_specials = isinstance(special_tokens, (list, tuple)) and all(
        isinstance(t, str) and t and t not in FIXED_SPECIALS for t in special_tokens)
    if not valid_specials or len(set(special_tokens)) != len(special_tokens):
        raise _problem("special_tokens", special_tokens, "a list of distinct non-empty strings other than "
                       f"{', '.join(FIXED_SPECIALS)}", "Set e.g. special_tokens=['<sep>', '<mask>'].")
    smallest = len(FIXED_SPECIALS) + len(special_tokens) + 1
    if vocab_size is not None and (isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < smallest):
        raise _problem("vocab_size", vocab_size, f"an integer >= {smallest} (the special tokens plus one) for "
                       f"tokenizer {name!r}", "Set e.g. vocab_size=8000.")
    if isinstance(min_frequency, bool) or not isinstance(min_frequency, int) or min_frequency < 1:
        raise _problem("min_frequency", min_frequency, "a positive integer", "Set e.g. min_frequency=2.")
    if not isinstance(lowercase, bool):
        raise _problem("lowercase", lowercase, "true or false", "Set lowercase=true or lowercase=false.")
    return {"vocab_size": vocab_size, "min_frequency": min_frequency, "lowercase": lowercase,
            "special_tokens": list(special_tokens)}


def _id_list(ids: Any) -> list[int]:
    """A 1-D tensor, array or sequence of ids -> a list of Python ints."""
    if isinstance(ids, (torch.Tensor, np.ndarray)):
        if ids.ndim != 1:
            raise DataError(f"decode expects one sequence of ids (1-D); received shape {tuple(ids.shape)}. "
                            "Use decode_batch for a (B, T) batch.")
        return ids.tolist()
    return list(map(int, ids))


# -- the tokenizer every built-in returns ----------------------------------------------------------
class Tokenizer:
    """Text <-> ids with fixed special ids; the vocabulary is learned by ``fit`` on training texts.

    Args:
        name: the registry name ("char", "word", "bpe", "wordpiece").
        options: the validated constructor options (stored by ``to_dict``).
        codec: the object that learns the vocabulary and cuts text (``fit``,
            ``encode_many``, ``decode``, ``state``, ``load_state``, ``tokens``).
    """

    padding_id, unknown_id, bos_id, eos_id = PADDING_ID, UNKNOWN_ID, BOS_ID, EOS_ID

    def __init__(self, name: str, options: dict[str, Any], codec: Any):
        self.name, self.options, self.codec = name, options, codec
        self.special_tokens = list(FIXED_SPECIALS) + list(options["special_tokens"])
        self.fitted, self._lookup = False, {}

    def __repr__(self) -> str:
        size = self.vocab_size if self.fitted else "unfitted"
        return f"Tokenizer({self.name!r}, vocab_size={size})"

    def fit(self, texts: Iterable[str]) -> Tokenizer:
        """Learn the vocabulary from ``texts`` (the training split only) and return ``self``."""
        texts = list(texts)
        wrong = next((i for i, text in enumerate(texts) if not isinstance(text, str)), None)
        if wrong is not None:
            raise DataError(f"tokenizer {self.name!r} fits on strings; received {type(texts[wrong]).__name__} "
                            f"at position {wrong}. Pass the training texts as a list of str.")
        if not any(texts):
            raise DataError(f"tokenizer {self.name!r} cannot learn a vocabulary from an empty corpus; received "
                            f"{len(texts)} text(s), none with any characters. Check data.path and that the "
                            "training split is not empty.")
        self.codec.fit(texts, self.special_tokens)
        return self._ready()

    def load_state(self, state: dict[str, Any]) -> Tokenizer:
        """Take a learned vocabulary (``to_dict()["state"]``) instead of fitting; return ``self``."""
        self.codec.load_state(state)
        return self._ready()

    def _ready(self) -> Tokenizer:
        self.fitted = True
        self._lookup = {token: i for i, token in enumerate(self.codec.tokens)}
        return self

    def _require_fitted(self) -> None:
        if not self.fitted:
            raise DataError(f"tokenizer {self.name!r} has no vocabulary yet; call fit(training_texts) first, "
                            "or restore one with tokenizer_from_dict.")

    def encode(self, text: str, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        """The ids of ``text``, optionally framed by <bos> / <eos>."""
        return self.encode_batch([text], add_bos=add_bos, add_eos=add_eos)[0]

    def encode_batch(self, texts: Sequence[str], add_bos: bool = False, add_eos: bool = False) -> list[list[int]]:
        """The ids of each text (one vectorised call; no padding: see ``shendu.data.sequences.pad_sequences``)."""
        self._require_fitted()
        if isinstance(texts, str):
            raise DataError("encode_batch expects a list of texts; received one str. Use encode(text) for one text.")
        batch = self.codec.encode_many(texts)
        if add_bos or add_eos:
            head, tail = [BOS_ID] if add_bos else [], [EOS_ID] if add_eos else []
            batch = [head + ids + tail for ids in batch]
        return batch

    def decode(self, ids: Sequence[int] | torch.Tensor, skip_special: bool = True) -> str:
        """The text of one id sequence; ``skip_special`` drops <pad>, <bos>, <eos>, <unk> and extra specials."""
        self._require_fitted()
        ids = _id_list(ids)
        if ids and (min(ids) < 0 or max(ids) >= self.vocab_size):
            bad = min(ids) if min(ids) < 0 else max(ids)
            raise DataError(f"id {bad} is outside the vocabulary of tokenizer {self.name!r}; expected ids in "
                            f"[0, {self.vocab_size}). Decode ids produced with this tokenizer.")
        return self.codec.decode(ids, skip_special)

    def decode_batch(self, batch: Sequence[Sequence[int]] | torch.Tensor, skip_special: bool = True) -> list[str]:
        """The texts of a batch of id sequences (a (B, T) tensor or a list of lists)."""
        rows = batch.tolist() if isinstance(batch, (torch.Tensor, np.ndarray)) else batch
        return [self.decode(row, skip_special) for row in rows]

    @property
    def vocab_size(self) -> int:
        """The actual number of ids (special tokens included)."""
        self._require_fitted()
        return len(self.codec.tokens)

    def token(self, id: int) -> str:
        """The token string of ``id``."""
        if not 0 <= id < self.vocab_size:
            raise DataError(f"id {id} is outside the vocabulary; expected an id in [0, {self.vocab_size}).")
        return self.codec.tokens[id]

    def id(self, token: str) -> int:
        """The id of ``token`` (an error for a token outside the vocabulary)."""
        self._require_fitted()
        if token not in self._lookup:
            raise DataError(f"token {token!r} is not in the vocabulary of tokenizer {self.name!r}. Encode text "
                            "with encode() (unknown pieces map to <unk>), or add it via special_tokens.")
        return self._lookup[token]

    def unknown_rate(self, ids: Sequence[int] | Sequence[Sequence[int]] | torch.Tensor) -> float:
        """Fraction of tokens that are <unk>: see :func:`unknown_rate`."""
        return unknown_rate(ids)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able record; ``tokenizer_from_dict`` rebuilds a tokenizer giving the same ids."""
        self._require_fitted()
        return {"name": self.name, "options": dict(self.options), "state": self.codec.state()}


def unknown_rate(ids: Sequence[int] | Sequence[Sequence[int]] | torch.Tensor) -> float:
    """Fraction of tokens that are <unk> (id 1): how much of a split the vocabulary fails to cover.

    Args:
        ids: a flat list of ids, a list of id lists, or a tensor (padding, id 0,
            is not counted in a tensor). 0.0 when there are no tokens.
    """
    if isinstance(ids, torch.Tensor):
        real = int((ids != PADDING_ID).sum())
        return int((ids == UNKNOWN_ID).sum()) / real if real else 0.0
    flat = list(ids)
    if flat and not isinstance(flat[0], (int, np.integer)):
        flat = list(itertools.chain.from_iterable(flat))
    return flat.count(UNKNOWN_ID) / len(flat) if flat else 0.0


def tokenizer_from_dict(record: dict[str, Any]) -> Tokenizer:
    """Restore a fitted tokenizer from :meth:`Tokenizer.to_dict`'s record (no training)."""
    if not isinstance(record, dict) or not {"name", "options", "state"} <= set(record):
        keys = sorted(record) if isinstance(record, dict) else type(record).__name__
        raise DataError(f"a tokenizer record needs the keys name, options and state; received {keys}. "
                        "Pass the dict written by Tokenizer.to_dict().")
    return TOKENIZERS.get({"name": record["name"], **record["options"]}).load_state(record["state"])


def build_tokenizer(spec: Any) -> Tokenizer:
    """A tokenizer from a name (``"bpe"``), a mapping (``{"name": "bpe", "vocab_size": 4000}``) or a tokenizer.

    Unknown names and options raise an error naming the closest alternatives.
    """
    if isinstance(spec, Tokenizer):
        return spec
    TOKENIZERS.check(spec, CONFIG_KEY)
    return TOKENIZERS.get(spec)


# -- registered built-ins --------------------------------------------------------------------------
@TOKENIZERS.register(
    "char",
    formula="ids = [<specials>, sorted(characters seen in training)]; unseen character -> <unk>",
    reference="Karpathy 2015, The Unreasonable Effectiveness of Recurrent Neural Networks (char-rnn)",
)
def char(vocab_size: int | None = None, min_frequency: int = 1, lowercase: bool = False,
         special_tokens: list[str] | None = None) -> Tokenizer:
    """Character tokenizer: one id per Unicode character seen in training.

    The smallest vocabulary and no out-of-vocabulary words: the choice for
    character-level language models (tinyshakespeare) and tiny corpora.
    Sequences are long (one id per character). Characters are sorted by code
    point, so the same corpus always gives the same ids; decode is exact for
    seen characters. Special-token strings inside text are not recognised
    (they are just characters).

    Args:
        vocab_size: keep at most this many ids (specials included), the most
            frequent characters; None keeps every character (default).
        min_frequency: drop characters seen fewer times (1).
        lowercase: lower-case text before learning and encoding.
        special_tokens: extra special tokens, ids from 4 on.
    """
    options = _check_options("char", vocab_size, min_frequency, lowercase, special_tokens)
    return Tokenizer("char", options, CharacterCodec(options))


@TOKENIZERS.register(
    "word",
    formula="tokens = regex matches of pattern; vocabulary = tokens with count >= min_frequency, "
            "most frequent first, at most vocab_size",
    reference="Bengio et al. 2003, A Neural Probabilistic Language Model; Mikolov et al. 2010 (RNN LM)",
)
def word(vocab_size: int | None = 30000, min_frequency: int = 2, lowercase: bool = False,
         special_tokens: list[str] | None = None, pattern: str = WORD_PATTERN) -> Tokenizer:
    """Word tokenizer: one id per word or punctuation mark, rare words mapped to <unk>.

    The classic vocabulary of n-gram and early neural language models and of
    bag-of-words classifiers: short sequences and interpretable ids, at the
    price of <unk> for every rare or unseen word (check ``unknown_rate``).
    Decode joins tokens with spaces, without a space before , . ! ? ; : ' )
    or after ( : readable, but lossy (original spacing is not kept).

    Args:
        vocab_size: at most this many ids, specials included (30000); None: no cap.
        min_frequency: keep tokens seen at least this often in training (2).
        lowercase: lower-case text before learning and encoding.
        special_tokens: extra special tokens, ids from 4 on.
        pattern: regular expression for one token (default: runs of word
            characters, or single punctuation marks).
    """
    options = {**_check_options("word", vocab_size, min_frequency, lowercase, special_tokens), "pattern": pattern}
    return Tokenizer("word", options, WordCodec(options))


@TOKENIZERS.register(
    "bpe",
    formula="start from bytes (or characters); repeatedly merge the most frequent adjacent pair "
            "until vocab_size",
    reference="Sennrich, Haddow & Birch 2016, Neural Machine Translation of Rare Words with Subword Units; "
              "Radford et al. 2019 (GPT-2 byte-level BPE)",
)
def bpe(vocab_size: int = 8000, min_frequency: int = 2, lowercase: bool = False,
        special_tokens: list[str] | None = None, byte_level: bool = True) -> Tokenizer:
    """Byte-pair encoding: subwords learned by merging the most frequent adjacent pairs.

    The tokenizer of GPT-style language models and most translation systems:
    frequent words become one id, rare words split into a few pieces, so
    there are few or no unknowns with a vocabulary of a few thousand. Trained
    by HuggingFace ``tokenizers``. Byte-level (default) starts from the 256
    bytes: nothing is ever <unk> and decode(encode(text)) == text exactly
    (modulo ``lowercase``); ``byte_level=false`` starts from the characters
    seen, with SentencePiece-style '▁' word boundaries (unseen characters
    become <unk>). Special-token strings inside text are recognised.

    Args:
        vocab_size: target number of ids, specials included (8000); byte-level
            needs at least 256 + number of specials.
        min_frequency: merge only pairs seen at least this often (2).
        lowercase: lower-case text before learning and encoding.
        special_tokens: extra special tokens, ids from 4 on.
        byte_level: start from bytes (True) or from characters (False).
    """
    options = _check_options("bpe", vocab_size, min_frequency, lowercase, special_tokens)
    if not isinstance(byte_level, bool):
        raise _problem("byte_level", byte_level, "true or false", "Set byte_level=true or byte_level=false.")
    smallest = 256 + _num_specials(options)
    if vocab_size is None:
        raise _problem("vocab_size", None, "an integer for tokenizer 'bpe'", "Set vocab_size=8000.")
    if byte_level and vocab_size < smallest:
        raise _problem("vocab_size", vocab_size, f"an integer >= {smallest} for byte-level bpe (256 bytes plus "
                       "the special tokens)", f"Set vocab_size={max(smallest, 1000)} or byte_level=false.")
    options["byte_level"] = byte_level
    return Tokenizer("bpe", options, SubwordCodec("bpe", options))


@TOKENIZERS.register(
    "wordpiece",
    formula="greedy longest-match-first subwords; continuation pieces prefixed '##'; "
            "vocabulary grown by merges that most raise the corpus likelihood",
    reference="Schuster & Nakajima 2012, Japanese and Korean Voice Search; Wu et al. 2016 (GNMT); "
              "Devlin et al. 2019 (BERT)",
)
def wordpiece(vocab_size: int = 8000, min_frequency: int = 2, lowercase: bool = False,
              special_tokens: list[str] | None = None) -> Tokenizer:
    """WordPiece: BERT's subword vocabulary, words split into a stem and '##' continuations.

    Use it for classifiers and encoders in the BERT tradition. Text is first
    split on whitespace and punctuation (BERT's pre-tokenizer), then each word
    into the longest known pieces; a word with a character never seen becomes
    one <unk>. Trained by HuggingFace ``tokenizers``. Decode rejoins pieces and
    words with spaces and removes the space before . , ! ? — exact for plain
    sentences, lossy for other spacing (e.g. around brackets or quotes).

    Args:
        vocab_size: target number of ids, specials included (8000).
        min_frequency: keep pieces seen at least this often (2).
        lowercase: lower-case text before learning and encoding.
        special_tokens: extra special tokens, ids from 4 on.
    """
    options = _check_options("wordpiece", vocab_size, min_frequency, lowercase, special_tokens)
    if vocab_size is None:
        raise _problem("vocab_size", None, "an integer for tokenizer 'wordpiece'", "Set vocab_size=8000.")
    return Tokenizer("wordpiece", options, SubwordCodec("wordpiece", options))
