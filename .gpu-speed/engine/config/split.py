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
from dataclasses import dataclass

_SPLIT = re.compile(r"\n#\s*-{3,}\s*([\w./]+)\s*-{3,}\n")


@dataclass(frozen=True)
class InlineTemplate:
    """A named part of a file; `first_line` is where its text starts in the file."""

    name: str
    text: str
    first_line: int


def read_template_file(path: str) -> str:
    """A template file's text, line ends normalised to `\\n`."""
    with open(path, encoding="utf-8") as handle:
        return handle.read().replace("\r\n", "\n").replace("\r", "\n")


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
