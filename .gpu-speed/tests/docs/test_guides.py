"""Every console session of docs/tutorial.md and docs/templates.md runs in a
scratch directory and prints what the guide shows (rules in mdrun.py).

The tutorial reads its stories from `stories/` in the scratch directory: the
shared Lovecraft corpus when this checkout sits next to one, else the 17
stories fgtui ships in examples/datasets/lovecraft/data
(FGTUI_DOCS_CORPUS=bundled forces those, FGTUI_DOCS_CORPUS=DIR reads DIR). Sessions marked `console gpu` (the
7B fine-tune, which needs a downloaded model) are parsed but not run here;
the figures the guide quotes for them come from bench/finetune_16k.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mdrun import Shell, check, copy_stories, parse, scratch_env

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _cpu_commands(doc: Path):
    commands = parse(doc.read_text())
    assert commands, f"{doc} has no console sessions"
    return [c for c in commands if not c.gpu]


@pytest.mark.slow
def test_tutorial(tmp_path):
    doc = DOCS / "tutorial.md"
    copy_stories(tmp_path / "stories")
    env = scratch_env()
    env["HF_DATASETS_CACHE"] = str(tmp_path / ".hf-cache")
    check(doc, _cpu_commands(doc), Shell(tmp_path, env))


def test_templates(tmp_path):
    doc = DOCS / "templates.md"
    check(doc, _cpu_commands(doc), Shell(tmp_path, scratch_env()))
