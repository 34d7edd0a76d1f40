"""Sequence-to-sequence: a sentence in, a sentence out (translation), decoded greedily or by beam search."""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

from shendu.data.batching import TensorBatches, evaluation_batches
from shendu.data.sequences import pad_sequences, trim_padding, trim_padding_together
from shendu.data.text_loading import load_text_pairs
from shendu.data.tokenizers import BOS_ID, EOS_ID, PADDING_ID
from shendu.engine.device import autocast, to_device
from shendu.errors import ConfigError, DataError, Problem
from shendu.metrics import build_metrics
from shendu.models.generation import beam_search, greedy_decode
from shendu.tasks.registry import TASKS
from shendu.tasks.text_base import TokenTask, token_loss

EPOCH_BLEU_SENTENCES = 1000  # greedy val BLEU at each epoch end reads at most this many sentences


class SequenceToSequenceTask(TokenTask):
    """Teacher-forced training on (source, <bos> target <eos>) pairs; BLEU and chrF on decoded text."""

    def monitor(self) -> tuple[str, str]:
        if self.decoding is not None and self.decoding.every_epoch:
            return "val.bleu", "max"
        return "val.loss", "min"

    def train_batches(self, bundle: Any, config: Any, device: torch.device) -> TensorBatches:
        """Batches of pairs of similar source length (length buckets), in a seeded random order."""
        return self.bucketed_batches(bundle, config, device)

    def make_step(self, loss_fn: nn.Module, augment_specs: list | None = None, num_classes: int | None = None, *,
                  input_kind: str | None = None, normalization: Any = None):
        """``step(model, (source, target)) -> loss`` of predicting target[1:] from source and target[:-1]."""
        if augment_specs:
            raise ConfigError([Problem("data.augment", augment_specs, "no augmentation for sequence-to-sequence",
                                       "No augmentation keeps a source and its translation aligned yet; "
                                       "remove data.augment.")])

        def step(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
            source, target = trim_padding_together(batch[0], batch[1])
            return token_loss(loss_fn, model(source, target[:, :-1]), target[:, 1:])

        return step

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: Any, loss_fn: nn.Module, bundle: Any, batch_size: int,
                 device: torch.device, precision: str = "fp32") -> dict[str, Any]:
        """Teacher-forced loss per target token (padding ignored) and its perplexity."""
        was_training = model.training
        model.eval()
        total = torch.zeros((), device=device, dtype=torch.float64)
        count = torch.zeros((), device=device, dtype=torch.float64)
        padding_id = bundle.preprocessing.padding_id
        for batch in evaluation_batches(split, batch_size):
            source, target = to_device(batch, device)
            source, target = trim_padding_together(source, target, padding_id=padding_id)
            with autocast(precision, device):
                logits = model(source, target[:, :-1]).float()
            tokens = (target[:, 1:] != padding_id).sum()
            total += token_loss(loss_fn, logits, target[:, 1:]).double() * tokens
            count += tokens
        model.train(was_training)
        loss = float(total / count.clamp(min=1))
        return {"loss": loss, "perplexity": float(torch.exp(torch.tensor(min(loss, 50.0))))}

    def decode_ids(self, model: nn.Module, source_ids: torch.Tensor, *, beam_size: int = 1,
                   length_penalty: float = 0.0, max_length: int | None = None, length_cap: int | None = None,
                   batch_size: int = 128) -> list[list[int]]:
        """Padded source ids (N, S) -> target ids per sentence (no <bos> / <eos>): greedy for ``beam_size`` 1,
        else beam search; at most ``max_length`` tokens (default 1.5 x source length + 10, capped at ``length_cap``)."""
        device = next(model.parameters()).device
        sequences: list[list[int]] = []
        for start in range(0, len(source_ids), batch_size):
            source = trim_padding(source_ids[start : start + batch_size].to(device), PADDING_ID)
            limit = max_length or int(1.5 * source.shape[1]) + 10
            common = {"bos_id": BOS_ID, "eos_id": EOS_ID, "max_length": min(limit, length_cap or limit)}
            if beam_size == 1:
                sequences += greedy_decode(model, source, **common)
            else:
                sequences += beam_search(model, source, beam_size=beam_size, length_penalty=length_penalty, **common)
        return sequences

    def translate(self, model: nn.Module, preprocessing: Any, source_ids: torch.Tensor, *, beam_size: int,
                  length_penalty: float, max_length: int | None = None, batch_size: int = 128) -> list[str]:
        """Decode padded source ids (N, S) into strings with the run's target tokenizer."""
        sequences = self.decode_ids(model, source_ids, beam_size=beam_size, length_penalty=length_penalty,
                                    max_length=max_length, length_cap=preprocessing.target_max_length,
                                    batch_size=batch_size)
        return [preprocessing.output_tokenizer.decode(ids) for ids in sequences]

    def outputs(self, model: nn.Module, inputs: torch.Tensor, batch_size: int, device: torch.device,
                precision: str = "fp32") -> torch.Tensor:
        """Greedy translations of padded source ids (N, S) as padded target ids (N, T) (no <bos> / <eos>)."""
        return pad_sequences(self.decode_ids(model, inputs, batch_size=batch_size), padding_id=PADDING_ID)[0]

    def _scores(self, hypotheses: list[str], references: list[str]) -> dict[str, float]:
        metrics = build_metrics(None, "sequence-to-sequence")
        metrics.update(hypotheses, references)
        return {name: float(value) for name, value in metrics.compute().items()}

    def epoch_metrics(self, model: nn.Module, bundle: Any, device: torch.device) -> dict[str, Any]:
        """Greedy BLEU / chrF on (at most 1000 sentences of) the validation split: the BLEU-by-epoch curve."""
        if self.decoding is None or not self.decoding.every_epoch:
            return {}
        count = min(EPOCH_BLEU_SENTENCES, len(bundle.val))
        hypotheses = self.translate(model, bundle.preprocessing, bundle.val.inputs[:count], beam_size=1,
                                    length_penalty=0.0, max_length=self.decoding.max_length)
        references = [bundle.extras["references"]["val"][int(i)] for i in bundle.val.indices[:count]]
        return self._scores(hypotheses, references)

    def finish(self, model: nn.Module, bundle: Any, run_dir: Any, config: Any, device: torch.device,
               metrics: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """BLEU / chrF of the best checkpoint on val and test with the configured search; translations saved."""
        decoding = self.decoding
        facts: dict[str, Any] = {"decoding": {"beam_size": decoding.beam_size, "length_penalty": decoding.length_penalty}}
        for name in ("val", "test"):
            split = getattr(bundle, name)
            if split is None or name not in metrics:
                continue
            started = time.perf_counter()
            hypotheses = self.translate(model, bundle.preprocessing, split.inputs, beam_size=decoding.beam_size,
                                        length_penalty=decoding.length_penalty, max_length=decoding.max_length)
            references = [bundle.extras["references"][name][int(i)] for i in split.indices]
            metrics[name].update(self._scores(hypotheses, references))
            facts.setdefault("decode_seconds", {})[name] = round(time.perf_counter() - started, 2)
            sources = [bundle.extras["sources"][name][int(i)] for i in split.indices]
            run_dir.write_json(f"predictions/translations-{name}.json", [
                {"source": s, "reference": r, "translation": h} for s, r, h in zip(sources, references, hypotheses)])
        return facts

    def predict(self, model: nn.Module, preprocessing: Any, inputs: Any = None, *, config: Any = None,
                batch_size: int = 128, text: str | None = None, beam_size: int | None = None,
                length_penalty: float | None = None, max_length: int | None = None) -> list[dict[str, Any]]:
        """Translate ``text`` (or each string of ``inputs``): ``[{"source", "translation"}]``."""
        texts = [text] if text is not None else ([inputs] if isinstance(inputs, str) else list(inputs or []))
        if not texts:
            raise DataError('Nothing to translate: pass text="A man is riding a bike." or a list of strings.')
        decoding = self.decoding
        source_ids = preprocessing.encode_inputs(texts)
        translations = self.translate(
            model, preprocessing, source_ids, beam_size=beam_size or decoding.beam_size,
            length_penalty=decoding.length_penalty if length_penalty is None else length_penalty,
            max_length=max_length or decoding.max_length, batch_size=batch_size)
        return [{"source": s, "translation": t} for s, t in zip(texts, translations)]


@TASKS.register("sequence-to-sequence", summary="Map a sentence to another (translation); beam-search decoding.",
                formula="loss = -mean_t log p(y_t | y_<t, x) (teacher forcing); y* = argmax_y log p(y | x) / lp(|y|), "
                        "lp = ((5 + |y|) / 6) ** alpha",
                reference="Sutskever et al. 2014, Sequence to Sequence Learning; Bahdanau et al. 2015; "
                          "Vaswani et al. 2017, Attention Is All You Need", inputs=("text",))
def sequence_to_sequence() -> SequenceToSequenceTask:
    """Learn to map an input sentence to an output sentence, e.g. English to German.

    Data: aligned files ``<split>.<language>[.gz]`` (``text-pairs``;
    Multi30K), source and target languages from ``data.features`` /
    ``data.target``. One BPE vocabulary is fitted on both sides of the
    training pairs by default (``data.text``). Training is teacher-forced
    cross-entropy with label smoothing 0.1, padding ignored. Each epoch ends
    with greedy BLEU / chrF on the validation sentences (the BLEU-by-epoch
    curve, and the checkpoint monitor); the best checkpoint is then decoded
    with beam search (``decoding.beam_size``, ``decoding.length_penalty``)
    and scored with sacrebleu on the detokenised text against the reference
    sentences as written. Default model: ``transformer-seq2seq``; also
    ``gru-attention``. Predict with ``shendu predict RUN --text "A man is riding a bike."``.
    """
    return SequenceToSequenceTask(
        name="sequence-to-sequence", target_kind="sequence-to-sequence", input_kinds=("tokens",),
        default_models={"tokens": {"name": "transformer-seq2seq"}},
        default_loss={"name": "cross-entropy", "ignore_index": 0, "label_smoothing": 0.1},
        role="sequence-to-sequence", loader=load_text_pairs,
    )
