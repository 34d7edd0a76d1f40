"""`shendu explain`: text for every component, a picture for every plottable one.

Parametrised over the activation, schedule, optimizer, loss, initializer and
augmentation registries, so a newly registered entry is enrolled automatically.
"""

from __future__ import annotations

import pytest
import torch

from shendu.cli import main
from shendu.data import AUGMENTATIONS
from shendu.errors import ShenduError, UnknownComponentError
from shendu.losses import LOSSES
from shendu.nn import ACTIVATIONS, INITIALIZERS
from shendu.optim import OPTIMIZERS, SCHEDULES
from shendu.report.explain import AmbiguousNameError, explain, explained_registries, find_entry, parse_docstring

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PLOTTED = [(registry, name) for registry in (ACTIVATIONS, SCHEDULES, OPTIMIZERS, LOSSES, INITIALIZERS)
           for name in registry.names()]


@pytest.mark.parametrize("registry,name", PLOTTED, ids=[f"{r.kind}-{n}" for r, n in PLOTTED])
def test_explain_writes_a_plot_and_the_documentation(registry, name, tmp_path):
    entry = registry.entry(name)
    if registry is LOSSES:
        assert "profile" in entry.tags and "profile_axis" in entry.tags, (
            f"loss {name!r} needs the tags profile= and profile_axis= (the explain contract)")
    explanation = explain(name, kind=registry.kind, out=tmp_path)
    assert explanation.kind == registry.kind and explanation.name == name
    assert entry.summary in explanation.text
    assert entry.formula, f"{registry.kind} {name!r} has no formula"
    assert entry.formula in explanation.text
    assert explanation.plot is not None, explanation.text
    assert explanation.plot.parent == tmp_path and explanation.plot.name.startswith(f"explain-{name}")
    assert explanation.plot.read_bytes()[:8] == PNG_SIGNATURE


def test_text_has_usage_options_and_reference(tmp_path):
    text = explain("cosine", kind="schedule", out=tmp_path).text
    assert text.startswith("schedule 'cosine'")
    assert "When to use it:" in text and "Options:" in text and "Reference:" in text
    assert "min_lr_ratio" in text
    # Arguments shendu supplies are not options.
    assert "total_steps" not in text.split("Options:")[1].split("Reference:")[0]


def test_text_only_kinds_have_no_plot(tmp_path):
    explanation = explain("mse", kind="metric", out=tmp_path)
    assert explanation.plot is None
    assert "metric 'mse'" in explanation.text and not list(tmp_path.iterdir())
    assert "Also registered as: loss" in explanation.text


def test_every_registry_is_searched():
    plurals = {r.plural for r in explained_registries()}
    assert {"tasks", "models", "losses", "optimizers", "schedules", "activations", "initializers",
            "regularizers", "metrics", "datasets", "augmentations"} <= plurals


def test_ambiguous_name_needs_kind(tmp_path, capsys):
    holders = [r.kind for r in explained_registries() if "mse" in r]
    assert len(holders) > 1  # mse is a loss and a metric
    with pytest.raises(AmbiguousNameError) as caught:
        explain("mse", out=tmp_path)
    message = str(caught.value)
    assert "--kind" in message and all(kind in message for kind in holders)
    assert main(["explain", "mse", "--out", str(tmp_path)]) == 2
    assert "--kind" in capsys.readouterr().err


def test_unknown_name_suggests_across_registries():
    with pytest.raises(UnknownComponentError) as caught:
        find_entry("adamm")
    assert "adam" in caught.value.suggestions and "shendu list" in str(caught.value)
    with pytest.raises(UnknownComponentError):
        find_entry("adamm", kind="optimizer")


def test_unknown_kind_lists_the_kinds():
    with pytest.raises(ShenduError, match="optimizer") as caught:
        find_entry("adam", kind="optimiser")
    assert "Did you mean 'optimizer'" in str(caught.value)
    assert find_entry("adam", kind="optimizers")[1].name == "adam"  # the plural works too


@pytest.mark.parametrize("name", ["adam", "cosine"])
def test_cli_writes_the_plot(name, tmp_path, capsys):
    assert main(["explain", name, "--out", str(tmp_path / "plots")]) == 0
    printed = capsys.readouterr().out
    path = tmp_path / "plots" / f"explain-{name}.png"
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert f"plot: {path}" in printed


def test_sgd_path_on_the_quadratic_decreases_f():
    from shendu.report.optimizer_paths import ILL_CONDITIONED, best_path, optimizer_path

    path = best_path("sgd", ILL_CONDITIONED)
    values = ILL_CONDITIONED(path.points)
    assert path.steps == ILL_CONDITIONED.steps and path.lr is not None
    assert values[-1] < 0.01 * values[0]
    # Plain SGD with a fixed small lr decreases f at every step on a convex quadratic.
    values = ILL_CONDITIONED(optimizer_path("sgd", ILL_CONDITIONED, lr=0.01).points)
    assert (values[1:] < values[:-1]).all()


def test_all_rates_at_once_match_one_at_a_time():
    from shendu.report.optimizer_paths import ROSENBROCK, optimizer_path, optimizer_paths

    rates = [1e-3, 0.1, 3.0]  # 3.0 leaves the area early: a path that stops while others go on
    together = optimizer_paths("adam", ROSENBROCK, rates)
    for lr, path in zip(rates, together):
        assert torch.equal(path.points, optimizer_path("adam", ROSENBROCK, lr).points)


@pytest.mark.skipif("lbfgs" not in OPTIMIZERS, reason="lbfgs is not registered")
def test_closure_optimizer_reaches_the_minimum():
    from shendu.report.optimizer_paths import ILL_CONDITIONED, best_path

    path = best_path("lbfgs", ILL_CONDITIONED)
    assert float(ILL_CONDITIONED(path.points[-1])) < 1e-6 and path.evaluations >= path.steps


@pytest.mark.skipif("reduce-on-plateau" not in SCHEDULES, reason="reduce-on-plateau is not registered")
def test_metric_schedule_is_stepped_per_epoch_with_a_plateauing_loss():
    from shendu.report.explain_plots import schedule_run

    rates, losses, steps_per_epoch = schedule_run("reduce-on-plateau")
    assert len(losses) == len(rates) // steps_per_epoch
    assert min(rates) < max(rates) == rates[0]  # the plateau triggered at least one reduction


def test_activation_curves_use_autograd_and_detect_softmax():
    from shendu.report.explain_plots import activation_curves

    x = torch.linspace(-2, 2, 9, dtype=torch.float64)
    values, derivative, mixes = activation_curves(ACTIVATIONS.get("relu"), x)
    assert torch.equal(values, x.clamp(min=0)) and torch.equal(derivative, (x > 0).double()) and not mixes
    values, derivative, mixes = activation_curves(ACTIVATIONS.get("softmax"), x)
    expected = torch.exp(x) / (torch.exp(x) + 2)
    assert mixes and torch.allclose(values, expected) and torch.allclose(derivative, expected * (1 - expected))
    _, derivative, _ = activation_curves(ACTIVATIONS.get("step"), x)
    assert not derivative.any()


def test_initializer_histogram_uses_the_initializer():
    from shendu.report.explain_plots import FAN, initialized_weight

    weight = initialized_weight("he-normal")
    assert weight.shape == (FAN, FAN)
    assert abs(float(weight.std()) - (2 / FAN) ** 0.5) < 0.01
    assert not initialized_weight("zeros").any()


def test_initializer_plot_marks_the_theoretical_std_from_the_tag(tmp_path):
    from shendu.registry import Entry
    from shendu.report.explain_plots import plot_initializer

    real = INITIALIZERS.entry("he-normal")
    tagged = Entry(real.name, real.constructor, real.summary, real.formula, real.reference,
                   {"std": lambda fan_in, fan_out, **options: (2 / fan_in) ** 0.5})
    plot = plot_initializer(tagged, tmp_path / "he.png")
    assert "theoretical 0.08839" in plot.notes and plot.path.read_bytes()[:8] == PNG_SIGNATURE


def test_parse_docstring():
    doc = parse_docstring(
        """Summary line.

        When to use it, first paragraph.

        Second paragraph.

        Formula: y = x
          continued
        Reference: Someone, 2020.

        Args:
            alpha: the first
                option.
            beta (float): the second.
        """
    )
    assert doc.summary == "Summary line."
    assert doc.usage.split() == "When to use it, first paragraph. Second paragraph.".split()
    assert doc.formula == "y = x continued" and doc.reference == "Someone, 2020."
    assert doc.arguments == {"alpha": "the first option.", "beta": "the second."}


# -- augmentations: a before/after picture of a demo batch --------------------------------------------------------
@pytest.mark.parametrize("name", AUGMENTATIONS.names())
def test_explain_augmentation_writes_a_before_after_plot(name, tmp_path):
    entry = AUGMENTATIONS.entry(name)
    state = torch.get_rng_state()
    explanation = explain(name, kind="augmentation", out=tmp_path)
    assert torch.equal(torch.get_rng_state(), state), "the picture's draws must not move the caller's RNG"
    assert explanation.plot == tmp_path / f"explain-{name}.png"
    assert explanation.plot.read_bytes()[:8] == PNG_SIGNATURE
    assert entry.summary in explanation.text and entry.formula in explanation.text
    assert "Plot:" in explanation.text and "data: {augment: [" in explanation.text


def test_augmentation_pictures_show_seeded_draws_of_the_real_op():
    from shendu.report.augmentation_plots import demo_images, demo_series, demo_tokens, draws, mosaic

    images, labels = demo_images()
    assert images.shape == (8, 3, 48, 48) and labels.tolist() == list(range(8))
    assert 0 <= float(images.min()) and float(images.max()) <= 1 and images.std(dim=(0, 2, 3)).min() > 0.1
    flip = AUGMENTATIONS.get({"name": "horizontal-flip", "p": 1.0})
    (flipped, _), = draws(flip, images, count=1)
    assert torch.equal(flipped, images.flip(-1))
    jitter = AUGMENTATIONS.get("color-jitter")
    first, again = draws(jitter, images), draws(jitter, images)
    assert all(torch.equal(a, b) for (a, _), (b, _) in zip(first, again))
    assert not torch.equal(first[0][0], first[1][0])  # the rows are different draws
    assert mosaic([images, flipped], gap=4).shape == (2 * 48 + 4, 8 * 48 + 7 * 4, 3)
    tokens, vocabulary = demo_tokens(["film"])
    assert vocabulary[0] == "<pad>" and "film" in vocabulary and tokens[0, 0] != 0
    assert demo_series().shape[1:] == (96, 1)
