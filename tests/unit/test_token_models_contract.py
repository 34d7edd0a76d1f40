"""Contract tests over every registered model that reads token ids, by role.

Registering a model with ``inputs`` containing "tokens" enrols it here: it
must build from ``build_model(..., input_kind="tokens")`` at a tiny size, run
forward and backward, survive a shendu checkpoint round trip (tied weights
included), ignore padding (classifiers) and be causal where its role says so
(language models in their input, sequence-to-sequence models in the target
prefix).
"""

from __future__ import annotations

import pytest
import torch

from shendu.models import MODELS, build_model, model_role
from shendu.run import load_checkpoint, save_checkpoint

VOCAB, CLASSES, LENGTH, BATCH = 23, 3, 10, 4
# Tiny options per model; a new token model must add its own (test_every_token_model_has_tiny_options).
TINY = {
    "rnn": {"embedding_size": 8, "hidden_size": 8},
    "lstm": {"embedding_size": 8, "hidden_size": 8, "bidirectional": True},
    "gru": {"embedding_size": 8, "hidden_size": 8, "pooling": "mean"},
    "textcnn": {"embedding_size": 8, "num_filters": 4},
    "tcn": {"channels": [8, 8], "embedding_size": 8},
    "transformer-encoder": {"embedding_size": 16, "num_heads": 2, "num_layers": 1},
    "gpt": {"embedding_size": 16, "num_heads": 2, "num_layers": 2},
    "lstm-lm": {"embedding_size": 16, "hidden_size": 16, "num_layers": 1},
    "transformer-seq2seq": {"embedding_size": 16, "num_heads": 2, "num_encoder_layers": 1, "num_decoder_layers": 1,
                            "ff_size": 32},
    "gru-attention": {"embedding_size": 8, "hidden_size": 8},
}


def _token_models(role: str | None = None) -> list[str]:
    return [n for n in MODELS.names() if "tokens" in MODELS.entry(n).tags.get("inputs", ())
            and (role is None or model_role(n) == role)]


def _build(name: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    role = model_role(name)
    outputs = CLASSES if role == "classifier" else VOCAB
    return build_model({"name": name, **TINY[name]}, (LENGTH,), outputs, input_kind="tokens", vocab_size=VOCAB,
                       padding_id=0)


def _ids(seed: int = 1, length: int = LENGTH) -> torch.Tensor:
    ids = torch.randint(4, VOCAB, (BATCH, length), generator=torch.Generator().manual_seed(seed))
    ids[1, 6:] = 0  # right padding on some rows
    ids[2, 3:] = 0
    return ids


def _outputs(model: torch.nn.Module, name: str, ids: torch.Tensor) -> torch.Tensor:
    if model_role(name) == "sequence-to-sequence":
        return model(ids, _ids(seed=5, length=7))
    return model(ids)


def test_every_token_model_has_tiny_options():
    assert set(_token_models()) <= set(TINY), "add tiny options for the new model to TINY"
    for name in _token_models():
        assert model_role(name) in ("classifier", "language-model", "sequence-to-sequence")


@pytest.mark.parametrize("name", _token_models())
def test_forward_backward_and_shapes(name):
    model = _build(name)
    model.train()
    outputs = _outputs(model, name, _ids())
    role = model_role(name)
    expected = {"classifier": (BATCH, CLASSES), "language-model": (BATCH, LENGTH, VOCAB),
                "sequence-to-sequence": (BATCH, 7, VOCAB)}[role]
    assert outputs.shape == expected and outputs.dtype == torch.float32
    (outputs * torch.randn(outputs.shape, generator=torch.Generator().manual_seed(2))).sum().backward()
    for parameter_name, parameter in model.named_parameters():
        assert parameter.grad is not None, f"{parameter_name} got no gradient"
        assert torch.isfinite(parameter.grad).all(), f"{parameter_name} has a non-finite gradient"


@pytest.mark.parametrize("name", _token_models())
def test_checkpoint_round_trip(name, tmp_path):
    model = _build(name, seed=0).eval()
    save_checkpoint(tmp_path / "last", model.state_dict(), {}, {"epoch": 0})
    state, _, _ = load_checkpoint(tmp_path / "last")
    fresh = _build(name, seed=123).eval()
    fresh.load_state_dict(state)
    ids = _ids()
    with torch.no_grad():
        assert torch.equal(_outputs(model, name, ids), _outputs(fresh, name, ids))


@pytest.mark.parametrize("name", _token_models("classifier"))
def test_classifiers_ignore_padding(name):
    model = _build(name).eval()
    rows = _ids()[1:3]  # both rows are padding from column 6 on
    with torch.no_grad():
        torch.testing.assert_close(model(rows), model(rows[:, :6]), rtol=1e-5, atol=1e-5)
        assert not torch.allclose(model(rows[:1]), model(rows[1:]))  # and the outputs do depend on the text


@pytest.mark.parametrize("name", _token_models("language-model"))
def test_language_models_are_causal(name):
    model = _build(name).eval()
    ids = _ids()
    changed = ids.clone()
    changed[:, 6] = (changed[:, 6] + 1) % VOCAB
    with torch.no_grad():
        before, after = model(ids), model(changed)
    torch.testing.assert_close(before[:, :6], after[:, :6], rtol=0, atol=1e-6)
    assert not torch.allclose(before[:, 6:], after[:, 6:])


@pytest.mark.parametrize("name", _token_models("sequence-to-sequence"))
def test_sequence_to_sequence_models_are_causal_in_the_target(name):
    model = _build(name).eval()
    source, target = _ids(), _ids(seed=5, length=7)
    changed = target.clone()
    changed[:, 4] = (changed[:, 4] + 1) % VOCAB
    with torch.no_grad():
        before, after = model(source, target), model(source, changed)
        state = model.encode(source)
        torch.testing.assert_close(model.decode(state, target), before, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(before[:, :4], after[:, :4], rtol=0, atol=1e-6)
    assert not torch.allclose(before[:, 4:], after[:, 4:])
