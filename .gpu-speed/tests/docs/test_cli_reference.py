"""docs/cli.md is what docs/gen_cli.py makes from the current parsers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _generator():
    spec = importlib.util.spec_from_file_location("gen_cli", DOCS / "gen_cli.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_md_is_regenerated_from_the_parsers():
    committed = (DOCS / "cli.md").read_text()
    assert _generator().render() == committed, "docs/cli.md is stale: run python docs/gen_cli.py"


def test_every_command_has_a_section():
    text = (DOCS / "cli.md").read_text()
    for command in ("train", "control", "dataset", "generate", "convert", "serve", "ws create", "project new_config"):
        assert f"## `fgtui {command}`" in text
