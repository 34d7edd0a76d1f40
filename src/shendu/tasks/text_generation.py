"""Text generation: a language model over characters or subwords, sampled with temperature, top-k and top-p."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from shendu.data.batching import evaluation_batches
from shendu.data.sequences import LanguageModelBatches
from shendu.data.text_loading import load_language_model
from shendu.engine.device import autocast, place, to_device
from shendu.errors import ConfigError, Problem
from shendu.models.generation import sample
from shendu.tasks.registry import TASKS
from shendu.tasks.text_base import TokenTask, token_loss


class TextGenerationTask(TokenTask):
    """Next-token prediction on windows of a token stream; generation by sampling."""

    def forward(self, model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        return model(inputs)  # windows of a stream hold no padding

    def monitor(self) -> tuple[str, str]:
        return "val.loss", "min"

    def train_batches(self, bundle: Any, config: Any, device: torch.device) -> LanguageModelBatches:
        """Windows of ``data.text.block_size`` + 1 tokens at a fresh seeded offset and order every epoch."""
        stream = torch.cat([bundle.train.inputs, bundle.train.targets[-1:]])
        return LanguageModelBatches(place((stream,), device)[0], bundle.preprocessing.block_size,
                                    config.train.batch_size, seed=config.seed, drop_last=config.train.drop_last)

    def make_step(self, loss_fn: nn.Module, augment_specs: list | None = None, num_classes: int | None = None, *,
                  input_kind: str | None = None, normalization: Any = None):
        """``step(model, (inputs (B, T), targets (B, T))) -> mean next-token cross-entropy``."""
        if augment_specs:
            raise ConfigError([Problem("data.augment", augment_specs, "no augmentation for text-generation",
                                       "A language model learns the text as written; remove data.augment.")])

        def step(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
            inputs, targets = batch
            return token_loss(loss_fn, model(inputs), targets)

        return step

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: Any, loss_fn: nn.Module, bundle: Any, batch_size: int,
                 device: torch.device, precision: str = "fp32") -> dict[str, Any]:
        """Mean next-token loss over every predicted token of ``split``, perplexity = exp(loss),
        and bits per token = loss / ln 2 (bits per character for a character model)."""
        was_training = model.training
        model.eval()
        total = torch.zeros((), device=device, dtype=torch.float64)
        count = 0
        for batch in evaluation_batches(split, max(1, batch_size // 4)):
            inputs, targets = to_device(batch, device)
            with autocast(precision, device):
                logits = model(inputs).float()
            total += token_loss(loss_fn, logits, targets).double() * targets.numel()
            count += targets.numel()
        model.train(was_training)
        loss = float(total / max(count, 1))
        return {"loss": loss, "perplexity": math.exp(min(loss, 50.0)), "bits_per_token": loss / math.log(2)}

    def epoch_metrics(self, model: nn.Module, bundle: Any, device: torch.device) -> dict[str, Any]:
        """A sample of ``decoding.max_tokens`` tokens from ``decoding.prompt`` (default: the first val line)."""
        if self.decoding is None or not self.decoding.every_epoch:
            return {}
        return {"sample": self.generate(model, bundle.preprocessing, self.decoding.prompt or bundle.extras["prompt"],
                                        seed=0)}

    def generate(self, model: nn.Module, preprocessing: Any, prompt: str, *, max_tokens: int | None = None,
                 temperature: float | None = None, top_k: int | None = None, top_p: float | None = None,
                 seed: int | None = None) -> str:
        """``prompt`` followed by sampled text; unset options come from the run's ``decoding`` section."""
        decoding = self.decoding
        options = {"temperature": decoding.temperature if temperature is None else temperature,
                   "top_k": decoding.top_k if top_k is None else top_k,
                   "top_p": decoding.top_p if top_p is None else top_p}
        tokenizer = preprocessing.tokenizer
        ids = tokenizer.encode(prompt) or [tokenizer.bos_id]
        device = next(model.parameters()).device
        generator = torch.Generator(device=device).manual_seed(seed) if seed is not None else None
        out = sample(model, torch.tensor(ids, device=device), max_tokens or decoding.max_tokens,
                     generator=generator, **options)  # eval mode and no_grad inside, the mode restored after
        return prompt + tokenizer.decode(out[0, len(ids):].tolist())

    def predict(self, model: nn.Module, preprocessing: Any, inputs: Any = None, *, config: Any = None,
                batch_size: int = 256, prompt: str | None = None, max_tokens: int | None = None,
                temperature: float | None = None, top_k: int | None = None, top_p: float | None = None,
                seed: int | None = 0, num_samples: int = 1) -> list[dict[str, Any]]:
        """Continue ``prompt`` (or each string of ``inputs``): ``[{"prompt", "text"}]``, ``num_samples`` per prompt."""
        prompts = [prompt] if prompt is not None else ([inputs] if isinstance(inputs, str) else list(inputs or ["\n"]))
        results = []
        for text in prompts:
            for index in range(num_samples):
                generated = self.generate(model, preprocessing, text, max_tokens=max_tokens, temperature=temperature,
                                          top_k=top_k, top_p=top_p, seed=None if seed is None else seed + index)
                results.append({"prompt": text, "text": generated})
        return results

    def finish(self, model: nn.Module, bundle: Any, run_dir: Any, config: Any, device: torch.device,
               metrics: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Three samples from the best checkpoint in ``samples.md`` (with every epoch's sample from the log)."""
        prompt = self.decoding.prompt or bundle.extras["prompt"]
        final = [self.generate(model, bundle.preprocessing, prompt, seed=seed) for seed in range(3)]
        lines = ["# Samples", "", f"Prompt: {prompt!r}; temperature {self.decoding.temperature}, "
                 f"top-k {self.decoding.top_k}, top-p {self.decoding.top_p}.", "", "## Best checkpoint", ""]
        for text in final:
            lines += ["```", text, "```", ""]
        for record in run_dir.history():
            if "sample" in record.get("val", {}):
                lines += [f"## Epoch {record['epoch']} (val loss {record['val']['loss']:.4f})", "", "```",
                          record["val"]["sample"], "```", ""]
        (run_dir.path / "samples.md").write_text("\n".join(lines))
        return {"samples": final}


@TASKS.register("text-generation", summary="Model text as next-token prediction; generate by sampling.",
                formula="loss = -mean_t log p(x_t | x_<t); perplexity = exp(loss); sample x_t ~ softmax(z_t / T) "
                        "restricted to the top-k / top-p tokens",
                reference="Bengio et al. 2003, A Neural Probabilistic Language Model; Radford et al. 2019, GPT-2; "
                          "Holtzman et al. 2020, The Curious Case of Neural Text Degeneration", inputs=("text",))
def text_generation() -> TextGenerationTask:
    """Learn a language model of a corpus and generate text from a prompt.

    Data: a text file (``text-lines``; tinyshakespeare), or a folder of
    ``train.txt`` / ``valid.txt`` / ``test.txt``. Lines are split
    contiguously (first part train, then val, then test), joined with line
    breaks and tokenised by ``data.text.tokenizer`` (char by default, or bpe /
    wordpiece / word). Each epoch cuts the training stream into windows of
    ``data.text.block_size`` tokens at a new seeded offset. Metrics: loss
    (mean next-token cross-entropy), perplexity and bits per token; a sample
    from ``decoding.prompt`` is logged every epoch and written to
    ``samples.md``. Default model: ``gpt``; also ``lstm-lm``. Predict with
    ``shendu predict RUN --prompt "ROMEO:" --max-tokens 300``.
    """
    return TextGenerationTask(
        name="text-generation", target_kind="language-model", input_kinds=("tokens",),
        default_models={"tokens": {"name": "gpt"}}, default_loss={"name": "cross-entropy"},
        role="language-model", loader=load_language_model,
    )
