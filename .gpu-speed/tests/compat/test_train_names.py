"""The table of Forgather names and the two ways they resolve (config specs, imports)."""

from __future__ import annotations

import importlib
import sys

import pytest

from fgtui.engine.compat.forgather import names
from fgtui.engine.compat.forgather.importer import install, load_target
from fgtui.engine.compat.forgather.resolve import real_forgather_installed
from fgtui.engine.config import specs
from fgtui.engine.errors import FgError, SourceLocation

pytestmark = pytest.mark.skipif(real_forgather_installed(), reason="a real Forgather is installed: it is used")


def _needs_torchtitan(spec: str) -> bool:
    """torchtitan's classes back this name (optional, as in Forgather)."""
    return spec == "forgather.ml.trainer.torchtitan.validate:Validator"


def _torchtitan_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("torchtitan") is not None


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(
            spec,
            marks=pytest.mark.skipif(
                _needs_torchtitan(spec) and not _torchtitan_installed(), reason="needs torchtitan"
            ),
        )
        for spec in sorted(names.PROVIDED)
    ],
)
def test_every_name_resolves_as_spec_and_import(spec):
    target = load_target(names.PROVIDED[spec])
    assert specs.resolve(spec) is target
    install()
    module, attr = spec.split(":")
    assert getattr(importlib.import_module(module), attr) is target


def test_dotted_spelling_and_attribute_path():
    assert specs.resolve("forgather.ml.loss.CausalLoss") is specs.resolve("forgather.ml.loss:CausalLoss")
    assert specs.resolve("forgather.ml.trainer:TrainingArguments.from_dict").__name__ == "from_dict"


def test_unprovided_name_is_one_error_with_its_line():
    where = SourceLocation("train.yaml", 12)
    with pytest.raises(FgError) as caught:
        specs.resolve("forgather.ml.trainer.callbacks:GradLogger", location=where)
    line = caught.value.one_line()
    assert "forgather.ml.trainer.callbacks:GradLogger" in line and "train.yaml:12" in line


def test_import_of_unprovided_name_says_so():
    install()
    module = importlib.import_module("forgather.ml.loss")
    with pytest.raises(ImportError, match="ChunkedCausalLoss"):
        exec("from forgather.ml.loss import ChunkedCausalLoss", {})
    with pytest.raises(AttributeError, match="fgtui does not provide"):
        module.ChunkedCausalLoss
    assert "CausalLoss" in dir(module)
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("forgather.ml.no_such_module")


def test_real_forgather_is_not_shadowed(tmp_path, monkeypatch):
    """With a `forgather` package on sys.path, specs and imports reach it unchanged."""
    package = tmp_path / "forgather"
    (package / "ml").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "ml" / "__init__.py").write_text("")
    (package / "ml" / "loss.py").write_text("class CausalLoss:\n    REAL = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m == "forgather" or m.startswith("forgather.")]:
        monkeypatch.delitem(sys.modules, name)
    real_forgather_installed.cache_clear()
    try:
        assert specs.resolve("forgather.ml.loss:CausalLoss").REAL
        install()
        assert importlib.import_module("forgather.ml.loss").CausalLoss.REAL
    finally:
        real_forgather_installed.cache_clear()
        for name in [m for m in sys.modules if m == "forgather" or m.startswith("forgather.")]:
            del sys.modules[name]
