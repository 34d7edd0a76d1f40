"""Mixing augmentations (mixup, cutmix), soft targets in the losses, and the training step that routes them."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from augmentation_batches import NUM_CLASSES, make_images, make_tokens

from shendu.data import AUGMENTATIONS
from shendu.data.augmentation import build_augmentation
from shendu.errors import ConfigError, DataError
from shendu.losses import build_loss
from shendu.tasks import TASKS


# -- mixing ----------------------------------------------------------------------------------------------------
def test_mixup_blends_inputs_and_one_hot_targets_with_the_same_lambda():
    count = NUM_CLASSES
    batch, labels = make_images(count=count), torch.arange(count)  # sample i is the only one of class i
    torch.manual_seed(0)
    mixed, targets = AUGMENTATIONS.get({"name": "mixup", "alpha": 1.0})(batch, labels, NUM_CLASSES)
    assert torch.allclose(targets.sum(1), torch.ones(count))
    for i in range(count):
        weight = float(targets[i, i])
        partners = [j for j in range(count) if j != i and targets[i, j] > 0]
        j = partners[0] if partners else i
        assert len(partners) <= 1 and math.isclose(float(targets[i, j]), 1 - weight if j != i else weight, abs_tol=1e-6)
        torch.testing.assert_close(mixed[i], weight * batch[i] + (1 - weight) * batch[j], atol=1e-5, rtol=0)


def test_cutmix_lambda_is_the_pasted_area_fraction():
    count, size = 8, 10
    batch = torch.arange(1.0, count + 1).view(count, 1, 1, 1).expand(count, 3, size, size).contiguous()
    labels = torch.arange(count)
    torch.manual_seed(1)
    mixed, targets = AUGMENTATIONS.get({"name": "cutmix", "alpha": 1.0})(batch, labels, count)
    assert torch.allclose(targets.sum(1), torch.ones(count))
    boxes = 0
    for i in range(count):
        kept = float((mixed[i, 0] == i + 1).float().mean())
        assert math.isclose(float(targets[i, i]), kept, abs_tol=1e-6) or float(targets[i, i]) == 1.0
        pasted = mixed[i, 0] != i + 1
        if pasted.any():
            boxes += 1
            rows, columns = pasted.any(1).nonzero().flatten(), pasted.any(0).nonzero().flatten()
            assert int(pasted.sum()) == len(rows) * len(columns)  # one rectangle
            partner = int(mixed[i, 0][pasted][0]) - 1
            assert math.isclose(float(targets[i, partner]), 1 - kept, abs_tol=1e-6)
    assert boxes >= count // 2


def test_mixing_chains_and_rejects_what_it_cannot_mix():
    batch, labels = make_images(count=6), torch.arange(6) % 3
    sequence = build_augmentation(["mixup", "cutmix", "horizontal-flip"])
    assert sequence.mixes_targets
    torch.manual_seed(0)
    mixed, targets = sequence.apply(batch, labels, 3)
    assert mixed.shape == batch.shape and targets.shape == (6, 3) and torch.allclose(targets.sum(1), torch.ones(6))
    with pytest.raises(DataError, match="apply"):
        sequence(batch)
    with pytest.raises(DataError, match="num_classes"):
        sequence.apply(batch, labels)
    with pytest.raises(DataError, match="class indices"):
        AUGMENTATIONS.get("mixup")(batch, torch.randn(6, 2), 3)  # regression-like targets
    with pytest.raises(DataError, match="mix"):
        AUGMENTATIONS.get("mixup")(make_tokens(count=6), labels, 3)


def test_soft_targets_in_cross_entropy_and_focal_match_hand_values():
    logits = torch.tensor([[0.0, math.log(3.0)]])  # softmax: p = (0.25, 0.75)
    soft = torch.tensor([[0.25, 0.75]])
    plain = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert math.isclose(float(build_loss("cross-entropy")(logits, soft)), plain, rel_tol=1e-6)
    smoothed = -(0.275 * math.log(0.25) + 0.725 * math.log(0.75))  # q = 0.9 q + 0.1 / 2: smoothing composes
    assert math.isclose(float(build_loss({"name": "cross-entropy", "label_smoothing": 0.1})(logits, soft)), smoothed,
                        rel_tol=1e-6)
    focal = build_loss({"name": "focal", "mode": "multi-class"})
    expected = -(0.25 * 0.75**2 * math.log(0.25) + 0.75 * 0.25**2 * math.log(0.75))
    assert math.isclose(float(focal(logits, soft)), expected, rel_tol=1e-6)
    weighted = build_loss({"name": "focal", "mode": "multi-class", "alpha": [2.0, 1.0]})
    expected = -(2 * 0.25 * 0.75**2 * math.log(0.25) + 0.75 * 0.25**2 * math.log(0.75))
    assert math.isclose(float(weighted(logits, soft)), expected, rel_tol=1e-6)
    # One-hot probabilities give exactly the class-index loss; "auto" still reads same-shape floats as binary.
    scores, classes = torch.randn(6, 4, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 2, 3, 0, 1])
    torch.testing.assert_close(focal(scores, F.one_hot(classes, 4).float()), focal(scores, classes))
    torch.testing.assert_close(build_loss("focal")(scores, classes), focal(scores, classes))
    binary = build_loss("focal")(scores, F.one_hot(classes, 4).float())
    assert not torch.allclose(binary, focal(scores, classes))


# -- the training step -------------------------------------------------------------------------------------------
def test_make_step_routes_mixed_targets_to_the_loss():
    task = TASKS.get("image-classification")
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 12 * 12, 3))
    batch, labels = make_images(count=6), torch.arange(6) % 3
    loss_fn = build_loss({"name": "cross-entropy", "label_smoothing": 0.1})
    step = task.make_step(loss_fn, ["mixup", "horizontal-flip"], num_classes=3, input_kind="image")
    torch.manual_seed(0)
    loss = step(model, (batch, labels))
    torch.manual_seed(0)
    mixed, targets = build_augmentation(["mixup", "horizontal-flip"]).apply(batch, labels, 3)
    torch.testing.assert_close(loss, loss_fn(model(mixed), targets))
    assert task.make_step(loss_fn)(model, (batch, labels)) == loss_fn(model(batch), labels)  # default signature
    flip = task.make_step(loss_fn, [{"name": "horizontal-flip", "p": 1.0}])
    torch.testing.assert_close(flip(model, (batch, labels)), loss_fn(model(batch.flip(-1)), labels))


def test_make_step_refuses_mixing_where_it_cannot_work():
    loss_fn = build_loss("cross-entropy")
    with pytest.raises(ConfigError, match="classification"):
        TASKS.get("regression").make_step(build_loss("mse"), ["mixup"], num_classes=3)
    with pytest.raises(ValueError, match="num_classes"):
        TASKS.get("image-classification").make_step(loss_fn, ["cutmix"])
    with pytest.raises(ConfigError, match="multi-class"):
        TASKS.get("image-classification").make_step(build_loss("focal"), ["mixup"], num_classes=3)
    TASKS.get("image-classification").make_step(build_loss({"name": "focal", "mode": "multi-class"}), ["mixup"],
                                                num_classes=3)


def test_two_runs_with_the_same_seed_give_identical_batches():
    specs = ["random-resized-crop", "affine", "color-jitter", "gaussian-noise", "random-erasing", "cutmix", "mixup"]
    batch, labels = make_images(count=32), torch.arange(32) % NUM_CLASSES

    def run(seed: int):
        torch.manual_seed(seed)
        augment = build_augmentation(specs, input_kind="image")
        return [augment.apply(batch, labels, NUM_CLASSES) for _ in range(3)]  # three steps of one run

    first, second, other = run(7), run(7), run(8)
    for (x1, y1), (x2, y2) in zip(first, second):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.equal(first[0][0], first[1][0]), "consecutive steps draw new parameters"
    assert not torch.equal(first[0][0], other[0][0])


def test_mixing_needs_a_loss_that_reads_class_probabilities():
    with pytest.raises(ConfigError, match="reads class probabilities"):
        TASKS.get("image-classification").make_step(build_loss("nll"), ["cutmix"], num_classes=3)
    mixed_sum = build_loss({"sum": [{"name": "cross-entropy"}, {"name": "focal", "mode": "multi-class"}]})
    TASKS.get("image-classification").make_step(mixed_sum, ["mixup"], num_classes=3)
