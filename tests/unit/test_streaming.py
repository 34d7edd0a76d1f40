"""Streaming from shards: seeded shard-and-buffer order, bounded buffer, exact resume, Parquet row
groups, a streamed preprocessing fit equal to the in-memory one, and errors that name the shard."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from sklearn.utils.class_weight import compute_class_weight
from torch import nn

from shendu.config import DataConfig, TrainConfig
from shendu.data.batching import concatenate_splits, sample_count
from shendu.data.parquet_shards import ParquetShards
from shendu.data.preprocessing import fit_preprocessing
from shendu.data.resampling import ImbalanceWarning
from shendu.data.shards import NpyShards, write_shards
from shendu.data.splits import RawData, RawSplit, Split
from shendu.data.stream_fit import fit_stream_preprocessing
from shendu.data.stream_loading import load_stream
from shendu.data.streaming import ShardStream
from shendu.engine import Trainer
from shendu.errors import ConfigError, DataError
from shendu.run import RunDirectory
from shendu.tasks import TASKS


def id_shards(folder: Path, num_rows: int, rows_per_shard: int, chunk: int = 37) -> NpyShards:
    """Tabular shards whose first feature is the row's global number (so order is visible in the data)."""
    def chunks():
        for begin in range(0, num_rows, chunk):
            ids = np.arange(begin, min(begin + chunk, num_rows))
            yield np.stack([ids, ids * 2], axis=1).astype(np.float64), ids % 5
    write_shards(folder, chunks(), rows_per_shard=rows_per_shard, class_names=list("abcde"))
    return NpyShards(folder)


def image_shards(folder: Path, images: np.ndarray, labels: np.ndarray, rows_per_shard: int, **names) -> NpyShards:
    write_shards(folder, ((images[i:i + 50], labels[i:i + 50]) for i in range(0, len(images), 50)),
                 rows_per_shard=rows_per_shard, **names)
    return NpyShards(folder)


def streamed_ids(stream: ShardStream, epoch: int, start: int = 0) -> np.ndarray:
    return torch.cat([inputs[:, 0] for inputs, _ in stream.batches(epoch, start)]).long().numpy()


# -- order ---------------------------------------------------------------------------------------
def test_every_epoch_is_a_seeded_permutation_of_all_rows(tmp_path):
    shards = id_shards(tmp_path / "train", 1000, 90)
    stream = ShardStream(shards, batch_size=32, seed=7, shuffle_buffer=128, chunk_rows=50)
    first, second = streamed_ids(stream, 0), streamed_ids(stream, 1)
    assert sorted(first.tolist()) == list(range(1000)) and sorted(second.tolist()) == list(range(1000))
    assert np.array_equal(first, stream.order(0))  # the index-only plan is what the data path reads
    assert (first != second).mean() > 0.9  # each epoch a fresh order
    again = ShardStream(shards, batch_size=32, seed=7, shuffle_buffer=128, chunk_rows=50)
    assert np.array_equal(streamed_ids(again, 1), second)  # same seed, same order
    other = ShardStream(shards, batch_size=32, seed=8, shuffle_buffer=128, chunk_rows=50)
    assert (streamed_ids(other, 1) != second).mean() > 0.9
    assert stream.rows_read == 2000  # every row read exactly once per epoch
    inputs, targets = next(iter(stream.batches(0)))
    assert torch.equal(targets, inputs[:, 0].long() % 5) and torch.equal(inputs[:, 1], 2 * inputs[:, 0])


def test_evaluation_streams_keep_file_order_and_batch_sizes(tmp_path):
    shards = id_shards(tmp_path / "train", 250, 60)
    stream = ShardStream(shards, batch_size=64, shuffle=False)
    assert np.array_equal(streamed_ids(stream, 0), np.arange(250))
    assert [len(t) for _, t in stream.batches(0)] == [64, 64, 64, 58] and len(stream) == 4
    dropping = stream.with_batch_size(100, drop_last=True)
    assert len(dropping) == 2 and [len(t) for _, t in dropping.batches(3)] == [100, 100]


def test_shuffle_buffer_bounds_how_far_rows_travel(tmp_path):
    """With a small buffer, each stretch of output comes almost only from the shard being read:
    no row waits in memory beyond the buffer. A buffer as large as the data mixes everything."""
    shards = id_shards(tmp_path / "train", 1000, 100)
    shard_of = np.arange(1000) // 100

    def dominant_share(buffer: int) -> float:
        order = ShardStream(shards, batch_size=50, seed=1, shuffle_buffer=buffer, chunk_rows=16).order(0)
        blocks = shard_of[order].reshape(10, 100)
        return float(np.mean([np.bincount(block).max() / 100 for block in blocks]))

    assert dominant_share(16) >= 0.75
    assert dominant_share(1000) < 0.4


def test_memory_is_the_buffer_not_the_dataset(tmp_path):
    """Peak numpy memory while streaming an epoch stays at buffer + a few chunks for 4x more data."""
    rng = np.random.default_rng(0)

    def peak(num_rows: int, folder: str) -> int:
        images = rng.integers(0, 256, size=(num_rows, 3, 16, 16), dtype=np.uint8)
        shards = image_shards(tmp_path / folder, images, rng.integers(0, 3, num_rows), 200)
        del images
        stream = ShardStream(shards, batch_size=32, seed=0, shuffle_buffer=256, chunk_rows=64)
        tracemalloc.start()
        for _ in stream.batches(0):
            pass
        peak_bytes = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak_bytes

    row_bytes = 3 * 16 * 16
    small, large = peak(2000, "small"), peak(8000, "large")
    # The buffer, a few chunk-sized copies in flight and a batch; the data itself is 1.5 and 6 MB.
    bound = (256 + 8 * 64 + 2 * 32) * row_bytes + 64 * 1024
    assert small < bound and large < bound, (small, large, bound)
    assert large < 1.25 * small


# -- resume --------------------------------------------------------------------------------------
@pytest.mark.parametrize("start", [1, 7, 19, 31])
def test_resume_mid_epoch_is_bitwise_and_reads_only_what_remains(tmp_path, start):
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(1000, 1, 8, 8), dtype=np.uint8)
    shards = image_shards(tmp_path / "train", images, rng.integers(0, 4, 1000), 128, class_names=list("abcd"))
    preprocessing, _ = fit_stream_preprocessing(shards, target_kind="classification")
    stream = ShardStream(shards, preprocessing, batch_size=32, seed=5, shuffle_buffer=100, chunk_rows=40)
    full = list(stream.batches(2))
    stream.rows_read = 0
    resumed = list(stream.batches(2, start=start))
    assert len(resumed) == len(full) - start == len(stream) - start
    for (x, y), (x_ref, y_ref) in zip(resumed, full[start:]):
        assert torch.equal(x, x_ref) and torch.equal(y, y_ref)
    # Only the rows still to come, plus what the buffer held at that point, are read.
    assert stream.rows_read <= 1000 - start * 32 + stream.capacity + stream.chunk
    assert list(stream.batches(2, start=len(stream))) == []


def test_trainer_resumes_an_interrupted_streamed_epoch_to_identical_weights(tmp_path, digits_tensors):
    inputs, targets = digits_tensors
    shards = id_shards_from(tmp_path / "digits", inputs.numpy(), targets.numpy())
    stream = ShardStream(shards, batch_size=128, seed=3, shuffle_buffer=300, chunk_rows=100)

    class Interrupt(Exception):
        pass

    def trainer(step, run):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 10))
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
        config = TrainConfig(progress="none", epochs=2, batch_size=128, checkpoint_every_steps=4)
        return Trainer(model, step, stream, optimizer, config=config, seed=3, device=torch.device("cpu"), run=run)

    def step(model, batch):
        return nn.functional.cross_entropy(model(batch[0].float()), batch[1])

    reference = trainer(step, RunDirectory.create(tmp_path, "reference"))
    reference.fit()
    calls = {"n": 0}

    def interrupted(model, batch):
        calls["n"] += 1
        if calls["n"] == 23:  # epoch 2 (15 batches each), batch 8: after the step-20 checkpoint
            raise Interrupt
        return step(model, batch)

    first = trainer(interrupted, RunDirectory.create(tmp_path, "killed"))
    with pytest.raises(Interrupt):
        first.fit()
    state = json.loads((first.run.checkpoint("last") / "state.json").read_text())["state"]
    assert state["epoch"] == 1 and state["batch"] == 5
    resumed = trainer(step, first.run)
    resumed.fit(resume=True)
    for name, tensor in resumed.model.state_dict().items():
        assert torch.equal(tensor, reference.model.state_dict()[name]), name


def id_shards_from(folder: Path, inputs: np.ndarray, targets: np.ndarray) -> NpyShards:
    write_shards(folder, [(inputs, targets)], rows_per_shard=250, class_names=[str(i) for i in range(10)])
    return NpyShards(folder)


# -- preprocessing fitted on the stream ------------------------------------------------------------
def test_streamed_image_fit_equals_in_memory_fit(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(700, 3, 6, 5), dtype=np.uint8)
    labels = rng.integers(0, 3, 700)
    shards = image_shards(tmp_path / "u8", images, labels, 64, class_names=list("xyz"))
    streamed, counts = fit_stream_preprocessing(shards, target_kind="classification")
    raw = RawData("image", {"train": RawSplit(torch.from_numpy(images), labels)}, class_names=list("xyz"))
    expected = fit_preprocessing(raw, raw.splits["train"], target_kind="classification")
    np.testing.assert_allclose(streamed.normalization.mean, expected.normalization.mean, rtol=0, atol=1e-6)
    np.testing.assert_allclose(streamed.normalization.std, expected.normalization.std, rtol=0, atol=1e-6)
    assert streamed.to_dict().keys() == expected.to_dict().keys() and counts.tolist() == np.bincount(labels).tolist()
    floats = image_shards(tmp_path / "f32", images.astype(np.float32), labels, 64)
    streamed_float, _ = fit_stream_preprocessing(floats, target_kind="classification")
    np.testing.assert_allclose(streamed_float.normalization.std, expected.normalization.std, rtol=0, atol=1e-6)


@pytest.mark.parametrize("scaling", ["standard", "minmax-symmetric", "none"])
def test_streamed_table_fit_equals_in_memory_fit(tmp_path, scaling):
    rng = np.random.default_rng(1)
    features = rng.normal([5.0, -300.0, 0.0, 1e4], [1.0, 50.0, 1e-3, 10.0], size=(900, 4))
    features[rng.random((900, 4)) < 0.1] = np.nan  # missing values are disregarded by both fits
    features[:, 2] = 7.0  # a constant column: std 1, not a division by zero
    targets = np.exp(rng.normal(size=(900, 2)))
    write_shards(tmp_path / "table", [(features[i:i + 100], targets[i:i + 100]) for i in range(0, 900, 100)],
                 rows_per_shard=128, feature_names=list("abcd"), target_names=["price", "size"])
    shards = NpyShards(tmp_path / "table")
    options = {"scaling": scaling, "target_transform": "log", "missing": "mean"}
    streamed, _ = fit_stream_preprocessing(shards, target_kind="regression", scaling_name=scaling,
                                           target_transform="log", missing="mean")
    frame = pd.DataFrame(features, columns=list("abcd"))
    raw = RawData("tabular", {"train": RawSplit(frame, targets)}, target_names=["price", "size"], feature_names=list("abcd"))
    expected = fit_preprocessing(raw, raw.splits["train"], target_kind="regression", **options)
    got, want = streamed.to_dict(), expected.to_dict()
    assert got.keys() == want.keys()
    for key in ("imputation", "feature_scaling", "target_standardization"):
        assert (got[key] is None) == (want[key] is None), key
        for field, value in (want[key] or {}).items():
            if isinstance(value, list):
                np.testing.assert_allclose(got[key][field], value, rtol=1e-6, atol=1e-6, err_msg=f"{key}.{field}")
            else:
                assert got[key][field] == value, (key, field)
    torch.testing.assert_close(streamed.transform_inputs(frame), expected.transform_inputs(frame), rtol=1e-5, atol=1e-5)


def test_streamed_table_batches_equal_transform_inputs(tmp_path):
    """Batches of numeric columns skip the DataFrame encoding step; they equal ``transform_inputs`` exactly."""
    rng = np.random.default_rng(4)
    features = rng.normal(size=(500, 3)).astype(np.float32)
    features[rng.random((500, 3)) < 0.1] = np.nan
    write_shards(tmp_path / "table", [(features, rng.normal(size=500))], rows_per_shard=128, feature_names=list("abc"))
    shards = NpyShards(tmp_path / "table")
    preprocessing, _ = fit_stream_preprocessing(shards, target_kind="regression")
    stream = ShardStream(shards, preprocessing, batch_size=64, shuffle=False)
    assert stream.columns_are_features
    streamed = torch.cat([inputs for inputs, _ in stream.batches(0)])
    assert torch.equal(streamed, preprocessing.transform_inputs(pd.DataFrame(features, columns=list("abc"))))


# -- Parquet ---------------------------------------------------------------------------------------
def test_parquet_row_groups_are_the_shards(tmp_path):
    rng = np.random.default_rng(2)
    folder = tmp_path / "table"
    folder.mkdir()
    frames = []
    for number, rows in enumerate((250, 130)):
        frame = pd.DataFrame({"height": rng.normal(size=rows), "count": rng.integers(0, 9, rows),
                              "kind": rng.choice(["cat", "dog", "emu"], rows)})
        frame.loc[frame.index[:3], "height"] = np.nan
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), folder / f"part-{number}.parquet",
                       row_group_size=100)
        frames.append(frame)
    every = pd.concat(frames, ignore_index=True)
    config = DataConfig(path=str(folder), stream=True, target="kind", shuffle_buffer=64)
    bundle = load_stream(config, target_kind="classification", seed=0)
    shards = bundle.train.shards
    assert isinstance(shards, ParquetShards) and bundle.class_names == ["cat", "dog", "emu"]
    all_groups = [100, 100, 50, 100, 30]  # row groups of both files; val and test are whole row groups
    assert sorted(shards.rows.tolist() + bundle.val.shards.rows.tolist() + bundle.test.shards.rows.tolist()) == sorted(all_groups)
    raw = ShardStream(shards, None, batch_size=40, seed=0, shuffle_buffer=64)
    rows = torch.cat([x for x, _ in raw.batches(0)]).numpy()
    labels = torch.cat([y for _, y in raw.batches(0)]).numpy()
    assert len(rows) == shards.num_rows == sample_count(bundle.train)
    # Every streamed row is a row of the files, once, with its own label.
    def key(height: float, count: float) -> tuple:
        return (None if np.isnan(height) else round(height, 9), int(count))

    keys = {key(h, c): k for h, c, k in every[["height", "count", "kind"]].itertuples(index=False)}
    seen = [key(h, c) for h, c in rows]
    assert len(set(seen)) == len(seen)
    assert [keys[s] for s in seen] == [bundle.class_names[i] for i in labels]
    inputs, _ = next(iter(bundle.train.batches(0)))
    assert inputs.dtype == torch.float32 and inputs.shape[1] == 2 and not torch.isnan(inputs).any()


def test_parquet_label_outside_the_runs_classes_names_the_row(tmp_path):
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": ["a", "b", "a", "c"]})
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "new.parquet", row_group_size=2)
    shards = ParquetShards([tmp_path / "new.parquet"], target="y", features=None, target_kind="classification",
                           class_names=["a", "b"])
    with pytest.raises(DataError, match=r"'c' at row 3 .*new.parquet row group 1"):
        shards.open(1)


# -- loading and errors -----------------------------------------------------------------------------
def test_load_stream_holds_out_whole_shards_with_the_seed(tmp_path):
    id_shards(tmp_path / "data" / "train", 2000, 100)
    config = DataConfig(path=str(tmp_path / "data"), stream=True)
    bundle = load_stream(config, target_kind="classification", seed=4)
    raw = {name: ShardStream(getattr(bundle, name).shards, None, batch_size=500) for name in ("train", "val", "test")}
    ids = {name: set(streamed_ids(stream, 0).tolist()) for name, stream in raw.items()}
    assert set.union(*ids.values()) == set(range(2000)) and sum(map(len, ids.values())) == 2000
    assert {len(v) for k, v in ids.items() if k != "train"} == {300}  # 3 of 20 shards each
    assert "whole shards held out" in bundle.description["splits"]["test"]
    again = load_stream(config, target_kind="classification", seed=4)
    assert again.test.shards.shard_numbers == bundle.test.shards.shard_numbers
    other = load_stream(config, target_kind="classification", seed=5)
    assert other.test.shards.shard_numbers != bundle.test.shards.shard_numbers
    expected_counts = np.bincount([i % 5 for i in ids["train"]], minlength=5).tolist()
    assert bundle.description["class_counts"]["train"] == dict(zip("abcde", expected_counts))


def test_streamed_class_weights_match_scikit_learn_and_imbalance_warns(tmp_path):
    labels = np.array([0] * 400 + [1] * 60 + [2] * 140)
    images = np.zeros((600, 1, 4, 4), dtype=np.uint8)
    for name in ("train", "val", "test"):
        image_shards(tmp_path / "data" / name, images, labels, 100, class_names=list("abc"))
    config = DataConfig(path=str(tmp_path / "data"), stream=True, imbalance={"class_weights": True})
    with pytest.warns(ImbalanceWarning, match="ratio 6.7"):
        bundle = load_stream(config, target_kind="classification", seed=0)
    expected = compute_class_weight("balanced", classes=np.arange(3), y=labels)
    np.testing.assert_allclose(bundle.class_weights.numpy(), expected, rtol=1e-6)
    assert bundle.description["imbalance"]["counts"] == {"a": 400, "b": 60, "c": 140}


def test_evaluate_on_a_streamed_split_equals_evaluate_in_memory(tmp_path):
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, size=(300, 1, 8, 8), dtype=np.uint8)
    for name in ("train", "val", "test"):
        image_shards(tmp_path / "data" / name, images, rng.integers(0, 3, 300), 70, class_names=list("abc"))
    bundle = load_stream(DataConfig(path=str(tmp_path / "data"), stream=True), target_kind="classification", seed=0)
    memory = Split(*(torch.cat(parts) for parts in zip(*bundle.val.batches(0))))
    task = TASKS.get("image-classification")
    torch.manual_seed(0)
    model = task.build_model({"name": "mlp", "hidden_sizes": [16]}, bundle)
    loss = task.build_loss(None)
    streamed = task.evaluate(model, bundle.val, loss, bundle, 64, torch.device("cpu"))
    in_memory = task.evaluate(model, memory, loss, bundle, 64, torch.device("cpu"))
    assert streamed.pop("confusion_matrix") == in_memory.pop("confusion_matrix")
    assert streamed == pytest.approx(in_memory, rel=1e-6)
    chained = concatenate_splits([bundle.val, bundle.test])
    assert sample_count(chained) == 600 and sum(len(t) for _, t in chained.batches(0)) == 600


def test_truncated_shard_names_the_file_and_its_rows(tmp_path):
    shards = id_shards(tmp_path / "train", 500, 100)
    path = tmp_path / "train" / "inputs-00002.npy"
    path.write_bytes(path.read_bytes()[:-200])
    stream = ShardStream(shards, batch_size=50, shuffle=False)
    with pytest.raises(DataError, match=r"inputs-00002\.npy \(rows 200-299 of .*train\).*truncated or corrupt"):
        list(stream.batches(0))
    path.write_bytes(b"not a numpy file")
    with pytest.raises(DataError, match=r"inputs-00002\.npy \(rows 200-299"):
        list(stream.batches(0))


def test_label_outside_the_class_list_names_shard_and_row(tmp_path):
    with pytest.raises(DataError, match="Label 7 at row 3 of chunk 0 .* outside the class list"):
        write_shards(tmp_path / "bad", [(np.zeros((5, 2)), np.array([0, 1, 0, 7, 1]))], class_names=["a", "b"])
    shards = id_shards(tmp_path / "train", 300, 100)
    np.save(tmp_path / "train" / "targets-00001.npy", np.array([0] * 50 + [9] + [0] * 49))
    with pytest.raises(DataError, match=r"Label 9 at row 150 of shard .*inputs-00001\.npy"):
        list(ShardStream(shards, batch_size=64, shuffle=False).batches(0))


def test_write_shards_refuses_mismatched_chunks_and_existing_shards(tmp_path):
    with pytest.raises(DataError, match="Chunk 1 given to write_shards .* Give every chunk the same per-row shape"):
        write_shards(tmp_path / "a", [(np.zeros((4, 3)), np.zeros(4, int)), (np.zeros((4, 2)), np.zeros(4, int))])
    write_shards(tmp_path / "b", [(np.zeros((4, 3)), np.zeros(4, int))])
    with pytest.raises(DataError, match="already holds shards"):
        write_shards(tmp_path / "b", [(np.zeros((4, 3)), np.zeros(4, int))])
    with pytest.raises(DataError, match=r"shape \(4, 5, 5\).* inputs\[:, None\]"):
        write_shards(tmp_path / "c", [(np.zeros((4, 5, 5)), np.zeros(4, int))])
    index = json.loads((tmp_path / "b" / "index.json").read_text())
    assert index["rows"] == 4 and index["input_kind"] == "tabular" and index["feature_names"] == ["f0", "f1", "f2"]


def test_options_streaming_cannot_honour_are_config_errors(tmp_path):
    id_shards(tmp_path / "train", 100, 10)
    config = DataConfig(path=str(tmp_path), stream=True, limit=50, folds=3, split="stratified")
    with pytest.raises(ConfigError) as error:
        load_stream(config, target_kind="classification", seed=0)
    assert {p.key for p in error.value.problems} == {"data.limit", "data.folds", "data.split"}
