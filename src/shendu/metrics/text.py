"""Text metrics: perplexity for language models; corpus BLEU and chrF for sequence-to-sequence.

Perplexity reads the model's logits directly: ``update(logits (B, T, V),
targets (B, T))``. BLEU and chrF read text: ``update(predictions: list[str],
references: list[str])``, one reference per prediction, detokenised (the
task turns ids back into strings first). Both are corpus-level scores: the
n-gram counts of every sentence are summed and the score is computed once
from the sums, so they are *not* the mean of sentence scores. They are
computed by sacrebleu, the reference implementation that papers report
(Post 2018, "A Call for Clarity in Reporting BLEU Scores"), on its 0..100
scale; only the summed counts are kept between batches.

Every constructor is ``(num_classes=None, num_outputs=None, **options) ->
torchmetrics.Metric``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from sacrebleu.metrics import BLEU, CHRF
from torchmetrics import Metric

from shendu.errors import ConfigError, DataError, Problem
from shendu.metrics.registry import METRICS


class Perplexity(Metric):
    """exp of the mean negative log-likelihood per target token, accumulated over batches.

    Written here rather than taken from ``torchmetrics.text.Perplexity``: that one
    takes ``log(softmax(logits))``, which underflows to ``inf`` for a confident
    mistake over a large vocabulary; ``cross_entropy`` works in log space.

    Args:
        ignore_index: targets equal to this id (usually the padding id 0) are skipped.
    """

    full_state_update = False
    higher_is_better = False
    is_differentiable = False

    def __init__(self, ignore_index: int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.ignore_index = ignore_index
        self.add_state("total_nll", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.zeros((), dtype=torch.int64), dist_reduce_fx="sum")

    def update(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        if logits.dim() != 3 or targets.shape != logits.shape[:2] or targets.is_floating_point():
            raise DataError(
                f"perplexity expects logits (B, T, V) and integer targets (B, T); received logits "
                f"{tuple(logits.shape)} and targets {tuple(targets.shape)} ({targets.dtype}). "
                "Pass the language model's output and the next-token ids."
            )
        ignore = -100 if self.ignore_index is None else self.ignore_index
        flat_targets = targets.reshape(-1).long()  # (B * T,)
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), flat_targets, ignore_index=ignore,
                              reduction="sum")
        self.total_nll += nll.double()
        self.count += (flat_targets != ignore).sum()

    def compute(self) -> torch.Tensor:
        return torch.exp(self.total_nll / self.count).float()


@METRICS.register(
    "perplexity",
    formula="perplexity = exp(-(1 / N) * sum_t log p(y_t | y_<t)) over the N counted target tokens",
    reference="Jelinek et al. 1977; torchmetrics.text.Perplexity",
    kind="language-model",
    higher_is_better=False,
)
def perplexity(num_classes: int | None = None, num_outputs: int | None = None, ignore_index: int | None = None) -> Metric:
    """Perplexity: how many tokens the model is as unsure as choosing between, on average.

    The standard measure of a language model, e^(cross-entropy in nats). 1 is
    perfect; a uniform guess over V tokens scores V. It only compares models
    with the same tokenizer: a coarser vocabulary changes what a token is.

    Formula: perplexity = exp(-(1 / N) * sum_t log p(y_t | y_<t))

    Args:
        num_classes: unused; accepted so every metric is built the same way.
        num_outputs: unused (the vocabulary size comes from the logits).
        ignore_index: target id to skip, e.g. 0 for right-padded batches; None counts every token.
    """
    if ignore_index is not None and (isinstance(ignore_index, bool) or not isinstance(ignore_index, int)):
        raise ConfigError([Problem("metrics", f"perplexity with ignore_index={ignore_index!r}",
                                   "an integer token id or null", "Set {name: perplexity, ignore_index: 0}.")])
    return Perplexity(ignore_index=ignore_index)


class CorpusScore(Metric):
    """A sacrebleu corpus metric (BLEU, chrF) that keeps only the summed sentence statistics.

    The statistics are integer counts (n-gram matches, hypothesis and reference
    lengths), so summing them over batches, or over processes, gives exactly the
    score of the whole corpus at once.

    Args:
        scorer: a configured ``sacrebleu.metrics.BLEU`` or ``CHRF``.
        num_statistics: how many counts one sentence yields for that scorer.
    """

    full_state_update = False
    higher_is_better = True
    is_differentiable = False

    def __init__(self, scorer: BLEU | CHRF, num_statistics: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.scorer = scorer
        self.add_state("statistics", default=torch.zeros(num_statistics, dtype=torch.int64), dist_reduce_fx="sum")

    def update(self, predictions: list[str], references: list[str]) -> None:
        valid = isinstance(predictions, (list, tuple)) and isinstance(references, (list, tuple))
        valid = valid and all(isinstance(text, str) for text in [*predictions, *references])
        if not valid or len(predictions) != len(references):
            raise DataError(
                f"{type(self.scorer).__name__} expects two lists of strings of the same length (predictions, "
                f"references); received {type(predictions).__name__} and {type(references).__name__} of lengths "
                f"{_length(predictions)} and {_length(references)}. Decode the ids to text first, one reference each."
            )
        if not predictions:
            return
        # sacrebleu's own split of corpus_score into per-sentence counts and a score from their sum.
        per_sentence = self.scorer._extract_corpus_statistics(list(predictions), [list(references)])
        self.statistics += torch.tensor(per_sentence, dtype=torch.int64).sum(0).to(self.statistics.device)

    def compute(self) -> torch.Tensor:
        score = self.scorer._compute_score_from_stats(self.statistics.tolist()).score
        return torch.tensor(score, dtype=torch.float32)


def _length(value: Any) -> Any:
    return len(value) if isinstance(value, (list, tuple)) else "?"


def _option_error(metric: str, key: str, value: Any, expected: str, example: str) -> ConfigError:
    return ConfigError([Problem(f"metrics.{metric}.{key}", value, expected, f"Set e.g. {{name: {metric}, {example}}}.")])


@METRICS.register(
    "bleu",
    formula="bleu = 100 * BP * exp((1/4) * sum_n log p_n), BP = min(1, exp(1 - ref_len / hyp_len))",
    reference="Papineni et al. 2002, BLEU; sacrebleu (Post 2018), 13a tokenizer, exp smoothing",
    kind="sequence-to-sequence",
    higher_is_better=True,
)
def bleu(num_classes: int | None = None, num_outputs: int | None = None, tokenize: str = "13a",
         lowercase: bool = False) -> Metric:
    """Corpus BLEU: n-gram precision of the predictions against the references, with a brevity penalty.

    The headline number of machine translation. p_n is the corpus-wide
    fraction of predicted n-grams (n = 1..4, counts clipped by the reference)
    that occur in the reference; BP punishes predictions shorter than the
    references. Word-based, so it is harsh on morphology and paraphrase: read
    it next to chrF. Scores from different tokenizers do not compare.

    Formula: bleu = 100 * BP * exp((1/4) * sum_n log p_n), BP = min(1, exp(1 - ref_len / hyp_len))

    Args:
        num_classes: unused; accepted so every metric is built the same way.
        num_outputs: unused.
        tokenize: sacrebleu tokenizer: "13a" (the WMT default), "intl", "char", "zh", "none", ...
        lowercase: compare case-insensitively.
    """
    if not isinstance(lowercase, bool):
        raise _option_error("bleu", "lowercase", lowercase, "true or false", "lowercase: true")
    if tokenize not in BLEU.TOKENIZERS:
        listed = ", ".join(BLEU.TOKENIZERS)
        raise _option_error("bleu", "tokenize", tokenize, f"a sacrebleu tokenizer: {listed}", "tokenize: 13a")
    scorer = BLEU(tokenize=tokenize, lowercase=lowercase)
    return CorpusScore(scorer, num_statistics=2 + 2 * scorer.max_ngram_order)


@METRICS.register(
    "chrf",
    formula="chrf = 100 * (1 + beta^2) * P * R / (beta^2 * P + R), P and R averaged over character n-grams 1..6",
    reference="Popovic 2015, chrF; Popovic 2017, chrF++ (word_order=2); sacrebleu",
    kind="sequence-to-sequence",
    higher_is_better=True,
)
def chrf(num_classes: int | None = None, num_outputs: int | None = None, char_order: int = 6, word_order: int = 0,
         beta: int = 2, lowercase: bool = False) -> Metric:
    """Corpus chrF: the F-score of character n-gram overlap between predictions and references.

    Kinder than BLEU to morphology and small spelling differences, and it
    needs no tokenizer; it correlates better with human judgement on many
    language pairs. beta = 2 weighs recall twice as much as precision.
    ``word_order=2`` adds word uni- and bigrams: chrF++.

    Formula: chrf = 100 * (1 + beta^2) * P * R / (beta^2 * P + R)

    Args:
        num_classes: unused; accepted so every metric is built the same way.
        num_outputs: unused.
        char_order: the longest character n-gram.
        word_order: the longest word n-gram (0: none; 2: chrF++).
        beta: how many times more recall weighs than precision.
        lowercase: compare case-insensitively.
    """
    for key, value, low in (("char_order", char_order, 1), ("word_order", word_order, 0), ("beta", beta, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise _option_error("chrf", key, value, f"an integer >= {low}", f"{key}: {max(low, 2)}")
    if not isinstance(lowercase, bool):
        raise _option_error("chrf", "lowercase", lowercase, "true or false", "lowercase: true")
    scorer = CHRF(char_order=char_order, word_order=word_order, beta=beta, lowercase=lowercase)
    # Per n-gram order: hypothesis count, reference count, matches.
    return CorpusScore(scorer, num_statistics=3 * (char_order + word_order))
