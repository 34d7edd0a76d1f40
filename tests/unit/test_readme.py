"""README's component catalogue is generated from the registries and must stay in sync with them."""

from __future__ import annotations

from pathlib import Path

from shendu.api import component_table, registries

README = Path(__file__).resolve().parents[2] / "README.md"
START, END = "<!-- components:start -->", "<!-- components:end -->"


def test_readme_catalogue_is_the_generated_table():
    text = README.read_text()
    assert START in text and END in text, "README needs the components block; see `shendu list --markdown`"
    block = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert block == component_table().strip(), (
        "README's component table is out of date: regenerate it with "
        "`shendu list --markdown` and paste it between the components markers."
    )


def test_every_registered_component_appears_in_readme():
    text = README.read_text()
    missing = [f"{plural}: {name}" for plural, registry in registries().items() for name in registry.names()
               if f"`{name}`" not in text]
    assert not missing, f"not in README: {missing}"


def test_every_yaml_example_in_readme_is_a_valid_config():
    from shendu.api import resolve_config
    from shendu.config import load_yaml

    blocks = [part.split("```", 1)[0] for part in README.read_text().split("```yaml\n")[1:]]
    assert blocks, "README should show at least one YAML config"
    for block in blocks:
        config = load_yaml(block)
        resolve_config({"task": "tabular-classification", "data": {"source": "iris"}, **config})  # fragments: defaults filled in
