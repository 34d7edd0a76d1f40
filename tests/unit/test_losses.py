"""Losses: a contract over every registered loss, torch references, hand-computed values, errors and sums."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F

from shendu.errors import ConfigError, DataError, UnknownComponentError
from shendu.losses import LOSSES, WeightedSumLoss, build_loss, gradient_penalty, loss_problems

LN2 = math.log(2.0)


def _generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def _randn(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=_generator(), dtype=torch.float64)


def _classification_inputs():
    generator = _generator()
    return torch.randn(8, 5, generator=generator), torch.randint(0, 5, (8,), generator=generator)


def _binary_inputs():
    generator = _generator()
    return torch.randn(8, 3, generator=generator), torch.randint(0, 2, (8, 3), generator=generator).float()


def _regression_inputs():
    generator = _generator()
    return torch.randn(8, 2, generator=generator) * 2, torch.randn(8, 2, generator=generator)


def _log_probability_inputs():
    logits, targets = _classification_inputs()
    return F.log_softmax(logits, dim=1), targets


def _count_inputs():
    generator = _generator()
    return torch.randn(8, 2, generator=generator), torch.randint(0, 5, (8, 2), generator=generator).float()


def _gaussian_inputs():
    generator = _generator()
    return torch.randn(8, 4, generator=generator), torch.randn(8, 2, generator=generator)


def _segmentation_inputs():
    generator = _generator()
    return torch.randn(2, 3, 4, 4, generator=generator), torch.randint(0, 3, (2, 4, 4), generator=generator)


def _distribution_inputs():
    generator = _generator()
    return torch.randn(8, 5, generator=generator), torch.softmax(torch.randn(8, 5, generator=generator), dim=1)


def _distillation_inputs():
    logits, labels = _classification_inputs()
    return logits, (labels, torch.randn(8, 5, generator=_generator()) * 3)


def _pair_inputs():
    generator = _generator()
    pair = (torch.randn(8, 4, generator=generator), torch.randn(8, 4, generator=generator))
    return pair, torch.tensor([1, 0, 1, 0, 1, 0, 0, 1])


def _signed_pair_inputs():
    pair, labels = _pair_inputs()
    return pair, labels * 2 - 1


def _triplet_inputs():
    generator = _generator()
    return tuple(torch.randn(8, 4, generator=generator) for _ in range(3)), None


def _view_inputs():
    return _pair_inputs()[0], None


def _critic_inputs():
    return torch.randn(8, generator=_generator()), torch.tensor([1, 1, 1, 1, 0, 0, 0, 0])


SUM_TERMS = [{"name": "cross-entropy", "weight": 1.0}, {"name": "hinge", "weight": 0.5}]

# Every registered loss needs an input maker here: a new loss without one fails the contract tests.
INPUT_MAKERS: dict[str, Callable] = {
    "cross-entropy": _classification_inputs,
    "nll": _log_probability_inputs,
    "focal": _classification_inputs,
    "hinge": _classification_inputs,
    "squared-hinge": _classification_inputs,
    "binary-cross-entropy": _binary_inputs,
    "asymmetric": _binary_inputs,
    "mse": _regression_inputs,
    "mae": _regression_inputs,
    "huber": _regression_inputs,
    "smooth-l1": _regression_inputs,
    "poisson-nll": _count_inputs,
    "gaussian-nll": _gaussian_inputs,
    "dice": _segmentation_inputs,
    "iou": _segmentation_inputs,
    "tversky": _segmentation_inputs,
    "kl-divergence": _distribution_inputs,
    "distillation": _distillation_inputs,
    "contrastive": _pair_inputs,
    "cosine-embedding": _signed_pair_inputs,
    "triplet": _triplet_inputs,
    "info-nce": _view_inputs,
    "nt-xent": _view_inputs,
    "wasserstein": _critic_inputs,
    "weighted-sum": _classification_inputs,
}
# Losses whose defaults cannot build them: the spec the contract tests use.
DEFAULT_SPECS = {"weighted-sum": {"name": "weighted-sum", "losses": SUM_TERMS}}


def _inputs(name: str):
    if name not in INPUT_MAKERS:
        pytest.fail(f"loss {name!r} is registered but has no input maker in INPUT_MAKERS; add one.")
    return INPUT_MAKERS[name]()


def _spec(name: str, **options) -> object:
    base = DEFAULT_SPECS.get(name, {"name": name})
    return {**base, **options}


def _leaves(outputs) -> list[torch.Tensor]:
    return list(outputs) if isinstance(outputs, tuple) else [outputs]


def _has_reduction(name: str) -> bool:
    return "reduction" in inspect.signature(LOSSES.entry(name).constructor).parameters


# -- the contract over every registered loss ------------------------------------------------
@pytest.mark.parametrize("name", LOSSES.names())
def test_every_loss_is_documented(name: str) -> None:
    entry = LOSSES.entry(name)
    assert entry.summary and entry.formula and entry.reference
    for section in ("Formula", "Reference", "Args:"):
        assert section in entry.doc, f"{name}: the docstring lacks {section!r}"
    assert entry.tags["kind"] and loss_problems(_spec(name)) == []


@pytest.mark.parametrize("name", LOSSES.names())
def test_every_loss_has_a_profile_for_explain(name: str) -> None:
    tags = LOSSES.entry(name).tags
    low, high = tags["profile_range"]
    assert isinstance(tags["profile_axis"], str) and tags["profile_axis"] and low < high
    x = torch.linspace(low, high, 11)
    values = tags["profile"](x)
    labels = tags.get("profile_labels")
    expected = (11,) if labels is None else (11, len(labels))
    assert tuple(values.shape) == expected and values.is_floating_point()
    assert torch.isfinite(values).all()
    # The plotter also draws the slope by autograd, in float64: it must be finite over the whole range.
    x = torch.linspace(low, high, 11, dtype=torch.float64, requires_grad=True)
    (slope,) = torch.autograd.grad(tags["profile"](x).sum(), x)
    assert torch.isfinite(slope).all()


@pytest.mark.parametrize("name", LOSSES.names())
def test_every_loss_gives_a_finite_scalar_with_finite_gradients(name: str) -> None:
    outputs, targets = _inputs(name)
    for leaf in _leaves(outputs):
        leaf.requires_grad_(True)
    loss = build_loss(_spec(name))(outputs, targets)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    grads = [leaf.grad for leaf in _leaves(outputs)]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0


@pytest.mark.parametrize("name", [n for n in LOSSES.names() if _has_reduction(n)])
def test_every_reduction_is_consistent(name: str) -> None:
    outputs, targets = _inputs(name)
    per_item = build_loss(_spec(name, reduction="none"))(outputs, targets)
    total = build_loss(_spec(name, reduction="sum"))(outputs, targets)
    mean = build_loss(_spec(name))(outputs, targets)
    assert per_item.dim() >= 1
    torch.testing.assert_close(per_item.sum(), total)
    torch.testing.assert_close(per_item.mean(), mean)


# -- hand-computed values: each written out from the formula, never from the code under test --
def _hand_values() -> dict[str, list[tuple[object, Callable, float]]]:
    """name -> [(spec, call, expected)], call(loss) giving the loss on tiny fixed inputs."""
    t = torch.tensor
    three = t([1.0, 2.0, -0.5])
    pixels = t([[[0.0, math.log(3.0)]]])  # (1, 1, 2): p = (0.5, 0.75), truth (1, 0)
    mask = t([[[1.0, 0.0]]])
    # TP = 0.5, FP = 0.75, FN = 0.5, sum p = 1.25, sum g = 1
    kl = 0.7 * math.log(0.7 / 0.5) + 0.3 * math.log(0.3 / 0.5)
    kl_teacher = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    ce_half = -math.log(math.exp(0.5) / (1 + math.exp(0.5)))
    unit = torch.eye(2)
    return {
        "cross-entropy": [("cross-entropy", lambda f: f(t([[0.0, math.log(3.0)]]), t([1])), -math.log(0.75)),
                          ({"name": "cross-entropy", "class_weights": [2.0, 1.0]},
                           lambda f: f(torch.zeros(2, 2), t([0, 1])), LN2)],
        "nll": [("nll", lambda f: f(t([[math.log(0.2), math.log(0.8)]]), t([1])), -math.log(0.8)),
                ({"name": "nll", "class_weights": [2.0, 1.0]},
                 lambda f: f(t([[math.log(0.5), math.log(0.5)], [math.log(0.75), math.log(0.25)]]), t([0, 1])),
                 (2 * LN2 + math.log(4.0)) / 3)],
        "binary-cross-entropy": [("binary-cross-entropy", lambda f: f(torch.zeros(1), torch.ones(1)), LN2),
                                 ({"name": "binary-cross-entropy", "pos_weight": 3.0},
                                  lambda f: f(torch.zeros(1), torch.ones(1)), 3 * LN2)],
        # one sample, two labels: z = (0, ln 3), y = (1, 0); p = (0.5, 0.75), p_m = 0.7 for the negative.
        "asymmetric": [("asymmetric", lambda f: f(t([[0.0, math.log(3.0)]]), t([[1.0, 0.0]])),
                        LN2 - 0.7**4 * math.log(0.3)),
                       ({"name": "asymmetric", "gamma_positive": 1.0, "clip": 0.0},
                        lambda f: f(t([[0.0, math.log(3.0)]]), t([[1.0, 0.0]])),
                        0.5 * LN2 - 0.75**4 * math.log(0.25))],
        "focal": [({"name": "focal", "alpha": 0.25}, lambda f: f(torch.zeros(1), torch.ones(1)), 0.25 * 0.25 * LN2),
                  ("focal", lambda f: f(t([[0.0, math.log(3.0)]]), t([1])), 0.25**2 * -math.log(0.75))],
        "hinge": [("hinge", lambda f: f(t([2.0, 0.5, -1.0]), t([1.0, 1.0, 0.0])), 0.5 / 3),
                  ("hinge", lambda f: f(t([[1.0, 2.0, 0.0]]), t([0])), 2.0 / 3)],
        "squared-hinge": [("squared-hinge", lambda f: f(t([2.0, 0.5, -1.0]), t([1.0, 1.0, -1.0])), 0.25 / 3),
                          ("squared-hinge", lambda f: f(t([[1.0, 2.0, 0.0]]), t([0])), 4.0 / 3)],
        "mse": [("mse", lambda f: f(three, torch.zeros(3)), (1 + 4 + 0.25) / 3)],
        "mae": [("mae", lambda f: f(three, torch.zeros(3)), (1 + 2 + 0.5) / 3)],
        # delta 1: |e| = 1 -> 0.5; |e| = 2 -> 1 * (2 - 0.5) = 1.5; |e| = 0.5 -> 0.125.
        "huber": [("huber", lambda f: f(three, torch.zeros(3)), (0.5 + 1.5 + 0.125) / 3)],
        # beta 2: |e| = 1 -> 0.5 / 2 = 0.25; |e| = 2 -> 2 - 1 = 1; |e| = 0.5 -> 0.0625.
        "smooth-l1": [({"name": "smooth-l1", "beta": 2.0}, lambda f: f(three, torch.zeros(3)),
                       (0.25 + 1 + 0.0625) / 3)],
        "poisson-nll": [("poisson-nll", lambda f: f(t([0.0, math.log(2.0)]), t([2.0, 2.0])), (1 + 2 - 2 * LN2) / 2),
                        ({"name": "poisson-nll", "log_input": False}, lambda f: f(t([2.0]), t([2.0])), 2 - 2 * LN2)],
        "gaussian-nll": [("gaussian-nll", lambda f: f(t([[1.0, math.log(4.0)]]), t([[0.0]])),
                          0.5 * (math.log(4.0) + 0.25)),
                         ({"name": "gaussian-nll", "full": True}, lambda f: f(t([[1.0, 0.0]]), t([0.0])),
                          0.5 + 0.5 * math.log(2 * math.pi))],
        "dice": [("dice", lambda f: f(pixels, mask), 1 - 2 / 3.25),
                 # softmax of zero logits: p = 0.5 everywhere; each class: TP 0.5, sum p 1, sum g 1.
                 ({"name": "dice", "smooth": 0.0}, lambda f: f(torch.zeros(1, 2, 2), t([[0, 1]])), 0.5)],
        "iou": [("iou", lambda f: f(pixels, mask), 1 - 1.5 / 2.75)],
        "tversky": [("tversky", lambda f: f(pixels, mask), 1 - 1.5 / (0.5 + 0.3 * 0.75 + 0.7 * 0.5 + 1))],
        "kl-divergence": [("kl-divergence", lambda f: f(torch.zeros(1, 2), t([[0.7, 0.3]])), kl)],
        "distillation": [({"name": "distillation", "temperature": 2.0},
                          lambda f: f(torch.zeros(1, 2), (t([0]), t([[2 * math.log(3.0), 0.0]]))),
                          0.5 * LN2 + 0.5 * 4 * kl_teacher)],
        # distances 0.5 (similar), 0.5 and 2 (dissimilar), margin 1: 0.5 * 0.25, 0.5 * 0.25, 0.
        "contrastive": [("contrastive", lambda f: f(t([0.5, 0.5, 2.0]), t([1, 0, 0])), 0.25 / 3)],
        "triplet": [("triplet", lambda f: f((t([[0.0, 0.0]]), t([[0.0, 1.0]]), t([[0.0, 1.5]])), None), 0.5)],
        "cosine-embedding": [("cosine-embedding", lambda f: f((t([[1.0, 0.0]]), t([[1.0, 1.0]])), t([1])),
                              1 - math.sqrt(0.5)),
                             ({"name": "cosine-embedding", "margin": 0.5},
                              lambda f: f((t([[1.0, 0.0]]), t([[1.0, 1.0]])), t([-1])), math.sqrt(0.5) - 0.5)],
        # identical orthogonal views: each row's logits are (1, 0) / T among B = 2.
        "info-nce": [({"name": "info-nce", "temperature": 0.5}, lambda f: f((unit, unit), None),
                      -math.log(math.exp(2) / (math.exp(2) + 1)))],
        # 2B = 4 rows: each anchor sees its positive at cosine 1 and two negatives at 0.
        "nt-xent": [({"name": "nt-xent", "temperature": 1.0}, lambda f: f((unit, unit), None),
                     -math.log(math.e / (math.e + 2)))],
        "wasserstein": [("wasserstein", lambda f: f(t([1.0, 2.0, 3.0, 5.0]), t([1, 1, 0, 0])), 4.0 - 1.5),
                        ("wasserstein", lambda f: f(t([[3.0], [5.0]]), t([1, 1])), -4.0)],
        "weighted-sum": [({"name": "weighted-sum", "losses": SUM_TERMS},
                          lambda f: f(t([[0.0, 0.5]]), t([1])), ce_half + 0.5 * (1 - 0.5) / 2)],
    }


HAND_VALUES = _hand_values()


@pytest.mark.parametrize("name", LOSSES.names())
def test_every_loss_equals_hand_computed_values(name: str) -> None:
    if name not in HAND_VALUES:
        pytest.fail(f"loss {name!r} has no hand-computed case in _hand_values(); add one.")
    for spec, call, expected in HAND_VALUES[name]:
        value = call(build_loss(spec))
        assert value.item() == pytest.approx(expected, rel=1e-5, abs=1e-6), spec


# -- references against torch.nn.functional and the published formulas ----------------------
def _sigmoid_focal_reference(logits, targets, alpha=0.25, gamma=2.0):
    """The formula of torchvision.ops.sigmoid_focal_loss (Lin et al. 2017), written out."""
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
    return (alpha_t * ce * (1 - p_t) ** gamma).mean()


def _torch_cases():
    logits, classes = _classification_inputs()
    outputs, labels = _binary_inputs()
    predictions, values = _regression_inputs()
    distributions = torch.softmax(_randn(8, 5).float(), dim=1)
    (first, second), pair_labels = _signed_pair_inputs()
    anchor, positive, negative = _triplet_inputs()[0]
    rates, counts = _count_inputs()
    means, variances = _gaussian_inputs()
    return [
        ("nll", (F.log_softmax(logits, 1), classes), lambda: F.nll_loss(F.log_softmax(logits, 1), classes)),
        ({"name": "nll", "class_weights": [1.0, 2.0, 0.5, 1.0, 3.0], "ignore_index": 2},
         (F.log_softmax(logits, 1), classes),
         lambda: F.nll_loss(F.log_softmax(logits, 1), classes, weight=torch.tensor([1.0, 2.0, 0.5, 1.0, 3.0]),
                            ignore_index=2)),
        ("mse", (predictions, values), lambda: F.mse_loss(predictions, values)),
        ("mae", (predictions, values), lambda: F.l1_loss(predictions, values)),
        ("huber", (predictions, values), lambda: F.huber_loss(predictions, values)),
        ({"name": "huber", "delta": 0.5}, (predictions, values), lambda: F.huber_loss(predictions, values, delta=0.5)),
        ({"name": "smooth-l1", "beta": 0.5}, (predictions, values),
         lambda: F.smooth_l1_loss(predictions, values, beta=0.5)),
        ({"name": "hinge", "margin": 0.7}, (logits, classes), lambda: F.multi_margin_loss(logits, classes, margin=0.7)),
        ("squared-hinge", (logits, classes), lambda: F.multi_margin_loss(logits, classes, p=2)),
        ("kl-divergence", (logits, distributions),
         lambda: F.kl_div(F.log_softmax(logits, 1), distributions, reduction="batchmean")),
        ({"name": "kl-divergence", "log_target": True}, (logits, distributions.log()),
         lambda: F.kl_div(F.log_softmax(logits, 1), distributions.log(), reduction="batchmean", log_target=True)),
        ({"name": "triplet", "margin": 0.5, "p": 1.0, "swap": True}, ((anchor, positive, negative), None),
         lambda: F.triplet_margin_loss(anchor, positive, negative, margin=0.5, p=1.0, swap=True)),
        ({"name": "cosine-embedding", "margin": 0.2}, ((first, second), pair_labels),
         lambda: F.cosine_embedding_loss(first, second, pair_labels, margin=0.2)),
        ("poisson-nll", (rates, counts), lambda: F.poisson_nll_loss(rates, counts)),
        ({"name": "poisson-nll", "log_input": False, "full": True}, (rates.exp(), counts),
         lambda: F.poisson_nll_loss(rates.exp(), counts, log_input=False, full=True)),
        ("gaussian-nll", (means, variances),
         lambda: F.gaussian_nll_loss(means[:, :2], variances, means[:, 2:].exp())),
        ({"name": "gaussian-nll", "log_variance": False, "full": True}, (torch.cat([means[:, :2],
         means[:, 2:].exp()], 1), variances),
         lambda: F.gaussian_nll_loss(means[:, :2], variances, means[:, 2:].exp(), full=True)),
        ({"name": "focal", "alpha": 0.25}, (outputs, labels), lambda: _sigmoid_focal_reference(outputs, labels)),
    ]


@pytest.mark.parametrize("case", _torch_cases(), ids=lambda case: str(case[0]))
def test_losses_match_torch_and_reference_formulas(case) -> None:
    spec, (outputs, targets), reference = case
    torch.testing.assert_close(build_loss(spec)(outputs, targets), reference())


def test_cross_entropy_matches_torch_with_weights_smoothing_and_ignore_index() -> None:
    outputs, targets = _classification_inputs()
    targets[2] = -1
    weights = [1.0, 2.0, 0.5, 1.5, 3.0]
    loss = build_loss(
        {"name": "cross-entropy", "class_weights": weights, "label_smoothing": 0.1, "ignore_index": -1}
    )
    expected = F.cross_entropy(
        outputs, targets, weight=torch.tensor(weights), label_smoothing=0.1, ignore_index=-1
    )
    torch.testing.assert_close(loss(outputs, targets), expected)


def test_cross_entropy_accepts_class_probabilities_and_per_pixel_classes() -> None:
    outputs, targets = _classification_inputs()
    soft = F.one_hot(targets, 5).float() * 0.8 + 0.04
    torch.testing.assert_close(build_loss("cross-entropy")(outputs, soft), F.cross_entropy(outputs, soft))
    pixels, labels = _segmentation_inputs()
    torch.testing.assert_close(build_loss("cross-entropy")(pixels, labels), F.cross_entropy(pixels, labels))


def test_class_weights_follow_the_outputs_dtype_and_stay_out_of_state_dict() -> None:
    for name in ("cross-entropy", "nll"):
        loss = build_loss({"name": name, "class_weights": [1.0, 2.0, 3.0, 4.0, 5.0]})
        assert "class_weights" in dict(loss.named_buffers()) and "class_weights" not in loss.state_dict()
        outputs, targets = _classification_inputs()
        assert loss(outputs.to(torch.float64), targets).dtype == torch.float64


def test_binary_cross_entropy_matches_torch_with_pos_weight() -> None:
    outputs, targets = _binary_inputs()
    loss = build_loss({"name": "binary-cross-entropy", "pos_weight": [1.0, 2.0, 3.0]})
    expected = F.binary_cross_entropy_with_logits(outputs, targets, pos_weight=torch.tensor([1.0, 2.0, 3.0]))
    torch.testing.assert_close(loss(outputs, targets), expected)
    # Integer 0/1 labels are accepted and read as floats.
    expected = F.binary_cross_entropy_with_logits(outputs, targets)
    torch.testing.assert_close(build_loss("binary-cross-entropy")(outputs, targets.long()), expected)


# -- properties the formulas promise ----------------------------------------------------------
def test_focal_with_gamma_zero_and_no_alpha_is_cross_entropy() -> None:
    plain = {"name": "focal", "gamma": 0.0}
    logits, classes = _classification_inputs()
    classes[3] = -100
    torch.testing.assert_close(build_loss(plain)(logits, classes), F.cross_entropy(logits, classes))
    outputs, labels = _binary_inputs()
    torch.testing.assert_close(build_loss(plain)(outputs, labels), F.binary_cross_entropy_with_logits(outputs, labels))
    # Per-class alpha weights each sample by its class (no renormalisation, unlike weighted cross-entropy).
    weights = [1.0, 2.0, 0.5, 1.5, 3.0]
    weighted = build_loss({"name": "focal", "gamma": 0.0, "alpha": weights, "reduction": "none"})(logits, classes)
    expected = F.cross_entropy(logits, classes, reduction="none") * torch.tensor(weights)[classes.clamp_min(0)]
    torch.testing.assert_close(weighted, expected * (classes != -100))


def test_focal_down_weights_easy_examples() -> None:
    easy, hard = torch.tensor([4.0]), torch.tensor([-1.0])
    focal, bce = build_loss("focal"), build_loss("binary-cross-entropy")
    one = torch.ones(1)
    assert focal(easy, one) / bce(easy, one) < 1e-3 < focal(hard, one) / bce(hard, one)


@pytest.mark.parametrize("name", ["dice", "iou", "tversky"])
def test_overlap_losses_of_a_perfect_prediction_are_zero(name: str) -> None:
    _, classes = _segmentation_inputs()
    perfect = F.one_hot(classes, 3).movedim(-1, 1).double() * 40 - 20  # (B, C, H, W) logits
    assert build_loss(name)(perfect, classes).item() == pytest.approx(0.0, abs=1e-6)
    mask = (classes == 1).double().unsqueeze(1)  # (B, 1, H, W) binary mask
    assert build_loss(name)(mask * 40 - 20, mask).item() == pytest.approx(0.0, abs=1e-6)
    assert build_loss(name)(20 - mask * 40, mask).item() > 0.5


def test_huber_is_delta_times_smooth_l1_with_beta_delta() -> None:
    outputs, targets = _regression_inputs()
    for delta in (0.5, 1.0, 2.0):
        huber = build_loss({"name": "huber", "delta": delta})(outputs, targets)
        smooth = build_loss({"name": "smooth-l1", "beta": delta})(outputs, targets)
        torch.testing.assert_close(huber, delta * smooth)


def test_tversky_generalises_dice_and_iou() -> None:
    outputs, targets = _segmentation_inputs()
    dice = build_loss({"name": "dice", "smooth": 0.0})(outputs, targets)
    iou = build_loss({"name": "iou", "smooth": 0.0})(outputs, targets)
    torch.testing.assert_close(build_loss({"name": "tversky", "alpha": 0.5, "beta": 0.5, "smooth": 0.0})(
        outputs, targets), dice)
    torch.testing.assert_close(build_loss({"name": "tversky", "alpha": 1.0, "beta": 1.0, "smooth": 0.0})(
        outputs, targets), iou)


def test_distillation_with_alpha_one_is_cross_entropy_and_leaves_the_teacher_alone() -> None:
    logits, (labels, teacher) = _distillation_inputs()
    only_labels = build_loss({"name": "distillation", "alpha": 1.0})
    torch.testing.assert_close(only_labels(logits, (labels, teacher)), F.cross_entropy(logits, labels))
    logits.requires_grad_(True)
    teacher.requires_grad_(True)
    loss = build_loss("distillation")
    value = loss(logits, {"labels": labels, "teacher_logits": teacher})
    torch.testing.assert_close(value, loss(logits, (labels, teacher)))
    value.backward()
    assert teacher.grad is None and logits.grad is not None
    # The student equal to the teacher leaves only the label term.
    same = build_loss({"name": "distillation", "alpha": 0.3})(teacher.detach(), (labels, teacher))
    torch.testing.assert_close(same, 0.3 * F.cross_entropy(teacher.detach(), labels))


def test_gradient_penalty_is_zero_for_a_unit_gradient_critic_and_positive_otherwise() -> None:
    real, fake = _randn(6, 3), _randn(6, 3).flip(0)
    critic = torch.nn.Linear(3, 1, dtype=torch.float64)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[0.6, 0.0, 0.8]]))  # |w| = 1: the gradient norm is 1 everywhere
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(0.0, abs=1e-12)
    with torch.no_grad():
        critic.weight.mul_(3.0)  # |w| = 3: penalty = 10 * (3 - 1)^2
    penalty = gradient_penalty(critic, real, fake, generator=_generator())
    assert penalty.item() == pytest.approx(40.0)
    penalty.backward()
    assert critic.weight.grad is not None and critic.weight.grad.abs().sum() > 0
    with pytest.raises(DataError, match="one shape"):
        gradient_penalty(critic, real, fake[:3])


def test_contrastive_accepts_pairs_or_distances_and_binary_hinge_accepts_both_label_codings() -> None:
    (first, second), labels = _pair_inputs()
    loss = build_loss("contrastive")
    torch.testing.assert_close(loss((first, second), labels), loss(F.pairwise_distance(first, second), labels))
    outputs, zero_one = _binary_inputs()
    hinge = build_loss("hinge")
    torch.testing.assert_close(hinge(outputs, zero_one), hinge(outputs, zero_one * 2 - 1))
    torch.testing.assert_close(hinge(outputs, zero_one), F.relu(1 - (zero_one * 2 - 1) * outputs).mean())


def test_info_nce_is_cross_entropy_over_cosine_similarities_and_differs_from_nt_xent() -> None:
    (first, second), _ = _pair_inputs()
    similarities = F.normalize(first, dim=1) @ F.normalize(second, dim=1).T / 0.1
    one_way = build_loss({"name": "info-nce", "symmetric": False})((first, second), None)
    torch.testing.assert_close(one_way, F.cross_entropy(similarities, torch.arange(8)))
    scaled = build_loss("info-nce")((first * 3, second * 0.5), None)
    torch.testing.assert_close(scaled, build_loss("info-nce")((first, second), None))
    # NT-Xent has more negatives (the same view's rows), so its loss is larger on the same views.
    assert build_loss("nt-xent")((first, second), None) > build_loss("info-nce")((first, second), None)


# -- errors --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["mse", "mae", "huber", "smooth-l1", "binary-cross-entropy", "poisson-nll",
                                  "asymmetric"])
def test_same_shape_losses_refuse_broadcasting(name: str) -> None:
    with pytest.raises(DataError, match=r"\(4, 1\).*\(4,\).*view_as"):
        build_loss(name)(torch.zeros(4, 1), torch.zeros(4))
    with pytest.raises(DataError, match="number of target columns"):
        build_loss(name)(torch.zeros(4, 3), torch.zeros(4, 1))


def test_cross_entropy_errors_say_what_to_do() -> None:
    loss = build_loss("cross-entropy")
    with pytest.raises(DataError, match="binary-cross-entropy"):
        loss(torch.zeros(4), torch.zeros(4, dtype=torch.long))
    with pytest.raises(DataError, match=r"squeeze\(1\)"):
        loss(torch.zeros(4, 3), torch.zeros(4, 1, dtype=torch.long))
    with pytest.raises(DataError, match=r"targets.long\(\)"):
        loss(torch.zeros(4, 3), torch.zeros(4))
    with pytest.raises(DataError, match="one entry per class"):
        weighted = build_loss({"name": "cross-entropy", "class_weights": [1.0, 2.0]})
        weighted(torch.zeros(4, 3), torch.zeros(4, dtype=torch.long))


LONG = torch.long
SHAPE_ERRORS = [
    ("nll", torch.zeros(4, 3), torch.zeros(4), r"targets.long\(\)"),
    ("focal", torch.zeros(4, 1), torch.zeros(4), r"view_as\(outputs\)"),
    ({"name": "focal", "alpha": [1.0, 2.0]}, torch.zeros(4), torch.zeros(4), "one number as alpha"),
    ("hinge", torch.zeros(4, 3, 2), torch.zeros(4, 2), r"targets.view_as\(outputs\)"),
    ("squared-hinge", torch.zeros(4, 3), torch.zeros(4, 1, dtype=LONG), r"squeeze\(1\)"),
    ("dice", torch.zeros(2, 1, 4, 4), torch.zeros(2, 4, 4), r"view_as"),
    ("iou", torch.zeros(2, 3, 4), torch.zeros(2, 5, dtype=LONG), "class indices"),
    ("kl-divergence", torch.zeros(4, 3), torch.zeros(4, dtype=LONG), "class probabilities, not class indices"),
    ("distillation", torch.zeros(4, 3), torch.zeros(4, dtype=LONG), r"\(labels, teacher_logits\)"),
    ("distillation", torch.zeros(4, 3), (torch.zeros(4, dtype=LONG), torch.zeros(4, 2)), "teacher_logits"),
    ("gaussian-nll", torch.zeros(4, 3), torch.zeros(4, 2), "twice as many outputs"),
    ("contrastive", torch.zeros(4, 2), torch.zeros(4), r"Return \(x1, x2\)"),
    ("contrastive", (torch.zeros(4, 2), torch.zeros(4, 2)), torch.zeros(4, 1), "one label per pair"),
    ("triplet", (torch.zeros(4, 2), torch.zeros(4, 2)), None, "tuple of 3 tensors"),
    ("cosine-embedding", (torch.zeros(4, 2), torch.zeros(3, 2)), torch.ones(4), "same batch size"),
    ("info-nce", torch.zeros(4, 2), None, "tuple of 2 tensors"),
    ("wasserstein", torch.zeros(4, 2), torch.ones(4), "one output and one label"),
    (_spec("weighted-sum", losses=[{"name": "mse", "output": 1}]), (torch.zeros(2),), torch.zeros(2), "output 1"),
    (_spec("weighted-sum", losses=[{"name": "mse", "reduction": "none"}]), torch.zeros(2), torch.zeros(2), "scalar"),
]


@pytest.mark.parametrize("case", SHAPE_ERRORS, ids=lambda case: str(case[0]))
def test_mismatched_inputs_are_data_errors_with_a_fix(case) -> None:
    spec, outputs, targets, fix = case
    with pytest.raises(DataError, match=fix):
        build_loss(spec)(outputs, targets)


BAD_OPTIONS = [
    {"name": "huber", "delta": 0},
    {"name": "mse", "reduction": "average"},
    {"name": "cross-entropy", "label_smoothing": 1.5},
    {"name": "cross-entropy", "class_weights": [1.0, -1.0]},
    {"name": "cross-entropy", "ignore_index": "pad"},
    {"name": "nll", "ignore_index": 1.5},
    {"name": "binary-cross-entropy", "pos_weight": "high"},
    {"name": "smooth-l1", "beta": -1.0},
    {"name": "focal", "gamma": -1.0},
    {"name": "focal", "alpha": 1.5},
    {"name": "focal", "alpha": "balanced"},
    {"name": "asymmetric", "gamma_negative": -1.0},
    {"name": "asymmetric", "clip": 1.0},
    {"name": "hinge", "margin": 0.0},
    {"name": "dice", "smooth": -1.0},
    {"name": "tversky", "alpha": -0.1},
    {"name": "kl-divergence", "log_target": "yes"},
    {"name": "distillation", "alpha": 1.5},
    {"name": "distillation", "temperature": 0.0},
    {"name": "contrastive", "margin": float("nan")},
    {"name": "triplet", "swap": 1},
    {"name": "cosine-embedding", "margin": 2.0},
    {"name": "info-nce", "temperature": 0.0},
    {"name": "nt-xent", "temperature": -1.0},
    {"name": "poisson-nll", "log_input": "no"},
    {"name": "gaussian-nll", "eps": 0.0},
    {"name": "weighted-sum", "losses": []},
]


@pytest.mark.parametrize("spec", BAD_OPTIONS, ids=lambda spec: f"{spec['name']}-{list(spec)[1]}")
def test_bad_options_are_config_errors_naming_the_key(spec: dict) -> None:
    key = next(k for k in spec if k != "name")
    with pytest.raises(ConfigError, match=rf"loss\.{key}.*Fix"):
        build_loss(spec)
    assert [p.key.split(".")[:2] for p in loss_problems(spec)] == [["loss", key]]


def test_misspelt_option_and_name_get_suggestions() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'label_smoothing'"):
        build_loss({"name": "cross-entropy", "label_smothing": 0.1})
    with pytest.raises(UnknownComponentError, match="cross-entropy"):
        build_loss("cross-entropie")
    with pytest.raises(ConfigError, match="a loss name"):
        build_loss(42)


def test_a_module_is_returned_unchanged() -> None:
    module = torch.nn.MSELoss()
    assert build_loss(module) is module and loss_problems(module) == [] and loss_problems(None) == []


# -- weighted sums -------------------------------------------------------------------------------
def test_sum_is_the_weighted_sum_of_its_terms_and_keeps_them_for_logging() -> None:
    outputs, targets = _segmentation_inputs()
    terms = [{"name": "cross-entropy", "weight": 1.0}, {"name": "dice", "weight": 0.5, "smooth": 0.0}]
    summed = build_loss({"sum": terms})
    assert isinstance(summed, WeightedSumLoss)
    value = summed(outputs, targets)
    cross_entropy = F.cross_entropy(outputs, targets)
    dice = build_loss({"name": "dice", "smooth": 0.0})(outputs, targets)
    torch.testing.assert_close(value, cross_entropy + 0.5 * dice)
    torch.testing.assert_close(build_loss({"name": "weighted-sum", "losses": terms})(outputs, targets), value)
    assert list(summed.last_terms) == ["cross-entropy", "dice"]
    assert all(not term.requires_grad for term in summed.last_terms.values())
    torch.testing.assert_close(summed.last_terms["dice"], dice)


def test_sum_terms_pick_their_heads_from_tuple_and_dict_outputs() -> None:
    logits, classes = _classification_inputs()
    predictions, values = _regression_inputs()
    terms = [
        {"name": "cross-entropy", "output": 0, "target": "label"},
        {"name": "huber", "weight": 2.0, "delta": 0.5, "output": 1, "target": "value"},
        {"name": "huber", "weight": 0.0, "output": 1, "target": "value"},
    ]
    summed = build_loss({"sum": terms})
    value = summed((logits, predictions), {"label": classes, "value": values})
    expected = F.cross_entropy(logits, classes) + 2.0 * F.huber_loss(predictions, values, delta=0.5)
    torch.testing.assert_close(value, expected)
    assert list(summed.last_terms) == ["cross-entropy", "huber-1", "huber-2"]
    with pytest.raises(DataError, match=r"target 'label'.*\['value'\]"):
        summed((logits, predictions), {"value": values})


def test_loss_problems_checks_sums_recursively_with_keys() -> None:
    spec = {"sum": [
        {"name": "cross-entropy", "weight": -1.0},
        {"name": "dicee", "weight": 0.5},
        {"name": "dice", "smoth": 1.0},
        {"name": "dice", "smooth": -1.0, "output": 1.5},
    ], "weight": 2.0}
    problems = {p.key: p for p in loss_problems(spec)}
    assert sorted(problems) == ["loss.sum.0.weight", "loss.sum.1.name", "loss.sum.2.smoth", "loss.sum.3.output",
                                "loss.sum.3.smooth", "loss.weight"]
    assert "Did you mean 'dice'" in problems["loss.sum.1.name"].fix
    assert "Did you mean 'smooth'" in problems["loss.sum.2.smoth"].fix
    with pytest.raises(ConfigError, match=r"loss\.sum\.0\.weight"):
        build_loss(spec)
    assert loss_problems({"sum": "cross-entropy"})[0].key == "loss.sum"
    assert loss_problems({"sum": ["mse", {"name": "mae", "weight": 2}]}, section="model.loss") == []
    nested = {"name": "weighted-sum", "losses": [{"name": "huber", "delta": 0}]}
    assert [p.key for p in loss_problems(nested)] == ["loss.losses.0.delta"]
    assert [p.key for p in loss_problems({"name": "huber", "delta": 0}, "heads.loss")] == ["heads.loss.delta"]
    assert [p.key for p in loss_problems({"delta": 1.0})] == ["loss"]

