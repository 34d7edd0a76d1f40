"""What the three text tasks share: token models built from the run's tokenizer, padding trimmed per batch.

Text classification, text generation and sequence-to-sequence all read token
ids (B, T), right-padded with id 0. :class:`TokenTask` builds a registered
model for them (``input_kind="tokens"``, with the vocabulary size and padding
id the fitted tokenizer fixes), checks that the model's ``role`` is the one the
task needs, and drops all-padding columns of each batch before the forward
pass: batches of short sentences then cost what their longest sentence costs,
not what the longest sentence of the dataset costs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from shendu.data.batching import TensorBatches
from shendu.data.sequences import LengthBucketSampler, trim_padding
from shendu.data.text_preprocessing import TextPreprocessing
from shendu.engine.device import place
from shendu.errors import ConfigError, Problem
from shendu.models import build_model
from shendu.tasks.base import SupervisedTask


@dataclass
class TokenTask(SupervisedTask):
    """A :class:`SupervisedTask` over token ids.

    Args (beyond SupervisedTask's):
        loader: ``loader(data_config, seed=, preprocessing=) -> DataBundle`` (``shendu.data.text_loading``).
    """

    loader: Callable[..., Any] | None = None
    decoding: Any = field(default=None, repr=False)

    def configure(self, config: Any) -> TokenTask:
        self.decoding = config.decoding
        return self

    def load_data(self, data_config: Any, seed: int, preprocessing: Any = None) -> Any:
        if data_config.stream:
            raise ConfigError([Problem("data.stream", True, "false for text tasks",
                                       "Text corpora are tokenised in memory; set data.stream=false.")])
        return self.loader(data_config, seed=seed, preprocessing=preprocessing)

    def num_outputs(self, data: Any) -> int:
        preprocessing = self.stored(data)
        if self.role == "classifier":
            return len(preprocessing.class_names)
        return preprocessing.output_tokenizer.vocab_size

    def build_model(self, spec: Any, data: Any) -> nn.Module:
        """A token model for the run's tokenizer; its ``role`` must be the task's."""
        preprocessing: TextPreprocessing = self.stored(data)
        spec = spec if spec is not None else self.default_models["tokens"]
        self.check_role(spec, "tokens")
        return build_model(spec, preprocessing.input_shape, self.num_outputs(preprocessing), input_kind="tokens",
                           vocab_size=preprocessing.vocab_size, padding_id=preprocessing.padding_id)

    def bucketed_batches(self, bundle: Any, config: Any, device: torch.device, sampler: Any = None) -> TensorBatches:
        """Training batches of similar input length (a seeded shuffle sorted within buckets of 100 batches,
        the batches shuffled), or the batches of ``sampler`` when one is given."""
        train = config.train
        if sampler is None:
            lengths = (bundle.train.inputs != bundle.preprocessing.padding_id).sum(dim=1)
            sampler = LengthBucketSampler(lengths, train.batch_size, seed=config.seed, drop_last=train.drop_last)
        return TensorBatches(place((bundle.train.inputs, bundle.train.targets), device), train.batch_size,
                             seed=config.seed, drop_last=train.drop_last, sampler=sampler)

    def forward(self, model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        # One host sync per batch to find the longest row: far cheaper than attending over padding.
        return model(trim_padding(inputs))


def token_loss(loss_fn: nn.Module, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """A per-token loss over (B, T, V) logits and (B, T) targets, flattened to (B*T, V) and (B*T,)."""
    return loss_fn(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


__all__ = ["TokenTask", "token_loss"]
