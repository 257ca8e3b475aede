"""Forgather's model code on a transformers it was not written for: adapt it, or explain.

Forgather pins `transformers ~= 5.0`, and the model code its projects generate (from
Forgather's modelsrc, written into the project's output dir) breaks on newer releases
in known ways, which Forgather itself does not survive:

- modelsrc/transformer/causal_mask.py calls `create_causal_mask` (or the sliding-window
  one) with `input_embeds=`, `cache_position=` and `past_key_values=`; transformers 5.2
  renamed the first `inputs_embeds`, and later releases dropped `cache_position` (the
  function derives the positions from the cache) and renamed `past_key_values` `cache`;
- the DynamicCasualLM template (modelsrc/templates/hf_causal.py) maps every `_pp_plan`
  entry to a "virtual layer" its `__getattr__`/`__setattr__` serve through
  `get_submodule`; once transformers copies the class's `_pp_plan` onto the instance
  (5.17 does, 5.1 resets it to the config's, which is empty), `lm_head` is one, and a
  virtual layer naming a direct attribute can only recurse (a RecursionError).

fgtui adapts that code where it builds a Forgather model (the compat trainers, after
`model`/`model_init`; `generate`/`serve`/`convert`, before `from_pretrained`), in memory
and only for it: files on disk stay as generated, and transformers is not patched.

- `adapt_model_code(cls)`: in the loaded modules of the model class's package, a
  module-level `create_causal_mask` / `create_sliding_window_causal_mask` that is
  transformers' own, called there with a keyword the installed function no longer takes
  (`input_embeds`, `cache_position`, `past_key_values`), is rebound in that module alone
  to a wrapper passing the keyword the installed function takes in its place (the value
  `cache_position` carried is what the function now derives itself, so it is dropped);
  a class whose `__getattr__`/`__setattr__` are the template's (they read `v_layers` and
  call `get_submodule`) gets wrappers that look up or set a virtual layer naming a
  direct attribute the way the class does any attribute that is not virtual, which is
  what the template does under the transformers it was written for. Every other lookup,
  and every other call, goes to the generated code unchanged.
- `explain(error)`: where the code ran without those adapters (a project's own Python
  building the model), the same two failures become one line naming the file and the
  transformers the code was written for. Any other error passes through unchanged.
"""

from __future__ import annotations

import functools
import inspect
import os
import re
import sys
import types
from types import TracebackType
from typing import Any, Callable

from fgtui.engine.errors import FgError, SourceLocation

# What the model code was written for (Forgather's pin, narrowed to before the rename).
REQUIREMENT = "transformers>=5.0,<5.2"
INSTALL = f"pip install '{REQUIREMENT}'"
_MASK_CALL = re.compile(
    r"^(create_causal_mask|create_sliding_window_causal_mask)\(\) got an unexpected keyword argument 'input_embeds'$"
)


def explain(error: BaseException) -> FgError | None:
    """The one-line error for a known Forgather model-code failure, or None for any other."""
    if isinstance(error, TypeError):
        frame, why = _mask_call_frame(error), "transformers 5.2 renamed create_causal_mask's input_embeds"
    elif isinstance(error, RecursionError):
        frame = _virtual_layer_frame(error.__traceback__)
        why = "newer transformers copy _pp_plan onto the model, and its __getattr__ then looks lm_head up without end"
    else:
        return None
    if frame is None:
        return None
    return FgError(
        f"Forgather's model code here needs transformers < 5.2 (installed: {_installed()}): {why}",
        hint="build the model through its config (fgtui's trainers and model loading adapt that code), or call "
        "fgtui.engine.compat.forgather.model_code.adapt_model on it, "
        f"or install the version it was written for: {INSTALL}",
        location=SourceLocation(frame.tb_frame.f_code.co_filename, frame.tb_lineno),
    )


def _mask_call_frame(error: TypeError) -> TracebackType | None:
    """modelsrc's causal_mask() frame, when the bad keyword failed in its call into
    transformers (a bad keyword fails in the caller's frame: causal_mask's own, or a
    transformers wrapper's that passes the keywords on)."""
    if len(error.args) != 1 or not _MASK_CALL.match(str(error.args[0])):
        return None
    found, tb = None, error.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_name == "causal_mask" and code.co_filename.endswith("causal_mask.py"):
            found = tb
        elif found is not None and not _in_transformers(code.co_filename):
            found = None  # the call went on into other code: not that call's failure
        tb = tb.tb_next
    return found


def _in_transformers(filename: str) -> bool:
    transformers = sys.modules.get("transformers")
    root = os.path.dirname(getattr(transformers, "__file__", None) or "") if transformers else ""
    return bool(root) and os.path.abspath(filename).startswith(root + os.sep)


def _virtual_layer_frame(tb: TracebackType | None) -> TracebackType | None:
    """The first `__getattr__` frame of a DynamicCasualLM looking up a virtual layer that
    is also a real top-level submodule: its get_submodule() asks `__getattr__` again, so
    that lookup can only recurse. (transformers 5.1 resets the instance's `_pp_plan` to
    the config's, empty for these models, so there are no virtual layers.)"""
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_name == "__getattr__":
            attrs = getattr(frame.f_locals.get("self"), "__dict__", None)
            name = frame.f_locals.get("name")
            if (
                isinstance(attrs, dict)
                and isinstance(attrs.get("v_layers"), dict)
                and name in attrs["v_layers"]
                and name in attrs.get("_modules", {})
            ):
                return tb
        tb = tb.tb_next
    return None


def _installed() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("transformers")
    except PackageNotFoundError:
        return "unknown"


# --- adapters --------------------------------------------------------------------------

# Keywords modelsrc passes to transformers' mask functions, and what later releases call
# them (None: the function derives the value itself and no longer takes it).
_MASK_FUNCTIONS = ("create_causal_mask", "create_sliding_window_causal_mask")
_MASK_KEYWORDS: dict[str, str | None] = {
    "input_embeds": "inputs_embeds",
    "past_key_values": "cache",
    "cache_position": None,
}
_ADAPTER = "__fgtui_forgather_adapter__"


def adapt_model_code(model_class: type) -> type:
    """Adapt Forgather's generated model code behind `model_class` to the installed
    transformers (the module docstring says how); returns the class. Idempotent; a class
    that is not Forgather's generated code is left as it is."""
    _adapt_virtual_layers(model_class)
    for module in _modules_beside(model_class):
        _adapt_mask_calls(module)
    return model_class


def adapt_model(model: Any) -> Any:
    """`adapt_model_code` for a built model's class; returns the model."""
    adapt_model_code(type(model))
    return model


def _modules_beside(model_class: type) -> list[types.ModuleType]:
    """The loaded modules of `model_class`'s package (the generated code and the modelsrc
    modules it imports relatively, wherever its package path finds them); transformers'
    own modules never."""
    home = sys.modules.get(model_class.__module__)
    if home is None:
        return []
    package = home.__package__ or ""
    found = []
    for name, module in list(sys.modules.items()):
        if module is not home and not (package and name.startswith(package + ".")):
            continue
        path = getattr(module, "__file__", None)
        if isinstance(module, types.ModuleType) and path and not _in_transformers(path):
            found.append(module)
    return found


def _adapt_mask_calls(module: types.ModuleType) -> None:
    try:
        from transformers import masking_utils
    except ImportError:
        return
    for name in _MASK_FUNCTIONS:
        installed = getattr(masking_utils, name, None)
        if installed is None or module.__dict__.get(name) is not installed:
            continue
        takes = inspect.signature(installed).parameters
        renames = {
            old: new
            for old, new in _MASK_KEYWORDS.items()
            if old not in takes and (new is None or new in takes) and _module_passes(module, name, old)
        }
        if renames:
            setattr(module, name, _renaming(installed, renames))


def _module_passes(module: types.ModuleType, function: str, keyword: str) -> bool:
    """Whether code defined in `module` names `function` and passes `keyword` to a call
    (a call's keyword names are a tuple among its code object's constants; with `**`
    alongside, each name is a constant of its own)."""
    for value in list(module.__dict__.values()):
        if isinstance(value, types.FunctionType) and value.__module__ == module.__name__:
            for code in _code_objects(value.__code__):
                if function in code.co_names and any(
                    keyword == const or (isinstance(const, tuple) and keyword in const) for const in code.co_consts
                ):
                    return True
    return False


def _code_objects(code: types.CodeType):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _renaming(function: Callable, renames: dict[str, str | None]) -> Callable:
    """`function` taking `renames`' old keywords: each passed as its new name, or dropped
    (None). A keyword given under both names reaches `function` twice, so its own error
    says so."""

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        for old, new in renames.items():
            if old in kwargs:
                value = kwargs.pop(old)
                if new is not None:
                    if new in kwargs:
                        kwargs[old] = value
                    else:
                        kwargs[new] = value
        return function(*args, **kwargs)

    setattr(call, _ADAPTER, renames)
    return call


def _adapt_virtual_layers(model_class: type) -> None:
    owner = next((klass for klass in model_class.__mro__ if _is_virtual_layer_template(klass)), None)
    if owner is None or getattr(owner.__dict__["__getattr__"], _ADAPTER, None):
        return
    generated_get, generated_set = owner.__dict__["__getattr__"], owner.__dict__["__setattr__"]

    def __getattr__(self: Any, name: str) -> Any:
        if _names_own_attribute(self, name) and self.__dict__["v_layers"][name].get("proxy_mod") is None:
            return super(owner, self).__getattr__(name)
        return generated_get(self, name)

    def __setattr__(self: Any, name: str, value: Any) -> None:
        if _names_own_attribute(self, name):
            return super(owner, self).__setattr__(name, value)
        return generated_set(self, name, value)

    for adapter, generated in ((__getattr__, generated_get), (__setattr__, generated_set)):
        functools.update_wrapper(adapter, generated)
        setattr(adapter, _ADAPTER, "virtual layers naming a direct attribute")
        setattr(owner, generated.__name__, adapter)


def _is_virtual_layer_template(klass: type) -> bool:
    """The DynamicCasualLM template's own `__getattr__` and `__setattr__`: both read the
    instance's `v_layers` and reach the layer through `get_submodule`."""
    methods = [klass.__dict__.get(name) for name in ("__getattr__", "__setattr__")]
    return all(
        isinstance(method, types.FunctionType)
        and "v_layers" in method.__code__.co_consts
        and "get_submodule" in method.__code__.co_names
        for method in methods
    ) and isinstance(getattr(klass, "_pp_plan", None), dict)


def _names_own_attribute(model: Any, name: str) -> bool:
    """Whether `name` is a virtual layer whose parent is the model itself: the template
    serves it through get_submodule(name) / setattr(model, name), which come back to it."""
    layers = model.__dict__.get("v_layers")
    layer = layers.get(name) if isinstance(layers, dict) else None
    return isinstance(layer, dict) and not layer.get("parent_fqn")
