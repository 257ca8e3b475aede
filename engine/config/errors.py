"""Jinja and YAML failures, told as one line about the template the user wrote.

Jinja reports lines of the translated template, which are the user's lines
(the sugar keeps a 1:1 mapping); YAML reports lines of the rendered text,
which the environment's line map sends back to a template line.
"""

from __future__ import annotations

import os

from fgtui.engine.config.lazy_regex import LazyRegex
from fgtui.engine.errors import FgError, SourceLocation

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing `typing` (`fgtui ls` does not need it)
if TYPE_CHECKING:
    from typing import Iterable


def display_path(path: str) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    if not os.path.isabs(path):
        return path
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def location(file: str | None, line: int | None, column: int | None = None) -> SourceLocation | None:
    if file is None:
        return None
    return SourceLocation(display_path(file), line, column)


def template_frame(exc: BaseException, known_files: Iterable[str]) -> tuple[str, int] | None:
    """The innermost traceback frame that runs a template (Jinja rewrites frames to template lines)."""
    import traceback  # not at import: `fgtui ls` reports a missing template with `location` alone

    known = set(known_files)
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename in known:
            return frame.filename, frame.lineno or 0
    return None


def from_render_error(
    exc: BaseException, known_files: Iterable[str], chain: list[str], searchpath: list[str]
) -> FgError:
    """Turn anything raised while compiling or rendering a template into an FgError."""
    import jinja2

    from fgtui.engine.config.jinja_globals import TemplateAssertion

    frame = template_frame(exc, known_files)
    where = location(*frame) if frame else None
    if isinstance(exc, jinja2.TemplateSyntaxError):
        message = exc.message or ""
        line = exc.lineno
        opener = _unclosed_opener(message, getattr(exc, "source", None), line)
        if opener is not None:
            # Jinja notices a missing `-- endif` where the template ends; the fix is at the `-- if`.
            keyword, line = opener
            return FgError(
                f"`-- {keyword}` is never closed",
                hint=f"add `-- end{keyword}` where its body ends",
                location=location(exc.filename or exc.name, line),
                chain=chain,
            )
        return FgError(
            f"template syntax error: {message}",
            hint=_syntax_hint(message),
            location=location(exc.filename or exc.name, line),
            chain=chain,
        )
    if isinstance(exc, jinja2.TemplateNotFound):
        where_text = ", ".join(display_path(p) for p in searchpath) or "(empty search path)"
        return FgError(
            f"template '{exc.name}' not found",
            hint=f"check the name; searched {where_text}",
            location=where,
            chain=chain,
        )
    if isinstance(exc, jinja2.UndefinedError):
        return FgError(
            f"undefined variable: {exc.message}",
            hint="set it with `-- set`, pass `--var NAME=VALUE`, or write `NAME | default(...)`",
            location=where,
            chain=chain,
        )
    if isinstance(exc, jinja2.exceptions.SecurityError):
        return FgError(f"not allowed in a template: {exc}", hint="templates run sandboxed", location=where, chain=chain)
    if isinstance(exc, TemplateAssertion):
        return FgError(
            f"template check failed: {exc}", hint="fix the values the template checks", location=where, chain=chain
        )
    return FgError(
        f"error while rendering: {type(exc).__name__}: {exc}",
        hint="fix the expression on that line",
        location=where,
        chain=chain,
    )


_NEEDS_CLOSING = LazyRegex(r"innermost block that needs to be closed is '(\w+)'")
_BLOCK_TAG = LazyRegex(r"\{%[-+]?\s*(\w+)([^%]*)")
_PAIRED = {"if", "for", "macro", "filter", "block", "call", "raw", "with", "autoescape", "trans"}


def _unclosed_opener(message: str, source: str | None, error_line: int | None) -> tuple[str, int] | None:
    """The (keyword, line) of the innermost statement still open at `error_line`, if Jinja named one."""
    wanted = _NEEDS_CLOSING.search(message)
    if wanted is None or source is None:
        return None
    stack: list[tuple[str, int]] = []
    for number, text in enumerate(source.split("\n"), start=1):
        if error_line is not None and number > error_line:
            break
        for match in _BLOCK_TAG.finditer(text):
            word, rest = match[1], match[2]
            if word in _PAIRED or (word == "set" and "=" not in rest):
                stack.append((word, number))
            elif word.startswith("end") and stack and number != error_line:
                stack.pop()  # the closer on the error line is the one Jinja refused
    for word, number in reversed(stack):
        if word == wanted[1]:
            return word, number
    return None


def _syntax_hint(message: str) -> str:
    if "Unexpected end of template" in message or "endblock" in message or "endif" in message or "endfor" in message:
        return "close every `-- if` / `-- for` / `-- macro` / `-- filter` with its `-- end...` line"
    if "unknown tag" in message:
        return "a line starting with `-- ` must hold a Jinja statement"
    return "fix the Jinja on that line"


def from_yaml_error(
    exc: BaseException, line_map: list | None, source: str, chain: list[str], text: str = ""
) -> FgError:
    """Turn a PyYAML error into an FgError located in the template."""
    from fgtui.engine.config.yaml_module import import_yaml

    yaml = import_yaml()

    if isinstance(exc, yaml.reader.ReaderError):
        line0 = text.count("\n", 0, exc.position) if text else 0
        character = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        return FgError(
            f"YAML: unacceptable character {character}: {exc.reason}",
            hint="remove control characters from the template",
            location=rendered_location(line0, None, line_map, source),
            chain=chain,
        )
    problem = " ".join((getattr(exc, "problem", None) or str(exc)).split())
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    unclosed = ("while parsing a flow", "while scanning a quoted", "while scanning a simple key")
    if getattr(exc, "context_mark", None) is not None and (
        "<stream end>" in problem or (exc.context or "").startswith(unclosed)
    ):
        mark = exc.context_mark  # where the unclosed construct began says more than where it broke
    context = " ".join((getattr(exc, "context", None) or "").split())
    message = f"YAML: {problem}" + (f" ({context})" if context and context not in problem else "")
    where = rendered_location(mark.line, mark.column, line_map, source) if mark else location(source, None)
    hint = "fix the YAML on that line (indentation, ':' after keys, closing quotes and brackets)"
    if "undefined alias" in problem:
        hint = "define the anchor (&name) before its first use (*name); anchors follow the rendered order"
    elif "could not determine a constructor" in problem:
        hint = "use one of fgtui's tags: !singleton: !factory: !partial: !meta: !var !list !dict !tuple !dlist"
    return FgError(message, hint=hint, location=where, chain=chain)


def rendered_location(line0: int, column0: int | None, line_map: list | None, source: str) -> SourceLocation | None:
    """Map a 0-based line of rendered text to the template line it came from."""
    if line_map is not None:
        origin = line_map[line0] if 0 <= line0 < len(line_map) else None
        if origin is not None:
            return location(origin[0], origin[1])
        return location(source, None)
    return location(source, line0 + 1, None if column0 is None else column0 + 1)
