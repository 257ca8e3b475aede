"""A config's name, description and class for `fgtui ls`, read without rendering it.

`ls` shows three values of each config's `meta` target. Rendering the config
for them compiles every template it pulls in, which is most of what a cold
`ls -r` costs. Here the config's `extends` chain is parsed
(config/static_render.py) and walked in the order Jinja would run it,
following only what can change the namespace the `meta` lines print (`ns`):
the `set ns.x = ...` statements of its blocks, resolved as Jinja resolves
blocks (`super()` included), evaluated where their values are plain. A
statement the walk does not run (an `if`, a loop, an included template)
makes unknown every attribute it, or any template it may include, could set
(read from their text). A value still unknown when `meta` is printed, a
`meta` target that is not `key: "{{ ns.x }}"` or literal lines, anything
outside the supported subset: `NotStatic`, and the caller renders the config.

What this does not do is check the rest of the config. One that would fail
to render elsewhere lists with its name here, except for a template it
certainly includes and that does not exist, which is the error Jinja would
report there (unless an earlier line fails first); `pp`, and `ls --check`,
which renders every config, show any other.
"""

from __future__ import annotations

import re

from fgtui.engine.config.split import InlineTemplate
from fgtui.engine.config.static_render import (
    UNKNOWN,
    Evaluator,
    FileFacts,
    Loader,
    Missing,
    Namespace,
    Node,
    NotStatic,
    Template,
    Unknown,
    block_name,
    parse_expression,
)
from fgtui.engine.errors import FgError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing `typing` (`fgtui ls` does not need it)
if TYPE_CHECKING:
    from typing import Any

META_KEYS = ("config_name", "config_description", "config_class")
_META_LINE = re.compile(r"(?:^|\n)meta:")
_KEY_LINE = re.compile(r"(\s+)(config_name|config_description|config_class):(.*)")
_PLACEHOLDER = re.compile(r"\x00(\d+)\x00")
# Statements the walk does not run: their bodies may run any number of times, or not at all.
_OPAQUE = frozenset({"if", "for", "with", "call", "setblock", "autoescape"})
_SKIPPED = frozenset({"macro", "extends", "import", "from"})  # run nothing where they stand
_LOAD_SUFFIXES = (" without context", " with context", " ignore missing")


def read_meta(
    searchpath: list[str], globals_: dict[str, Any], filters: dict[str, Any], name: str
) -> tuple[dict[str, Any], list[str]]:
    """The values of META_KEYS the config's `meta` target holds, and the template
    files read; NotStatic when they cannot be read without rendering, FgError for
    a template it certainly includes that does not exist."""
    loader = Loader(searchpath)
    key = ("inline index", tuple(loader.searchpath))
    loader.index = loader.facts.extra.get(key) or loader.facts.extra.setdefault(key, _LazyIndex(searchpath))
    template = loader.load(name)
    walk = _Walk(loader, {**globals_, "namespace": Namespace}, filters, _namespace_variable(loader, template))
    return walk.run(template), list(loader.files)


class _LazyIndex:
    """The search path's inline templates, indexed only if a name needs them."""

    def __init__(self, searchpath: list[str]) -> None:
        self.searchpath, self.index = searchpath, None

    def lookup(self, name: str):
        if self.index is None:
            from fgtui.engine.config.index import InlineIndex

            self.index = InlineIndex(self.searchpath)
            self.index.refresh()
        return self.index.lookup(name)


class _History:
    """The namespace's attributes through the walk, evaluated only when read.

    Most `set ns.x` a config runs (paths, sizes) never matter to its `meta`
    lines, so each is recorded with the walk's step number and its expression,
    and evaluated when something reads it, against the attributes as they were
    at that step."""

    def __init__(self, walk: "_Walk") -> None:
        self.walk = walk
        self.entries: dict[str, list[tuple[int, Any]]] = {}  # attribute -> [(step, value or _Pending)]
        self.everything: list[int] = []  # steps at which a template not named may have set anything

    def record(self, step: int, attribute: str, value: Any) -> None:
        self.entries.setdefault(attribute, []).append((step, value))

    def read(self, attribute: str, step: int) -> Any:
        """The attribute as a statement at `step` sees it."""
        found: tuple[int, Any] | None = None
        for entry in reversed(self.entries.get(attribute, ())):
            if entry[0] < step:
                found = entry
                break
        since = found[0] if found is not None else -1
        if any(since < event < step for event in self.everything):
            return UNKNOWN
        if found is None:
            return _UNDEFINED_ATTRIBUTE
        value = found[1]
        if isinstance(value, _Pending):
            value = value.resolve(self.walk, found[0])
        return value


class _Pending:
    """A `set ns.x = expr` not evaluated yet."""

    __slots__ = ("tree", "value", "done")

    def __init__(self, tree) -> None:
        self.tree, self.value, self.done = tree, None, False

    def resolve(self, walk: "_Walk", step: int) -> Any:
        if not self.done:
            self.value, self.done = walk.evaluate(self.tree, step), True
        return self.value


class _AsOf(Namespace):
    """The namespace as seen at one step of the walk."""

    def __init__(self, history: _History, step: int) -> None:
        super().__init__()
        self.history, self.step = history, step

    def missing(self, name: str) -> Any:
        found = self.history.read(name, self.step)
        return Namespace.missing(self, name) if found is _UNDEFINED_ATTRIBUTE else found


_UNDEFINED_ATTRIBUTE = object()


# The classes here are plain ones, not dataclasses: `dataclasses` (with `inspect`)
# costs a cold `fgtui ls` a tenth of its run.
class _Effects:
    """What running some statements may do to the caller's namespace and output."""

    __slots__ = ("writes", "everything", "meta")

    def __init__(self, everything: bool = False, meta: bool = False) -> None:
        self.writes: set[str] = set()  # attributes it may set
        self.everything = everything  # a template that cannot be named may run
        self.meta = meta  # it may print a top-level `meta:` of its own

    def add(self, more: "_Effects") -> None:
        self.writes |= more.writes
        self.everything |= more.everything
        self.meta |= more.meta


_ANYTHING = _Effects(everything=True, meta=True)


class _Walk:
    """One config's walk through its chain's blocks, in render order."""

    def __init__(self, loader: Loader, globals_: dict[str, Any], filters: dict[str, Any], variable: str) -> None:
        self.loader = loader
        self.globals = globals_
        self.var = variable
        self.history: _History | None = None  # the namespace's attributes, once bound
        self.step = 0  # statements run so far
        self.evaluator = Evaluator({id(v) for v in globals_.values() if callable(v)}, filters)
        self.meta: dict[str, Any] | None = None
        # The `meta:` mapping while it is printed: its text so far, an output written
        # \0N\0 for values[N]; None before and after it.
        self.collecting: list[str] | None = None
        # Rows of the collected text before this one are whole and do not end the mapping:
        # each text added is checked from the row it continues on.
        self.settled = 1
        self.values: list[tuple[Node, int]] = []  # the outputs, and the step each is printed at
        self.line_start = True  # the output so far ends a line (as far as the walk can tell)
        self.maybe_registered: set[str] = set()  # inline names a template not run may register

    # -- values ------------------------------------------------------------

    def evaluate(self, tree, step: int) -> Any:
        """An expression's value as a statement at `step` sees it; UNKNOWN if not plain."""
        history = self.history

        def scope(name: str) -> Any:
            if name == self.var:
                return UNKNOWN if history is None else _AsOf(history, step)
            return self.globals.get(name, UNKNOWN)  # a template variable the walk does not follow

        try:
            return self.evaluator.value(tree, scope)
        except NotStatic:
            return UNKNOWN

    def value(self, text: str, node: Node | None = None) -> Any:
        """The value of an expression (the node's own, parsed once) here, UNKNOWN if not plain."""
        try:
            tree = node.expr().tree if node is not None else parse_expression(text).tree
        except NotStatic:
            return UNKNOWN
        self.step += 1
        return self.evaluate(tree, self.step)

    def _name_of(self, args: str) -> str | None:
        """The template an include or extends names, if its value is known."""
        for suffix in _LOAD_SUFFIXES:
            if args.endswith(suffix):
                args = args[: -len(suffix)]
        name = self.value(args)
        return name if isinstance(name, str) else None

    def _locate(self, name: str) -> tuple[str, InlineTemplate | None]:
        if name in self.maybe_registered and name not in self.loader.registered:
            raise NotStatic(f"{name!r} may be registered by a template the walk does not run")
        return self.loader.locate(name)

    def _load(self, name: str) -> Template:
        self._locate(name)
        return self.loader.load(name)

    # -- the render order ------------------------------------------------------

    def run(self, template: Template) -> dict[str, Any]:
        chain = [template]
        while chain[-1].extends is not None:
            name = self._name_of(chain[-1].extends.args)
            if name is None:
                raise NotStatic("an extends whose template is not known without rendering")
            chain.append(self._load(name))
            if len(chain) > 50:
                raise NotStatic("an extends cycle")
        blocks = _blocks_of(chain)
        for member in chain:
            if _macro_sets_meta_key(member):
                raise NotStatic("a macro sets a meta value")  # it may run wherever it is called
        for member in chain[:-1]:  # a child's top level runs before its parent renders
            for node in member.nodes:
                if node.kind == "set":
                    self._set(node, top_level=False)
                elif node.kind in ("import", "from"):
                    _check_import(node)
                elif node.kind not in ("text", "var", "block", "extends", "macro"):
                    raise NotStatic(f"`{node.kind}` at the top of a template that extends another")
        self._body(chain[-1].nodes, blocks, None, chain[-1], top_level=True)
        if self.collecting is not None:
            self._close_meta("")
        if self.meta is None:
            raise NotStatic("no `meta:` target found")
        return self.meta

    def _body(self, nodes: list[Node], blocks, current, owner: Template, top_level: bool = False) -> None:
        for node in nodes:
            kind = node.kind
            if kind == "text":
                if self.collecting is None and not _has_meta_line(node):
                    if node.args:
                        self.line_start = node.args[-1] == "\n"
                else:
                    self._text(node.args)
            elif kind == "var":
                constant = _constant_text(node)
                if constant is not None:  # `{{'\n'}}`, as the line syntax closes a section: text
                    self._text(constant)
                elif node.is_super:
                    if current is None:
                        raise NotStatic("super() outside a block")
                    self._block(current[0], current[1] + 1, blocks)
                elif self.collecting is None:
                    self.line_start = False
                else:
                    self._output(node)
            elif kind == "set":
                self._set(node, top_level)
            elif kind == "block":
                self._block(node.memo.get("name") or node.memo.setdefault("name", block_name(node)), 0, blocks)
            elif kind == "filter":  # changes output only; its body has a scope of its own
                self._body(node.body, blocks, current, owner)
            elif kind == "include":
                self._opaque(self._run_include(node, owner))
            elif kind in _OPAQUE:
                self._opaque(self._effects(node.body, blocks, current, frozenset()))
            elif kind in ("import", "from"):
                _check_import(node)
            elif kind not in _SKIPPED:
                raise NotStatic(f"the statement `{kind}`")

    def _block(self, name: str, depth: int, blocks) -> None:
        owners = blocks.get(name, ())
        if depth >= len(owners):
            raise NotStatic(f"super() of block {name!r} without a parent block")
        self._body(owners[depth].blocks[name].body, blocks, (name, depth), owners[depth])

    def _set(self, node: Node, top_level: bool) -> None:
        name, attribute, expression = node.target()
        if name != self.var:
            if expression.strip() == self.var:
                raise NotStatic(f"another name for {self.var!r}")
            return
        if attribute is None:
            # Bound anew in a block or an included template, the name is local there.
            if not top_level:
                raise NotStatic(f"{self.var!r} is bound where it is local")
            value = self.value(expression)
            if not isinstance(value, Namespace) or value.attrs:
                raise NotStatic(f"{self.var!r} is not bound to a fresh namespace()")
            self.history = _History(self)
            return
        if self.history is None:
            raise NotStatic(f"{self.var}.{attribute} is set before {self.var} is bound")
        tree = node.memo.get("value")
        if tree is None:
            try:
                tree = node.memo["value"] = parse_expression(expression).tree
            except NotStatic:
                tree = node.memo["value"] = ()
        self.step += 1
        self.history.record(self.step, attribute, _Pending(tree) if tree else UNKNOWN)

    def _run_include(self, node: Node, owner: Template) -> _Effects:
        """An include the walk reaches: a template that does not exist is Jinja's error here."""
        name = self._name_of(node.args)
        if name is None:
            return _ANYTHING
        try:
            real, part = self._locate(name)
        except Missing:
            if "ignore missing" in node.args:
                return _Effects()
            from fgtui.engine.config.errors import display_path, location

            searched = ", ".join(display_path(p) for p in self.loader.searchpath) or "(empty search path)"
            raise FgError(
                f"template '{name}' not found",
                hint=f"check the name; searched {searched}",
                location=location(owner.file, node.line),
            ) from None
        if part is None:
            self.loader.register(real, _raw(real, None, self.loader.facts).parts)
        effects = self._raw_effects(real, part, frozenset({name}), run=True)
        if node.args.endswith("without context"):
            # A fresh object: `effects` may be the shared _ANYTHING.
            return _Effects(meta=effects.meta)
        return effects

    def _opaque(self, effects: _Effects) -> None:
        if effects.meta:
            raise NotStatic("a statement the walk does not run may print a `meta:` target")
        if self.collecting is not None:
            raise NotStatic("a statement the walk does not run inside the meta target")
        self.line_start = False  # what it printed is not known
        if self.history is None:
            return
        self.step += 1
        if effects.everything:
            self.history.everything.append(self.step)
            return
        for attribute in effects.writes:
            self.history.record(self.step, attribute, UNKNOWN)

    # -- what statements not run may do --------------------------------------------------

    def _effects(self, nodes: list[Node], blocks, current, seen: frozenset) -> _Effects:
        """Of parsed statements the walk does not run (the blocks they hold included)."""
        effects = _Effects()
        for top in nodes:
            summary = _summary(top, self.var)
            effects.writes |= summary.writes
            effects.meta |= summary.meta
            for args in summary.includes:
                effects.add(self._include_effects(args, seen))
            for name in summary.blocks:
                if name not in seen:
                    for owner in blocks.get(name, []):
                        effects.add(self._effects(owner.blocks[name].body, blocks, (name, 0), seen | {name}))
            if summary.calls_super and current is not None:
                for owner in blocks.get(current[0], [])[current[1] + 1 :]:
                    inner = owner.blocks[current[0]].body
                    effects.add(self._effects(inner, blocks, None, seen | {current[0]}))
        return effects

    def _include_effects(self, args: str, seen: frozenset) -> _Effects:
        """Of an include that may run: a template not found has none (it is an error if run)."""
        name = self._name_of(args)
        if name is None:
            return _ANYTHING
        if name in seen:
            return _Effects()
        try:
            real, part = self._locate(name)
        except (Missing, FgError):
            return _Effects()
        if part is None:
            self.maybe_registered.update(p.name for p in _raw(real, None, self.loader.facts).parts)
        effects = self._raw_effects(real, part, seen | {name})
        if args.endswith("without context"):
            effects.writes, effects.everything = set(), False
        return effects

    def _raw_effects(self, real: str, part: InlineTemplate | None, seen: frozenset, run: bool = False) -> _Effects:
        """What including a template may do, read from its text and its chain's: every
        `set ns.x`, but for a chain whose root binds a fresh namespace of that name
        first, only what its children set; and any `meta:` line. `run`: the include
        certainly runs, and the files of its chain register their inline templates."""
        chain = [_raw(real, part, self.loader.facts)]
        while chain[-1].extends is not None:
            name = self._name_of(chain[-1].extends)
            if name is None:
                return _ANYTHING
            if name in seen:
                return _Effects()
            seen = seen | {name}
            try:
                parent_real, parent_part = self._locate(name)
            except (Missing, FgError):
                return _Effects()  # an error if it runs
            chain.append(_raw(parent_real, parent_part, self.loader.facts))
            if parent_part is None:
                if run:
                    self.loader.register(parent_real, chain[-1].parts)
                else:
                    self.maybe_registered.update(p.name for p in chain[-1].parts)
        isolated = chain[-1].binds_fresh(self.var)
        effects = _Effects()
        for member in chain:
            effects.meta |= member.meta
            if not (isolated and member is chain[-1]):
                for name, attribute, expression in member.sets:
                    if name == self.var and attribute is not None:
                        effects.writes.add(attribute)
                    elif expression == self.var:
                        return _ANYTHING  # another name for the namespace
            for include in member.includes:
                effects.add(self._include_effects(include, seen))
        return effects

    # -- the meta target -------------------------------------------------------------

    def _text(self, text: str) -> None:
        if self.collecting is not None:
            self.collecting.append(text)
            rows = "".join(self.collecting).split("\n")
            for number in range(self.settled, len(rows)):
                row = rows[number]
                if row.strip() and not row[:1].isspace():  # a line at column 0 ends the mapping
                    self.collecting = ["\n".join(rows[:number])]
                    self._close_meta("\n".join(rows[number:]))
                    break
            else:
                self.settled = max(1, len(rows) - 1)  # the last row may still grow
        else:
            match = _META_LINE.search(text)
            if match is not None and (match.start() > 0 or text[0] == "\n" or self.line_start):
                if self.meta is not None:
                    raise NotStatic("two `meta:` targets")
                self.collecting, self.settled = [], 1
                self._text(text[match.start() + (text[match.start()] == "\n") :])
        if text:
            self.line_start = text.endswith("\n")

    def _output(self, node: Node) -> None:
        self.line_start = False
        if self.collecting is not None:  # evaluated if its line is one `ls` shows
            self.collecting.append(f"\x00{len(self.values)}\x00")
            self.step += 1
            self.values.append((node, self.step))

    def _close_meta(self, rest: str) -> None:
        if _META_LINE.search(rest):
            raise NotStatic("two `meta:` targets")
        lines = "".join(self.collecting).split("\n")
        self.collecting = None
        self.meta = self._read_mapping(lines)

    def _read_mapping(self, lines: list[str]) -> dict[str, Any]:
        for word in lines[0][len("meta:") :].split():
            if word.startswith("#"):
                break
            if not (word.startswith("&") or word.startswith("!dict")):
                raise NotStatic("a meta target that is not a plain mapping")
        found: dict[str, Any] = {}
        indent: int | None = None
        for line in lines[1:]:
            if not line.strip():
                continue
            width = len(line) - len(line.lstrip())
            indent = width if indent is None else indent
            if width < indent:
                raise NotStatic("the meta mapping's indentation")
            match = _KEY_LINE.fullmatch(line)
            if width != indent or match is None:
                continue
            if match[2] in found:
                raise NotStatic(f"meta key {match[2]!r} twice")
            found[match[2]] = self._scalar(match[3].strip())
        return found

    def _scalar(self, text: str) -> Any:
        quoted = len(text) >= 2 and text[0] == text[-1] and text[0] in "'\""
        placeholder = _PLACEHOLDER.fullmatch(text[1:-1] if quoted else text)
        if placeholder is not None:
            node, step = self.values[int(placeholder[1])]
            try:
                value = self.evaluate(node.expr().tree, step)
            except NotStatic:
                value = UNKNOWN
            if isinstance(value, Unknown):
                raise NotStatic("a meta value that is not known without rendering")
            value = str(value)
            if quoted and not any(c in value for c in "\"'\\\n"):
                return value
            if quoted or "\n" in value or not value or value[0] in "&*!|>%@`{[" or value[0].isspace():
                raise NotStatic("a meta value YAML would read as more than its text")
            text = value  # printed unquoted: YAML reads it as it reads a literal
        elif _PLACEHOLDER.search(text) or "{" in text or "#" in text:
            raise NotStatic("a meta value mixing text and expressions")
        from fgtui.engine.config import plain_yaml

        try:
            return plain_yaml.scalar(text)
        except plain_yaml.NotPlain:
            pass
        from fgtui.engine.config.yaml_module import import_yaml

        yaml = import_yaml()

        try:
            return yaml.safe_load(text) if text else None
        except yaml.YAMLError as error:
            raise NotStatic("a meta value YAML cannot read") from error


class _Summary:
    """What a statement and everything inside it may do, as far as its text says."""

    __slots__ = ("writes", "meta", "includes", "blocks", "calls_super")

    def __init__(self) -> None:
        self.writes: set[str] = set()
        self.meta = False
        self.includes: list[str] = []  # their arguments
        self.blocks: list[str] = []  # blocks it renders (overrides may run instead)
        self.calls_super = False


def _summary(top: Node, variable: str) -> _Summary:
    key = ("summary", variable)
    found = top.memo.get(key)
    if found is not None:
        return found
    found = _Summary()
    for node in top.walk():
        kind = node.kind
        if kind == "set":
            name, attribute, expression = node.target()
            if name == variable and attribute is not None:
                found.writes.add(attribute)
            elif name == variable or expression.strip() == variable:
                raise NotStatic(f"{variable!r} bound again, or given another name")
        elif kind == "setblock" and node.args.split(".")[0].strip() == variable:
            raise NotStatic(f"a block set of {variable!r}")
        elif kind == "text" and _META_LINE.search(node.args):
            found.meta = True
        elif kind == "include":
            found.includes.append(node.args)
        elif kind == "block":
            found.blocks.append(block_name(node))
        elif node.is_super:
            found.calls_super = True
        elif kind in ("import", "from"):
            _check_import(node)
    top.memo[key] = found
    return found


# -- templates read as text --------------------------------------------------------

_STATEMENT = r"(?:^[ \t]*(?:--|<<|>>)[ \t]+|\{%[-+]?[ \t]*)"
_RAW_SET = re.compile(_STATEMENT + r"set\s+([A-Za-z_]\w*)(?:\s*\.\s*([A-Za-z_]\w*))?\s*(?:=(?!=)\s*([^\n%]*))?", re.M)
_RAW_LOAD = re.compile(_STATEMENT + r"(include|extends)\s+(.*?)\s*(?:[-+]?%\}|$)", re.M)
_RAW_META = re.compile(r"^meta:", re.M)
_WHOLE_COMMENT = re.compile(r"^[ \t]*##.*$", re.M)


class _Raw:
    """What a template's text says about it: sets, includes, its parent, `meta:` lines."""

    __slots__ = ("sets", "includes", "extends", "meta", "parts")

    def __init__(
        self,
        sets: list[tuple[str, str | None, str]],
        includes: list[str],
        extends: str | None,
        meta: bool,
        parts: list[InlineTemplate],
    ) -> None:
        self.sets = sets  # (name, attribute, value expression)
        self.includes, self.extends, self.meta, self.parts = includes, extends, meta, parts

    def binds_fresh(self, variable: str) -> bool:
        """Its first set of `variable` binds it to namespace()."""
        for name, attribute, expression in self.sets:
            if name == variable:
                return attribute is None and expression.replace(" ", "") == "namespace()"
        return False


_raws: dict[tuple[str, str | None, int, int], _Raw] = {}


def _raw(real: str, part: InlineTemplate | None, files: FileFacts) -> _Raw:
    key = (real, part.name if part else None, *files.stamp(real))
    found = _raws.get(key)
    if found is not None:
        return found
    main, parts = files.split(real)
    text = part.text if part else main
    # Each scan only where its word occurs: a regex tried at every position of a file
    # costs more than the substring search that rules most files out.
    if "##" in text:
        text = _WHOLE_COMMENT.sub("", text)
    sets = [(m[1], m[2], (m[3] or "").strip()) for m in _RAW_SET.finditer(text)] if "set" in text else []
    includes: list[str] = []
    extends = None
    if "include" in text or "extends" in text:
        for match in _RAW_LOAD.finditer(text):
            if match[1] == "include":
                includes.append(match[2])
            elif extends is None:
                extends = match[2]
    meta = "meta:" in text and _RAW_META.search(text) is not None
    found = _raws[key] = _Raw(sets, includes, extends, meta, parts)
    return found


def _constant_text(node: Node) -> str | None:
    """The text an output of a string literal prints (None for any other output)."""
    found = node.memo.get("constant", False)
    if found is False:
        try:
            tree = node.expr().tree
        except NotStatic:
            tree = None
        found = node.memo["constant"] = tree[1] if tree and tree[0] == "const" and isinstance(tree[1], str) else None
    return found


def _has_meta_line(node: Node) -> bool:
    found = node.memo.get("meta line")
    if found is None:
        found = node.memo["meta line"] = _META_LINE.search(node.args) is not None
    return found


def _check_import(node: Node) -> None:
    if "with context" in node.args:
        raise NotStatic("an import with context")


def _macro_sets_meta_key(template: Template) -> bool:
    found = getattr(template, "macro_sets_meta", None)  # kept on the (shared, parsed) template
    if found is None:
        found = template.macro_sets_meta = any(
            node.kind == "macro"
            and any(inner.kind == "set" and inner.target()[1] in META_KEYS for inner in node.walk())
            for top in template.nodes
            for node in top.walk()
        )
    return found


def _blocks_of(chain: list[Template]) -> dict[str, list[Template]]:
    blocks: dict[str, list[Template]] = {}
    for member in chain:
        for name in member.blocks:
            blocks.setdefault(name, []).append(member)
    return blocks


_READS_META = re.compile(r"\s*([A-Za-z_]\w*)\s*\.\s*(?:config_name|config_description|config_class)\s*")


def _namespace_variable(loader: Loader, template: Template) -> str:
    """The variable the chain's outputs of meta values read: `ns` in Forgather's templates."""
    found: set[str] = set()
    member: Template | None = template
    for _ in range(50):
        if member is None:
            break
        names = getattr(member, "meta_readers", None)  # kept on the (shared, parsed) template
        if names is None:
            names = member.meta_readers = {
                match[1]
                for top in member.nodes
                for node in top.walk()
                if node.kind == "var" and (match := _READS_META.fullmatch(node.args)) is not None
            }
        found |= names
        tree = member.extends.expr().tree if member.extends is not None else None
        try:
            member = loader.load(tree[1]) if tree and tree[0] == "const" and isinstance(tree[1], str) else None
        except NotStatic:
            member = None
    if len(found) > 1:
        raise NotStatic("meta values read from several namespaces")
    return found.pop() if found else "ns"
