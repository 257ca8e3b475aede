"""Forgather's model code on a transformers it was not written for: recognise the failure.

Forgather pins `transformers ~= 5.0`, and the model code its projects generate (from
Forgather's modelsrc) breaks on newer releases in two known ways:

- modelsrc/transformer/causal_mask.py calls `create_causal_mask(input_embeds=...)`;
  transformers 5.2 renamed that argument `inputs_embeds` (a TypeError at the call);
- the DynamicCasualLM template (modelsrc/templates/hf_causal.py) maps `_pp_plan`'s
  entries to "virtual layers" served by its `__getattr__`; once transformers copies
  the class's `_pp_plan` onto the instance (5.17 does, 5.10 does not), `lm_head` is
  one of them, and its lookup recurses without end (a RecursionError).

Forgather itself fails the same way. fgtui neither patches transformers nor rewrites
the generated files: it names the file and the transformers that file needs. Only those
exact failures are recognised; any other error passes through unchanged.
"""

from __future__ import annotations

import re
import sys
from types import TracebackType

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
        hint=f"install the version it was written for: {INSTALL}",
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
    import os

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
