"""Config validation: every problem at once, overrides, shipped configs, did-you-mean."""

from __future__ import annotations

from pathlib import Path

import pytest

import shendu
from shendu import cli
from shendu.config import apply_overrides, build_config, parse_override
from shendu.errors import ConfigError, UnknownComponentError
from shendu.models import MODELS

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))

THREE_MISTAKES = """\
task: image-classification
data:
  source: digits
model:
  name: cnn
train:
  epochs: 0
  batchsize: 32
optimizer:
  name: adamm
"""


def test_three_mistakes_are_reported_together(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(THREE_MISTAKES)
    with pytest.raises(ConfigError) as caught:
        shendu.validate(path)
    error = caught.value
    keys = {p.key for p in error.problems}
    assert {"train.epochs", "train.batchsize"} <= keys
    message = str(error)
    assert message.startswith("3 problems")
    assert "received 0" in message and "greater than or equal to 1" in message
    assert "did you mean 'batch_size'" in message
    assert "'adamm'" in message and "'adam'" in message and "shendu list optimizers" in message


def test_cli_validate_prints_every_problem_and_fails(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(THREE_MISTAKES)
    assert cli.main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n  - ") == 3


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_validate(path):
    config = shendu.validate(path)
    assert config.output.name == path.stem


def test_unknown_model_name_suggests_the_closest():
    with pytest.raises(UnknownComponentError) as caught:
        MODELS.get("resnett", input_shape=(3, 32, 32), num_outputs=2)
    message = str(caught.value)
    assert "'resnet'" in message and "shendu list models" in message
    with pytest.raises(ConfigError, match="Did you mean 'lenet5'"):
        shendu.validate({"task": "image-classification", "data": {"source": "digits"}, "model": "lenet"})


def test_unknown_model_option_lists_the_accepted_ones():
    with pytest.raises(ConfigError, match="hidden_sizes"):
        shendu.validate({"task": "regression", "data": {"source": "diabetes"}, "model": {"name": "mlp", "hiden": [3]}})


def test_overrides_parse_yaml_values_and_turn_names_into_specs():
    assert parse_override("optimizer.lr=0.01") == ("optimizer.lr", 0.01)
    assert parse_override("model.hidden_sizes=[64, 32]") == ("model.hidden_sizes", [64, 32])
    raw = apply_overrides({"task": "regression", "optimizer": "adam"}, ["optimizer.lr=0.5", "train.epochs=2"])
    assert raw["optimizer"] == {"name": "adam", "lr": 0.5} and raw["train"] == {"epochs": 2}
    config = build_config({"task": "regression", "data": {"source": "diabetes"}}, {"train.batch_size": 16})
    assert config.train.batch_size == 16


def test_a_malformed_override_is_explained():
    with pytest.raises(ConfigError, match="key.path=value"):
        parse_override("epochs")


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("task: regression\ndata: {source: diabetes\n")
    with pytest.raises(ConfigError, match="broken.yaml:"):
        shendu.validate(path)


def test_scientific_notation_is_a_number_in_overrides_and_files(tmp_path):
    assert parse_override("optimizer.lr=1e-4") == ("optimizer.lr", 1e-4)
    path = tmp_path / "c.yaml"
    path.write_text("task: regression\ndata: {source: diabetes}\noptimizer: {name: adam, lr: 3e-4}\n")
    assert shendu.validate(path).optimizer["lr"] == 3e-4
