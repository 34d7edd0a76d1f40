"""``shendu explain NAME``: a component's documentation as text, and a picture of what it does.

The text comes from the registry entry (summary, formula, reference) and the
constructor (its docstring's "when to use it" paragraphs, its options with
their defaults and Args descriptions). The picture depends on the kind:
activations are drawn with their derivative, schedules as the learning rate
over a run, optimizers as paths on 2-D test functions, losses along their
profile axis, initializers as a histogram of one filled weight, augmentations
as a before/after grid of a demo batch. Other kinds are explained in text only.

    explanation = shendu.explain("adam", out="plots")
    print(explanation.text); explanation.plot   # Path("plots/explain-adam.png")
"""

from __future__ import annotations

import difflib
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shendu.errors import ShenduError, UnknownComponentError
from shendu.registry import Entry, Registry


@dataclass(frozen=True)
class Explanation:
    """What ``shendu explain`` shows: the text, and the path of the plot (None for text-only kinds)."""

    kind: str
    name: str
    text: str
    plot: Path | None = None


class AmbiguousNameError(ShenduError, ValueError):
    """A name registered in several registries, given without ``kind``."""


def explained_registries() -> tuple[Registry, ...]:
    """Every registry ``shendu explain`` searches: the ones ``shendu list`` shows, in the same order."""
    from shendu.api import registries  # the one list of registries; imported late (api imports this module lazily)

    return tuple(registries().values())


# -- lookup ---------------------------------------------------------------------------
def _registry_for_kind(kind: str, registries: tuple[Registry, ...]) -> Registry:
    """The registry named by ``kind``, singular ("loss") or plural ("losses")."""
    for registry in registries:
        if kind in (registry.kind, registry.plural):
            return registry
    kinds = [r.kind for r in registries]
    close = difflib.get_close_matches(kind, kinds + [r.plural for r in registries], n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ShenduError(f"--kind must be one of {', '.join(kinds)}; received {kind!r}.{hint}")


def find_entry(name: str, kind: str | None = None) -> tuple[Registry, Entry]:
    """The registry and entry of ``name``; ``kind`` picks one when the name is in several.

    Raises:
        UnknownComponentError: no registry holds the name (with the closest names of all kinds).
        AmbiguousNameError: several registries hold it and ``kind`` is None (lists the kinds).
    """
    registries = explained_registries()
    if kind is not None:
        registry = _registry_for_kind(kind, registries)
        return registry, registry.entry(name)
    holders = [r for r in registries if name in r]
    if len(holders) == 1:
        return holders[0], holders[0].entry(name)
    if not holders:
        every = sorted({n for r in registries for n in r.names()})
        close = difflib.get_close_matches(name, every, n=4, cutoff=0.5)
        prefixed = [n for n in every if n.startswith(name) or name.startswith(n)]
        raise UnknownComponentError("component", name, list(dict.fromkeys(close + prefixed))[:4], "shendu list")
    kinds = [r.kind for r in holders]
    raise AmbiguousNameError(
        f"{name!r} is registered in several kinds ({', '.join(kinds)}); expected --kind to choose one. "
        f"Run e.g.: shendu explain {name} --kind {kinds[0]}"
    )


# -- the docstring ----------------------------------------------------------------------
_SECTION = re.compile(r"^(Formula|Reference|References|Args|Arguments|Returns|Raises|Example|Examples|Note|Notes"
                      r"|Shapes?|Interface)\s*:", re.IGNORECASE)


@dataclass(frozen=True)
class Docstring:
    """The parts of a constructor's docstring that ``explain`` prints."""

    summary: str
    usage: str  # "when to use it": the paragraphs between the summary and the first section
    formula: str | None
    reference: str | None
    arguments: dict[str, str]  # option name -> its description under Args


def parse_docstring(doc: str) -> Docstring:
    """Split a shendu docstring into summary, usage paragraphs, formula, reference and Args."""
    lines = inspect.cleandoc(doc).splitlines()
    end_of_summary = next((i for i, line in enumerate(lines) if not line.strip()), len(lines))
    summary = " ".join(line.strip() for line in lines[:end_of_summary])
    sections: dict[str, list[str]] = {"usage": []}
    current = "usage"
    for line in lines[end_of_summary:]:
        match = _SECTION.match(line)
        if match:
            current = match.group(1).lower()
            sections.setdefault(current, []).append(line[match.end():].strip())
        else:
            sections.setdefault(current, []).append(line)

    def joined(key: str, *aliases: str) -> str | None:
        for name in (key, *aliases):
            text = " ".join(part.strip() for part in sections.get(name, []) if part.strip())
            if text:
                return text
        return None

    usage = "\n".join(sections["usage"]).strip()
    arguments = _parse_arguments(sections.get("args", []) or sections.get("arguments", []))
    return Docstring(summary, usage, joined("formula"), joined("reference", "references"), arguments)


def _parse_arguments(lines: list[str]) -> dict[str, str]:
    """``name: text`` items at the section's base indentation; deeper lines continue the text."""
    body = [line for line in lines if line.strip()]
    if not body:
        return {}
    base = min(len(line) - len(line.lstrip()) for line in body)
    arguments: dict[str, str] = {}
    current = None
    for line in body:
        indent = len(line) - len(line.lstrip())
        match = re.match(r"^(\w+)(\s*\([^)]*\))?\s*:\s*(.*)$", line.strip())
        if indent == base and match:
            current = match.group(1)
            arguments[current] = match.group(3).strip()
        elif current is not None:
            arguments[current] = f"{arguments[current]} {line.strip()}".strip()
    return arguments


# -- the text -----------------------------------------------------------------------------
def options_of(entry: Entry, registry: Registry) -> list[tuple[str, str, str]]:
    """(name, default, description) for every option a user may set on ``entry``
    (the registry's ``supplied`` arguments are shendu's, not the user's)."""
    supplied = registry.supplied
    descriptions = parse_docstring(entry.doc).arguments
    rows = []
    for parameter in inspect.signature(entry.constructor).parameters.values():
        if parameter.name in supplied or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        default = "(required)" if parameter.default is parameter.empty else f"= {parameter.default!r}"
        rows.append((parameter.name, default, descriptions.get(parameter.name, "")))
    return rows


def _indented(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line.strip() if line.strip() else "" for line in text.splitlines())


# Where each kind of component goes in a run config.
_USAGE = {
    "task": "task: {name}",
    "model": "model: {name}   (or model: {{name: {name}, ...options}})",
    "loss": "loss: {name}   (or loss: {{name: {name}, ...options}})",
    "optimizer": "optimizer: {{name: {name}, lr: ...}}",
    "schedule": "schedule: {name}   (or schedule: {{name: {name}, ...options}})",
    "activation": "model: {{name: mlp, activation: {name}}}   (any model with an activation option)",
    "initializer": "model: {{name: mlp, init: {name}}}   (or init: {{default: {name}, linear: ...}} per layer type)",
    "metric": "metrics: [{name}]",
    "dataset": "data: {{source: {name}}}   (or --data {name})",
    "augmentation": "data: {{augment: [{name}]}}",
}


def usage(registry: Registry, entry: Entry) -> str | None:
    """The config line that selects ``entry``."""
    if registry.kind == "regularizer":
        if entry.tags.get("applies_in") == "train":
            return f"train: {{regularizers: [{{name: {entry.name}, ...options}}]}}"
        return f"set {entry.tags.get('key')} in the config"
    template = _USAGE.get(registry.kind)
    return template.format(name=entry.name) if template else None


def describe(registry: Registry, entry: Entry) -> str:
    """The text of ``shendu explain``: kind and name, summary, formula, when to use it, options, reference."""
    doc = parse_docstring(entry.doc)
    lines = [f"{registry.kind} {entry.name!r}", "", entry.summary]
    formula = entry.formula or doc.formula
    if formula:
        lines += ["", f"Formula: {formula}"]
    if doc.usage:
        lines += ["", "When to use it:", _indented(doc.usage)]
    options = options_of(entry, registry)
    if options:
        width = max(len(f"{name} {default}") for name, default, _ in options)
        lines += ["", "Options:"]
        lines += [f"  {f'{name} {default}'.ljust(width)}  {text}".rstrip() for name, default, text in options]
    else:
        lines += ["", "Options: none"]
    selected = usage(registry, entry)
    if selected:
        lines += ["", f"Use it: {selected}"]
    reference = entry.reference if entry.reference not in (None, "", "-") else doc.reference
    if reference:
        lines += ["", f"Reference: {reference}"]
    others = [r.kind for r in explained_registries() if entry.name in r and r is not registry]
    if others:
        lines += ["", f"Also registered as: {', '.join(others)} (shendu explain {entry.name} --kind {others[0]})"]
    return "\n".join(lines)


# -- the plot -----------------------------------------------------------------------------
def _plotter(kind: str) -> Callable[[Entry, Path], Any] | None:
    """The plot function of a kind, or None for text-only kinds. Imported lazily: matplotlib is slow to import."""
    from shendu.report import explain_plots

    return {
        "activation": explain_plots.plot_activation,
        "schedule": explain_plots.plot_schedule,
        "optimizer": explain_plots.plot_optimizer,
        "loss": explain_plots.plot_loss,
        "initializer": explain_plots.plot_initializer,
        "augmentation": explain_plots.plot_augmentation,
    }.get(kind)


def plot_path(entry: Entry, kind: str, out: str | Path | None) -> Path:
    """``out/explain-<name>.png``; a name registered in several kinds gets ``-<kind>`` so plots do not overwrite."""
    directory = Path(out) if out is not None else Path.cwd()
    shared = sum(entry.name in r for r in explained_registries()) > 1
    return directory / (f"explain-{entry.name}-{kind}.png" if shared else f"explain-{entry.name}.png")


def explain(name: str, kind: str | None = None, out: str | Path | None = None) -> Explanation:
    """Explain a registered component in text and, for plottable kinds, a PNG.

    Args:
        name: a registered name ("adam", "cosine", "gelu").
        kind: "optimizer", "loss", ... (singular or plural); needed when the name is in several registries.
        out: directory of the plot, created if missing; default the current directory.
    """
    registry, entry = find_entry(name, kind)
    text = describe(registry, entry)
    plotter = _plotter(registry.kind)
    if plotter is None:
        return Explanation(registry.kind, entry.name, text, None)
    path = plot_path(entry, registry.kind, out)
    path.parent.mkdir(parents=True, exist_ok=True)
    plot = plotter(entry, path)
    if plot.notes:
        text += "\n\n" + plot.notes
    return Explanation(registry.kind, entry.name, text, plot.path)
