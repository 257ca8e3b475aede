"""A small part of the template language, rendered without Jinja, for `fgtui ls`.

Listing a tree reads every project's `meta.yaml` and every config's name and
description. Through Jinja that costs its import and the compilation of every
template involved (lex, parse, generate Python, `compile`): most of a cold
`ls`. The templates `ls` reads are mostly small and plain (paths joined,
strings set, blocks overridden), so this module reads them directly: it
translates the line syntax with `sugar.preprocess` (Forgather's rules, as for
Jinja), splits the text into tags as Jinja's lexer does (trim_blocks,
`-` and `+` whitespace control, the source's last newline dropped), parses
the statements into a tree and evaluates a subset:

* text, `{{ expr }}`, comments;
* `extends`, `block` (`super()`), `include`, `set` (a name or a namespace
  attribute), `filter trim`;
* expressions: literals, names, attributes and items, calls of the template
  globals and `namespace()`, `~`, `+`, the `default` and `trim` filters.

Anything else — an `if`, a loop, a macro, an undefined name, a template not
found — raises `NotStatic` before any output is used, and the caller renders
with Jinja, which gives the true result or the true error. The tree is also
what `engine/project/quick_listing.py` walks to read a config's title without
rendering it.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re

from fgtui.engine.config.split import InlineTemplate, read_template_file, split_templates
from fgtui.engine.config.sugar import preprocess

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing `typing` (`fgtui ls` does not need it)
if TYPE_CHECKING:
    from typing import Any, Callable


class NotStatic(Exception):
    """This template needs Jinja (the message says why)."""


# -- tags -----------------------------------------------------------------------

_STRING = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", re.S)
_QUOTED = r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*\""""
# One tag: its kind, the whitespace control at each end, and its body (strings skipped whole).
# The body's alternatives start with distinct characters, so its longest match is the only
# one that can end the tag: the quantifiers are possessive (`++`, `*+`), or a tag that is
# not closed (`{{ a b c ...`) would be retried in exponentially many ways.
_TAG = re.compile(
    r"\{#(?P<c1>[-+]?)(?P<comment>.*?)(?P<c2>[-+]?)#\}"
    rf"|\{{\{{(?P<v1>[-+]?)(?P<var>(?:[^}}'\"-]++|-(?!\}}\}})|\}}(?!\}})|{_QUOTED})*+)(?P<v2>-?)\}}\}}"
    rf"|\{{%(?P<b1>[-+]?)(?P<block>(?:[^%'\"+-]++|[-+](?!%\}})|%(?!\}})|{_QUOTED})*+)(?P<b2>[-+]?)%\}}",
    re.S,
)
_OPENERS = re.compile(r"[(\[{]")
_NOT_BRACKETS = re.compile(r"[^()\[\]{}]+")


def tags(source: str) -> list[tuple[str, str, int]]:
    """Jinja's lexing of the default delimiters with trim_blocks on, lstrip_blocks off,
    as (kind, body, line) tuples: kind "text", "var" or "block"; line that of the tag's
    start in the template text (the file's line: sugar keeps them), 0 for text.
    Comments leave no tuple (tuples, not objects: a cold `fgtui ls` lexes ~90 templates)."""
    if source.endswith("\n"):  # keep_trailing_newline=False
        source = source[:-1]
    out: list[tuple[str, str, int]] = []
    append = out.append
    pos = 0
    line, counted = 1, 0
    strip_next = trim_next = False
    for match in _TAG.finditer(source):
        c1, comment, c2, v1, var, v2, b1, block, b2 = match.groups()
        start = match.start()
        text = source[pos:start]
        if strip_next:
            text = text.lstrip()
        elif trim_next and text[:1] == "\n":
            text = text[1:]
        if c1 == "-" or v1 == "-" or b1 == "-":
            text = text.rstrip()
        if text:
            append(("text", text, 0))
        if comment is not None:
            after = c2
        else:
            line += source.count("\n", counted, start)
            counted = start
            if var is not None:
                body, kind, after = var, "var", v2
            else:
                body, kind, after = block, "block", b2
            if _OPENERS.search(body) and not _balanced(body):
                raise NotStatic("a tag whose brackets Jinja would balance across its end")
            append((kind, body.strip(), line))
        strip_next = after == "-"
        trim_next = var is None and after != "+"  # trim_blocks: not after {{ }}
        pos = match.end()
    text = source[pos:]
    if strip_next:
        text = text.lstrip()
    elif trim_next and text[:1] == "\n":
        text = text[1:]
    if "{{" in text or "{%" in text or "{#" in text:
        raise NotStatic("a tag is not closed")
    if text:
        append(("text", text, 0))
    return out


def _balanced(body: str) -> bool:
    depth = 0
    for c in _NOT_BRACKETS.sub("", _STRING.sub("", body)):
        if c in "([{":
            depth += 1
        else:
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


# -- expressions ---------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
    r"|(?P<number>\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z_0-9]*)"
    r"|(?P<op>==|!=|<=|>=|//|\*\*|[-+~|.,()\[\]{}:=*/%<>]))",
    re.S,
)


def _lex(text: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    pos, n = 0, len(text)
    while pos < n:
        match = _TOKEN.match(text, pos)
        if match is None:
            if text[pos:].strip():
                raise NotStatic(f"cannot read {text[pos:]!r}")
            break
        pos = match.end()
        kind = match.lastgroup
        value = match[kind]
        if kind == "string":
            try:  # as Jinja's lexer reads a string literal
                value = value[1:-1].encode("ascii", "backslashreplace").decode("unicode-escape")
            except UnicodeDecodeError:
                raise NotStatic("a string with a bad escape") from None
            out.append(("string", value))
        elif kind == "number":
            value = value.replace("_", "")
            out.append(("const", float(value) if any(c in value for c in ".eE") else int(value)))
        elif kind == "name":
            out.append(("name", value))
        else:
            out.append(("op", value))
    return out


_CONSTANTS = {"true": True, "True": True, "false": False, "False": False, "none": None, "None": None}
_UNSUPPORTED_WORDS = frozenset({"if", "else", "and", "or", "not", "in", "is"})


_exprs: dict[str, "Expr"] = {}


def parse_expression(text: str) -> "Expr":
    """`Expr(text)`, parsed once per process (templates repeat the same expressions)."""
    found = _exprs.get(text)
    if found is None:
        found = _exprs[text] = Expr(text)
    return found


# The two shapes most expressions a listing reads have (of ~370 in Forgather's examples,
# ~200 a string literal, ~40 a name with attributes), read as `Expr` would read them
# without its lexer and parser: a string without escapes (its text is its value), and
# names joined by dots whose first is not a constant or a keyword.
_PLAIN_STRING = re.compile(r"\s*(?:'([^'\\]*)'|\"([^\"\\]*)\")\s*")
_DOTTED = re.compile(r"\s*[A-Za-z_][A-Za-z_0-9]*(?:\s*\.\s*[A-Za-z_][A-Za-z_0-9]*)*\s*")


def _quick_tree(text: str):
    match = _PLAIN_STRING.fullmatch(text)
    if match is not None:
        return ("const", match[1] if match[1] is not None else match[2])
    if _DOTTED.fullmatch(text) is None:
        return None
    first, *attributes = (part.strip() for part in text.split("."))
    if first in _CONSTANTS or first in _UNSUPPORTED_WORDS:
        return None
    tree = ("name", first)
    for attribute in attributes:
        tree = ("attr", tree, attribute)
    return tree


class Expr:
    """A parsed expression: a tree of tuples, evaluated by `Evaluator.value`."""

    def __init__(self, text: str) -> None:
        self.text = text
        quick = _quick_tree(text)
        if quick is not None:
            self.tree = quick
            return
        self._tokens = _lex(text)
        self._i = 0
        self.tree = self._math()
        if self._i != len(self._tokens):
            raise NotStatic(f"cannot read {text!r}")

    def _peek(self) -> tuple[str, Any] | None:
        return self._tokens[self._i] if self._i < len(self._tokens) else None

    def _take(self, kind: str, value: Any = None) -> Any:
        token = self._peek()
        if token is None or token[0] != kind or (value is not None and token[1] != value):
            raise NotStatic(f"cannot read {self.text!r}")
        self._i += 1
        return token[1]

    def _is(self, kind: str, value: Any) -> bool:
        token = self._peek()
        return token is not None and token == (kind, value)

    def _math(self):  # + binds less tightly than ~ in Jinja
        left = self._concat()
        while self._is("op", "+"):
            self._i += 1
            left = ("add", left, self._concat())
        token = self._peek()
        if token is not None and (token[0] == "op" and token[1] not in ("~", ")", "]", ",", "}", ":", "=")):
            raise NotStatic(f"operator {token[1]!r}")
        return left

    def _concat(self):
        left = self._postfix()
        while self._is("op", "~"):
            self._i += 1
            left = ("concat", left, self._postfix())
        return left

    def _postfix(self):
        node = self._primary()
        while True:
            if self._is("op", "."):
                self._i += 1
                node = ("attr", node, self._take("name"))
            elif self._is("op", "["):
                self._i += 1
                node = ("item", node, self._math())
                self._take("op", "]")
            elif self._is("op", "("):
                node = ("call", node, *self._arguments())
            elif self._is("op", "|"):
                self._i += 1
                name = self._take("name")
                args, kwargs = self._arguments() if self._is("op", "(") else ([], {})
                node = ("filter", name, node, args, kwargs)
            else:
                return node

    def _arguments(self) -> tuple[list, dict]:
        self._take("op", "(")
        args: list = []
        kwargs: dict = {}
        while not self._is("op", ")"):
            token = self._peek()
            nxt = self._tokens[self._i + 1] if self._i + 1 < len(self._tokens) else None
            if token is not None and token[0] == "name" and nxt == ("op", "="):
                self._i += 2
                kwargs[token[1]] = self._math()
            else:
                if kwargs:
                    raise NotStatic("a positional argument after a keyword")
                args.append(self._math())
            if not self._is("op", ")"):
                self._take("op", ",")
        self._i += 1
        return args, kwargs

    def _primary(self):
        token = self._peek()
        if token is None:
            raise NotStatic(f"cannot read {self.text!r}")
        self._i += 1
        kind, value = token
        if kind == "string":
            while self._peek() is not None and self._peek()[0] == "string":  # "a" "b" is "ab"
                value += self._take("string")
            return ("const", value)
        if kind == "const":
            return ("const", value)
        if kind == "name":
            if value in _CONSTANTS:
                return ("const", _CONSTANTS[value])
            if value in _UNSUPPORTED_WORDS:
                raise NotStatic(f"`{value}`")
            return ("name", value)
        if (kind, value) == ("op", "-") and self._peek() is not None and self._peek()[0] == "const":
            return ("const", -self._take("const"))
        if (kind, value) == ("op", "("):
            inner = self._math()
            self._take("op", ")")
            return inner
        if (kind, value) == ("op", "["):
            items = []
            while not self._is("op", "]"):
                items.append(self._math())
                if not self._is("op", "]"):
                    self._take("op", ",")
            self._i += 1
            return ("list", items)
        raise NotStatic(f"cannot read {self.text!r}")

    def names(self) -> set[str]:
        """The variable names the expression reads."""
        found: set[str] = set()

        def walk(node) -> None:
            if isinstance(node, tuple):
                if node[0] == "name":
                    found.add(node[1])
                for part in node[1:]:
                    walk(part)
            elif isinstance(node, (list, dict)):
                for part in node.values() if isinstance(node, dict) else node:
                    walk(part)

        walk(self.tree)
        return found


class Namespace:
    """`namespace()`: attributes that `set ns.x = ...` may change from any scope."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.attrs: dict[str, Any] = {}
        for arg in args:
            self.attrs.update(arg)
        self.attrs.update(kwargs)

    def missing(self, name: str) -> Any:
        return _Undefined(f"namespace attribute {name!r}")


class _Undefined:
    def __init__(self, what: str) -> None:
        self.what = what


class Unknown:
    """A value a reader chose not to compute (quick_listing's walk): using it is NotStatic."""


UNKNOWN = Unknown()


_TRIM = lambda value, chars=None: str(value).strip(chars)  # noqa: E731 - Jinja's trim


class Evaluator:
    """Values of expressions over variables; `callables` are the functions a
    template may call (the template globals, by identity), `filters` the
    environment's own filters (`toyaml`) besides `default` and `trim`."""

    def __init__(self, callables: set[int], filters: dict[str, Callable[..., Any]] | None = None) -> None:
        self.callables = callables
        self.filters = filters or {}

    def value(self, node, scope: Callable[[str], Any]) -> Any:
        result = self._eval(node, scope)
        if isinstance(result, _Undefined):
            raise NotStatic(f"{result.what} is undefined")
        if result is UNKNOWN:
            raise NotStatic("a value not known without rendering")
        return result

    def _eval(self, node, scope):
        kind = node[0]
        if kind == "const":
            return node[1]
        if kind == "name":
            return scope(node[1])
        if kind == "list":
            return [self.value(item, scope) for item in node[1]]
        if kind == "attr":
            return _attribute(self._eval(node[1], scope), node[2])
        if kind == "item":
            return _attribute(self._eval(node[1], scope), self.value(node[2], scope))
        if kind == "concat":
            return _text(self.value(node[1], scope)) + _text(self.value(node[2], scope))
        if kind == "add":
            left, right = self.value(node[1], scope), self.value(node[2], scope)
            if type(left) is not type(right) or not isinstance(left, (str, int, float)):
                raise NotStatic("`+` of mixed values")
            return left + right
        if kind == "filter":
            name, operand, args, kwargs = node[1:]
            value = self._eval(operand, scope)
            if value is UNKNOWN:
                raise NotStatic("a value not known without rendering")
            if name == "default" and not kwargs and len(args) <= 1:
                return (self.value(args[0], scope) if args else "") if isinstance(value, _Undefined) else value
            if name == "trim" and not kwargs and len(args) <= 1:
                return _TRIM(self.value(("const", value), scope), *[self.value(a, scope) for a in args])
            if name == "toyaml" and name in self.filters and not kwargs and len(args) <= 1:
                if isinstance(value, _Undefined):  # toyaml(value, default): the default stands in
                    if not args:
                        raise NotStatic(f"{value.what} is undefined")
                    value, args = self.value(args[0], scope), []
                return self.filters[name](value)
            raise NotStatic(f"the filter {name!r}")
        if kind == "call":
            function = self.value(node[1], scope)
            args = [self.value(a, scope) for a in node[2]]
            kwargs = {k: self.value(v, scope) for k, v in node[3].items()}
            if function is Namespace:
                return Namespace(*args, **kwargs)
            if id(function) not in self.callables:
                raise NotStatic("a call of something not a template global")
            try:
                return function(*args, **kwargs)
            except Exception as error:  # noqa: BLE001 - Jinja reports it, with its location
                raise NotStatic(f"a call failed: {error}") from None
        raise NotStatic(f"expression {kind}")


def _attribute(obj: Any, name: Any) -> Any:
    if obj is UNKNOWN:
        raise NotStatic("a value not known without rendering")
    if isinstance(obj, _Undefined):
        return _Undefined(f"{obj.what}.{name}")
    if isinstance(name, str) and name.startswith("_"):
        raise NotStatic("a private attribute")
    if isinstance(obj, Namespace):
        return obj.attrs[name] if name in obj.attrs else obj.missing(name)
    if isinstance(obj, (dict, list, tuple, str)) or hasattr(obj, "__getitem__"):
        if isinstance(obj, dict) or not isinstance(obj, (list, tuple, str)):
            try:
                if not hasattr(obj, str(name)):  # Jinja tries the attribute first
                    return obj[name]
            except (KeyError, TypeError, IndexError):
                return _Undefined(f"item {name!r}")
        raise NotStatic("an attribute of a plain value")
    raise NotStatic("an attribute of an object")


def _text(value: Any) -> str:
    if isinstance(value, Namespace):
        raise NotStatic("a namespace printed")
    return str(value)


# -- statements ---------------------------------------------------------------

# Statements with a body, and the tags that end (or split) it.
_BODY_ENDS = {
    "block": ("endblock",),
    "filter": ("endfilter",),
    "if": ("endif",),
    "for": ("endfor",),
    "macro": ("endmacro",),
    "call": ("endcall",),
    "with": ("endwith",),
    "autoescape": ("endautoescape",),
    "raw": ("endraw",),
    "trans": ("endtrans",),
}
_SPLITTERS = frozenset({"elif", "else", "pluralize"})
_WORD = re.compile(r"\s*([A-Za-z_]\w*)")
_SET_TARGET = re.compile(r"\s*([A-Za-z_]\w*)(?:\s*\.\s*([A-Za-z_]\w*))?\s*=(?!=)")


# Plain classes, not dataclasses: `fgtui ls` imports this module, and
# `dataclasses` (with `inspect`) costs a cold listing a tenth of its run.
class Node:
    """One statement, text or output: `kind` is "text", "var" or a statement keyword;
    `args` the rest of the tag; `body` the nodes inside a statement with a body."""

    __slots__ = ("kind", "args", "body", "line", "_expr", "memo")

    def __init__(self, kind: str, args: str = "", body: list[Node] | None = None, line: int = 0) -> None:
        self.kind, self.args, self.line = kind, args, line
        self.body: list[Node] = [] if body is None else body
        self._expr: Expr | None = None
        self.memo: dict = {}  # what readers derive from it, once

    def __repr__(self) -> str:
        return f"Node({self.kind!r}, {self.args!r}, body={self.body!r}, line={self.line!r})"

    @property
    def is_super(self) -> bool:
        """`{{ super() }}`."""
        return self.kind == "var" and self.args.replace(" ", "") == "super()"

    def target(self) -> tuple[str, str | None, str]:
        """`set_target` of a `set`, parsed once."""
        found = self.memo.get("target")
        if found is None:
            found = self.memo["target"] = set_target(self)
        return found

    def expr(self, text: str | None = None) -> Expr:
        if text is not None:
            return parse_expression(text)
        if self._expr is None:
            self._expr = parse_expression(self.args)
        return self._expr

    def walk(self):
        """This node and every node inside it, depth first."""
        yield self
        for child in self.body:
            yield from child.walk()


def parse(tag_list: list[tuple[str, str, int]]) -> list[Node]:
    """The statement tree of a template's tags (`tags`)."""
    root: list[Node] = []
    stack: list[tuple[Node | None, list[Node], tuple[str, ...]]] = [(None, root, ())]
    for kind, text, line in tag_list:
        body = stack[-1][1]
        if kind == "text":
            body.append(Node("text", text))
            continue
        if kind == "var":
            body.append(Node("var", text, None, line))
            continue
        match = _WORD.match(text)
        if match is None:
            raise NotStatic(f"a tag without a keyword: {text!r}")
        word, args = match[1], text[match.end() :].strip()
        if word in stack[-1][2]:
            stack.pop()
            continue
        if word in _SPLITTERS and stack[-1][0] is not None:
            stack[-1][1].append(Node(word, args))  # else/elif inside its statement: kept as a marker
            continue
        if word == "set" and _SET_TARGET.match(args) is None:
            node = Node("setblock", args)
            body.append(node)
            stack.append((node, node.body, ("endset",)))
            continue
        node = Node(word, args, None, line)
        body.append(node)
        if word in _BODY_ENDS:
            stack.append((node, node.body, _BODY_ENDS[word]))
        elif word.startswith("end"):
            raise NotStatic(f"an unexpected {word}")
    if len(stack) != 1:
        raise NotStatic(f"{stack[-1][0].kind} is not closed")
    return root


def block_name(node: Node) -> str:
    words = node.args.split()
    if not words:
        raise NotStatic("a block without a name")
    return words[0]


def set_target(node: Node) -> tuple[str, str | None, str]:
    """(name, attribute or None, value expression) of `set name[.attr] = value`."""
    match = _SET_TARGET.match(node.args)
    if match is None:
        raise NotStatic(f"set {node.args!r}")
    return match[1], match[2], node.args[match.end() :]


# -- templates ------------------------------------------------------------------


class Template:
    """A template's tree, its inline templates, the blocks it defines and its parent.
    Readers keep what they derive from it as attributes (it is shared, parsed once)."""

    def __init__(
        self,
        name: str,
        file: str,
        nodes: list[Node],
        parts: list[InlineTemplate],
        blocks: dict[str, Node],
        extends: Node | None,
    ) -> None:
        self.name, self.file, self.nodes, self.parts = name, file, nodes, parts
        self.blocks, self.extends = blocks, extends

    def __repr__(self) -> str:
        return f"Template({self.name!r}, {self.file!r})"


_parsed: dict[tuple[str, str | None, int, int], Template] = {}


def load_template(name: str, file: str, part: InlineTemplate | None = None, files: FileFacts | None = None) -> Template:
    """The parsed template of `file` (or of its inline template `part`), shared by
    every render of the process while the file keeps its (mtime, size)."""
    key = (file, part.name if part else None, *(files or FileFacts()).stamp(file))
    found = _parsed.get(key)
    if found is not None:
        return found
    main, parts = (files or FileFacts()).split(file)
    text = preprocess(part.text, None, part.first_line) if part else preprocess(main, None, 1)
    nodes = parse(tags(text))
    blocks: dict[str, Node] = {}
    extends: Node | None = None
    for node in nodes:
        for inner in node.walk():
            if inner.kind == "block":
                blocks.setdefault(block_name(inner), inner)
    for node in nodes:
        if node.kind == "extends":
            if extends is not None:
                raise NotStatic("two extends")
            extends = node
    found = _parsed[key] = Template(name, file, nodes, [] if part else parts, blocks, extends)
    return found


class FileFacts:
    """What the file system said, taken once: where a name lies on a search path, a
    path's real path, a file's (mtime, size) and text. The projects of one listing look up
    the same library templates; `shared_files()` lets them share one FileFacts
    while the listing runs. Elsewhere each render asks afresh (a long-lived process
    sees files change)."""

    def __init__(self) -> None:
        self.found: dict[tuple[tuple[str, ...], str], str | None] = {}
        self.real: dict[str, str] = {}
        self.stamps: dict[str, tuple[int, int]] = {}
        self.texts: dict[str, tuple[str, list[InlineTemplate]]] = {}
        self.extra: dict = {}  # what readers derive from the files (an index of inline templates)

    def split(self, file: str) -> tuple[str, list[InlineTemplate]]:
        """A template file's own text and inline templates (`split_templates`), read
        once: a file with inline templates is parsed once per template it holds."""
        found = self.texts.get(file)
        if found is None:
            found = self.texts[file] = split_templates(read_template_file(file))
        return found

    def stamp(self, file: str) -> tuple[int, int]:
        found = self.stamps.get(file)
        if found is None:
            try:
                st = os.stat(file)
            except OSError as error:
                raise NotStatic(f"cannot read {file}") from error
            found = self.stamps[file] = (st.st_mtime_ns, st.st_size)
        return found

    def realpath(self, path: str) -> str:
        """os.path.realpath, with each directory's real path looked up once: the
        templates of a library share their directories (os.path.realpath would
        lstat every component of every file's path)."""
        found = self.real.get(path)
        if found is None:
            head, tail = os.path.split(path)
            if not head or tail in ("", ".", "..") or os.path.islink(path):
                found = os.path.realpath(path)
            else:
                found = os.path.join(self.realpath(head), tail)
            self.real[path] = found
        return found


_shared: contextvars.ContextVar[FileFacts | None] = contextvars.ContextVar("fgtui_static_files", default=None)


@contextlib.contextmanager
def shared_files():
    """Renders inside share one FileFacts (taken to stay put meanwhile)."""
    token = _shared.set(FileFacts())
    try:
        yield
    finally:
        _shared.reset(token)


def current_files() -> FileFacts:
    return _shared.get() or FileFacts()


class Missing(NotStatic):
    """No template of this name: Jinja fails where it is loaded (`FgError` from there)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"template {name!r} not found")
        self.name = name


class Loader:
    """Finds templates by name as the environment does within one render: an inline
    template registered by a file loaded earlier (the last registration wins), else
    a file on the search path (or an absolute path), else, given the search path's
    `index` (an InlineIndex), the one inline template of that name anywhere on it."""

    def __init__(self, searchpath: list[str], index=None) -> None:
        self.searchpath = [os.path.abspath(p) for p in searchpath if os.path.isdir(p)]
        self._key = tuple(self.searchpath)
        self.facts = current_files()
        self.index = index
        self.registered: dict[str, tuple[str, InlineTemplate]] = {}
        self.twice: set[str] = set()  # registered by two files: which one is used depends on load order
        self.loaded: set[str] = set()
        self.files: list[str] = []  # files read, in order

    def find_file(self, name: str) -> str | None:
        key = (self._key, name)
        if key in self.facts.found:
            return self.facts.found[key]
        found = None
        if os.path.isabs(name):
            found = name if os.path.isfile(name) else None
        else:
            for root in self.searchpath:
                path = os.path.join(root, name)
                if os.path.isfile(path):
                    found = path
                    break
        self.facts.found[key] = found
        return found

    def locate(self, name: Any) -> tuple[str, InlineTemplate | None]:
        """(real file, inline template or None) for a template name; Missing if none."""
        if not isinstance(name, str):
            raise NotStatic("a template name that is not a string")
        if name in self.twice:
            raise NotStatic(f"inline template {name!r} is defined by two loaded files")
        if name in self.registered:
            return self.registered[name]
        path = self.find_file(name)
        if path is not None:
            return self.facts.realpath(path), None
        if self.index is not None:
            found = self.index.lookup(name)  # an FgError when two files define it, as in Jinja
            if found is not None:
                return found
        raise Missing(name)

    def load(self, name: Any) -> Template:
        real, part = self.locate(name)
        if part is not None:
            return load_template(name, real, part, self.facts)
        template = load_template(name, real, files=self.facts)
        self.register(real, template.parts)
        return template

    def register(self, real: str, parts: list[InlineTemplate]) -> None:
        """A file is loaded: its inline templates are found by name from now on."""
        if real in self.loaded:
            return
        self.loaded.add(real)
        self.files.append(real)
        for part in parts:
            if part.name in self.registered and self.registered[part.name][0] != real:
                self.twice.add(part.name)
            self.registered[part.name] = (real, part)


# -- rendering -------------------------------------------------------------------


class _Scope:
    """Variables: a render's context, and the locals of a block or template body."""

    def __init__(self, names: dict[str, Any], parent: "_Scope | None" = None) -> None:
        self.names, self.parent = names, parent

    def __call__(self, name: str) -> Any:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.names:
                return scope.names[name]
            scope = scope.parent
        return _Undefined(f"{name!r}")

    def flat(self) -> dict[str, Any]:
        merged = self.parent.flat() if self.parent is not None else {}
        merged.update(self.names)
        return merged


class StaticRenderer:
    """Renders the supported subset to text, or raises NotStatic."""

    def __init__(
        self, searchpath: list[str], variables: dict[str, Any], filters: dict[str, Callable[..., Any]] | None = None
    ) -> None:
        self.loader = Loader(searchpath)
        self.variables = {**variables, "namespace": Namespace}
        self.evaluator = Evaluator({id(v) for v in variables.values() if callable(v)}, filters)

    def render(self, name: str) -> str:
        return self._render_template(self.loader.load(name), _Scope(dict(self.variables)))

    def _render_template(self, template: Template, context: _Scope) -> str:
        chain = [template]
        while chain[-1].extends is not None:
            for node in chain[-1].nodes:  # a child's statements run before its parent renders
                if node.kind == "extends":
                    break
                if node.kind == "text" and not node.args.strip():
                    continue
                raise NotStatic("text or statements before extends")
            self._child_top_level(chain[-1], context)
            parent_name = self.evaluator.value(chain[-1].extends.expr().tree, context)
            chain.append(self.loader.load(parent_name))
            if len(chain) > 50:
                raise NotStatic("an extends cycle")
        blocks: dict[str, list[Template]] = {}
        for member in chain:
            for name in member.blocks:
                blocks.setdefault(name, []).append(member)
        return self._body(chain[-1].nodes, context, blocks)

    def _child_top_level(self, template: Template, context: _Scope) -> None:
        for node in template.nodes:
            if node.kind in ("text", "block", "extends"):
                continue
            if node.kind == "set":
                self._set(node, context, context)
                continue
            raise NotStatic(f"`{node.kind}` at the top of a template that extends another")

    def _body(self, nodes: list[Node], scope: _Scope, blocks: dict[str, list[Template]]) -> str:
        out: list[str] = []
        for node in nodes:
            kind = node.kind
            if kind == "text":
                out.append(node.args)
            elif kind == "var":
                out.append(self._output(node, scope, blocks))
            elif kind == "set":
                self._set(node, scope, scope)
            elif kind == "block":
                out.append(self._block(block_name(node), 0, scope, blocks))
            elif kind == "include":
                out.append(self._include(node, scope))
            elif kind == "filter":
                out.append(self._filter(node, scope, blocks))
            elif kind == "extends":
                continue  # handled by _render_template
            else:
                raise NotStatic(f"the statement `{kind}`")
        return "".join(out)

    def _output(self, node: Node, scope: _Scope, blocks) -> str:
        tree = node.expr().tree
        if tree == ("call", ("name", "super"), [], {}):
            current = getattr(scope, "block", None)
            if current is None:
                raise NotStatic("super() outside a block")
            return self._block(current[0], current[1] + 1, scope.parent, blocks)
        return _text(self.evaluator.value(tree, scope))

    def _block(self, name: str, depth: int, context: _Scope, blocks: dict[str, list[Template]]) -> str:
        owners = blocks.get(name, [])
        if depth >= len(owners):
            raise NotStatic(f"super() of block {name!r} without a parent block")
        node = owners[depth].blocks[name]
        if "required" in node.args.split()[1:]:
            raise NotStatic(f"required block {name!r} rendered")  # Jinja's error, not ours
        # A block's own `set`s are local to it; namespace attributes are shared objects.
        while context.parent is not None and getattr(context, "block", None) is not None:
            context = context.parent
        local = _Scope({}, context)
        local.block = (name, depth)
        return self._body(node.body, local, blocks)

    def _include(self, node: Node, scope: _Scope) -> str:
        words = node.args
        ignore_missing = False
        for suffix in (" without context", " with context"):
            if words.endswith(suffix):
                if suffix == " without context":
                    raise NotStatic("include without context")
                words = words[: -len(suffix)]
        if words.endswith(" ignore missing"):
            ignore_missing, words = True, words[: -len(" ignore missing")]
        name = self.evaluator.value(node.expr(words).tree, scope)
        if ignore_missing and name not in self.loader.registered and self.loader.find_file(name) is None:
            return ""
        template = self.loader.load(name)
        return self._render_template(template, _Scope(scope.flat()))

    def _filter(self, node: Node, scope: _Scope, blocks) -> str:
        text = self._body(node.body, scope, blocks)
        call = node.expr().tree
        name, args = (call[1][1], call[2]) if call[0] == "call" and call[1][0] == "name" else (None, None)
        if call[0] == "name":
            name, args = call[1], []
        if name != "trim" or len(args) > 1:
            raise NotStatic(f"filter {node.args!r}")
        return _TRIM(text, *[self.evaluator.value(a, scope) for a in args])

    def _set(self, node: Node, scope: _Scope, target_scope: _Scope) -> None:
        name, attribute, expression = set_target(node)
        value = self.evaluator.value(node.expr(expression).tree, scope)
        if attribute is None:
            target_scope.names[name] = value
            return
        owner = scope(name)
        if not isinstance(owner, Namespace):
            raise NotStatic(f"set {name}.{attribute} on something not a namespace")
        owner.attrs[attribute] = value
