"""Text augmentations on token ids: random deletion, random swap, synonym replacement.

They take a batch of token ids (B, T) (any integer dtype), padded at the end
with ``padding_id``, and return the same shape and dtype with padding still
at the end. The tokenizer that turns text into such ids arrives with the
text tasks; these ops only assume one id per word-like token. Every draw is
one vectorised call for the whole batch. The recipe is EDA (Wei & Zou 2019,
"EDA: Easy Data Augmentation Techniques for Boosting Performance on Text
Classification Tasks", EMNLP), which helps most on small training sets.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from shendu.data.augment_checks import check_integer, check_probability, check_tokens, option_problem
from shendu.data.formats_io import format_suffix, read_text, text_lines
from shendu.data.registry import AUGMENTATIONS
from shendu.errors import ConfigError, DataError, Problem


def _real_first(real: torch.Tensor) -> torch.Tensor:
    """(B, T) positions with the real (non-padding) tokens first, in their order."""
    return torch.argsort((~real).to(torch.int8), dim=1, stable=True)


@AUGMENTATIONS.register(
    "random-deletion",
    formula="drop each token with probability p (never all of a sample), then close the gaps; padding stays at the end",
    reference="Wei & Zou 2019, 'EDA: Easy Data Augmentation Techniques for ... Text Classification', EMNLP",
    applies_to="text",
)
class RandomDeletion:
    """Delete each token with probability p, keeping at least one token of every sample.

    Use it to make a text classifier robust to missing words and to stop it
    leaning on one keyword; p = 0.1 is the EDA setting. Remaining tokens
    keep their order and move left over the gaps.

    Args:
        p: probability that a token is deleted.
        padding_id: the id that pads sequences (never deleted, kept at the end).
    """

    def __init__(self, p: float = 0.1, padding_id: int = 0):
        self.p = check_probability("random-deletion", p)
        self.padding_id = check_integer("random-deletion", "padding_id", padding_id, -(2**62), "0")

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        check_tokens(tokens, "random-deletion")
        size, length = tokens.shape
        if self.p == 0.0 or tokens.numel() == 0:
            return tokens
        real = tokens != self.padding_id
        draws = torch.rand(2, size, length, device=tokens.device)
        keep = (draws[0] >= self.p) & real
        # A sample that would lose every token keeps one of them, chosen at random.
        rescue = draws[1].masked_fill(~real, -1.0).argmax(dim=1)  # (B,)
        emptied = real.any(dim=1) & ~keep.any(dim=1)
        keep |= (torch.arange(length, device=tokens.device) == rescue.unsqueeze(1)) & emptied.unsqueeze(1)
        compacted = tokens.gather(1, _real_first(keep))
        count = keep.sum(dim=1, keepdim=True)
        return compacted.masked_fill(torch.arange(length, device=tokens.device) >= count, self.padding_id)

    def __repr__(self) -> str:
        return f"RandomDeletion(p={self.p}, padding_id={self.padding_id})"


@AUGMENTATIONS.register(
    "random-swap",
    formula="n times: swap the tokens at two uniform random positions among the real tokens (probability p per sample)",
    reference="Wei & Zou 2019, 'EDA: Easy Data Augmentation Techniques for ... Text Classification', EMNLP",
    applies_to="text",
)
class RandomSwap:
    """Swap two random tokens of a sample, ``n`` times, with probability p per sample.

    Use it to make a classifier less sensitive to word order where order
    matters little (topic, sentiment); not for tasks that read structure
    (parsing, translation). Padding never moves; samples with fewer than two
    tokens are left as they are.

    Args:
        n: number of swaps per sample.
        p: probability that a sample is changed.
        padding_id: the id that pads sequences.
    """

    def __init__(self, n: int = 1, p: float = 1.0, padding_id: int = 0):
        self.n = check_integer("random-swap", "n", n, 0, "1")
        self.p = check_probability("random-swap", p)
        self.padding_id = check_integer("random-swap", "padding_id", padding_id, -(2**62), "0")

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        check_tokens(tokens, "random-swap")
        size, length = tokens.shape
        if self.p == 0.0 or self.n == 0 or tokens.numel() == 0:
            return tokens
        real = tokens != self.padding_id
        positions = _real_first(real)
        count = real.sum(dim=1)  # (B,)
        active = ((torch.rand(size, device=tokens.device) < self.p) & (count >= 2)).unsqueeze(1)  # (B, 1)
        draws = torch.rand(self.n, 2, size, device=tokens.device)
        out = tokens.clone()
        for swap in range(self.n):  # n is small: one vectorised swap over the batch per round
            ranks = (draws[swap] * count).long().clamp(max=length - 1)  # (2, B) ranks among the real tokens
            first = positions.gather(1, ranks[0].unsqueeze(1))  # (B, 1)
            second = positions.gather(1, ranks[1].unsqueeze(1))
            a, b = out.gather(1, first), out.gather(1, second)
            out.scatter_(1, first, torch.where(active, b, a))
            out.scatter_(1, second, torch.where(active, a, b))
        return out

    def __repr__(self) -> str:
        return f"RandomSwap(n={self.n}, p={self.p}, padding_id={self.padding_id})"


# -- synonym tables ------------------------------------------------------------------------------------
def _read(what: str, path: Path) -> str:
    """The file's text (plain, .gz or .bz2; UTF-8), its read errors prefixed with what the file is for."""
    try:
        return read_text(path)
    except DataError as error:
        raise DataError(f"Cannot read the {what}: {error}") from None


def read_synonyms(path: str | Path) -> dict[str, list[str]]:
    """A synonym table from a file: JSON ``{"word": ["synonym", ...]}``, or TSV lines ``word<TAB>synonym<TAB>...``."""
    path = Path(path)
    text = _read("synonym table (synonym-replacement's 'synonyms' option)", path)
    if format_suffix(path) == ".json":
        try:
            table = json.loads(text)
        except json.JSONDecodeError as error:
            raise DataError(f"{path}, line {error.lineno}, column {error.colno}: not valid JSON ({error.msg}). "
                            'Expected {"word": ["synonym", ...], ...}.') from None
        if not isinstance(table, dict) or not all(isinstance(v, (list, str)) for v in table.values()):
            raise DataError(f'{path}: expected a JSON object {{"word": ["synonym", ...]}}; received a '
                            f"{type(table).__name__}. Map each word to a list of synonyms.")
        return {str(k): [v] if isinstance(v, str) else [str(s) for s in v] for k, v in table.items()}
    table: dict[str, list[str]] = {}
    for number, line in enumerate(text_lines(text), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = [field.strip() for field in line.split("\t")]
        if len(fields) < 2 or not all(fields):
            raise DataError(f"{path}, line {number}: expected 'word<TAB>synonym[<TAB>synonym...]'; received "
                            f"{line!r}. Separate the word and its synonyms with tabs.")
        table.setdefault(fields[0], []).extend(fields[1:])
    if not table:
        raise DataError(f"{path}: the synonym table is empty. Add lines 'word<TAB>synonym'.")
    return table


def read_vocabulary(vocabulary: Any) -> dict[str, int]:
    """token -> id from a list (id = position), a mapping, or a file with one token per line (id = line - 1)."""
    if isinstance(vocabulary, (str, Path)):
        lines = text_lines(_read("vocabulary (one token per line: line n holds the token of id n - 1)", Path(vocabulary)))
        return {token: index for index, token in enumerate(lines)}
    if isinstance(vocabulary, Mapping):
        return {str(k): int(v) for k, v in vocabulary.items()}
    if isinstance(vocabulary, Sequence):
        return {str(token): index for index, token in enumerate(vocabulary)}
    raise option_problem("synonym-replacement", "vocabulary", vocabulary,
                         "a list of tokens, a {token: id} mapping or a path to a one-token-per-line file",
                         "vocab.txt")


def synonym_ids(synonyms: Mapping[Any, Any], vocabulary: Any) -> dict[int, list[int]]:
    """The table in token ids; entries whose word or synonym has no id are dropped (one token -> one token)."""
    if vocabulary is None:
        try:
            return {int(k): [int(s) for s in ([v] if isinstance(v, (str, int)) else v)] for k, v in synonyms.items()}
        except (TypeError, ValueError):
            raise ConfigError([Problem(
                "data.augment[synonym-replacement].vocabulary", None, "the vocabulary that maps words to token ids",
                "Give vocabulary= (a list of tokens or a file with one per line), or a synonym table of ids.",
            )]) from None
    ids = read_vocabulary(vocabulary)
    table: dict[int, list[int]] = {}
    for word, choices in synonyms.items():
        choices = [choices] if isinstance(choices, str) else list(choices)
        found = [ids[c] for c in choices if c in ids and c != word]
        if str(word) in ids and found:
            table.setdefault(ids[str(word)], []).extend(found)
    return table


@AUGMENTATIONS.register(
    "synonym-replacement",
    formula="each token w with synonyms S(w) in the table is replaced, with probability p, by a uniform choice from S(w)",
    reference="Wei & Zou 2019, 'EDA: Easy Data Augmentation Techniques for ... Text Classification', EMNLP",
    applies_to="text",
    explain_options={"synonyms": {"good": ["fine", "great"], "movie": ["film", "picture"], "funny": ["comic"],
                                  "slow": ["dull", "sluggish"], "story": ["plot", "tale"], "actors": ["cast"]},
                     "p": 0.5},
)
class SynonymReplacement:
    """Replace tokens by synonyms from a table you give, each with probability p.

    Use it on small text classification sets to show the model other words
    for the same meaning. The table maps a word to its synonyms: a mapping in
    the configuration, or a path to a JSON file ({"word": ["synonym", ...]})
    or a TSV file (word<TAB>synonym<TAB>...). Tokens are ids, so the
    ``vocabulary`` that maps words to ids is needed too; synonyms that are
    not one token of it are skipped. A table of ids needs no vocabulary.

    Args:
        synonyms: the table: {word: [synonyms]} or the path of a .json / .tsv file.
        vocabulary: the tokenizer's tokens (a list, id = position), a {token: id} mapping, or a file of
            one token per line; None when the table is in ids.
        p: probability that a token with synonyms is replaced.
        padding_id: the id that pads sequences (never replaced).
    """

    def __init__(self, synonyms: Mapping[str, Any] | str, vocabulary: Any = None, p: float = 0.1,
                 padding_id: int = 0):
        name = "synonym-replacement"
        self.p = check_probability(name, p)
        self.padding_id = check_integer(name, "padding_id", padding_id, -(2**62), "0")
        if isinstance(synonyms, (str, Path)):
            synonyms = read_synonyms(synonyms)
        if not isinstance(synonyms, Mapping) or not synonyms:
            raise option_problem(name, "synonyms", synonyms, "a non-empty {word: [synonyms]} mapping or a file path",
                                 '{"good": ["fine", "great"]}')
        table = synonym_ids(synonyms, vocabulary)
        if not table:
            raise DataError(f"synonym-replacement: none of the {len(synonyms)} words of the synonym table has a "
                            "synonym in the vocabulary. Check that the table's words are tokens of the vocabulary.")
        self.num_entries = len(table)
        width = max(len(choices) for choices in table.values())
        self._choices = torch.full((max(table) + 1, width), -1, dtype=torch.long)  # (V, K) synonym ids
        self._counts = torch.zeros(max(table) + 1, dtype=torch.long)  # (V,) synonyms per id
        for token, choices in table.items():
            self._choices[token, : len(choices)] = torch.tensor(choices)
            self._counts[token] = len(choices)

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        check_tokens(tokens, "synonym-replacement")
        if self.p == 0.0 or tokens.numel() == 0:
            return tokens
        if self._counts.device != tokens.device:  # moved once, then kept
            self._choices, self._counts = self._choices.to(tokens.device), self._counts.to(tokens.device)
        size = len(self._counts)
        known = (tokens >= 0) & (tokens < size) & (tokens != self.padding_id)
        index = tokens.long().clamp(0, size - 1)
        counts = self._counts[index] * known  # (B, T) synonyms of each token, 0 when none
        draws = torch.rand(2, *tokens.shape, device=tokens.device)
        replace = (draws[0] < self.p) & (counts > 0)
        choice = (draws[1] * counts).long().clamp(max=self._choices.shape[1] - 1)
        synonyms = self._choices[index, choice].to(tokens.dtype)
        return torch.where(replace, synonyms, tokens)

    def __repr__(self) -> str:
        return f"SynonymReplacement({self.num_entries} words, p={self.p}, padding_id={self.padding_id})"


__all__ = ["RandomDeletion", "RandomSwap", "SynonymReplacement", "read_synonyms", "read_vocabulary"]
