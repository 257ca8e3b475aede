"""--attn-implementation reaches models built from templatelib/models/causal_lm.yaml
inside a training config (the fine-tune path is covered in test_projects_finetune)."""

from __future__ import annotations

from pathlib import Path

import pytest

import fgtui

PROJECT = Path(fgtui.__file__).parent / "examples" / "tutorials" / "tiny_llama"


def _attention_kernels(variables: dict) -> set[str]:
    from fgtui.engine.config import build, load_graph
    from fgtui.engine.models.attention import CausalSelfAttention
    from fgtui.engine.project.project import Project

    rendered = Project.open(PROJECT).render(None, variables)
    model = build(load_graph(rendered.text, rendered.source), "model")
    kernels = {m.attn_implementation for m in model.modules() if isinstance(m, CausalSelfAttention)}
    assert kernels, "the model has no attention modules"
    return kernels


@pytest.mark.parametrize("kernel", ["eager", "sdpa", "auto"])
def test_attn_implementation_reaches_the_attention_modules(kernel):
    assert _attention_kernels({"attn_implementation": kernel}) == {kernel}


def test_default_is_auto_and_the_option_is_declared():
    from fgtui.engine.project.project import load_dynamic_args

    # auto: flex_attention with document block masks for packed batches on CUDA, else sdpa.
    assert _attention_kernels({}) == {"auto"}
    names = {name for spec in load_dynamic_args(str(PROJECT), None) for name in spec.names}
    assert "--attn-implementation" in names
