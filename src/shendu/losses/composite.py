"""Weighted sums of losses for multi-task models, and the two entry points every loss spec goes through.

``build_loss(spec)`` turns any loss spec into a module and ``loss_problems(spec)``
lists what is wrong with one without training anything. A spec is a name
(``"dice"``), a mapping (``{"name": "huber", "delta": 0.5}``), a weighted sum
(``{"sum": [{"name": "cross-entropy", "weight": 1.0}, {"name": "dice", "weight": 0.5}]}``,
the config form ``loss: {sum: [...]}``), or an ``nn.Module`` used as it is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from shendu.errors import ConfigError, DataError, Problem
from shendu.losses.classification import CrossEntropyLoss
from shendu.losses.divergence import KLDivergenceLoss
from shendu.losses.focal import FocalLoss
from shendu.losses.registry import CLASS_MARGIN_AXIS, LOSSES

# Keys of a term that belong to the sum, not to the term's loss.
TERM_KEYS = ("weight", "output", "target")
SUM_EXAMPLE = "sum: [{name: cross-entropy, weight: 1.0}, {name: dice, weight: 0.5}]"
PROFILE_TERMS = [{"name": "cross-entropy", "weight": 0.5}, {"name": "hinge", "weight": 0.5}]


def _selector_problem(key: str, value: Any) -> Problem | None:
    if value is None or isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return None
    return Problem(key, value, "a key (text) or an index (integer) into the outputs or targets",
                   "Write e.g. output: 0 for the first head of a tuple, or output: mask for a dict.")


def term_problems(terms: Any, section: str) -> list[Problem]:
    """Problems of the terms of a weighted sum, each keyed like ``loss.sum.1.weight``."""
    if isinstance(terms, (str, Mapping)) or not isinstance(terms, Sequence) or not terms:
        return [Problem(section, terms, "a non-empty list of terms {name: ..., weight: ...}", f"Write {SUM_EXAMPLE}.")]
    problems: list[Problem] = []
    for index, term in enumerate(terms):
        key = f"{section}.{index}"
        if isinstance(term, str):
            term = {"name": term}
        if not isinstance(term, Mapping) or "name" not in term:
            problems.append(Problem(key, term, "a mapping with a loss 'name' (and optionally weight, output, "
                                    "target and the loss's options)", f"Write {SUM_EXAMPLE}."))
            continue
        weight = term.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
            problems.append(Problem(f"{key}.weight", weight, "a finite number >= 0", f"Set {key}.weight: 1.0."))
        for selector in ("output", "target"):
            problem = _selector_problem(f"{key}.{selector}", term.get(selector))
            problems += [problem] if problem else []
        problems += loss_problems({k: v for k, v in term.items() if k not in TERM_KEYS}, key)
    return problems


def _rekeyed(problems: list[Problem], section: str) -> list[Problem]:
    """Constructors name their options ``loss.<option>``; put them under ``section``."""
    return [
        Problem(section + p.key[len("loss"):], p.received, p.expected, p.fix) if p.key.startswith("loss.") else p
        for p in problems
    ]


def loss_problems(spec: Any, section: str = "loss") -> list[Problem]:
    """Everything wrong with a loss spec, each problem naming its key, without training anything.

    Reports unknown loss names (with the closest names), unknown options
    (with the accepted ones), option values a loss refuses (its constructor is
    tried; losses are cheap and have no side effects), and, in ``{sum: [...]}``
    specs, each term's problems keyed like ``loss.sum.1.weight``. None (the
    task's default loss) and modules have no problems.

    Args:
        spec: a name, ``{name: ..., **options}``, ``{sum: [...]}``, an nn.Module or None.
        section: the config key the spec sits under, used in the problems' keys.
    """
    if spec is None or isinstance(spec, nn.Module):
        return []
    if isinstance(spec, Mapping) and "sum" in spec:
        extra = [Problem(f"{section}.{key}", value, "only the key 'sum' beside the list of terms",
                         "Move weights and options into each term: sum: [{name: dice, weight: 0.5, smooth: 1.0}].")
                 for key, value in spec.items() if key != "sum"]
        return extra + term_problems(spec["sum"], f"{section}.sum")
    if not isinstance(spec, (str, Mapping)) or (isinstance(spec, Mapping) and "name" not in spec):
        return [Problem(section, spec, "a loss name, {name: ..., options}, {sum: [...]} or an nn.Module",
                        f"Write e.g. {section}: cross-entropy, or {section}: {{{SUM_EXAMPLE}}}.")]
    problems = LOSSES.problems(spec, section)
    if problems:
        return problems
    name, options = LOSSES.split_spec(spec)
    if name == "weighted-sum":
        return term_problems(options.get("losses"), f"{section}.losses")
    try:
        LOSSES.get(spec)
    except ConfigError as error:
        return _rekeyed(error.problems, section)
    return []


def build_loss(spec: Any) -> nn.Module:
    """Build a loss from a name, a ``{name: ..., **options}`` mapping, ``{sum: [...]}`` or a module.

    Unlike a bare ``LOSSES.get``, a misspelt option is reported with the
    options the loss accepts, an unknown name with the closest names
    (UnknownComponentError), and every problem of a sum at once (ConfigError).
    A module is returned unchanged.
    """
    if isinstance(spec, nn.Module):
        return spec
    if isinstance(spec, Mapping) and "sum" in spec:
        problems = loss_problems(spec)
        if problems:
            raise ConfigError(problems)
        return WeightedSumLoss(losses=spec["sum"])
    if not isinstance(spec, (str, Mapping)) or (isinstance(spec, Mapping) and "name" not in spec):
        raise ConfigError(loss_problems(spec))
    LOSSES.check(spec, "loss")
    return LOSSES.get(spec)


def _pick(value: Any, selector: str | int | None, what: str, term: str) -> Any:
    """The part of the outputs or targets a term reads: all of it, value[index] or value[key]."""
    if selector is None:
        return value
    fits = isinstance(value, Mapping) if isinstance(selector, str) else isinstance(value, (tuple, list))
    if fits and (selector in value if isinstance(selector, str) else -len(value) <= selector < len(value)):
        return value[selector]
    held = sorted(value) if isinstance(value, Mapping) else (
        f"{len(value)} items" if isinstance(value, (tuple, list)) else type(value).__name__)
    raise DataError(
        f"loss 'weighted-sum': term {term!r} expected {what} {selector!r} (a key of a dict or an index of a tuple); "
        f"the {what}s hold {held}. Set the term's {what}: to one of them, or leave it out to pass everything."
    )


def _weighted_sum_profile(x: torch.Tensor) -> torch.Tensor:
    """0.5 * cross-entropy + 0.5 * hinge of two-class logits (0, x) with true class 1, one point at a time."""
    loss = LOSSES.get({"name": "weighted-sum", "losses": PROFILE_TERMS})
    logits = torch.stack([torch.zeros_like(x), x], dim=1)  # (N, 2)
    target = torch.ones(1, dtype=torch.long)
    return torch.stack([loss(row[None], target) for row in logits])


@LOSSES.register(
    "weighted-sum",
    formula="loss = sum_k w_k * loss_k(outputs[o_k], targets[t_k])",
    reference="Caruana, Multitask Learning, Machine Learning 1997; Kendall, Gal & Cipolla, Multi-Task Learning "
    "Using Uncertainty to Weigh Losses, CVPR 2018 (on choosing the weights)",
    kind="composite",
    profile=_weighted_sum_profile,
    profile_axis=CLASS_MARGIN_AXIS + "; 0.5·cross-entropy + 0.5·hinge",
    profile_range=(-3.0, 3.0),
)
class WeightedSumLoss(nn.Module):
    """Weighted sum of losses: several objectives at once, for multi-task and multi-head models.

    Use it to combine losses on the same prediction (cross-entropy + dice for
    segmentation) or on different heads of one model (a class and a box).
    The weights set the trade-off between the tasks; they interact with each
    loss's scale, so compare the terms in ``last_terms`` when tuning them.
    The config form ``loss: {sum: [...]}`` builds the same module.

    Formula: loss = sum_k w_k * loss_k(outputs[o_k], targets[t_k]).

    Interface: each term is ``{name: ..., weight: 1.0, output: ..., target: ...,
    **options}``. ``output`` and ``target`` pick the term's part of tuple or dict
    outputs and targets (an index or a key); left out, the term gets them
    whole. Each term must return a scalar (keep its reduction "mean" or
    "sum"). After each call, ``last_terms`` maps each term's name (with
    ``-<index>`` added to names used twice) to its unweighted value, detached,
    for logging without a device sync per step.

    Reference: R. Caruana, "Multitask Learning", Machine Learning, 1997; A. Kendall,
    Y. Gal & R. Cipolla, "Multi-Task Learning Using Uncertainty to Weigh Losses", CVPR 2018.

    Args:
        losses: the terms, a non-empty list of ``{name: ..., weight: ..., output: ..., target: ..., **options}``.
    """

    def __init__(self, *, losses: list[Mapping[str, Any]]):
        super().__init__()
        problems = term_problems(losses, "loss.losses")
        if problems:
            raise ConfigError(problems)
        terms = [{"name": t} if isinstance(t, str) else dict(t) for t in losses]
        names = [t["name"] for t in terms]
        self.term_names = [n if names.count(n) == 1 else f"{n}-{i}" for i, n in enumerate(names)]
        self.weights = [float(t.get("weight", 1.0)) for t in terms]
        self.selectors = [(t.get("output"), t.get("target")) for t in terms]
        self.terms = nn.ModuleList(build_loss({k: v for k, v in t.items() if k not in TERM_KEYS}) for t in terms)
        self.last_terms: dict[str, torch.Tensor] = {}

    def forward(self, outputs: Any, targets: Any) -> torch.Tensor:
        total, values = None, {}
        for name, loss, weight, (output, target) in zip(self.term_names, self.terms, self.weights, self.selectors):
            value = loss(_pick(outputs, output, "output", name), _pick(targets, target, "target", name))
            if value.dim() != 0:
                raise DataError(
                    f"loss 'weighted-sum': expected a scalar from term {name!r}; received shape "
                    f"{tuple(value.shape)}. Leave that term's reduction at 'mean' (or 'sum')."
                )
            values[name] = value.detach()
            total = weight * value if total is None else total + weight * value
        self.last_terms = values
        return total

    def extra_repr(self) -> str:
        return ", ".join(f"{w:g} * {n}" for n, w in zip(self.term_names, self.weights))


def reads_class_probabilities(loss: nn.Module) -> bool:
    """Whether ``loss`` reads (B, C) class-probability targets, as mixup and cutmix produce them.

    Cross-entropy and KL divergence do; focal loss does with ``mode: multi-class``
    (in "auto" mode it reads (B, C) float targets as binary labels); a weighted sum
    does when every term does. Every other loss reads hard labels or values.
    """
    if isinstance(loss, WeightedSumLoss):
        return all(reads_class_probabilities(term) for term in loss.terms)
    if isinstance(loss, FocalLoss):
        return loss.mode == "multi-class"
    return isinstance(loss, (CrossEntropyLoss, KLDivergenceLoss))

