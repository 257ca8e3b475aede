"""The node graph: pure data, shared by reference, never mutated by a build.

A loaded config is plain dicts, lists and scalars plus two node types:
`CallNode` (a callable to call, with its arguments) and `VarNode` (a value
supplied at build time). Sharing is by identity: a YAML alias of a node is
the same node object, and a build makes one singleton per node object.
Source locations are kept for messages but left out of equality.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

from fgtui.engine.config.errors import location
from fgtui.engine.errors import FgError, SourceLocation
from fgtui.engine.record import FrozenRecord, Record

KINDS = ("singleton", "factory", "partial", "meta")
# Keyword arguments a call node consumes itself; they never reach the callable.
RESERVED_KWARGS = ("submodule_searchpath", "latent_args", "_identity")
# `!list` / `!tuple` / `!dict` (and `!dlist`) are singletons of these helpers.
CONTAINER_SPECS = {"named_list": "list", "named_tuple": "tuple", "named_dict": "dict"}
_ARG_KEY = re.compile(r"arg(\d+)")


class CallNode(FrozenRecord):
    """Call `spec` with `args` and `kwargs`.

    kind: singleton (once per build, shared), factory (fresh at every
    reference), partial (a functools.partial, once per build) or meta (the
    callable receives the unbuilt argument nodes).
    """

    kind: str
    spec: str
    args: tuple
    kwargs: dict
    name: str | None
    file: str | None  # where it is written: not compared, not shown
    line: int | None
    _fields = ("kind", "spec", "args", "kwargs", "name")

    def __init__(
        self,
        kind: str,
        spec: str,
        args: tuple = (),
        kwargs: dict | None = None,
        name: str | None = None,
        file: str | None = None,
        line: int | None = None,
    ) -> None:
        self._set(
            kind=kind, spec=spec, args=args, kwargs={} if kwargs is None else kwargs, name=name, file=file, line=line
        )

    @property
    def location(self) -> SourceLocation | None:
        return location(self.file, self.line)

    @property
    def call_kwargs(self) -> dict:
        """The keyword arguments that reach the callable (the node's own ones left out)."""
        return {k: v for k, v in self.kwargs.items() if k not in RESERVED_KWARGS}

    @property
    def tag(self) -> str:
        """The YAML tag that loads back to this node."""
        suffix = f"@{self.name}" if self.name else ""
        if self.kind == "singleton" and self.spec in CONTAINER_SPECS:
            return f"!{CONTAINER_SPECS[self.spec]}" + (f":{suffix}" if suffix else "")
        return f"!{self.kind}:{self.spec}{suffix}"


class VarNode(FrozenRecord):
    """A value taken from the build context by `name`, else `default`."""

    name: str
    default: Any
    has_default: bool
    file: str | None  # where it is written: not compared, not shown
    line: int | None
    _fields = ("name", "default", "has_default")

    def __init__(
        self,
        name: str,
        default: Any = None,
        has_default: bool = False,
        file: str | None = None,
        line: int | None = None,
    ) -> None:
        self._set(name=name, default=default, has_default=has_default, file=file, line=line)

    @property
    def location(self) -> SourceLocation | None:
        return location(self.file, self.line)


Node = CallNode | VarNode


class GraphVisitor:
    """One dispatch over what a piece of a graph can be: a call node, a var node, a dict,
    a list, a tuple or a plain value. Subclasses say what to do with nodes; containers are
    rebuilt from their visited items unless a subclass says otherwise."""

    def visit(self, value: Any) -> Any:
        if isinstance(value, CallNode):
            return self.visit_call(value)
        if isinstance(value, VarNode):
            return self.visit_var(value)
        if isinstance(value, dict):
            return self.visit_dict(value)
        if isinstance(value, list):
            return self.visit_list(value)
        if isinstance(value, tuple):
            return self.visit_tuple(value)
        return self.visit_value(value)

    def visit_call(self, node: CallNode) -> Any:
        raise NotImplementedError

    def visit_var(self, node: VarNode) -> Any:
        raise NotImplementedError

    def visit_dict(self, value: dict) -> Any:
        return {key: self.visit(item) for key, item in value.items()}

    def visit_list(self, value: list) -> Any:
        return [self.visit(item) for item in value]

    def visit_tuple(self, value: tuple) -> Any:
        return tuple(self.visit(item) for item in value)

    def visit_value(self, value: Any) -> Any:
        return value


class ConfigGraph(Record):
    """A loaded config. `root` is usually a dict of targets (dot-keys removed)."""

    _fields = ("root", "source", "pp_config", "warnings")

    def __init__(
        self, root: Any, source: str = "<config>", pp_config: str = "", warnings: list[str] | None = None
    ) -> None:
        self.root = root
        self.source = source
        self.pp_config = pp_config
        self.warnings: list[str] = [] if warnings is None else warnings

    @property
    def targets(self) -> list[str]:
        """Top-level keys that can be built (`.define`-style keys are hidden)."""
        if not isinstance(self.root, dict):
            return []
        return [str(key) for key in self.root if not str(key).startswith(".")]

    def select(self, target: str | list[str] | None) -> Any:
        """The value of one target, a dict of several, or the whole root for None."""
        if target is None:
            return self.root
        if isinstance(target, (list, tuple)):
            return {name: self.select(name) for name in target}
        if not isinstance(self.root, dict):
            raise FgError(
                f"no target '{target}': the config is not a mapping",
                hint="build it without --target",
                location=SourceLocation(self.source),
            )
        if target not in self.root:
            known = ", ".join(self.targets) or "none"
            raise FgError(
                f"no target '{target}' in the config", hint=f"targets: {known}", location=SourceLocation(self.source)
            )
        return self.root[target]

    def nodes(self) -> Iterator[Node]:
        """Every node reachable from the root, once each, depth first."""
        yield from walk_nodes(self.root)

    def canonical(self) -> Any:
        """A hashable-free structure equal for equal graphs, sharing included."""
        return canonical(self.root)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ConfigGraph) and self.canonical() == other.canonical()


def walk_nodes(value: Any, *, into_meta: bool = True) -> Iterator[Node]:
    """Every call and var node reachable from `value`, each once, in document order.

    `into_meta=False` leaves out what sits under a !meta node: its arguments
    reach the callable as raw graph and are never built.
    """
    walk = _Nodes(into_meta)
    walk.visit(value)
    return iter(walk.found)


class _Nodes(GraphVisitor):
    """walk_nodes' visit: nodes in the order met, shared pieces entered once."""

    def __init__(self, into_meta: bool) -> None:
        self.into_meta = into_meta
        self.found: list[Node] = []
        self.seen: set[int] = set()

    def visit(self, value: Any) -> None:
        if isinstance(value, (CallNode, VarNode, list, dict, tuple)):
            if id(value) in self.seen:
                return
            self.seen.add(id(value))
        super().visit(value)

    def visit_call(self, node: CallNode) -> None:
        self.found.append(node)
        if self.into_meta or node.kind != "meta":
            for item in (*node.args, *node.kwargs.values()):
                self.visit(item)

    def visit_var(self, node: VarNode) -> None:
        self.found.append(node)
        self.visit(node.default)

    def visit_dict(self, value: dict) -> None:
        for item in value.values():
            self.visit(item)

    def visit_list(self, value: list | tuple) -> None:
        for item in value:
            self.visit(item)

    visit_tuple = visit_list

    def visit_value(self, value: Any) -> None:
        pass


def canonical(value: Any) -> Any:
    """Structure with shared nodes written as back-references, for equality tests."""
    return _Canonical().visit(value)


class _Canonical(GraphVisitor):
    def __init__(self) -> None:
        self.seen: dict[int, int] = {}

    def visit(self, value: Any) -> Any:
        if isinstance(value, (CallNode, VarNode, list, dict)):
            if id(value) in self.seen:
                return ("ref", self.seen[id(value)])
            self.seen[id(value)] = len(self.seen)
        return super().visit(value)

    def visit_call(self, node: CallNode) -> Any:
        return (
            "call",
            node.kind,
            node.spec,
            node.name,
            self.visit(node.args),
            tuple((k, self.visit(v)) for k, v in node.kwargs.items()),
        )

    def visit_var(self, node: VarNode) -> Any:
        return ("var", node.name, node.has_default, self.visit(node.default))

    def visit_dict(self, value: dict) -> Any:
        return ("dict", tuple((k, self.visit(v)) for k, v in value.items()))

    def visit_list(self, value: list) -> Any:
        return ("list", tuple(self.visit(v) for v in value))

    def visit_tuple(self, value: tuple) -> Any:
        return ("tuple", tuple(self.visit(v) for v in value))

    def visit_value(self, value: Any) -> Any:
        return ("value", type(value).__name__, value)


def split_arguments(mapping: dict) -> tuple[tuple, dict]:
    """`argN` keys become positional arguments in N order; the rest are kwargs."""
    positional = sorted((int(m[1]), key) for key in mapping if isinstance(key, str) and (m := _ARG_KEY.fullmatch(key)))
    args = tuple(mapping[key] for _, key in positional)
    taken = {key for _, key in positional}
    return args, {k: v for k, v in mapping.items() if k not in taken}


def graph_repr(graph: ConfigGraph) -> str:
    """An indented, readable dump of the graph; shared nodes are shown once, then as *refs."""
    dump = _Repr()
    if isinstance(graph.root, dict):
        dump.children([(f"{key}: ", value) for key, value in graph.root.items()])
    else:
        dump.children([("", graph.root)])
    return "\n".join(dump.lines)


class _Repr(GraphVisitor):
    """graph_repr's lines: one a value, `prefix` naming where it sits, its parts indented below."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.shown: dict[int, str] = {}
        self.depth = -1  # children() enters the top level: depth 0
        self.prefix = ""

    def show(self, prefix: str, value: Any) -> None:
        self.prefix = prefix
        self.visit(value)

    def children(self, items: list[tuple[str, Any]]) -> None:
        self.depth += 1
        for prefix, item in items:
            self.show(prefix, item)
        self.depth -= 1

    def line(self, text: str) -> None:
        self.lines.append(f"{'  ' * self.depth}{self.prefix}{text}")

    def visit(self, value: Any) -> None:
        if isinstance(value, (CallNode, VarNode)) and id(value) in self.shown:
            self.line(f"*{self.shown[id(value)]}")
        else:
            super().visit(value)

    def label(self, node: Node) -> None:
        self.shown[id(node)] = node.name or f"{type(node).__name__}#{len(self.shown) + 1}"

    def visit_call(self, node: CallNode) -> None:
        self.label(node)
        where = f"  # line {node.line}" if node.line else ""
        self.line(f"{node.kind} {node.spec}{' @' + node.name if node.name else ''}{where}")
        self.children(
            [(f"[{index}] ", arg) for index, arg in enumerate(node.args)]
            + [(f"{key}= ", arg) for key, arg in node.kwargs.items()]
        )

    def visit_var(self, node: VarNode) -> None:
        self.label(node)
        default = f" (default {node.default!r})" if node.has_default else ""
        self.line(f"var {node.name}{default}")

    def visit_dict(self, value: dict) -> None:
        self.line("dict")
        self.children([(f"{key}: ", item) for key, item in value.items()])

    def visit_list(self, value: list | tuple) -> None:
        self.line(type(value).__name__)
        self.children([("- ", item) for item in value])

    visit_tuple = visit_list

    def visit_value(self, value: Any) -> None:
        self.line(repr(value))
