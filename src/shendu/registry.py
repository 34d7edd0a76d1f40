"""One Registry class: names -> constructors, with summaries and did-you-mean.

Every kind of component (models, losses, optimizers, ...) has one ``Registry``.
Anywhere a component is chosen, shendu accepts a name (``"adamw"``), a mapping
(``{"name": "adamw", "lr": 3e-4}``) or the object itself, and resolves it with
``Registry.get``.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from shendu.errors import ConfigError, Problem, UnknownComponentError


@dataclass(frozen=True)
class Entry:
    """A registered component: its name, constructor and documentation."""

    name: str
    constructor: Callable[..., Any]
    summary: str
    formula: str | None = None
    reference: str | None = None
    tags: Mapping[str, Any] = field(default_factory=dict)

    @property
    def doc(self) -> str:
        """The constructor's full docstring (what ``shendu explain`` prints)."""
        return inspect.getdoc(self.constructor) or self.summary


def _first_line(constructor: Callable[..., Any]) -> str:
    doc = inspect.getdoc(constructor) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


class Registry:
    """Name -> constructor for one kind of component.

    Args:
        kind: singular noun used in messages ("optimizer").
        plural: the word ``shendu list`` takes ("optimizers").
        supplied: constructor arguments shendu passes itself (``params`` of an
            optimizer, ``input_shape`` of a model): never options of a config.
    """

    def __init__(self, kind: str, plural: str, supplied: tuple[str, ...] = ()):
        self.kind, self.plural, self.supplied = kind, plural, tuple(supplied)
        self._entries: dict[str, Entry] = {}

    def register(
        self,
        name: str,
        *,
        summary: str | None = None,
        formula: str | None = None,
        reference: str | None = None,
        **tags: Any,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator form of :meth:`add`; returns the constructor unchanged."""

        def decorate(constructor: Callable[..., Any]) -> Callable[..., Any]:
            self.add(name, constructor, summary=summary, formula=formula, reference=reference, **tags)
            return constructor

        return decorate

    def add(
        self,
        name: str,
        constructor: Callable[..., Any],
        *,
        summary: str | None = None,
        formula: str | None = None,
        reference: str | None = None,
        **tags: Any,
    ) -> Entry:
        """Register ``constructor`` under ``name`` (lower-case, hyphenated)."""
        if name != name.lower() or " " in name or "_" in name:
            raise ValueError(f"{self.kind} names are lower-case and hyphenated; received {name!r}")
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        summary = summary or _first_line(constructor)
        if not summary:
            raise ValueError(f"{self.kind} {name!r} needs a summary or a docstring")
        entry = Entry(name, constructor, summary, formula, reference, dict(tags))
        self._entries[name] = entry
        return entry

    # -- lookup -------------------------------------------------------------
    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        return [self._entries[n] for n in self.names()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def suggestions(self, name: str, count: int = 3) -> list[str]:
        names = self.names()
        close = difflib.get_close_matches(name, names, n=count, cutoff=0.5)
        prefixed = [n for n in names if n.startswith(name) or name.startswith(n)]
        return list(dict.fromkeys(close + prefixed))[:count]

    def unknown(self, name: str) -> UnknownComponentError:
        return UnknownComponentError(
            self.kind, name, self.suggestions(name), f"shendu list {self.plural}"
        )

    def entry(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise self.unknown(name) from None

    @staticmethod
    def split_spec(spec: str | Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """``"adam"`` or ``{"name": "adam", "lr": 1e-3}`` -> ``("adam", {"lr": 1e-3})``."""
        if isinstance(spec, str):
            return spec, {}
        options = dict(spec)
        if "name" not in options:
            raise ValueError(f"a component mapping needs a 'name' key; received {dict(spec)!r}")
        return str(options.pop("name")), options

    def get(self, spec: Any, /, **context: Any) -> Any:
        """Build a component from a name, a ``{name: ..., **options}`` mapping or an object.

        ``context`` holds arguments shendu supplies (e.g. ``params=`` for an
        optimizer, ``input_shape=`` for a model); options from the spec win
        over nothing — a spec that repeats a context key is an error.
        Objects that are not names or mappings are returned unchanged.
        """
        if not isinstance(spec, (str, Mapping)):
            return spec
        name, options = self.split_spec(spec)
        entry = self.entry(name)
        clash = sorted(set(options) & set(context))
        if clash:
            raise ValueError(
                f"{self.kind} {name!r}: option(s) {clash} are set by shendu from the data; "
                "remove them from the configuration."
            )
        return entry.constructor(**context, **options)

    def problems(self, spec: Any, section: str, supplied: tuple[str, ...] | None = None, extra: tuple[str, ...] = ()) -> list[Problem]:
        """Everything wrong with a spec, without building it: an unknown name
        (with the closest names) or options the constructor does not take.

        Args:
            spec: a name or ``{name: ..., **options}``; objects have no problems.
            section: the config key used in messages ("optimizer", "model").
            supplied: arguments shendu passes itself; default: the registry's ``supplied``.
            extra: options read by shendu's builder rather than the constructor.
        """
        if not isinstance(spec, (str, Mapping)):
            return []
        supplied = self.supplied if supplied is None else supplied
        try:
            name, options = self.split_spec(spec)
        except ValueError as error:
            return [Problem(section, spec, "a name or a mapping with a 'name' key", str(error))]
        if name not in self._entries:
            error = self.unknown(name)
            close = f"Did you mean {' or '.join(repr(s) for s in error.suggestions)}? " if error.suggestions else ""
            key = f"{section}.name" if isinstance(spec, Mapping) else section
            return [Problem(key, name, f"a registered {self.kind}", f"{close}See: shendu list {self.plural}")]
        parameters = inspect.signature(self._entries[name].constructor).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            return []
        accepted = [key for key in parameters if key not in supplied] + list(extra)
        found = []
        for key, value in options.items():
            if key in accepted:
                continue
            if key in supplied:
                fix = f"Remove it: shendu sets {key} itself from the data."
            else:
                close = difflib.get_close_matches(key, accepted, n=1)
                hint = f"Did you mean {close[0]!r}? " if close else "Remove it. "
                fix = f"{hint}Options of {name!r}: {', '.join(accepted) or 'none'}."
            found.append(Problem(f"{section}.{key}", value, f"an option of {self.kind} {name!r}", fix))
        return found

    def check(self, spec: Any, section: str, supplied: tuple[str, ...] | None = None, extra: tuple[str, ...] = ()) -> None:
        """Raise UnknownComponentError for an unknown name, else a ConfigError listing bad options."""
        if isinstance(spec, (str, Mapping)):
            self.entry(self.split_spec(spec)[0])
        found = self.problems(spec, section, supplied, extra)
        if found:
            raise ConfigError(found)

    def table(self) -> list[tuple[str, str]]:
        """(name, summary) rows for ``shendu list``."""
        return [(e.name, e.summary) for e in self.entries()]
