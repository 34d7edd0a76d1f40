"""Every registered task trains one short epoch on real data, saves, reloads and predicts."""

from __future__ import annotations

import io

import pytest
import torch

import shendu
from shendu.engine import Progress
from shendu.tasks import TASKS

# one small real dataset per task (relative paths live under the shared data root); a task without one fails below
DATA = {
    "image-classification": {"data": {"source": "digits"}},
    "tabular-classification": {"data": {"source": "iris"}},
    "regression": {"data": {"source": "diabetes"}},
    "multilabel-classification": {"data": {"source": "yeast", "path": "multilabel", "limit": 400}},
    "text-classification": {"data": {"source": "sst2", "path": "sst2", "limit": 300},
                            "model": {"name": "gru", "embedding_size": 16, "hidden_size": 16}},
    "text-generation": {"data": {"source": "tinyshakespeare", "path": "tinyshakespeare", "limit": 400,
                                 "text": {"block_size": 16}},
                        "model": {"name": "gpt", "embedding_size": 16, "num_heads": 2, "num_layers": 1},
                        "decoding": {"max_tokens": 20}},
    "sequence-to-sequence": {"data": {"source": "multi30k", "path": "multi30k", "limit": 200,
                                      "text": {"tokenizer": {"name": "bpe", "vocab_size": 400}}},
                             "model": {"name": "transformer-seq2seq", "embedding_size": 16, "num_heads": 2,
                                       "num_encoder_layers": 1, "num_decoder_layers": 1, "ff_size": 32},
                             "decoding": {"beam_size": 2, "max_length": 8}},
    "time-series-forecasting": {"data": {"source": "airline-passengers", "path": "timeseries",
                                         "series": {"lookback": 12, "horizon": 3, "test_size": 24}}},
}


def _fields(name: str, root) -> dict:
    fields = {key: dict(value) for key, value in DATA[name].items()}
    data = fields["data"]
    if "path" in data:
        if root is None:
            pytest.skip("real datasets not found")
        data["path"] = str(root / data["path"])
    return fields


@pytest.mark.parametrize("name", TASKS.names())
def test_task_trains_saves_loads_and_predicts(name, tmp_path, request):
    assert name in DATA, f"task {name!r} has no contract dataset; add one to DATA"
    root = request.getfixturevalue("data_root") if "path" in DATA[name]["data"] else None
    run = shendu.train(task=name, train={"epochs": 1, "batch_size": 64}, output_dir=tmp_path, progress="none",
                       **_fields(name, root))
    task = TASKS.get(name).configure(run.config)
    bundle = task.load_data(run.config.data, run.config.seed, preprocessing=run.preprocessing)
    loaded = shendu.load(run.path)
    outputs = task.outputs(loaded.model, bundle.test.inputs[:5], 5, torch.device("cpu"))
    assert outputs.shape[0] == 5 and torch.isfinite(outputs).all()
    assert torch.equal(outputs, task.outputs(run.model, bundle.test.inputs[:5], 5, torch.device("cpu")))
    metrics = shendu.evaluate(run.path, split="test")
    assert metrics["loss"] == pytest.approx(run.metrics["test"]["loss"], rel=1e-5)
    assert (run.path / "checkpoints" / "best" / "state.json").is_file()


def test_progress_draws_a_bar_on_terminals_and_lines_elsewhere():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for stream, expect_carriage_return in ((Terminal(), True), (io.StringIO(), False)):
        progress = Progress("auto", stream=stream)
        progress.interval = 0.0
        progress.start_epoch(0, 2, num_batches=4, batch_size=8)
        for batch in range(4):
            progress.update(batch, torch.full((4,), 0.5))
        progress.end_epoch({"epoch": 1, "train": {"loss": 0.5}, "val": {"accuracy": 0.9}, "seconds": 1.0,
                            "samples_per_second": 32.0}, "val.accuracy", improved=True)
        text = stream.getvalue()
        assert ("\r" in text) == expect_carriage_return
        assert "loss 0.5000" in text and "samples/s" in text and "ETA" in text and "* best val.accuracy" in text


@pytest.mark.parametrize("name", TASKS.names())
def test_task_is_documented(name):
    entry = TASKS.entry(name)
    assert entry.summary and entry.formula and entry.reference and len(entry.doc.splitlines()) > 2


def test_a_weighted_sum_of_losses_trains_and_reports_each_term(tmp_path):
    loss = {"sum": [{"name": "cross-entropy", "weight": 1.0}, {"name": "focal", "weight": 0.5, "gamma": 2.0}]}
    run = shendu.train(task="tabular-classification", data={"source": "iris"}, loss=loss,
                       train={"epochs": 2, "batch_size": 32}, output_dir=tmp_path, progress="none")
    test = run.metrics["test"]
    assert test["loss"] == pytest.approx(test["loss.cross-entropy"] + 0.5 * test["loss.focal"], rel=1e-5)
    assert "loss.focal" in run.history[-1]["val"]


def test_config_problems_cover_loss_sums_regularizers_and_model_init():
    from shendu.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        shendu.validate({"task": "tabular-classification", "data": {"source": "iris"},
                         "model": {"name": "mlp", "init": {"default": "he-normall", "dense": "zeros"}},
                         "loss": {"sum": [{"name": "cross-entropy"}, {"name": "focall", "weight": 0.5}]},
                         "train": {"regularizers": [{"name": "l1", "strenght": 1e-5}]}})
    keys = {problem.key for problem in caught.value.problems}
    assert {"loss.sum.1.name", "train.regularizers.0.strenght", "model.init.default", "model.init.dense"} <= keys
    valid = {"task": "tabular-classification", "data": {"source": "iris"},
             "model": {"name": "mlp", "init": {"default": "he-normal", "linear": {"name": "normal", "std": 0.02}}}}
    assert shendu.validate(valid).model["init"]["default"] == "he-normal"


def test_index_encoded_categories_are_embedded_and_reloaded(tmp_path):
    import numpy as np
    import pandas as pd

    from shendu.models.mlp import CategoricalEmbedding, embedding_size

    rng = np.random.default_rng(0)
    cities = [f"city{i}" for i in range(30)]
    frame = pd.DataFrame({"x": rng.normal(size=300), "city": rng.choice(cities, 300)})
    frame["y"] = (frame["city"].str[4:].astype(int) % 2).astype(int)  # the label lives in the category
    frame.to_csv(tmp_path / "t.csv", index=False)
    run = shendu.train(task="tabular-classification", output_dir=tmp_path / "runs", progress="none",
                       data={"path": str(tmp_path / "t.csv"), "target": "y", "categorical_encoding": "index"},
                       model={"name": "mlp", "hidden_sizes": [16]}, train={"epochs": 30, "batch_size": 32},
                       optimizer={"name": "adam", "lr": 0.01})
    embedding = run.model.embedding
    assert isinstance(embedding, CategoricalEmbedding) and len(embedding.embeddings) == 1
    cardinality = run.preprocessing.categorical_cardinalities[1]
    assert cardinality == 31 and embedding.embeddings[0].embedding_dim == embedding_size(31) == 16
    assert run.summary["metrics"]["test"]["accuracy"] > 0.9  # only an embedding of the code can separate the classes
    loaded = shendu.load(run.path)
    rows = pd.concat([frame.drop(columns="y").head(20), pd.DataFrame({"x": [0.0], "city": ["city-never-seen"]})])
    with pytest.warns(UserWarning, match="not seen in training"):
        predictions, again = loaded.predict(rows), run.predict(rows)
    assert predictions == again  # the reloaded run rebuilds the same embedding from data.json
    assert len(predictions) == 21  # an unseen category is code 0, not an error


@pytest.mark.parametrize("task, model", [("image-classification", "unet"), ("text-classification", "gpt"),
                                         ("text-generation", "gru")])
def test_a_model_of_another_role_is_a_clear_config_error(task, model):
    from shendu.errors import ConfigError
    from shendu.tasks import TASKS

    with pytest.raises(ConfigError) as caught:
        TASKS.get(task).check_role(model, "tokens" if task.startswith("text") else "image")
    message = str(caught.value)
    assert f"{model} is a" in message and "Choose one of:" in message
