"""The plainest YAML, read without PyYAML.

A rendered meta.yaml is a handful of `key: "value"` lines and a list of
directories, and PyYAML's import (with the resolver's regular expressions)
costs a cold `fgtui ls` more than reading all of them. `parse` reads only
top-level keys whose values are quoted strings without escapes, plain
words that cannot be anything but strings, empty, or a block list of such
values; anything else raises `NotPlain` and the caller uses PyYAML, which
reads the plain subset the same way.
"""

from __future__ import annotations

import re

from fgtui.engine.config.lazy_regex import LazyRegex

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing `typing` (`fgtui ls` does not need it)
if TYPE_CHECKING:
    from typing import Any


class NotPlain(Exception):
    """The text needs a real YAML parser."""


_KEY = re.compile(r"([A-Za-z_][\w.-]*):(?:[ \t]+(.*))?")
_ITEM = re.compile(r"([ \t]*)-[ \t]+(.*)")
_PLAIN = LazyRegex(r"[A-Za-z/][\w /.+~,()-]*")
# YAML 1.1's booleans and null, as PyYAML's SafeLoader resolves plain scalars.
_SPECIAL = frozenset(
    "yes Yes YES no No NO true True TRUE false False FALSE on On ON off Off OFF null Null NULL".split()
)


_QUOTED = r"""(?:"[^"\\]*"|'[^']*')"""
_FLOW_LIST = re.compile(rf"\[\s*(?:{_QUOTED}(?:\s*,\s*{_QUOTED})*)?\s*\]")
_FLOW_ITEMS = re.compile(_QUOTED)


def scalar(text: str) -> Any:
    """One value: a quoted string, a plain string, None when empty, or a flow
    list of quoted strings (`[ "a", 'b' ]`)."""
    text = text.strip()
    if not text:
        return None
    if text[0] == "[":
        if not _FLOW_LIST.fullmatch(text):
            raise NotPlain(text)
        return [item[1:-1] for item in _FLOW_ITEMS.findall(text)]
    if len(text) >= 2 and text[0] == text[-1] == '"':
        inner = text[1:-1]
        if '"' in inner or "\\" in inner:
            raise NotPlain(text)
        return inner
    if len(text) >= 2 and text[0] == text[-1] == "'":
        inner = text[1:-1]
        if "'" in inner:
            raise NotPlain(text)
        return inner
    if _PLAIN.fullmatch(text) and text not in _SPECIAL and not text.rstrip().endswith(":"):
        return text.rstrip()
    raise NotPlain(text)


def parse(text: str) -> dict[str, Any]:
    """A mapping of top-level keys to plain values or lists of them."""
    data: dict[str, Any] = {}
    key: str | None = None  # the key whose list the next `- ` lines fill
    indent: str | None = None  # of that list's items
    listed: set[str] = set()  # keys written `key:` (null unless items follow)
    for line in text.split("\n"):
        if not line.strip() or line.lstrip().startswith("#"):
            continue  # a blank or a comment line
        if " #" in line or "\t" in line:
            raise NotPlain(line)
        item = _ITEM.fullmatch(line)
        if item is not None:
            if key is None or indent not in (None, item[1]):
                raise NotPlain(line)
            indent = item[1]
            data[key].append(scalar(item[2]))
            continue
        if line[0].isspace():
            raise NotPlain(line)
        match = _KEY.fullmatch(line)
        if match is None:
            raise NotPlain(line)
        key, indent = None, None
        listed.discard(match[1])
        if match[2] is None or not match[2].strip():
            data[match[1]] = []
            key = match[1]
            listed.add(key)
        else:
            data[match[1]] = scalar(match[2])
    return {name: (None if value == [] and name in listed else value) for name, value in data.items()}
