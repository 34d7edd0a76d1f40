"""Text classification: a sentence or document in, one of C classes out (sentiment, topic, intent)."""

from __future__ import annotations

from typing import Any

import torch

from shendu.data.batching import TensorBatches
from shendu.data.imbalance import ClassBalancedBatchSampler
from shendu.data.text_loading import load_text_classification
from shendu.tasks.registry import TASKS
from shendu.tasks.text_base import TokenTask


class TextClassificationTask(TokenTask):
    """Token ids -> class logits; batches grouped by length so little of each is padding."""

    def train_batches(self, bundle: Any, config: Any, device: torch.device) -> TensorBatches:
        """Length-bucketed batches; class-balanced ones instead when ``data.imbalance.balanced_batches`` is set."""
        sampler = ClassBalancedBatchSampler(
            bundle.train.targets, config.train.batch_size, seed=config.seed, drop_last=config.train.drop_last,
        ) if config.data.imbalance.balanced_batches else None
        return self.bucketed_batches(bundle, config, device, sampler)

    def predict(self, model: torch.nn.Module, preprocessing: Any, inputs: Any, *, config: Any = None,
                batch_size: int = 256, **options: Any) -> list[dict[str, Any]]:
        """Strings -> ``{"text", "label", "probability", "probabilities"}`` per string."""
        texts = [inputs] if isinstance(inputs, str) else list(inputs)
        predictions = super().predict(model, preprocessing, texts, config=config, batch_size=batch_size, **options)
        return [{"text": text, **prediction} for text, prediction in zip(texts, predictions)]


@TASKS.register("text-classification", summary="Assign each text one of C classes (cross-entropy on logits).",
                formula="ids = tokenize(text); p = softmax(f(ids)); loss = -mean(log p[y]); prediction = argmax p",
                reference="Kim 2014, Convolutional Neural Networks for Sentence Classification; "
                          "Devlin et al. 2019, BERT", inputs=("text",))
def text_classification() -> TextClassificationTask:
    """Assign each text (a sentence, a review, a document) one of C classes.

    Data: a TSV / CSV with a text column and a label column (``text-tsv``,
    e.g. SST-2), or one folder of .txt files per class (``text-folder``). The
    tokenizer (``data.text.tokenizer``: word by default; char, bpe, wordpiece)
    is fitted on the training texts and saved with the run, so ``predict``
    reads strings exactly as training did. Default model: ``gru`` (a
    bidirectional-capable recurrent classifier); others: ``lstm``, ``rnn``,
    ``textcnn``, ``transformer-encoder``. Loss ``cross-entropy``; metrics:
    accuracy, macro precision / recall / F1 and the confusion matrix. A
    prediction is a label with its softmax probability.
    """
    return TextClassificationTask(
        name="text-classification", target_kind="classification", input_kinds=("tokens",),
        default_models={"tokens": {"name": "gru"}}, default_loss={"name": "cross-entropy"},
        role="classifier", loader=load_text_classification,
    )
