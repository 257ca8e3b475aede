"""The one error type users see.

Every failure caused by the user's input (a template, a config, a path, an
option) is raised as `FgError`. The CLI prints it as a single line

    file:line:col: what went wrong — what to do

followed by the template chain that led there, and exits with code 2. A
traceback is shown only with `--debug`. Anything else that escapes is a bug
in fgtui and is reported as such.
"""

from __future__ import annotations


class SourceLocation:
    """A place in a file the user wrote. Lines and columns count from 1."""

    # A plain class, not a dataclass: every command imports this module, and
    # `dataclasses` costs `fgtui ls` a tenth of its run (it imports `inspect`).
    __slots__ = ("file", "line", "column")

    def __init__(self, file: str, line: int | None = None, column: int | None = None) -> None:
        self.file, self.line, self.column = file, line, column

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SourceLocation):
            return NotImplemented
        return (self.file, self.line, self.column) == (other.file, other.line, other.column)

    __hash__ = None  # mutable, as the dataclass was

    def __repr__(self) -> str:
        return f"SourceLocation(file={self.file!r}, line={self.line!r}, column={self.column!r})"

    def __str__(self) -> str:
        text = self.file
        if self.line is not None:
            text += f":{self.line}"
            if self.column is not None:
                text += f":{self.column}"
        return text


class FgError(Exception):
    """A problem with the user's input, reported as one clear line.

    `message` says what went wrong, `hint` what to do about it, `location`
    where (when known), and `chain` the templates that included or extended
    the failing one, outermost first.
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        location: SourceLocation | None = None,
        chain: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.location = location
        self.chain = list(chain or [])

    def one_line(self) -> str:
        text = self.message
        if self.hint:
            text += f" — {self.hint}"
        if self.location is not None:
            text = f"{self.location}: {text}"
        return text

    def __str__(self) -> str:
        lines = [self.one_line()]
        if self.chain:
            lines.append("  template chain: " + " -> ".join(self.chain))
        return "\n".join(lines)
