"""Class imbalance: detection, class weights, resampling (against imbalanced-learn), balanced batches."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from imblearn.over_sampling import SMOTE
from imblearn.under_sampling import TomekLinks
from sklearn.utils.class_weight import compute_class_weight

from shendu.config import DataConfig
from shendu.data import load_data
from shendu.data.batching import BatchSampler, TensorBatches
from shendu.data.imbalance import (
    ClassBalancedBatchSampler,
    ImbalanceWarning,
    balanced_class_weights,
    detect_imbalance,
    loss_with_class_weights,
)
from shendu.data.resampling import SYNTHETIC_INDEX, resample_split
from shendu.data.splits import RawSplit
from shendu.errors import ConfigError, DataError
from shendu.tasks import TASKS


def imbalanced_frame(num_major: int = 120, num_minor: int = 12, seed: int = 0, categorical: bool = False):
    """Two Gaussian blobs, standardised (mean 0, population std 1) so z-scoring leaves them unchanged."""
    rng = np.random.default_rng(seed)
    values = np.concatenate([rng.normal(0, 1, (num_major, 2)), rng.normal(2.5, 0.7, (num_minor, 2))])
    values = (values - values.mean(axis=0)) / values.std(axis=0)
    frame = pd.DataFrame(values, columns=["a", "b"])
    if categorical:
        frame["colour"] = rng.choice(["red", "green", "blue"], len(frame))
    targets = np.r_[np.zeros(num_major, np.int64), np.ones(num_minor, np.int64)]
    return frame, targets


def write_csv(tmp_path, frame, targets, name="data.csv"):
    path = tmp_path / name
    frame.assign(label=np.array(["common", "rare"])[targets]).to_csv(path, index=False)
    return path


# -- class weights ----------------------------------------------------------------
def test_class_weights_equal_scikit_learn_balanced():
    targets = np.array([0] * 50 + [1] * 7 + [2] * 20 + [3] * 3)
    ours = balanced_class_weights(torch.from_numpy(targets), 4)
    reference = compute_class_weight("balanced", classes=np.arange(4), y=targets)
    np.testing.assert_allclose(ours.numpy(), reference, rtol=1e-6)
    assert ours.dtype == torch.float32
    # Weighted counts are equal: every class contributes N / C to the loss.
    np.testing.assert_allclose(ours.numpy() * np.bincount(targets), len(targets) / 4, rtol=1e-6)


def test_class_weights_refuse_a_class_without_samples():
    with pytest.raises(DataError, match="'cat'.*no training sample"):
        balanced_class_weights(np.array([0, 0, 2]), 3, ["dog", "cat", "bird"])


def test_cross_entropy_gets_the_weights_and_matches_torch():
    weights = torch.tensor([0.5, 2.0, 4.0])
    loss = TASKS.get("tabular-classification").build_loss(None, class_weights=weights)
    logits, targets = torch.randn(16, 3, generator=torch.Generator().manual_seed(0)), torch.arange(16) % 3
    torch.testing.assert_close(loss(logits, targets), F.cross_entropy(logits, targets, weight=weights))
    unweighted = TASKS.get("tabular-classification").build_loss(None)
    assert not torch.allclose(unweighted(logits, targets), loss(logits, targets))


def test_focal_gets_the_weights_as_per_class_alpha():
    weights = torch.tensor([0.5, 3.0])
    loss = TASKS.get("tabular-classification").build_loss({"name": "focal", "gamma": 2.0}, class_weights=weights)
    logits, targets = torch.tensor([[2.0, -1.0], [0.5, 0.3]]), torch.tensor([0, 1])
    p_true = torch.softmax(logits, dim=1)[torch.arange(2), targets]
    expected = (-weights[targets] * (1 - p_true) ** 2 * p_true.log()).mean()  # the paper's formula by hand
    torch.testing.assert_close(loss(logits, targets), expected)


def test_class_weights_with_an_unfit_loss_spec_are_errors():
    with pytest.raises(ConfigError, match=r"loss.name.*\(cross-entropy, nll, focal\).*received 'hinge'"):
        loss_with_class_weights("hinge", [1.0, 2.0])
    with pytest.raises(ConfigError, match="loss.class_weights.*Remove loss.class_weights"):
        loss_with_class_weights({"name": "cross-entropy", "class_weights": [1, 1]}, [1.0, 2.0])
    with pytest.raises(ConfigError, match="a single loss by name"):
        loss_with_class_weights({"sum": [{"name": "cross-entropy"}]}, [1.0, 2.0])
    assert loss_with_class_weights("nll", torch.tensor([1.0, 2.0])) == {"name": "nll", "class_weights": [1.0, 2.0]}


# -- detection ----------------------------------------------------------------------
def test_detection_warns_above_the_ratio_with_counts_ratio_and_remedies():
    with pytest.warns(ImbalanceWarning) as caught:
        record = detect_imbalance(np.array([90, 10, 30]), ["a", "b", "c"], 3.0)
    message = str(caught[0].message)
    assert "'a' has 90" in message and "'b'" in message and "has 10" in message and "ratio 9.0" in message
    assert "data.imbalance.class_weights=true" in message and "resample=smote" in message
    assert record["counts"] == {"a": 90, "b": 10, "c": 30} and record["ratio"] == 9.0
    assert record["warning"] == message


def test_detection_is_silent_at_or_below_the_ratio():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        record = detect_imbalance(np.array([30, 10]), ["a", "b"], 3.0)
    assert record["ratio"] == 3.0 and "warning" not in record


def test_detection_of_an_empty_class():
    with pytest.warns(ImbalanceWarning, match="'b'.*no training sample"):
        record = detect_imbalance(np.array([30, 0]), ["a", "b"], 3.0)
    assert record["ratio"] is None


# -- resampling --------------------------------------------------------------------------
def test_smote_equals_imbalanced_learn_and_marks_synthetic_rows():
    frame, targets = imbalanced_frame()
    part = RawSplit(frame, targets, np.arange(100, 100 + len(targets)))
    resampled = resample_split(part, "smote", seed=7, k_neighbors=5)
    reference, reference_targets = SMOTE(k_neighbors=5, random_state=7).fit_resample(frame.to_numpy(), targets)
    np.testing.assert_allclose(resampled.inputs[["a", "b"]].to_numpy(), reference, atol=1e-9)
    np.testing.assert_array_equal(resampled.targets, reference_targets)
    np.testing.assert_array_equal(np.bincount(resampled.targets), [120, 120])
    np.testing.assert_array_equal(resampled.indices[: len(targets)], part.indices)  # originals first, unchanged
    assert (resampled.indices[len(targets):] == SYNTHETIC_INDEX).all()


def test_smote_rows_lie_between_two_minority_samples_in_raw_units():
    frame, targets = imbalanced_frame()
    frame = frame * [1000.0, 0.01] + [5e4, 3.0]  # very different scales: neighbours are found on z-scores
    resampled = resample_split(RawSplit(frame, targets), "smote", seed=0, k_neighbors=3)
    minority = frame.to_numpy()[targets == 1]
    for row in resampled.inputs.to_numpy()[len(targets):]:
        start, end = minority[:, None, :], minority[None, :, :]  # every ordered pair (i, j)
        u = ((row - start) * (end - start)).sum(-1) / np.maximum(((end - start) ** 2).sum(-1), 1e-300)
        nearest = start + np.clip(u, 0, 1)[..., None] * (end - start)
        gap = np.abs((nearest - row) / [1000.0, 0.01]).sum(-1)
        assert gap.min() < 1e-6  # on the segment between two real minority rows


def test_smote_nc_keeps_categorical_columns_as_categories():
    frame, targets = imbalanced_frame(categorical=True)
    resampled = resample_split(RawSplit(frame, targets), "smote", seed=1, k_neighbors=5, categorical=["colour"])
    synthetic = resampled.inputs.iloc[len(targets):]
    assert set(synthetic["colour"]) <= {"red", "green", "blue"} and len(synthetic) == 108
    with pytest.raises(DataError, match="adasyn needs numeric features.*colour.*resample=smote"):
        resample_split(RawSplit(frame, targets), "adasyn", seed=1, categorical=["colour"])


def test_smote_with_too_few_minority_samples_says_the_count_and_the_fix():
    frame, targets = imbalanced_frame(num_minor=4)
    with pytest.raises(DataError, match=r"k_neighbors=5.*class 'rare' has 4.*k_neighbors=3"):
        resample_split(RawSplit(frame, targets), "smote", seed=0, k_neighbors=5, class_names=["common", "rare"])
    with pytest.raises(DataError, match="single sample.*resample=oversample"):
        resample_split(RawSplit(frame.iloc[:121], targets[:121]), "adasyn", seed=0, k_neighbors=2)


def test_adasyn_balances_approximately():
    frame, targets = imbalanced_frame()
    resampled = resample_split(RawSplit(frame, targets), "adasyn", seed=0, k_neighbors=5)
    counts = np.bincount(resampled.targets)
    assert counts[0] == 120 and abs(counts[1] - 120) <= 5  # ADASYN rounds per-sample counts
    assert (resampled.indices[len(targets):] == SYNTHETIC_INDEX).all()


def test_random_over_and_under_sampling_choose_real_rows_by_seed():
    frame, targets = imbalanced_frame()
    part = RawSplit(frame, targets, np.arange(len(targets)) * 10)
    over = resample_split(part, "oversample", seed=3)
    np.testing.assert_array_equal(np.bincount(over.targets), [120, 120])
    assert (over.indices >= 0).all() and set(over.indices) == set(part.indices)  # duplicates keep their source row
    np.testing.assert_allclose(over.inputs.to_numpy(), frame.to_numpy()[over.indices // 10])
    again, other = resample_split(part, "oversample", seed=3), resample_split(part, "oversample", seed=4)
    np.testing.assert_array_equal(over.indices, again.indices)
    assert not np.array_equal(over.indices, other.indices)
    under = resample_split(part, "undersample", seed=3)
    np.testing.assert_array_equal(np.bincount(under.targets), [12, 12])
    assert len(set(under.indices)) == 24


def test_tomek_links_equal_imbalanced_learn():
    frame, targets = imbalanced_frame(num_minor=30)
    resampled = resample_split(RawSplit(frame, targets), "tomek", seed=0)
    reference = TomekLinks()
    reference.fit_resample(frame.to_numpy(), targets)
    np.testing.assert_array_equal(resampled.indices, reference.sample_indices_)
    assert len(resampled) < len(targets) and np.bincount(resampled.targets)[1] == 30  # only majority rows removed


def test_smote_on_images_warns_and_keeps_shape_and_dtype():
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (40, 1, 4, 4), dtype=torch.uint8, generator=generator)
    targets = np.r_[np.zeros(32, np.int64), np.ones(8, np.int64)]
    with pytest.warns(ImbalanceWarning, match="blend"):
        resampled = resample_split(RawSplit(images, targets), "smote", seed=0, k_neighbors=3)
    assert resampled.inputs.shape == (64, 1, 4, 4) and resampled.inputs.dtype == torch.uint8
    assert torch.equal(resampled.inputs[:40], images)


# -- through load_data ----------------------------------------------------------------------
def test_load_data_records_warns_and_resamples_only_the_training_split(tmp_path):
    frame, targets = imbalanced_frame(num_major=200, num_minor=40)
    path = write_csv(tmp_path, frame, targets)
    plain_config = DataConfig(path=str(path), target="label")
    with pytest.warns(ImbalanceWarning, match="ratio 5.0"):
        plain = load_data(plain_config, target_kind="classification", seed=0)
    assert plain.description["imbalance"]["counts"] == {"common": 140, "rare": 28}
    assert plain.class_weights is None
    config = DataConfig(path=str(path), target="label",
                        imbalance={"resample": "smote", "class_weights": True, "k_neighbors": 3})
    with pytest.warns(ImbalanceWarning) as caught:
        bundle = load_data(config, target_kind="classification", seed=0)
    messages = [str(w.message) for w in caught]
    assert "Remedy in use: data.imbalance.resample=smote" in messages[0] and "favoured twice" in messages[1]
    record = bundle.description["imbalance"]
    assert record["resample"]["after"] == {"common": 140, "rare": 140} and record["resample"]["synthetic"] == 112
    assert bundle.description["class_counts"]["train"] == {"common": 140, "rare": 140}
    assert int((bundle.train.indices == SYNTHETIC_INDEX).sum()) == 112
    torch.testing.assert_close(bundle.class_weights, torch.tensor([168 / (2 * 140), 168 / (2 * 28)]))
    for split in ("val", "test"):  # untouched
        torch.testing.assert_close(getattr(bundle, split).indices, getattr(plain, split).indices)


def test_load_data_with_stored_preprocessing_does_not_resample(tmp_path):
    frame, targets = imbalanced_frame(num_major=200, num_minor=40)
    config = DataConfig(path=str(write_csv(tmp_path, frame, targets)), target="label", imbalance={"resample": "oversample"})
    with pytest.warns(ImbalanceWarning):
        trained = load_data(config, target_kind="classification", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ImbalanceWarning)
        evaluated = load_data(config, target_kind="classification", seed=0, preprocessing=trained.preprocessing)
    assert len(evaluated.train) == 168 and "imbalance" not in evaluated.description


def test_remedies_on_regression_data_are_config_errors(tmp_path):
    frame, targets = imbalanced_frame()
    path = tmp_path / "values.csv"
    frame.assign(value=targets * 1.5).to_csv(path, index=False)
    config = DataConfig(path=str(path), target="value", imbalance={"resample": "smote", "class_weights": True})
    with pytest.raises(ConfigError, match="(?s)data.imbalance.resample: expected none.*data.imbalance.class_weights: expected false"):
        load_data(config, target_kind="regression", seed=0)


# -- class-balanced batches --------------------------------------------------------------------
def test_balanced_sampler_draws_classes_uniformly():
    targets = torch.tensor([0] * 9000 + [1] * 900 + [2] * 90 + [3] * 10)
    sampler = ClassBalancedBatchSampler(targets, 64, seed=5)
    order = sampler.order(0)
    assert len(order) == len(targets) and len(sampler) == len(BatchSampler(len(targets), 64))
    frequencies = np.bincount(targets[order].numpy(), minlength=4) / len(order)
    np.testing.assert_allclose(frequencies, 0.25, atol=0.02)
    assert len(set(order[targets[order] == 3].tolist())) == 10  # every rare sample drawn, with repeats


def test_balanced_sampler_is_recomputable_from_seed_and_epoch():
    targets = np.r_[np.zeros(500, np.int64), np.ones(30, np.int64), np.full(70, 4)]
    first, second = ClassBalancedBatchSampler(targets, 32, seed=1), ClassBalancedBatchSampler(targets, 32, seed=1)
    assert torch.equal(first.order(3), second.order(3))
    assert not torch.equal(first.order(3), first.order(4))
    assert not torch.equal(first.order(3), ClassBalancedBatchSampler(targets, 32, seed=2).order(3))
    batches = list(first.batches(2))
    assert torch.equal(torch.cat(batches), first.order(2)) and len(batches) == 19
    resumed = list(second.batches(2, start=7))  # a resume mid-epoch continues with the same batches
    assert all(torch.equal(a, b) for a, b in zip(batches[7:], resumed)) and len(resumed) == 12
    assert len(ClassBalancedBatchSampler(targets, 32, seed=1, drop_last=True)) == 18
    assert set(targets[first.order(0).numpy()]) == {0, 1, 4}  # only classes that have samples


def test_balanced_sampler_plugs_into_tensor_batches_and_refuses_float_targets():
    inputs, targets = torch.arange(100.0).reshape(50, 2), torch.tensor([0] * 45 + [1] * 5)
    source = TensorBatches((inputs, targets), 10, sampler=ClassBalancedBatchSampler(targets, 10, seed=0))
    seen = torch.cat([batch[1] for batch in source.batches(0)])
    assert len(source) == 5 and 15 <= int(seen.sum()) <= 35  # about half rare, against 10% in the data
    with pytest.raises(DataError, match="integer class indices"):
        ClassBalancedBatchSampler(torch.rand(10), 4)
