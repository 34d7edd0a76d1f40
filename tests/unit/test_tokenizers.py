"""shendu.data.tokenizers: ids checked by hand, round trips, persistence, registry errors, speed."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest
import torch

from shendu.data.tokenizers import (
    TOKENIZERS,
    Tokenizer,
    build_tokenizer,
    tokenizer_from_dict,
    unknown_rate,
)
from shendu.errors import ConfigError, DataError, UnknownComponentError

SENTENCES = [
    "The cat sat on the mat.",
    "The dog sat on the log.",
    "A cat and a dog played in the garden!",
    "Where is the cat? The cat is on the mat, and the dog is in the garden.",
    "Dogs and cats are friends, said the old man.",
] * 4
HELD_OUT = ["The old dog sat in the garden.", "Is the cat a friend of the dog?"]
SUBWORD_OPTIONS = {"bpe": {"vocab_size": 300, "min_frequency": 2}, "wordpiece": {"vocab_size": 120, "min_frequency": 2}}
TINYSHAKESPEARE = Path("/work/shared/data/tinyshakespeare/input.txt")


def _fitted(name, **options):
    return build_tokenizer({"name": name, **SUBWORD_OPTIONS.get(name, {}), **options}).fit(SENTENCES)


@pytest.mark.parametrize("name", TOKENIZERS.names())
def test_entry_is_documented(name):
    entry = TOKENIZERS.entry(name)
    assert entry.summary and entry.reference and "Args:" in entry.doc


@pytest.mark.parametrize("name", TOKENIZERS.names())
def test_special_ids_are_fixed_and_extra_specials_follow(name):
    tokenizer = _fitted(name, special_tokens=["<sep>", "<mask>"])
    assert [tokenizer.token(i) for i in range(6)] == ["<pad>", "<unk>", "<bos>", "<eos>", "<sep>", "<mask>"]
    assert (tokenizer.padding_id, tokenizer.unknown_id, tokenizer.bos_id, tokenizer.eos_id) == (0, 1, 2, 3)
    assert tokenizer.id("<sep>") == 4 and tokenizer.name == name
    ids = tokenizer.encode("the cat", add_bos=True, add_eos=True)
    assert ids[0] == 2 and ids[-1] == 3 and ids[1:-1] == tokenizer.encode("the cat")
    assert tokenizer.decode(ids) == tokenizer.decode(ids[1:-1])  # specials skipped by default


@pytest.mark.parametrize("name", TOKENIZERS.names())
def test_to_dict_restores_identical_ids(name):
    tokenizer = _fitted(name, special_tokens=["<sep>"])
    restored = tokenizer_from_dict(json.loads(json.dumps(tokenizer.to_dict())))
    texts = HELD_OUT + ["Zebras (unseen) & émigrés!"]
    assert restored.encode_batch(texts) == tokenizer.encode_batch(texts)
    assert restored.vocab_size == tokenizer.vocab_size and restored.name == name
    assert restored.decode(tokenizer.encode(HELD_OUT[0])) == tokenizer.decode(tokenizer.encode(HELD_OUT[0]))


@pytest.mark.parametrize("name", TOKENIZERS.names())
def test_encode_batch_matches_encode_and_decode_batch_reads_padded_tensors(name):
    tokenizer = _fitted(name)
    batch = tokenizer.encode_batch(HELD_OUT, add_eos=True)
    assert batch == [tokenizer.encode(text, add_eos=True) for text in HELD_OUT]
    width = max(len(ids) for ids in batch)
    padded = torch.tensor([ids + [0] * (width - len(ids)) for ids in batch])
    assert tokenizer.decode_batch(padded) == [tokenizer.decode(ids) for ids in batch]


def test_char_ids_by_hand_and_exact_round_trip():
    tokenizer = build_tokenizer("char").fit(["ba", "ca\n"])
    assert tokenizer.vocab_size == 4 + 4  # <pad> <unk> <bos> <eos> then "\n" "a" "b" "c" (sorted)
    assert tokenizer.encode("abc\n") == [5, 6, 7, 4]
    assert tokenizer.encode("abz") == [5, 6, 1]  # unseen character -> <unk>
    assert tokenizer.decode([5, 6, 1, 7]) == "abc" and tokenizer.decode([5, 1], skip_special=False) == "a<unk>"
    text = "cab\nbac"
    assert tokenizer.decode(tokenizer.encode(text)) == text
    assert tokenizer.decode(torch.tensor(tokenizer.encode(text))) == text


def test_char_vocab_cap_min_frequency_and_lowercase():
    corpus = ["aaaabbbcc d"]
    assert build_tokenizer({"name": "char", "vocab_size": 6}).fit(corpus).encode("abcd") == [4, 5, 1, 1]
    # min_frequency=3 keeps a (4x) and b (3x): ids 4, 5; c (2x), ' ' and d (1x) become <unk>.
    assert build_tokenizer({"name": "char", "min_frequency": 3}).fit(corpus).encode("cab") == [1, 4, 5]
    lower = build_tokenizer({"name": "char", "lowercase": True}).fit(["AbC"])
    assert lower.encode("ABC") == lower.encode("abc") == [4, 5, 6]


def test_word_vocabulary_order_frequency_and_cap():
    corpus = ["b a c a b a", "d , d"]  # a:3, b:2, d:2, c:1, ',':1
    tokenizer = build_tokenizer({"name": "word", "min_frequency": 2}).fit(corpus)
    assert [tokenizer.token(i) for i in range(4, tokenizer.vocab_size)] == ["a", "b", "d"]  # ties alphabetical
    assert tokenizer.encode("a b c d") == [4, 5, 1, 6]
    capped = build_tokenizer({"name": "word", "min_frequency": 1, "vocab_size": 6}).fit(corpus)
    assert capped.vocab_size == 6 and capped.encode("a b d") == [4, 5, 1]
    assert capped.unknown_rate(capped.encode_batch(["a b d", "c"])) == 0.5


def test_word_decode_attaches_punctuation_and_lowercases():
    tokenizer = build_tokenizer({"name": "word", "min_frequency": 1, "lowercase": True})
    tokenizer.fit(["Hello, world (again)! Is it; yes: no."])
    ids = tokenizer.encode("HELLO, World (again)! Is it; yes: no.")
    assert tokenizer.decode(ids) == "hello, world (again)! is it; yes: no."


@pytest.mark.parametrize("name", ["bpe", "wordpiece"])
def test_subword_round_trip_on_plain_sentences(name):
    tokenizer = _fitted(name)
    assert tokenizer.vocab_size <= SUBWORD_OPTIONS[name]["vocab_size"]
    # Plain sentences of seen characters (wordpiece maps a word with an unseen character to <unk>).
    for text in SENTENCES[:5] + ["The dog sat on the mat, and the cat is in the garden!"]:
        assert tokenizer.decode(tokenizer.encode(text)) == text
    # Subwords: a frequent word is one id, fewer ids than characters overall.
    assert len(tokenizer.encode(SENTENCES[3])) < len(SENTENCES[3]) / 2


def test_byte_level_bpe_never_unknown_and_metaspace_bpe_marks_unseen_characters():
    byte_level = _fitted("bpe")
    text = "Ünïcode  spaces\tand 日本語\n"
    ids = byte_level.encode(text)
    assert 1 not in ids and byte_level.decode(ids) == text
    characters = _fitted("bpe", byte_level=False, vocab_size=80)
    ids = characters.encode("the cat ~")
    assert ids.count(1) == 1 and characters.decode(ids) == "the cat "


def test_wordpiece_unseen_character_is_unknown_and_lowercase_normalises():
    tokenizer = _fitted("wordpiece", lowercase=True)
    assert tokenizer.encode("THE CAT") == tokenizer.encode("the cat")
    ids = tokenizer.encode("the ~ cat")
    assert ids.count(1) == 1 and tokenizer.unknown_rate([ids]) == pytest.approx(1 / len(ids))


@pytest.mark.parametrize("name", TOKENIZERS.names())
def test_fitting_twice_gives_the_same_ids(name):
    # Raw WordPieceTrainer numbers '##' pieces in hash order (huggingface/tokenizers#1794); ours must not.
    generator = random.Random(0)
    words = ["".join(generator.choice("abcdefghij") for _ in range(generator.randint(2, 7))) for _ in range(200)]
    corpus = [" ".join(generator.choice(words) for _ in range(12)) for _ in range(100)]
    options = {"name": name, "vocab_size": 300 if name == "bpe" else 150, "min_frequency": 1}
    vocabularies = [build_tokenizer(options).fit(corpus).to_dict()["state"] for _ in range(5)]
    assert all(vocabulary == vocabularies[0] for vocabulary in vocabularies)


def test_unknown_rate_by_hand():
    assert unknown_rate([1, 5, 1, 4]) == 0.5
    assert unknown_rate([[1, 5, 1], [4]]) == 0.5
    assert unknown_rate(torch.tensor([[5, 1, 0], [1, 0, 0]])) == pytest.approx(2 / 3)  # padding not counted
    assert unknown_rate([]) == 0.0


def test_registry_errors_for_unknown_name_and_option():
    with pytest.raises(UnknownComponentError, match="Did you mean 'bpe'"):
        build_tokenizer("bpee")
    with pytest.raises(ConfigError, match="vocab_sise.*Did you mean 'vocab_size'"):
        build_tokenizer({"name": "char", "vocab_sise": 10})
    with pytest.raises(ConfigError, match="min_frequency"):
        build_tokenizer({"name": "word", "min_frequency": 0})
    with pytest.raises(ConfigError, match="vocab_size"):
        build_tokenizer({"name": "bpe", "vocab_size": 100})  # byte-level needs 256 + specials
    with pytest.raises(ConfigError, match="special_tokens"):
        build_tokenizer({"name": "wordpiece", "special_tokens": ["<pad>"]})
    with pytest.raises(ConfigError, match="pattern"):
        build_tokenizer({"name": "word", "pattern": "(a)|b"})
    prebuilt = build_tokenizer("char")
    assert build_tokenizer(prebuilt) is prebuilt and isinstance(prebuilt, Tokenizer)


def test_bad_use_gives_clear_errors():
    with pytest.raises(DataError, match="empty corpus"):
        build_tokenizer("char").fit(["", ""])
    with pytest.raises(DataError, match="call fit"):
        build_tokenizer("word").encode("hello")
    tokenizer = build_tokenizer("char").fit(["ab"])
    with pytest.raises(DataError, match=r"outside the vocabulary.*\[0, 6\)"):
        tokenizer.decode([4, 6])
    with pytest.raises(DataError, match="not in the vocabulary"):
        tokenizer.id("z")


def test_char_encodes_tinyshakespeare_in_well_under_a_second():
    if not TINYSHAKESPEARE.exists():
        pytest.skip(f"{TINYSHAKESPEARE} is absent")
    text = TINYSHAKESPEARE.read_text(encoding="utf-8")
    tokenizer = build_tokenizer("char").fit([text])
    start = time.perf_counter()
    ids = tokenizer.encode(text)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"char encode of {len(text)} characters took {elapsed:.2f} s"
    assert len(ids) == len(text) and tokenizer.vocab_size == 4 + len(set(text))
    assert tokenizer.decode(ids[:5000]) == text[:5000]
