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
    assert_forward_runs_or_is_explained(model, tree)
    assert sorted(p.name for p in output.iterdir()) == GOLDEN.joinpath("files.txt").read_text().split()
    assert config_of(output / "config.json") == config_of(GOLDEN / "config.json")
    assert type(model).__name__ == "DynamicCasualLM"
    assert sum(p.numel() for p in model.parameters()) == 3_422_464
    source = (output / "llama.py").read_text()
    assert "layer_stack = LayerStack(" in source and "from .pre_ln_layer import PreLNLayer" in source
    # Built again, nothing changes and nothing is rewritten (the targets are up to date).
    stamp = (output / "llama.py").stat().st_mtime_ns
    from_project(project, "4M.yaml", targets=["model"])
    assert (output / "llama.py").stat().st_mtime_ns == stamp


def config_of(path):
    """A saved config.json without the stamp of the transformers release that wrote it
    (a new release changes the stamp, not the model)."""
    config = json.loads(path.read_text())
    config.pop("transformers_version", None)
    return config


def assert_forward_runs_or_is_explained(model, tree):
    """The generated model runs a training forward on the transformers it was written for
    (create_causal_mask taking `input_embeds`: 5.0-5.1); on a newer one it fails in one of
    the two known ways, which fgtui reports as one line naming Forgather's file (modelsrc's
    causal_mask.py, or the model code generated in the output dir)."""
    import inspect

    import torch
    from transformers.masking_utils import create_causal_mask

    from fgtui.engine.compat.forgather.model_code import INSTALL, explain

    written_for = "input_embeds" in inspect.signature(create_causal_mask).parameters
    input_ids = torch.randint(0, model.config.vocab_size, (2, 8))
    try:
        outputs = model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), labels=input_ids)
    except (TypeError, RecursionError) as error:
        known = explain(error)
        assert not written_for and known is not None, error
        assert Path(known.location.file).name in ("causal_mask.py", "llama.py"), known
        assert Path(known.location.file).is_relative_to(tree) and known.one_line().endswith(INSTALL)
    else:
        loss = outputs.loss if hasattr(outputs, "loss") else outputs[0]  # a tuple unless return_dict
        assert written_for and torch.isfinite(loss)


def test_llama_4m_adapted_trains_and_decodes_on_the_installed_transformers(tree):
    """fgtui's adapters (model_code.py) make the generated model run on whatever transformers
    is installed: a training forward and backward, the head looked up and set, and a cached
    decode step (the mask call with a cache). Only the generated code's own modules change:
    transformers' mask functions and the files on disk stay as they were, and on the
    transformers the code was written for no mask call is adapted."""
    import inspect

    import torch
    from transformers import masking_utils

    from fgtui.engine.compat.forgather.model_code import adapt_model
    from fgtui.engine.compat.forgather.project import from_project

    project = tree / "examples" / "models" / "llama"
    built = from_project(project, "4M.yaml", targets=["pretrained_tokenizer", "model"])
    model = built["model"]()
    sources = {path: path.read_bytes() for path in (tree / "modelsrc").rglob("*.py")}
    sources.update({path: path.read_bytes() for path in project.rglob("*.py")})
    installed = masking_utils.create_causal_mask
    assert adapt_model(model) is model and adapt_model(model) is model  # idempotent

    torch.manual_seed(0)
    input_ids = torch.randint(0, model.config.vocab_size, (2, 8))
    outputs = model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), labels=input_ids)
    loss = outputs.loss if hasattr(outputs, "loss") else outputs[0]
    loss.backward()
    assert torch.isfinite(loss) and model.get_output_embeddings() is model.lm_head
    head = model.lm_head
    model.lm_head = head  # the template's __setattr__ path for a virtual layer naming lm_head
    assert model.lm_head is head and "lm_head" in model._modules

    model.eval()
    with torch.no_grad():
        prefix = torch.randint(0, model.config.vocab_size, (1, 6))
        full = model(input_ids=prefix, return_dict=True).logits[0, -1]
        first = model(input_ids=prefix[:, :5], use_cache=True, return_dict=True)
        cache = getattr(first, "cache", None) or first.past_key_values
        step = model(input_ids=prefix[:, 5:], past_key_values=cache, use_cache=True, return_dict=True)
        assert torch.allclose(step.logits[0, -1], full, atol=1e-4)

    assert masking_utils.create_causal_mask is installed
    assert all(path.read_bytes() == data for path, data in sources.items())
    ours = [m for m in list(sys.modules.values()) if Path(str(m.__dict__.get("__file__"))).is_relative_to(tree)]
    adapted = [m for m in ours if hasattr(m.__dict__.get("create_causal_mask"), "__fgtui_forgather_adapter__")]
    assert bool(adapted) != ("input_embeds" in inspect.signature(installed).parameters)
