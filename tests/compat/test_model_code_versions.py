"""Forgather's model code on a transformers too new for it: the known failures become one line
naming the file and the transformers to install; every other error passes through.

The mask call runs Forgather's own modelsrc/transformer/causal_mask.py (from ../shared,
skipped without it); the DynamicCasualLM recursion is checked on a constructed model in
test_train_construct.py."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from compat_helpers import SHARED  # noqa: E402


def transformers_takes_input_embeds() -> bool:
    from transformers.masking_utils import create_causal_mask

    return "input_embeds" in inspect.signature(create_causal_mask).parameters


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(SHARED is None, reason="needs ../shared/forgather")
def test_forgathers_mask_call_is_explained_on_a_newer_transformers():
    import torch
    from transformers import LlamaConfig

    from fgtui.engine.compat.forgather.model_code import INSTALL, explain

    source = SHARED / "forgather" / "modelsrc" / "transformer" / "causal_mask.py"
    causal_mask = load(source, "forgather_causal_mask").causal_mask
    config = LlamaConfig(hidden_size=8, num_attention_heads=2, num_hidden_layers=1, vocab_size=16)
    config._attn_implementation = "eager"  # sdpa without padding skips the call
    input_ids = torch.zeros(1, 4, dtype=torch.long)
    try:
        mask = causal_mask(config, torch.float32, input_ids=input_ids, attention_mask=torch.ones_like(input_ids))
    except TypeError as error:
        assert not transformers_takes_input_embeds(), error
        known = explain(error)
        assert known is not None, error
        import transformers

        line = known.one_line()
        assert known.location.file == str(source) and known.location.line is not None
        assert f"needs transformers < 5.2 (installed: {transformers.__version__})" in line
        assert line.endswith(INSTALL) and INSTALL == "pip install 'transformers>=5.0,<5.2'"
    else:
        assert transformers_takes_input_embeds() and mask is not None


def test_other_errors_are_not_explained(tmp_path):
    from fgtui.engine.compat.forgather.model_code import explain

    # The same message from a function that is not modelsrc's causal_mask.
    def create_causal_mask(**kwargs):
        raise TypeError("create_causal_mask() got an unexpected keyword argument 'input_embeds'")

    with pytest.raises(TypeError) as raised:
        create_causal_mask(input_embeds=None)
    assert explain(raised.value) is None
    # A causal_mask.py whose causal_mask() fails with another bad keyword.
    (tmp_path / "causal_mask.py").write_text("def f():\n    pass\n\n\ndef causal_mask():\n    return f(other=1)\n")
    with pytest.raises(TypeError) as raised:
        load(tmp_path / "causal_mask.py", "other_causal_mask").causal_mask()
    assert explain(raised.value) is None

    # A recursion through some other __getattr__, and one through a class with virtual layers
    # that do not shadow a real submodule.
    class Loops:
        def __init__(self, shadowed: bool) -> None:
            self.v_layers = {"lm_head": {}}
            self._modules = {"lm_head": object()} if shadowed else {}

        def __getattr__(self, name):
            return getattr(self, name + "x")

    with pytest.raises(RecursionError) as raised:
        Loops(shadowed=False).lm_head
    assert explain(raised.value) is None
    with pytest.raises(RecursionError) as raised:
        Loops(shadowed=True).lm_head
    assert explain(raised.value) is not None  # the shape recognised: a shadowed virtual layer
    assert explain(ValueError("create_causal_mask() got an unexpected keyword argument 'input_embeds'")) is None
