"""Which calls the build checks against a signature before calling anything.

A config is refused before anything runs only for a call that would
certainly fail. Forgather checks nothing before calling, and many callables
accept more than `inspect.signature` shows, so every doubtful case passes
and is left to the call itself.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any


def checkable_signature(function: Any) -> inspect.Signature | None:
    """The signature to check a call against, or None where a mismatch found from
    it would not certainly fail when called.

    Only plain Python functions and classes whose constructor is plain Python
    are checked. Skipped: methods bound to a class or instance (classmethods
    such as `from_config` reach `cls(...)` through layers a signature does not
    show), functions implemented in C, anything wrapped (`__wrapped__`: a
    decorator may accept more than it shows), and callables taking
    `**kwargs`, which may consume or forward any keyword.
    """
    if inspect.ismethod(function) or inspect.isbuiltin(function) or hasattr(function, "__wrapped__"):
        return None
    if isinstance(function, functools.partial):
        return None
    if inspect.isclass(function):
        if type(function).__call__ is not type.__call__:
            return None  # a metaclass makes the call
        init = function.__init__
        # The constructor that takes the arguments: __init__, or __new__ where __init__ is object's.
        maker = function.__new__ if init is object.__init__ else init
        if not inspect.isfunction(maker) or hasattr(maker, "__wrapped__"):
            return None  # implemented in C, or wrapped
    elif not inspect.isfunction(function):
        return None  # callable objects, C extension types: checked by calling them
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        return None
    return signature
