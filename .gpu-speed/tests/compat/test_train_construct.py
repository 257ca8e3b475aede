"""Forgather's model pipeline under fgtui: examples/models/llama (4M) constructs its output dir
(generated model code, config, tokenizer, the model's source modules) as Forgather does.

Goldens (forgather_fixture/construct_llama_4m/) come from Forgather's own construction
of the same config in the same stand-in tree: its file list and config.json, and the
model's parameter count (3,422,464). Needs ../shared/forgather (skipped without it).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
SHARED = next(
    (
        base / "shared" / "forgather"
        for base in (REPO.parent, REPO.parent.parent)
        if (base / "shared" / "forgather" / "templatelib").is_dir()
    ),
    None,
)
GOLDEN = Path(__file__).parent / "forgather_fixture" / "construct_llama_4m"
pytestmark = pytest.mark.skipif(SHARED is None, reason="needs ../shared/forgather")


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """Forgather's tree with a stand-in for the tokenizer project the example names
    (examples/tokenizers/wikitext is not in the subset, and its data is on the Hub)."""
    root = tmp_path / "forgather"
    for part in ("templatelib", "modelsrc", "forgather_workspace"):
        shutil.copytree(SHARED / part, root / part)
    shutil.copytree(SHARED / "examples" / "models" / "llama", root / "examples" / "models" / "llama")
    sys.path.insert(0, str(Path(__file__).parent / "forgather_fixture"))
    from fgtui.engine.compat.forgather.importer import install

    install()
    import tiny_data

    tokenizer_dir = tmp_path / "tokenizer"
    tiny_data.tokenizer().save_pretrained(tokenizer_dir)
    project = root / "examples" / "tokenizers" / "wikitext"
    (project / "templates" / "configs").mkdir(parents=True)
    (project / "meta.yaml").write_text(
        '-- extends "meta_defaults.yaml"\n\n-- block configs\nname: "stand-in"\n'
        'config_prefix: "configs"\ndefault_config: "2k.yaml"\n<< endblock configs\n'
    )
    (project / "templates" / "configs" / "2k.yaml").write_text(
        f'main: !singleton:transformers:AutoTokenizer.from_pretrained [ "{tokenizer_dir}" ]\n'
    )
    return root


def test_llama_4m_constructs_like_forgather(tree):
    from fgtui.engine.compat.forgather.project import from_project

    project = tree / "examples" / "models" / "llama"
    built = from_project(project, "4M.yaml", targets=["pretrained_tokenizer", "model"])
    model = built["model"]()
    output = project / "output_models" / "llama_4m"
    assert sorted(p.name for p in output.iterdir()) == GOLDEN.joinpath("files.txt").read_text().split()
    assert json.loads((output / "config.json").read_text()) == json.loads(GOLDEN.joinpath("config.json").read_text())
    assert type(model).__name__ == "DynamicCasualLM"
    assert sum(p.numel() for p in model.parameters()) == 3_422_464
    source = (output / "llama.py").read_text()
    assert "layer_stack = LayerStack(" in source and "from .pre_ln_layer import PreLNLayer" in source
    # Built again, nothing changes and nothing is rewritten (the targets are up to date).
    stamp = (output / "llama.py").stat().st_mtime_ns
    from_project(project, "4M.yaml", targets=["model"])
    assert (output / "llama.py").stat().st_mtime_ns == stamp
