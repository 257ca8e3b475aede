"""Inline sub-templates: one file, several named templates.

A line `#---- name ----` (a `#`, three or more dashes, a name, three or more
dashes) ends the text before it and starts a template called `name`. The
text before the first such line is the file's own template. Jinja allows one
parent per template, so this is how a config mixes in a second parent: a
block does `-- include 'proj.callbacks'`, and the inline template
`proj.callbacks` extends another file and overrides its blocks.
"""

from __future__ import annotations

import re

_SPLIT = re.compile(r"\n#\s*-{3,}\s*([\w./]+)\s*-{3,}\n")


class InlineTemplate:
    """A named part of a file; `first_line` is where its text starts in the file.
    Immutable and compared by value (a plain class, not a frozen dataclass: `fgtui ls`
    imports this module, and `dataclasses` costs a cold listing a tenth of its run)."""

    __slots__ = ("name", "text", "first_line")

    def __init__(self, name: str, text: str, first_line: int) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "text", text)
        object.__setattr__(self, "first_line", first_line)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, InlineTemplate):
            return NotImplemented
        return (self.name, self.text, self.first_line) == (other.name, other.text, other.first_line)

    def __hash__(self) -> int:
        return hash((self.name, self.text, self.first_line))

    def __reduce__(self):  # copy and pickle build it anew (assigning fields is refused)
        return InlineTemplate, (self.name, self.text, self.first_line)

    def __repr__(self) -> str:
        return f"InlineTemplate(name={self.name!r}, text={self.text!r}, first_line={self.first_line!r})"


def read_template_file(path: str) -> str:
    """A template file's text, line ends normalised to `\\n`."""
    # Bytes decoded at once, not through text mode's incremental decoder (Python code):
    # a cold `fgtui ls` reads ~150 template files.
    with open(path, "rb") as handle:
        return handle.read().decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")


def split_templates(source: str) -> tuple[str, list[InlineTemplate]]:
    """Split a file into its own template text and its inline templates."""
    matches = list(_SPLIT.finditer(source))
    if not matches:
        return source, []
    main = source[: matches[0].start()]
    parts = []
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(source)
        first_line = source.count("\n", 0, match.end()) + 1
        parts.append(InlineTemplate(match[1], source[match.end() : end], first_line))
    return main, parts
