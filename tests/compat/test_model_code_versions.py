"""Forgather's model code on a transformers too new for it: fgtui's adapters change exactly the
calls and lookups they recognise, and where the code ran unadapted, the known failures become
one line naming the file and the transformers to install; every other error passes through.

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


def test_mask_adapter_rebinds_only_calls_with_a_keyword_the_installed_function_lacks(tmp_path, monkeypatch):
    from transformers import masking_utils

    from fgtui.engine.compat.forgather.model_code import adapt_model_code

    package = tmp_path / "generated_stand_in"
    package.mkdir()
    (package / "__init__.py").write_text("")
    imports = "from transformers.masking_utils import create_causal_mask\n\n\n"
    (package / "old_call.py").write_text(
        imports + "def mask(**kw):\n    return create_causal_mask(input_embeds=1, **kw)\n"
    )
    (package / "new_call.py").write_text(imports + "def mask(**kw):\n    return create_causal_mask(**kw)\n")
    (package / "model.py").write_text("from . import new_call, old_call  # noqa\n\n\nclass Model:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    model = importlib.import_module("generated_stand_in.model")
    adapt_model_code(model.Model)

    installed = masking_utils.create_causal_mask
    takes_old_name = "input_embeds" in inspect.signature(installed).parameters
    assert masking_utils.create_causal_mask is installed  # transformers itself untouched
    assert model.new_call.create_causal_mask is installed  # no old keyword passed there
    assert (model.old_call.create_causal_mask is installed) == takes_old_name
    if not takes_old_name:
        # Another bad keyword still fails as transformers' own function fails on it.
        with pytest.raises(TypeError, match="no_such_keyword"):
            model.old_call.mask(no_such_keyword=1)


def test_virtual_layer_adapter_changes_only_lookups_that_can_only_recurse():
    import torch

    from fgtui.engine.compat.forgather.model_code import adapt_model

    class VirtualLayers(torch.nn.Module):
        """The DynamicCasualLM template's shape: every _pp_plan entry a virtual layer."""

        _pp_plan = {"head": None, "body.inner": None}

        def __init__(self) -> None:
            self.__dict__["v_layers"] = {}
            super().__init__()
            self.head, self.body = torch.nn.Linear(2, 2), torch.nn.Module()
            self.body.inner = torch.nn.Linear(2, 2)
            for fqn in self._pp_plan:
                parent, _, name = fqn.rpartition(".")
                self.__dict__["v_layers"][fqn] = {"parent_fqn": parent, "module_name": name, "proxy_mod": None}

        def __getattr__(self, name):
            if self.__dict__["v_layers"].get(name) is None:
                return super().__getattr__(name)
            return self.get_submodule(name)

        def __setattr__(self, name, value):
            layer = self.__dict__["v_layers"].get(name)
            if layer is None:
                return super().__setattr__(name, value)
            setattr(self.get_submodule(layer["parent_fqn"]), layer["module_name"], value)

    class OtherLoop(torch.nn.Module):
        def __getattr__(self, name):
            return getattr(self, name + "x")

    model = VirtualLayers()
    with pytest.raises(RecursionError):
        model.head
    adapt_model(model)
    adapt_model(OtherLoop())
    assert isinstance(model.head, torch.nn.Linear)
    replacement = torch.nn.Linear(2, 2)
    model.head = replacement
    assert model._modules["head"] is replacement
    # A dotted virtual layer is still the template's: served from its parent.
    assert getattr(model, "body.inner") is model.body.inner
    setattr(model, "body.inner", replacement)
    assert model.body.inner is replacement and "body.inner" not in model._modules
    with pytest.raises(AttributeError):
        model.missing
    with pytest.raises(RecursionError):
        OtherLoop().anything  # not the template's shape: left as it is
