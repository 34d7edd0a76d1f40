"""The command line: list, env, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from shendu import cli

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_list_kinds_and_one_kind(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for kind in ("tasks", "models", "losses", "optimizers", "schedules", "activations", "initializers", "metrics", "datasets", "augmentations"):
        assert kind in out
    assert cli.main(["list", "models"]) == 0
    out = capsys.readouterr().out
    for name in ("perceptron", "mlp", "cnn", "lenet5", "resnet"):
        assert f"\n{name} " in out


def test_list_unknown_kind_suggests(capsys):
    assert cli.main(["list", "model"]) == 2
    assert "'models'" in capsys.readouterr().err


def test_env_prints_versions(capsys):
    assert cli.main(["env"]) == 0
    out = capsys.readouterr().out
    assert "torch:" in out and "python:" in out


def test_train_unknown_model_fails_with_suggestion(capsys, tmp_path):
    code = cli.main(["train", "--task", "image-classification", "--data", "digits", "--model", "lenett5",
                     "--output-dir", str(tmp_path)])
    assert code == 2
    assert "lenet5" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing created for a config that does not validate


def test_train_resume_of_a_missing_run_is_explained(capsys, tmp_path):
    assert cli.main(["train", "--resume", str(tmp_path / "nope")]) == 2
    assert "not a shendu run directory" in capsys.readouterr().err


@pytest.mark.parametrize("verb", ["train", "evaluate", "predict", "list", "validate", "demo", "env"])
def test_every_verb_has_help(verb, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([verb, "--help"])
    assert exit_.value.code == 0


def test_overrides_may_follow_options(tmp_path, capsys):
    code = cli.main(["validate", str(CONFIGS / "digits-mlp.yaml"), "train.epochs=2"])
    assert code == 0
    code = cli.main(["train", str(CONFIGS / "digits-mlp.yaml"), "--output-dir", str(tmp_path), "--progress", "none",
                     "train.epochs=1", "output.name=short"])
    assert code == 0
    run = next(tmp_path.iterdir())
    assert run.name == "short-0001" and "epochs: 1" in (run / "config.yaml").read_text()
    with pytest.raises(SystemExit):
        cli.main(["list", "models", "--bogus"])


def test_misspelt_dataset_name_suggests_the_closest(capsys):
    assert cli.main(["train", "--task", "image-classification", "--data", "mnits"]) == 2
    assert "'mnist'" in capsys.readouterr().err
