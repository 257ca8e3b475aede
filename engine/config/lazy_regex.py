"""Regular expressions compiled on first use.

A module imported on the `fgtui ls` path compiles its module-level patterns
whether the listing uses them or not, and `re` compiles in Python: the
patterns only a preview or an error message needs cost a cold listing about
1.5% of its run. `LazyRegex(pattern)` stands for `re.compile(pattern)`
where a module's pattern serves only some of its callers.
"""

from __future__ import annotations

import re


class LazyRegex:
    """`re.compile(pattern, flags)`, compiled when one of its methods is first
    looked up; the method is then kept on the instance, so later look-ups cost
    what an attribute does."""

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self._source = (pattern, flags)

    def __getattr__(self, name: str):
        if name.startswith("_"):  # `_source` before it is set (copy, pickle), or a dunder probe
            raise AttributeError(name)
        method = getattr(re.compile(*self._source), name)  # re caches the compiled pattern
        setattr(self, name, method)
        return method

    def __repr__(self) -> str:
        return f"LazyRegex({self._source[0]!r})"
