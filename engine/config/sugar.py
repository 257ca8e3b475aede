"""Forgather's line syntax, translated to plain Jinja one line at a time.

    -- stmt   ->  {% stmt %}          << stmt  ->  {%- stmt %}
    >> stmt   ->  {% stmt -%}         == expr  ->  {{ expr }}
    => expr   ->  {{ expr|trim('\\n')}}
    ## text   ->  (whole-line comment: dropped)   value  ## text -> value
    [name] / [name!]  ->  {% block name %} ... {% endblock name +%}, scoped by indentation

Every input line becomes exactly one output line, so a line number Jinja
reports is the line the user wrote. The rewriting rules are Forgather's and
apply to every line, inside YAML strings and block scalars too, so `pp`
prints what Forgather prints. A small scanner follows YAML quoting, block
scalars and Jinja tags across lines only to place origin markers.

With a `file_id`, YAML lines and `==` lines also get an origin marker,
which encodes `file_key(path)` (derived from the path alone, so the
translated source of a file is the same in every environment and process,
and its compiled code can be shared, see `code_cache`) and the template
line. Markers are spelled in Unicode space characters: Jinja's whitespace
control (`{%-`, `-%}`) and the `trim` filter remove a marker exactly where
they would remove the blanks around it, so the text with markers stripped
is the text Forgather renders without them. Markers survive inheritance
and includes, and the environment strips them from the rendered text to
map each output line back to the template line that produced it (see
`strip_markers`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from fgtui.engine.config.lazy_regex import LazyRegex

_STATEMENT = re.compile(r"\s*(--|<<|>>|==|=>)\s(.*)")
_MARKS = frozenset(("--", "<<", ">>", "==", "=>"))
_SECTION = re.compile(r"(\s*)\[(\w+)(!*)\]\s*")
_WHOLE_COMMENT = re.compile(r"\s*##.*")
_BLOCK_INDICATOR = LazyRegex(r"[|>][-+0-9]*\s*(#.*)?")
_BLOCK_SET = re.compile(r"set\s+[\w.,\s]+")
# A marker normally follows a space; Jinja's whitespace control can leave one at line start.
# A marker: START, the file key's 12 hex digits as 16 octal digits, SEP, the line in
# octal, END; every character is a space to str.strip() and to Jinja, none a line break.
_DIGITS = "".join(chr(0x2000 + d) for d in range(8))
_START, _SEP, _END = "\u3000\u205f", "\u202f", "\u1680"
_MARK = LazyRegex(f"{_START}([{_DIGITS}]{{16}}){_SEP}([{_DIGITS}]+){_END}")
_TO_DIGITS = str.maketrans("01234567", _DIGITS)
_FROM_DIGITS = str.maketrans(_DIGITS, "01234567")


def marker(file_id: str, line: int) -> str:
    """The origin marker of `line` in the file whose key is `file_id`."""
    return f"{_START}{int(file_id, 16):016o}{_SEP}{line:o}{_END}".translate(_TO_DIGITS)


_read: dict[str, tuple[int, int]] = {}


def _read_marker(match: re.Match) -> tuple[int, int]:
    """(file key as a number, line) of a marker; the same markers recur in every render."""
    text = match[0]
    found = _read.get(text)
    if found is None:
        if len(_read) > 200_000:
            _read.clear()
        found = _read[text] = (int(match[1].translate(_FROM_DIGITS), 8), int(match[2].translate(_FROM_DIGITS), 8))
    return found


_CLOSERS = {"{{": "}}", "{%": "%}", "{#": "#}"}


# Plain classes, not dataclasses: `fgtui ls` translates templates with this module,
# and `dataclasses` costs a cold listing a tenth of its run.
class _State:
    """What is still open at the end of a line."""

    __slots__ = ("yaml_quote", "jinja", "jinja_quote", "block_parent", "flow_depth", "capture_depth")

    def __init__(self) -> None:
        self.yaml_quote: str | None = None  # ' or " of a YAML flow scalar spanning lines
        self.jinja: str | None = None  # "{{", "{%" or "{#" of a Jinja tag spanning lines
        self.jinja_quote: str | None = None
        self.block_parent: int | None = None  # indent of the key owning a block scalar
        self.flow_depth = 0
        self.capture_depth = 0  # inside `-- set x` ... `-- endset`: no markers


class _Scan:
    __slots__ = ("cut", "output", "last", "block_parent")

    def __init__(self) -> None:
        self.cut: int | None = None  # where a trailing `##` comment starts
        self.output = False  # the line yields text outside {% %} and {# #}
        self.last = "none"  # kind of the last YAML token: colon, tag, block, value
        self.block_parent: int | None = None  # the line opens a block scalar


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


# What can change a scan's state, by where it is: everything else is skipped a run at a time
# (the scan places markers in every line a preview renders; a character at a time it
# cost a cold `fgtui pp` a tenth of its run).
_JINJA_RUN = {"{{": LazyRegex(r"[^'\"}]*"), "{%": LazyRegex(r"[^'\"%]*"), "{#": LazyRegex(r"[^#]*")}
_JINJA_QUOTED_RUN = {"'": LazyRegex(r"[^'\\]*"), '"': LazyRegex(r'[^"\\]*')}
_YAML_QUOTED_RUN = {"'": LazyRegex(r"[^'{]*"), '"': LazyRegex(r'[^"\\{]*')}
_COMMENT_RUN = LazyRegex(r"[^#{]*")  # in a YAML comment: a `#` may start a `##` cut, a `{` a Jinja tag
# After a plain scalar's character, up to what may end the scalar or open a tag
# (in block context; in a flow collection its brackets and commas too).
_SCALAR_RUN = LazyRegex(r"[^:#{]*")
_FLOW_SCALAR_RUN = LazyRegex(r"[^:#{}\[\],]*")


def _scan_jinja(line: str, i: int, st: _State) -> int:
    """Advance through an open Jinja tag; return the index after it closes (or len)."""
    closer = _CLOSERS[st.jinja]
    n = len(line)
    while i < n:
        if st.jinja_quote:
            i = _JINJA_QUOTED_RUN[st.jinja_quote].match(line, i).end()
            if i >= n:
                break
            if line[i] == "\\":
                i += 2
                continue
            st.jinja_quote = None  # the closing quote
        else:
            i = _JINJA_RUN[st.jinja].match(line, i).end()
            if i >= n:
                break
            c = line[i]
            if c in "'\"":
                st.jinja_quote = c
            elif line.startswith(closer, i):
                st.jinja = None
                return i + 2
        i += 1
    return n


def _scan_yaml(line: str, st: _State) -> _Scan:
    """Scan one YAML line: find a trailing `##` comment and what stays open."""
    return _YamlLine(line, st).scan()


class _YamlLine:
    """One line's scan, one method per state the scanner can be in at a character:
    inside a Jinja tag, inside a quoted YAML scalar, or at plain YAML."""

    def __init__(self, line: str, st: _State) -> None:
        self.line, self.st, self.n = line, st, len(line)
        self.out = _Scan()
        self.i = 0
        self.value_start = st.yaml_quote is None and st.jinja is None
        self.in_comment = False
        self.saw_colon_at: int | None = None
        self.key_col = _indent(line)
        self.dash_col: int | None = None

    def scan(self) -> _Scan:
        while self.i < self.n:
            if self.st.jinja:
                self._in_jinja()
            elif self.line.startswith(("{{", "{%", "{#"), self.i):
                self._open_jinja()
            elif self.st.yaml_quote:
                self._in_quote()
            elif self._plain() == "stop":
                break
        return self.out

    def _in_jinja(self) -> None:
        was = self.st.jinja
        self.i = _scan_jinja(self.line, self.i, self.st)
        if self.st.jinja is None:
            self.out.last = "value" if was == "{{" else "jinja"

    def _open_jinja(self) -> None:
        self.st.jinja = self.line[self.i : self.i + 2]
        if self.st.jinja == "{{":
            self.out.output = True
            self.value_start = False
        self.i += 2

    def _in_quote(self) -> None:
        c, out, st = self.line[self.i], self.out, self.st
        out.output = True
        if c not in "'\"\\{":  # a run of the string's text: nothing changes
            self.i = _YAML_QUOTED_RUN[st.yaml_quote].match(self.line, self.i + 1).end()
            return
        if st.yaml_quote == "'":
            if c == "'":
                if self.line.startswith("''", self.i):  # an escaped quote
                    self.i += 2
                    return
                st.yaml_quote = None
                out.last = "value"
        elif c == "\\":
            self.i += 2
            return
        elif c == '"':
            st.yaml_quote = None
            out.last = "value"
        self.i += 1

    def _plain(self) -> str | None:
        """One character of plain YAML; "stop" when the rest of the line is settled."""
        line, i, n, out, st = self.line, self.i, self.n, self.out, self.st
        c = line[i]
        if c == "#" and (i == 0 or line[i - 1] in " \t"):
            return self._comment()
        if self.in_comment:
            self.i = _COMMENT_RUN.match(line, i + 1).end()
            return None
        if c in " \t":
            self.i += 1
            return None
        out.output = True
        nxt = line[i + 1] if i + 1 < n else " "
        if self.value_start and c in "'\"":
            st.yaml_quote = c
            self.i += 1
        elif self.value_start and c in "-?" and nxt in " \t":
            if c == "-":
                self.dash_col = i
                self.key_col = i + 2
            self.i += 1
        elif c == ":" and nxt in " \t" or (c == ":" and i + 1 == n):
            self.saw_colon_at = i
            self.value_start = True
            out.last = "colon"
            self.i += 1
        elif self.value_start and c in "!&":
            while self.i < n and line[self.i] not in " \t":
                self.i += 1
            out.last = "tag"
        elif (self.value_start or st.flow_depth) and c in "[{":
            st.flow_depth += 1
            self.value_start = True
            out.last = "value"
            self.i += 1
        elif st.flow_depth and c in "]}":
            st.flow_depth -= 1
            self.value_start = False
            out.last = "value"
            self.i += 1
        elif st.flow_depth and c == ",":
            self.value_start = True
            self.i += 1
        elif self.value_start and c in "|>" and _BLOCK_INDICATOR.fullmatch(line[i:].rstrip()):
            self._block_scalar()
            return "stop"
        else:
            self.value_start = False
            out.last = "value"
            # The characters up to the next one that may end the scalar change nothing more.
            self.i = (_FLOW_SCALAR_RUN if st.flow_depth else _SCALAR_RUN).match(line, i + 1).end()
        return None

    def _comment(self) -> str | None:
        line, i = self.line, self.i
        if line.startswith("##", i) and i > 0:  # a trailing `##` comment: cut it with its spaces
            j = i
            while j > 0 and line[j - 1] in " \t":
                j -= 1
            self.out.cut = j
            return "stop"
        self.in_comment = True
        self.out.output = True
        self.i += 1
        return None

    def _block_scalar(self) -> None:
        if self.saw_colon_at is not None:
            self.out.block_parent = self.key_col
        elif self.dash_col is not None:
            self.out.block_parent = self.dash_col
        else:
            self.out.block_parent = _indent(self.line)
        self.out.last = "block"


def _output_outside_tags(text: str) -> bool:
    """Does a statement-free line print anything besides {% %} / {# #} tags?"""
    return bool(re.sub(r"\{%.*?%\}|\{#.*?#\}", "", text).strip())


# Forgather rewrites every line with these rules, whatever YAML or Jinja context
# the line is in (inside quotes and block scalars too); previews must match its
# output byte for byte, so they are applied the same way here.
_COMMENT_TAIL = re.compile(r"(.*)\s+#{2,}.*")  # greedy: cut at the last ` ##`, keep the blanks before it but one
_PLACEHOLDER = "{##}"
_LSTRIP_OPENERS = ("{%-", "{{-", "{#-")
_RSTRIP_CLOSERS = ("-%}", "-}}", "-#}")


def preprocess(source: str, file_id: str | None = None, first_line: int = 1) -> str:
    """Translate the line syntax in `source` to Jinja, one line out per line in.

    `first_line` is the file line of the source's first line (inline
    sub-templates start part-way into their file); the output is padded with
    empty Jinja comments so that Jinja's line numbers are file line numbers.
    With `file_id`, origin markers are appended (see the module docstring).

    Forgather deletes whole-line comments; here each becomes an empty Jinja
    comment (trim_blocks removes its newline), made to strip whitespace on
    the side where a neighbour's whitespace control would have reached past
    the deleted line (see `_fit_placeholders`).
    """
    lines = source.split("\n")
    st = _State()
    result: list[str] = [_PLACEHOLDER] * (first_line - 1)
    padding = len(result)
    deleted: list[int] = []  # indexes in `result` of deleted comment lines
    deleted_set: set[int] = set()
    sections: list[tuple[str, int, str]] = []
    # Without markers the YAML scan places nothing: the translation is the same without it.
    next_indent = _next_content_indents(lines) if file_id is not None else []

    def last_kept() -> int:
        k = len(result) - 1
        while k >= padding and k in deleted_set:
            k -= 1
        return k

    def close(name: str, bang: str) -> None:
        # Forgather appends the closing tag to the last line it kept.
        k = last_kept()
        text = "{% endblock " + name + " +%}" + ("{% endfilter %}" if bang else "")
        if k < padding:
            result.append(text)
            return
        if result[k]:
            result[k] += "{{'\\n'}}"
        result[k] += text

    for index, line in enumerate(lines):
        # Cheap tests first: most lines are plain YAML, and each regex below is a necessary
        # condition's full check.
        head = line.lstrip()[:2]
        if head == "##" and _WHOLE_COMMENT.fullmatch(line):
            deleted.append(len(result))
            deleted_set.add(len(result))
            result.append(_PLACEHOLDER)
            continue
        tail = _COMMENT_TAIL.fullmatch(line) if "##" in line else None
        text = tail[1] if tail else line
        if st.block_parent is not None and text.strip() and _indent(text) <= st.block_parent:
            st.block_parent = None
        if st.block_parent is not None:
            inside = "block"
        elif st.yaml_quote or st.jinja:
            inside = "open"
        else:
            inside = None
        statement = _STATEMENT.fullmatch(text) if text.lstrip()[:2] in _MARKS else None
        if statement:
            translated = _statement(statement[1], statement[2], st)
            if file_id is not None and inside is None and statement[1] in ("==", "=>") and not st.capture_depth:
                translated += marker(file_id, first_line + index)
            result.append(translated)
            continue
        header = _SECTION.fullmatch(text) if "[" in text else None
        if header:
            indent = len(header[1])
            while sections and sections[-1][1] >= indent:
                name, _, bang = sections.pop()
                close(name, bang)
            bang = "!" if header[3] else ""
            result.append(("{% filter trim %}" if bang else "") + "{% block " + header[2] + " %}")
            sections.append((header[2], indent, bang))
            continue
        if inside == "block" or file_id is None:
            result.append(text)
            continue
        if inside == "open":
            _scan_yaml(text, st)
            result.append(text)
            continue
        scan = _scan_yaml(text, st)
        if scan.block_parent is not None:
            st.block_parent = scan.block_parent
        if file_id is not None and _wants_marker(text, scan, st, _indent(line), next_indent[index]):
            # Before trailing blanks, so a `trim` filter still sees them last.
            end = len(text.rstrip(" \t"))
            text = text[:end] + marker(file_id, first_line + index) + text[end:]
        result.append(text)
    while sections:
        name, _, bang = sections.pop()
        close(name, bang)
    _fit_placeholders(result, deleted, deleted_set, padding)
    return "\n".join(result)


def _fit_placeholders(result: list[str], deleted: list[int], deleted_set: set[int], padding: int) -> None:
    """Make each deleted line's empty comment strip whitespace where Forgather's text would.

    With the line gone, a `{%-` on the next kept line strips the blanks
    before it back across the gap, and a `-%}` on the previous kept line
    strips forward across it; an empty comment in between would stop both.
    """
    for k in deleted:
        before = k - 1
        while before >= padding and before in deleted_set:
            before -= 1
        after = k + 1
        while after in deleted_set:
            after += 1
        left = after < len(result) and result[after].lstrip().startswith(_LSTRIP_OPENERS)
        right = before >= padding and result[before].rstrip().endswith(_RSTRIP_CLOSERS)
        if left or right:
            result[k] = "{#" + ("-" if left else "") + " " + ("-" if right else "") + "#}"


def file_key(path: str) -> str:
    """The marker name of a template file: 12 hex digits of a hash of its path."""
    import hashlib  # not at import: `fgtui ls` translates templates without markers

    return hashlib.blake2b(path.encode("utf-8", "surrogateescape"), digest_size=6).hexdigest()


def _wants_marker(text: str, scan: _Scan, st: _State, indent: int, next_indent: int | None) -> bool:
    """May an origin marker go at the end of this line without changing the YAML?"""
    if not scan.output or st.capture_depth or st.yaml_quote or st.jinja:
        return False
    stripped = text.rstrip()
    if stripped.endswith(("%}", "#}")) or not _output_outside_tags(stripped):
        return False  # trim_blocks would have joined this line to the next one
    if scan.last == "value" and next_indent is not None and next_indent > indent:
        return False  # a plain scalar may continue on the next line
    return True


def _next_content_indents(lines: list[str]) -> list[int | None]:
    """For each line, the indent of the next line that carries YAML text."""
    result: list[int | None] = [None] * len(lines)
    upcoming: int | None = None
    for index in range(len(lines) - 1, -1, -1):
        result[index] = upcoming
        line = lines[index]
        head = line.lstrip()[:2]
        if not head:
            continue
        statement = head in _MARKS and _STATEMENT.fullmatch(line)
        if not statement and not (head == "##" and _WHOLE_COMMENT.fullmatch(line)):
            upcoming = _indent(line)
    return result


def _statement(marker: str, body: str, st: _State) -> str:
    word = body.strip()
    if marker in ("--", "<<", ">>"):
        if _BLOCK_SET.fullmatch(word):
            st.capture_depth += 1
        elif word == "endset" and st.capture_depth:
            st.capture_depth -= 1
    if marker == "--":
        return "{% " + body + " %}"
    if marker == "<<":
        return "{%- " + body + " %}"
    if marker == ">>":
        return "{% " + body + " -%}"
    if marker == "==":
        return "{{ " + body + " }}"
    # Forgather's spelling: the filter binds to the expression's last term, as there.
    return "{{ " + body + "|trim('\\n')}}"


_numbered: dict[int, tuple[Mapping[str, str], int, dict[int, str]]] = {}


def _by_number(files: Mapping[str, str]) -> dict[int, str]:
    """`files` keyed by the number a marker carries; kept while `files` does not grow
    (an environment's table only ever gains entries). The table itself is held, so
    its id cannot be reused by another while cached."""
    cached = _numbered.get(id(files))
    if cached is None or cached[0] is not files or cached[1] != len(files):
        if len(_numbered) > 64:
            _numbered.clear()
        cached = _numbered[id(files)] = (files, len(files), {int(key, 16): path for key, path in files.items()})
    return cached[2]


def strip_markers(text: str, files: Mapping[str, str]) -> tuple[str, list[tuple[str, int] | None]]:
    """Remove origin markers; return the clean text and each line's origin.

    A line without a marker (block scalar content, the inner lines of a
    multi-line value) is placed after the nearest marked line above it.
    """
    if _START not in text:
        return text, [None] * (text.count("\n") + 1)
    by_number = _by_number(files)
    clean: list[str] = []
    origins: list[tuple[str, int] | None] = []
    last: tuple[str, int] | None = None
    delta = 0
    for line in text.split("\n"):
        match = _MARK.search(line)
        if match:
            key, number = _read_marker(match)
            last = (by_number[key], number)
            delta = 0
            origins.append(last)
            line = _MARK.sub("", line)
        else:
            delta += 1
            origins.append((last[0], last[1] + delta) if last else None)
        clean.append(line)
    return "\n".join(clean), origins
