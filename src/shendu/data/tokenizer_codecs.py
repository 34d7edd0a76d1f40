"""Tokenizer codecs: the part of a tokenizer that differs between built-ins.

A :class:`shendu.data.tokenizers.Tokenizer` holds the surface every built-in
shares (fixed special ids, checks, batching, persistence) and delegates the
vocabulary work to a *codec*: :class:`CharacterCodec` (one id per character),
:class:`WordCodec` (one id per regex token) and :class:`SubwordCodec` (BPE or
WordPiece, trained by HuggingFace ``tokenizers``).

The contract the Tokenizer relies on; every codec:

- takes the validated options dict in its constructor (``lowercase``,
  ``min_frequency``, ``vocab_size``, ``special_tokens`` and any codec-specific
  keys) and raises a ``ConfigError`` for a bad codec-specific option;
- ``fit(texts, specials)``: learns the vocabulary from the training texts,
  with ``specials`` (the fixed ``<pad>``, ``<unk>``, ``<bos>``, ``<eos>`` then the
  extra special tokens) as ids 0, 1, 2, ...;
- ``tokens``: the list of token strings, indexed by id (its length is the
  vocabulary size);
- ``encode_many(texts) -> list[list[int]]``: the ids of each text, without
  <bos>/<eos> (the Tokenizer adds those); unknown pieces map to ``UNKNOWN_ID``;
- ``decode(ids, skip_special) -> str``: the text of ids already checked to be
  in range, dropping special ids when ``skip_special``;
- ``state() -> dict`` / ``load_state(state)``: a JSON-able record of the
  learned vocabulary and its restoration, giving the same ids for any text.

The fixed special ids and the option-error helper live here, below the
tokenizer surface, so both modules share them.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from shendu.errors import ConfigError, Problem

CONFIG_KEY = "data.text.tokenizer"  # where a run configuration names the tokenizer (used in messages)
FIXED_SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>")
PADDING_ID, UNKNOWN_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
WORD_PATTERN = r"\w+|[^\w\s]"
NO_SPACE_BEFORE = frozenset(",.!?;:')")
NO_SPACE_AFTER = frozenset("(")


def _problem(key: str, received: Any, expected: str, fix: str) -> ConfigError:
    return ConfigError([Problem(f"{CONFIG_KEY}.{key}", received, expected, fix)])


# -- codecs: the part of a tokenizer that differs --------------------------------------------------
def _lowered(texts: Sequence[str], options: dict[str, Any]) -> Sequence[str]:
    return [text.lower() for text in texts] if options["lowercase"] else texts


def _num_specials(options: dict[str, Any]) -> int:
    return len(FIXED_SPECIALS) + len(options["special_tokens"])


def _code_points(text: str) -> np.ndarray:
    """The Unicode code points of ``text`` as uint32 (vectorised, no per-character Python)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


class CharacterCodec:
    """One id per character, looked up with a binary search over the sorted code points."""

    def __init__(self, options: dict[str, Any]):
        self.options, self.tokens = options, []
        self.codes = np.zeros(0, dtype=np.uint32)

    def fit(self, texts: list[str], specials: list[str]) -> None:
        codes, counts = np.unique(_code_points("".join(_lowered(texts, self.options))), return_counts=True)
        keep = counts >= self.options["min_frequency"]
        codes, counts = codes[keep], counts[keep]
        if self.options["vocab_size"] is not None:
            room = self.options["vocab_size"] - len(specials)
            codes = np.sort(codes[np.lexsort((codes, -counts))[:room]])  # most frequent, then by code point
        self.load_state({"tokens": specials + [chr(c) for c in codes.tolist()]})

    def encode_many(self, texts: Sequence[str]) -> list[list[int]]:
        texts = _lowered(texts, self.options)
        points = _code_points("".join(texts))
        first = _num_specials(self.options)
        positions = np.minimum(np.searchsorted(self.codes, points), max(len(self.codes) - 1, 0))
        known = self.codes[positions] == points if len(self.codes) else np.zeros(len(points), dtype=bool)
        flat = np.where(known, positions + first, UNKNOWN_ID).tolist()
        bounds = np.cumsum([0] + [len(t) for t in texts]).tolist()
        return [flat[a:b] for a, b in zip(bounds, bounds[1:])]

    def decode(self, ids: list[int], skip_special: bool) -> str:
        first = _num_specials(self.options)
        values = np.asarray(ids, dtype=np.int64)
        if skip_special:
            values = values[values >= first]
        if (values < first).any():  # specials are several characters: join strings
            return "".join(self.tokens[i] for i in values.tolist())
        return self.codes[values - first].astype("<u4").tobytes().decode("utf-32-le", "surrogatepass")

    def state(self) -> dict[str, Any]:
        return {"tokens": list(self.tokens)}

    def load_state(self, state: dict[str, Any]) -> None:
        self.tokens = list(state["tokens"])
        self.codes = _code_points("".join(self.tokens[_num_specials(self.options):])).copy()


class WordCodec:
    """One id per regex token, vocabulary by frequency; decode re-joins with spaces (lossy)."""

    def __init__(self, options: dict[str, Any]):
        self.options, self.tokens, self.lookup = options, [], {}
        try:
            self.pattern = re.compile(options["pattern"])
        except (re.error, TypeError) as error:
            raise _problem("pattern", options["pattern"], "a valid regular expression", f"Fix it ({error}) "
                           f"or use the default {WORD_PATTERN!r}.") from None
        if self.pattern.groups:
            raise _problem("pattern", options["pattern"], "a regular expression without capturing groups",
                           "Write groups as (?:...) so each match is one whole token.")

    def fit(self, texts: list[str], specials: list[str]) -> None:
        counts: Counter[str] = Counter()
        for text in _lowered(texts, self.options):
            counts.update(self.pattern.findall(text))
        kept = sorted((t for t, n in counts.items() if n >= self.options["min_frequency"]),
                      key=lambda t: (-counts[t], t))  # most frequent first, ties alphabetical
        cap = self.options["vocab_size"]
        self.load_state({"tokens": specials + (kept if cap is None else kept[: cap - len(specials)])})

    def encode_many(self, texts: Sequence[str]) -> list[list[int]]:
        lookup = self.lookup
        findall = self.pattern.findall
        return [[lookup.get(t, UNKNOWN_ID) for t in findall(text)] for text in _lowered(texts, self.options)]

    def decode(self, ids: list[int], skip_special: bool) -> str:
        specials = _num_specials(self.options)
        pieces: list[str] = []
        for token in (self.tokens[i] for i in ids if not (skip_special and i < specials)):
            if pieces and token not in NO_SPACE_BEFORE and pieces[-1] not in NO_SPACE_AFTER:
                pieces.append(" ")
            pieces.append(token)
        return "".join(pieces)

    def state(self) -> dict[str, Any]:
        return {"tokens": list(self.tokens)}

    def load_state(self, state: dict[str, Any]) -> None:
        self.tokens = list(state["tokens"])
        self.lookup = {token: i for i, token in enumerate(self.tokens)}


def _hf() -> Any:
    try:
        import tokenizers
    except ImportError:  # an optional dependency: only the subword tokenizers need it
        raise ImportError("The bpe and wordpiece tokenizers need HuggingFace's tokenizers library; "
                          "install it with: pip install tokenizers") from None
    return tokenizers


def _inside_word(character: str) -> bool:
    """False for whitespace and for what BERT's pre-tokenizer splits off as punctuation."""
    point = ord(character)
    ascii_punctuation = 33 <= point <= 47 or 58 <= point <= 64 or 91 <= point <= 96 or 123 <= point <= 126
    return not (character.isspace() or ascii_punctuation or unicodedata.category(character).startswith("P"))


def _continuation_characters(texts: Sequence[str], texts_per_chunk: int = 10000) -> list[str]:
    """The sorted characters that follow another character inside a word somewhere in ``texts``."""
    found: set[int] = set()
    for start in range(0, len(texts), texts_per_chunk):  # chunks bound the memory of the arrays
        points = _code_points("\n".join(texts[start : start + texts_per_chunk]))
        unique, inverse = np.unique(points, return_inverse=True)
        inside = np.array([_inside_word(chr(c)) for c in unique.tolist()], dtype=bool)[inverse]
        found.update(np.unique(points[1:][inside[1:] & inside[:-1]]).tolist())
    return [chr(c) for c in sorted(found)]


class SubwordCodec:
    """BPE or WordPiece, trained and applied by HuggingFace ``tokenizers``."""

    def __init__(self, kind: str, options: dict[str, Any]):
        self.kind, self.options, self.backend, self.tokens = kind, options, None, []

    def _new_backend(self, specials: list[str], vocabulary: dict[str, int] | None = None) -> tuple[Any, Any]:
        """A fresh backend (untrained, or a WordPiece with ``vocabulary``) and the trainer that fits it."""
        hf, options = _hf(), self.options
        common = dict(vocab_size=options["vocab_size"], min_frequency=options["min_frequency"],
                      special_tokens=specials, show_progress=False)
        if self.kind == "wordpiece":
            backend = hf.Tokenizer(hf.models.WordPiece(vocabulary, unk_token="<unk>"))
            backend.pre_tokenizer, backend.decoder = hf.pre_tokenizers.BertPreTokenizer(), hf.decoders.WordPiece()
            trainer = hf.trainers.WordPieceTrainer(**common)
        elif options["byte_level"]:
            # Byte-level (GPT-2): every text is 256 byte symbols, so nothing is unknown and decode is exact.
            backend = hf.Tokenizer(hf.models.BPE())
            backend.pre_tokenizer = hf.pre_tokenizers.ByteLevel(add_prefix_space=False)
            backend.decoder = hf.decoders.ByteLevel()
            trainer = hf.trainers.BpeTrainer(initial_alphabet=hf.pre_tokenizers.ByteLevel.alphabet(), **common)
        else:
            # SentencePiece-style: spaces become '▁' inside tokens; unseen characters become <unk>.
            backend = hf.Tokenizer(hf.models.BPE(unk_token="<unk>"))
            backend.pre_tokenizer, backend.decoder = hf.pre_tokenizers.Metaspace(), hf.decoders.Metaspace()
            trainer = hf.trainers.BpeTrainer(**common)
        if options["lowercase"]:
            backend.normalizer = hf.normalizers.Lowercase()
        return backend, trainer

    def fit(self, texts: list[str], specials: list[str]) -> None:
        if self.kind == "bpe":
            backend, trainer = self._new_backend(specials)
            backend.train_from_iterator(texts, trainer, length=len(texts))
            self._use(backend)
            return
        # WordPieceTrainer numbers each '##c' piece in hash-map order, and merges with equal counts are
        # ordered by id, so the vocabulary changes from run to run (huggingface/tokenizers#1794). Listing
        # the pieces first (as specials: numbered in order) makes it deterministic; the final tokenizer
        # then holds them as ordinary vocabulary entries, numbered after the true specials in sorted order.
        pieces = ["##" + c for c in _continuation_characters(_lowered(texts, self.options))]
        trained, trainer = self._new_backend(specials + pieces)
        trained.train_from_iterator(texts, trainer, length=len(texts))
        ordered = specials + sorted(set(trained.get_vocab()) - set(specials))
        backend, _ = self._new_backend(specials, {t: i for i, t in enumerate(ordered)})
        backend.add_special_tokens(specials)
        self._use(backend)

    def encode_many(self, texts: Sequence[str]) -> list[list[int]]:
        return [encoding.ids for encoding in self.backend.encode_batch(list(texts), add_special_tokens=False)]

    def decode(self, ids: list[int], skip_special: bool) -> str:
        return self.backend.decode(ids, skip_special_tokens=skip_special)

    def state(self) -> dict[str, Any]:
        return {"tokenizer": self.backend.to_str()}

    def load_state(self, state: dict[str, Any]) -> None:
        self._use(_hf().Tokenizer.from_str(state["tokenizer"]))

    def _use(self, backend: Any) -> None:
        self.backend = backend
        self.tokens = [backend.id_to_token(i) for i in range(backend.get_vocab_size())]

