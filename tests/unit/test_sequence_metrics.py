"""Language-model, sequence-to-sequence and forecasting metrics against sacrebleu and hand-computed values."""

from __future__ import annotations

import math

import pytest
import sacrebleu
import torch

from shendu.errors import ConfigError, DataError
from shendu.metrics import METRICS, build_metrics, seasonal_naive_scale

PREDICTIONS = [
    "the cat sat on the mat",
    "a dog barked at the postman yesterday",
    "I have been to Paris twice.",
    "she reads books",
]
REFERENCES = [
    "the cat is sitting on the mat",
    "the dog barked at the postman",
    "I have visited Paris twice.",
    "she is reading a book",
]


# -- text ----------------------------------------------------------------------------
def test_bleu_and_chrf_equal_sacrebleu_corpus_scores() -> None:
    collection = build_metrics(None, "sequence-to-sequence")
    assert sorted(collection.keys()) == ["bleu", "chrf"]
    collection.update(PREDICTIONS, REFERENCES)
    values = collection.compute()
    expected_bleu = sacrebleu.corpus_bleu(PREDICTIONS, [REFERENCES]).score
    expected_chrf = sacrebleu.corpus_chrf(PREDICTIONS, [REFERENCES]).score
    assert 0 < expected_bleu < 100 and 0 < expected_chrf < 100
    assert values["bleu"].item() == pytest.approx(expected_bleu, rel=1e-6)
    assert values["chrf"].item() == pytest.approx(expected_chrf, rel=1e-6)


def test_corpus_bleu_is_not_the_mean_of_sentence_bleu() -> None:
    metric = METRICS.get("bleu", num_classes=None, num_outputs=None)
    for prediction, reference in zip(PREDICTIONS, REFERENCES):  # one sentence per batch
        metric.update([prediction], [reference])
    corpus = sacrebleu.corpus_bleu(PREDICTIONS, [REFERENCES]).score
    sentence_mean = sum(sacrebleu.sentence_bleu(p, [r]).score for p, r in zip(PREDICTIONS, REFERENCES)) / 4
    assert metric.compute().item() == pytest.approx(corpus, rel=1e-6)
    assert abs(corpus - sentence_mean) > 1


def test_text_metric_options_follow_sacrebleu() -> None:
    shouting = [p.upper() for p in PREDICTIONS]
    lowered = METRICS.get({"name": "bleu", "lowercase": True}, num_classes=None, num_outputs=None)
    lowered.update(shouting, REFERENCES)
    expected = sacrebleu.corpus_bleu(shouting, [REFERENCES], lowercase=True).score
    assert lowered.compute().item() == pytest.approx(expected, rel=1e-6)
    chrf_plus_plus = METRICS.get({"name": "chrf", "word_order": 2}, num_classes=None, num_outputs=None)
    chrf_plus_plus.update(PREDICTIONS, REFERENCES)
    expected = sacrebleu.corpus_chrf(PREDICTIONS, [REFERENCES], word_order=2).score
    assert chrf_plus_plus.compute().item() == pytest.approx(expected, rel=1e-6)


def test_perfect_translations_score_100() -> None:
    collection = build_metrics(None, "sequence-to-sequence")
    collection.update(REFERENCES, REFERENCES)
    assert [collection.compute()[k].item() for k in ("bleu", "chrf")] == pytest.approx([100.0, 100.0])


def test_text_metric_errors() -> None:
    bleu = METRICS.get("bleu", num_classes=None, num_outputs=None)
    with pytest.raises(DataError, match="same length"):
        bleu.update(PREDICTIONS, REFERENCES[:2])
    with pytest.raises(DataError, match="Decode the ids to text"):
        bleu.update(torch.tensor([[4, 5]]), torch.tensor([[4, 5]]))
    with pytest.raises(ConfigError, match="tokenize"):
        METRICS.get({"name": "bleu", "tokenize": "no-such-tokenizer"}, num_classes=None, num_outputs=None)
    with pytest.raises(ConfigError, match="char_order"):
        METRICS.get({"name": "chrf", "char_order": 0}, num_classes=None, num_outputs=None)


# -- language model ------------------------------------------------------------------
def test_perplexity_is_exp_of_mean_nll_by_hand_ignoring_padding() -> None:
    probabilities = torch.tensor([[0.1, 0.5, 0.2, 0.2], [0.3, 0.25, 0.125, 0.325], [0.25, 0.25, 0.25, 0.25]])
    logits = probabilities.log().unsqueeze(0)  # (1, 3, 4)
    targets = torch.tensor([[1, 2, 0]])  # the last position is padding
    collection = build_metrics(None, "language-model")
    assert list(collection.keys()) == ["perplexity"]
    masked = METRICS.get({"name": "perplexity", "ignore_index": 0}, num_classes=None, num_outputs=None)
    masked.update(logits, targets)
    # NLL = -ln 0.5 = ln 2 and -ln 0.125 = ln 8: the mean is 2 ln 2, so the perplexity is 4.
    assert masked.compute().item() == pytest.approx(4.0, rel=1e-5)
    collection.update(logits, targets)  # counts the padding too: NLL ln 4 on top
    assert collection.compute()["perplexity"].item() == pytest.approx(math.exp((math.log(16) + math.log(4)) / 3), rel=1e-5)


def test_uniform_guess_has_perplexity_of_the_vocabulary_size() -> None:
    metric = METRICS.get("perplexity", num_classes=None, num_outputs=None)
    metric.update(torch.zeros(3, 5, 50), torch.randint(0, 50, (3, 5), generator=torch.Generator().manual_seed(0)))
    assert metric.compute().item() == pytest.approx(50.0, rel=1e-5)


def test_perplexity_stays_finite_for_a_confident_mistake() -> None:
    # Probability e^-120 underflows float32 (smallest ~e^-103): log(softmax) would be inf; log_softmax is not.
    logits = torch.zeros(1, 10, 1000)
    logits[0, :, 0] = 120.0
    targets = torch.zeros(1, 10, dtype=torch.int64)
    targets[0, 0] = 1  # one token with NLL ~ 120, nine with NLL ~ 0
    metric = METRICS.get("perplexity", num_classes=None, num_outputs=None)
    metric.update(logits, targets)
    assert metric.compute().item() == pytest.approx(math.exp(12.0), rel=1e-4)


def test_perplexity_rejects_wrong_shapes_and_options() -> None:
    metric = METRICS.get("perplexity", num_classes=None, num_outputs=None)
    with pytest.raises(DataError, match=r"logits \(B, T, V\)"):
        metric.update(torch.zeros(2, 5), torch.zeros(2, dtype=torch.int64))
    with pytest.raises(ConfigError, match="ignore_index"):
        METRICS.get({"name": "perplexity", "ignore_index": "pad"}, num_classes=None, num_outputs=None)


# -- forecasting ---------------------------------------------------------------------
def test_smape_by_hand_with_a_zero_pair() -> None:
    metric = METRICS.get("smape", num_classes=None, num_outputs=None)
    # Terms: 2*2/(1+3) = 1; 0/0 counts 0; 0; 2*2/(1+1) = 2 (opposite signs: the maximum).
    metric.update(torch.tensor([[3.0, 0.0], [2.0, 1.0]]), torch.tensor([[1.0, 0.0], [2.0, -1.0]]))
    assert metric.compute().item() == pytest.approx(100 * (1 + 0 + 0 + 2) / 4)


def test_mase_by_hand_with_a_seasonal_naive_scale() -> None:
    series = torch.tensor([1.0, 3.0, 2.0, 5.0, 4.0])
    assert seasonal_naive_scale(series) == pytest.approx((2 + 1 + 3 + 1) / 4)
    assert seasonal_naive_scale(series, season=2) == pytest.approx((1 + 2 + 2) / 3)
    collection = build_metrics(None, "forecasting", scale=seasonal_naive_scale(series, season=2))
    assert sorted(collection.keys()) == ["mae", "mase", "rmse", "smape"]
    collection.update(torch.tensor([[5.0, 6.0, 4.0]]), torch.tensor([[4.0, 6.0, 6.0]]))
    values = collection.compute()
    assert values["mae"].item() == pytest.approx(1.0)
    assert values["mase"].item() == pytest.approx(1.0 / (5 / 3))
    assert values["rmse"].item() == pytest.approx(math.sqrt(5 / 3))


def test_mase_needs_a_scale_and_a_usable_training_series() -> None:
    with pytest.raises(ConfigError, match="seasonal_naive_scale"):
        build_metrics(None, "forecasting")
    with pytest.raises(ConfigError, match="a positive number"):
        build_metrics(["mase"], "forecasting", scale=0.0)
    with pytest.raises(DataError, match="constant"):
        seasonal_naive_scale(torch.full((10,), 3.0))
    with pytest.raises(DataError, match="N > season"):
        seasonal_naive_scale(torch.arange(4.0), season=4)
    with pytest.raises(ValueError, match="season"):
        seasonal_naive_scale(torch.arange(4.0), season=0)
    smape = METRICS.get("smape", num_classes=None, num_outputs=None)
    with pytest.raises(DataError, match="same shape"):
        smape.update(torch.zeros(2, 3), torch.zeros(2, 4))


def test_scale_is_supplied_never_a_config_option() -> None:
    problems = METRICS.problems({"name": "mase", "scale": 2.0}, "metrics.0")
    assert len(problems) == 1 and problems[0].key == "metrics.0.scale" and "sets scale itself" in problems[0].fix


def test_wrong_kind_errors_for_the_new_kinds() -> None:
    with pytest.raises(ConfigError, match="expected a language-model metric; received 'bleu'"):
        build_metrics(["bleu"], "language-model")
    with pytest.raises(ConfigError, match="expected a regression metric; received 'smape'"):
        build_metrics(["smape"], "regression")
    with pytest.raises(ConfigError, match="choose from: mae, mase, rmse, smape"):
        build_metrics(["accuracy"], "forecasting", scale=1.0)
