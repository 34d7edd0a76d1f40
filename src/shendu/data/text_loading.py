"""Text data for the three text tasks: read, split, fit the tokenizer on train, encode every split.

- :func:`load_text_classification`: texts and labels -> padded ids (N, T) and class indices.
- :func:`load_language_model`: a corpus -> one token stream per split (train) and
  next-token windows (val / test), split contiguously (no shuffling of lines).
- :func:`load_text_pairs`: aligned sentence pairs -> padded source ids and
  ``<bos> ... <eos>`` target ids, plus the reference sentences for BLEU.

Each returns a :class:`shendu.data.loading.DataBundle` whose ``preprocessing`` is a
:class:`TextPreprocessing` (stored in the run and replayed by ``predict``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from shendu.data.catalog import with_hints
from shendu.data.imbalance import handle_imbalance
from shendu.data.loading import DataBundle, describe_splits, remap_to_stored_classes
from shendu.data.registry import DATASETS
from shendu.data.sequences import pack_tokens
from shendu.data.sources import resolve_source
from shendu.data.splits import RawData, RawSplit, Split, SplitPlan, limit_train, split_raw_data
from shendu.data.text_preprocessing import MAX_LENGTH_CAP, TextPreprocessing
from shendu.data.tokenizers import build_tokenizer, unknown_rate
from shendu.errors import ConfigError, DataError, Problem

DEFAULT_TOKENIZERS = {"classification": "word", "language-model": "char", "sequence-to-sequence": "bpe"}


def _read(config: Any, target_kind: str, seed: int) -> tuple[RawData, dict[str, RawSplit], dict[str, str], dict[str, Any]]:
    """Resolve, read and split a text source for ``target_kind``; the training split limited by ``data.limit``.

    Returns the raw data, the splits, where each split came from, and facts for the data description.
    """
    name = resolve_source(config)
    config = with_hints(config, name)
    entry = DATASETS.entry(name)
    offered = entry.tags.get("target_kinds", ())
    if entry.tags.get("input_kind") not in (None, "text") or (offered and target_kind not in offered):
        fitting = [n for n in DATASETS.names() if target_kind in DATASETS.entry(n).tags.get("target_kinds", ())]
        raise DataError(f"Dataset {name!r} is not {target_kind} text (it provides {entry.tags.get('input_kind')} "
                        f"data for {' / '.join(offered) or 'unknown'} tasks). Choose one of: {', '.join(fitting)}.")
    raw = entry.constructor(config, target_kind=target_kind)
    if raw.input_kind != "text":
        raise DataError(f"{name} gave {raw.input_kind} data; the task reads text. Point data.path at text files.")
    if target_kind == "language-model" and config.split == "auto":
        config = config.model_copy(update={"split": "time"})  # a corpus is cut into contiguous pieces
    plan = SplitPlan.from_config(config, target_kind="classification" if target_kind == "classification" else
                                 "regression", seed=seed)
    parts, origins, facts = split_raw_data(raw, plan)
    parts["train"], note = limit_train(parts["train"], config.limit, seed, plan.method)
    if note:
        facts["limit"] = note
    return raw, parts, origins, {**facts, "source": name, "target_kind": target_kind, "seed": seed}


def _tokenizer(config: Any, target_kind: str) -> Any:
    spec = config.text.tokenizer or DEFAULT_TOKENIZERS[target_kind]
    try:
        return build_tokenizer(spec)
    except (TypeError, ValueError) as error:
        raise ConfigError([Problem("data.text.tokenizer", spec, "a tokenizer spec (shendu list tokenizers)",
                                   str(error))]) from None


def _max_length(config: Any, lengths: list[int]) -> int:
    if config.text.max_length is not None:
        return config.text.max_length
    return max(1, min(MAX_LENGTH_CAP, max(lengths, default=1)))


def load_text_classification(config: Any, *, seed: int, preprocessing: TextPreprocessing | None = None) -> DataBundle:
    """Texts with labels (``text-tsv``, ``text-folder``, SST-2) -> a bundle of padded ids and class indices.

    The tokenizer (``data.text.tokenizer``, default ``word``) is fitted on the
    training texts only; sequences are cut to ``data.text.max_length`` tokens.
    Class weights (``data.imbalance.class_weights``) and random over/under-sampling apply as for tables.
    """
    raw, parts, origins, facts = _read(config, "classification", seed)
    class_weights = None
    if preprocessing is None:
        parts["train"], class_weights, imbalance = handle_imbalance(
            config.imbalance, parts["train"], raw, target_kind="classification", seed=seed)
        if imbalance is not None:
            facts["imbalance"] = imbalance
        tokenizer = _tokenizer(config, "classification").fit(parts["train"].inputs["text"].tolist())
        train_lengths = [len(s) for s in tokenizer.encode_batch(parts["train"].inputs["text"].tolist())]
        preprocessing = TextPreprocessing("classification", tokenizer, _max_length(config, train_lengths),
                                          class_names=list(raw.class_names))
        facts["truncated_train_samples"] = int(sum(n > preprocessing.max_length for n in train_lengths))
    else:
        remap_to_stored_classes(preprocessing.class_names, parts, raw)
    splits, unknown = {}, {}
    for split, part in parts.items():
        ids, _ = preprocessing.encode_texts(part.inputs["text"].tolist())
        splits[split] = Split(ids, torch.as_tensor(np.asarray(part.targets), dtype=torch.int64),
                              torch.as_tensor(np.asarray(part.indices), dtype=torch.int64))
        unknown[split] = round(unknown_rate(ids[ids != preprocessing.padding_id].tolist()), 5)
    facts["unknown_token_rate"] = unknown
    return DataBundle(
        train=splits["train"], val=splits["val"], test=splits.get("test"), input_kind="tokens",
        input_shape=preprocessing.input_shape, class_names=preprocessing.class_names, target_names=None,
        feature_names=None, preprocessing=preprocessing,
        description=describe_splits(raw, parts, origins, preprocessing.class_names, **facts,
                                    preprocessing_options=preprocessing.summary()),
        class_weights=class_weights,
    )


def _corpus(part: RawSplit) -> str:
    """A split's lines joined back into one text (line breaks are tokens a language model learns)."""
    return "\n".join(part.inputs["text"].tolist())


def language_model_windows(stream: torch.Tensor, block_size: int) -> Split:
    """Non-overlapping (inputs, targets) windows of ``block_size`` tokens over a stream, for evaluation.

    The final partial window (fewer than ``block_size`` tokens) is dropped, so the
    held-out loss is a mean over full-context windows; a split shorter than one
    window becomes a single shorter window.
    """
    if stream.numel() < 2:
        raise DataError(f"A held-out split has {stream.numel()} token(s); expected at least 2 to predict one. "
                        "Lower data.val_fraction / data.test_fraction less, or give more text.")
    count = (stream.numel() - 1) // block_size
    inputs = stream[: count * block_size].view(count, block_size)  # (M, T)
    targets = stream[1 : count * block_size + 1].view(count, block_size)
    if count == 0:
        inputs, targets = stream[:-1].view(1, -1), stream[1:].view(1, -1)
    return Split(inputs, targets, torch.arange(inputs.shape[0]))


def load_language_model(config: Any, *, seed: int, preprocessing: TextPreprocessing | None = None) -> DataBundle:
    """A corpus (``text-lines``: tinyshakespeare, WikiText) -> token streams for a language model.

    Lines are split contiguously (``data.split: time`` unless set: the first
    part trains, the next validates, the last tests), joined back with line
    breaks and encoded whole. ``bundle.train`` holds the training stream as
    (tokens[:-1], tokens[1:]) pairs (the task cuts it into ``data.text.block_size``
    windows per epoch); val and test hold non-overlapping windows.
    """
    raw, parts, origins, facts = _read(config, "language-model", seed)
    corpora = {split: _corpus(part) for split, part in parts.items()}
    if preprocessing is None:
        tokenizer = _tokenizer(config, "language-model").fit([corpora["train"]])
        preprocessing = TextPreprocessing("language-model", tokenizer, block_size=config.text.block_size)
    tokenizer = preprocessing.tokenizer
    streams = {split: pack_tokens([tokenizer.encode(text)], separator_id=None) for split, text in corpora.items()}
    train = streams["train"]
    if train.numel() < preprocessing.block_size + 2:
        raise DataError(f"The training text has {train.numel()} tokens; expected more than block_size + 1 = "
                        f"{preprocessing.block_size + 1}. Lower data.text.block_size or give more text.")
    splits = {split: language_model_windows(stream, preprocessing.block_size) for split, stream in streams.items()
              if split != "train"}
    facts.update(tokens={s: int(t.numel()) for s, t in streams.items()},
                 characters={s: len(text) for s, text in corpora.items()},
                 unknown_token_rate={s: round(unknown_rate(t.tolist()), 5) for s, t in streams.items() if s != "train"})
    return DataBundle(
        train=Split(train[:-1], train[1:], torch.arange(train.numel() - 1)), val=splits["val"], test=splits.get("test"),
        input_kind="tokens", input_shape=preprocessing.input_shape, class_names=None, target_names=None,
        feature_names=None, preprocessing=preprocessing,
        description=describe_splits(raw, parts, origins, None, **facts, preprocessing_options=preprocessing.summary()),
        extras={"prompt": parts["val"].inputs["text"].tolist()[0] if len(parts["val"]) else "\n"},
    )


def load_text_pairs(config: Any, *, seed: int, preprocessing: TextPreprocessing | None = None) -> DataBundle:
    """Aligned sentence pairs (``text-pairs``: Multi30K) -> source ids (N, S) and target ids (N, T).

    Targets are ``<bos> tokens <eos>``; sources end with ``<eos>``. With
    ``data.text.shared_vocabulary`` (default) one tokenizer is fitted on both
    sides of the training pairs, otherwise one per side. ``bundle.extras["references"]``
    holds each split's target sentences as written, for BLEU and chrF.
    """
    raw, parts, origins, facts = _read(config, "sequence-to-sequence", seed)
    sources = {split: part.inputs["source"].tolist() for split, part in parts.items()}
    targets = {split: part.inputs["target"].tolist() for split, part in parts.items()}
    if preprocessing is None:
        tokenizer = _tokenizer(config, "sequence-to-sequence")
        if config.text.shared_vocabulary:
            tokenizer.fit(sources["train"] + targets["train"])
            target_tokenizer = None
        else:
            tokenizer.fit(sources["train"])
            target_tokenizer = _tokenizer(config, "sequence-to-sequence").fit(targets["train"])
        source_lengths = [len(s) + 1 for s in tokenizer.encode_batch(sources["train"])]
        target_lengths = [len(s) + 2 for s in (target_tokenizer or tokenizer).encode_batch(targets["train"])]
        preprocessing = TextPreprocessing("sequence-to-sequence", tokenizer, _max_length(config, source_lengths),
                                          target_tokenizer=target_tokenizer,
                                          target_max_length=_max_length(config, target_lengths))
    splits = {}
    for split, part in parts.items():
        source_ids, _ = preprocessing.encode_texts(sources[split], add_eos=True)
        target_ids, _ = preprocessing.encode_texts(targets[split], target=True, add_bos=True, add_eos=True)
        splits[split] = Split(source_ids, target_ids, torch.as_tensor(np.asarray(part.indices), dtype=torch.int64))
    return DataBundle(
        train=splits["train"], val=splits["val"], test=splits.get("test"), input_kind="tokens",
        input_shape=preprocessing.input_shape, class_names=None, target_names=None, feature_names=None,
        preprocessing=preprocessing,
        description=describe_splits(raw, parts, origins, None, **facts, preprocessing_options=preprocessing.summary()),
        extras={"references": targets, "sources": sources},
    )


__all__ = ["load_text_classification", "load_language_model", "load_text_pairs", "language_model_windows",
           "DEFAULT_TOKENIZERS"]
