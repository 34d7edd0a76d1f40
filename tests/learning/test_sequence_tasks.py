"""Small real runs of the four sequence tasks: each must learn on real data within a small budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import shendu

pytestmark = pytest.mark.learning
CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_textcnn_learns_sst2_sentiment_and_predicts_strings(tmp_path, data_root):
    run = shendu.train(task="text-classification", output_dir=tmp_path, progress="none",
                       data={"source": "sst2", "path": str(data_root / "sst2")},
                       model={"name": "textcnn", "embedding_size": 64, "num_filters": 64},
                       optimizer={"name": "adamw", "lr": 0.002}, train={"epochs": 2, "batch_size": 64})
    assert run.metrics["test"]["accuracy"] >= 0.75  # a majority guess is 0.51 on the 872 test sentences
    loaded = shendu.load(run.path)
    predictions = loaded.predict(["a gorgeous , witty , seductive movie .", "a dull , lifeless mess ."])
    assert [p["label"] for p in predictions] == ["1", "0"]
    assert predictions == run.predict(["a gorgeous , witty , seductive movie .", "a dull , lifeless mess ."])


def test_airline_forecast_beats_seasonal_naive_on_the_held_out_two_years(tmp_path, data_root):
    run = shendu.train(CONFIGS / "airline-forecast.yaml", output_dir=tmp_path, progress="none",
                       overrides={"data.path": str(data_root / "timeseries")})
    summary = json.loads((run.path / "summary.json").read_text())
    baselines = summary["baselines"]["test"]
    assert run.metrics["test"]["rmse"] < baselines["seasonal-naive"]["rmse"] < baselines["naive"]["rmse"]
    assert (run.path / "plots" / "forecast-test.png").is_file()
    forecast = shendu.load(run.path).predict(str(data_root / "timeseries" / "airline-passengers.csv"))
    assert [step["step"] for step in forecast] == list(range(1, 13))
    assert all(300 < step["Passengers"] < 800 for step in forecast)  # 1961 lies around 1960's 390..622


def test_one_step_temperature_forecast_beats_persistence(tmp_path, data_root):
    run = shendu.train(CONFIGS / "temperatures-forecast.yaml", output_dir=tmp_path, progress="none",
                       overrides={"data.path": str(data_root / "timeseries"), "model": {"name": "mlp"},
                                  "train.epochs": 10})
    summary = json.loads((run.path / "summary.json").read_text())
    assert run.metrics["test"]["rmse"] < summary["baselines"]["test"]["naive"]["rmse"]
    assert summary["metrics"]["test"]["mase"] < 1.0


def test_char_gpt_learns_tinyshakespeare_beyond_character_frequencies(tmp_path, data_root):
    torch.manual_seed(0)
    run = shendu.train(CONFIGS / "tinyshakespeare-gpt.yaml", output_dir=tmp_path, progress="none",
                       overrides={"data.path": str(data_root / "tinyshakespeare"), "data.limit": 16000,
                                  "data.text.block_size": 64, "model.embedding_size": 64, "model.num_heads": 4,
                                  "model.num_layers": 2, "train.epochs": 3, "decoding.max_tokens": 60})
    # Character frequencies alone give a cross-entropy of about 3.3 nats here; 2.5 needs context.
    assert run.metrics["val"]["loss"] < 2.5
    assert (run.path / "samples.md").is_file() and "sample" in run.history[-1]["val"]
    text = shendu.load(run.path).predict(prompt="ROMEO:", max_tokens=40)[0]["text"]
    assert text.startswith("ROMEO:") and len(text) > 20


def test_transformer_learns_to_translate_a_slice_of_multi30k(tmp_path, data_root):
    run = shendu.train(CONFIGS / "multi30k-transformer.yaml", output_dir=tmp_path, progress="none",
                       overrides={"data.path": str(data_root / "multi30k"), "data.limit": 6000,
                                  "data.text.tokenizer.vocab_size": 2000, "model.embedding_size": 128,
                                  "model.num_encoder_layers": 2, "model.num_decoder_layers": 2,
                                  "model.ff_size": 256, "train.epochs": 4, "decoding.beam_size": 2,
                                  "optimizer.lr": 0.001})
    history = run.history
    assert history[-1]["val"]["loss"] < history[0]["val"]["loss"] - 0.5
    assert run.metrics["test"]["bleu"] > 5.0 and "bleu" in history[0]["val"]
    translation = shendu.load(run.path).predict(text="A man is riding a bike.")[0]["translation"]
    assert isinstance(translation, str) and translation
