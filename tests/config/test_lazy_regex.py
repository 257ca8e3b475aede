"""LazyRegex: a pattern compiled on first use, answering as the compiled one does."""

from __future__ import annotations

import re

from fgtui.engine.config.lazy_regex import LazyRegex


def test_compiled_on_first_use_and_answers_as_re_compile():
    lazy, compiled = LazyRegex(r"(\w+)=(\d+)", re.ASCII), re.compile(r"(\w+)=(\d+)", re.ASCII)
    assert "search" not in vars(lazy)  # nothing compiled yet
    text = "a x=12 é=3 y=4"
    assert lazy.search(text).groups() == compiled.search(text).groups()
    assert lazy.sub(r"\2", text) == compiled.sub(r"\2", text)
    assert [m[0] for m in lazy.finditer(text)] == [m[0] for m in compiled.finditer(text)]
    assert lazy.fullmatch("x=1") and not lazy.fullmatch("x=")
    assert "search" in vars(lazy)  # kept: later look-ups skip __getattr__
