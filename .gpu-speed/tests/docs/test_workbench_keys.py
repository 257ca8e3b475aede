"""docs/workbench.md names every key binding of every screen, in that screen's section."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

WORKBENCH_MD = Path(__file__).resolve().parents[2] / "docs" / "workbench.md"

# Screen class (module, name) -> the heading of its section in workbench.md.
SECTIONS = {
    ("fgtui.app.app", "Workbench"): "Everywhere",
    ("fgtui.app.screens.dialogs", "ConfirmScreen"): "Everywhere",
    ("fgtui.app.screens.dialogs", "PromptScreen"): "Everywhere",
    ("fgtui.app.screens.browse", "BrowseScreen"): "Browse",
    ("fgtui.app.screens.editor", "EditorScreen"): "Editor and preview",
    ("fgtui.app.screens.launch", "LaunchScreen"): "Launch",
    ("fgtui.app.screens.runs", "RunsScreen"): "Runs",
    ("fgtui.app.screens.monitor", "RunMonitor"): "Monitor",
    ("fgtui.app.screens.compare", "CompareScreen"): "Compare",
    ("fgtui.app.screens.dataset", "DatasetScreen"): "Dataset",
    ("fgtui.app.screens.generate", "GenerateScreen"): "Generate",
}
SHOWN_AS = {"left_square_bracket": "[", "right_square_bracket": "]"}


def _sections() -> dict[str, str]:
    parts = re.split(r"^## (.+)$", WORKBENCH_MD.read_text(), flags=re.M)
    return {title.strip(): body for title, body in zip(parts[1::2], parts[2::2])}


def _keys(cls) -> list[str]:
    """The keys of a class's own bindings, as the doc writes them; `escape` bound to
    the app's back action is said once, under Everywhere."""
    keys = []
    for binding in cls.BINDINGS:
        if binding.action == "app.back" and cls.__name__ != "Workbench":
            continue
        keys += [SHOWN_AS.get(k.strip(), k.strip()) for k in binding.key.split(",")]
    return keys


def test_every_screen_of_the_app_has_a_section():
    import importlib
    import inspect

    from textual.screen import Screen

    known = {name for _module, name in SECTIONS}
    for module in ("browse", "compare", "dataset", "dialogs", "editor", "generate", "launch", "monitor", "runs"):
        loaded = importlib.import_module(f"fgtui.app.screens.{module}")
        for name, cls in inspect.getmembers(loaded, inspect.isclass):
            if issubclass(cls, Screen) and cls.__module__ == loaded.__name__:
                assert name in known, f"{name} has no section in docs/workbench.md (add it to SECTIONS here)"


@pytest.mark.parametrize(("where", "heading"), SECTIONS.items(), ids=[name for _m, name in SECTIONS])
def test_every_key_is_in_its_screens_section(where, heading):
    import importlib

    module, name = where
    cls = getattr(importlib.import_module(module), name)
    section = _sections()[heading]
    if heading != "Everywhere" and any(b.action == "app.back" for b in cls.BINDINGS):
        assert "`escape` | back" in _sections()["Everywhere"]
    missing = [key for key in _keys(cls) if f"`{key}`" not in section]
    assert not missing, f"workbench.md's '{heading}' does not name {missing} ({name}.BINDINGS)"
