"""The node graph: pure data, shared by reference, never mutated by a build.

A loaded config is plain dicts, lists and scalars plus two node types:
`CallNode` (a callable to call, with its arguments) and `VarNode` (a value
supplied at build time). Sharing is by identity: a YAML alias of a node is
the same node object, and a build makes one singleton per node object.
Source locations are kept for messages but left out of equality.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterator

from fgtui.engine.config.errors import location
from fgtui.engine.errors import FgError, SourceLocation

KINDS = ("singleton", "factory", "partial", "meta")
# Keyword arguments a call node consumes itself; they never reach the callable.
RESERVED_KWARGS = ("submodule_searchpath", "latent_args", "_identity")
# `!list` / `!tuple` / `!dict` (and `!dlist`) are singletons of these helpers.
CONTAINER_SPECS = {"named_list": "list", "named_tuple": "tuple", "named_dict": "dict"}
_ARG_KEY = re.compile(r"arg(\d+)")


@dataclass(frozen=True)
class CallNode:
    """Call `spec` with `args` and `kwargs`.

    kind: singleton (once per build, shared), factory (fresh at every
    reference), partial (a functools.partial, once per build) or meta (the
    callable receives the unbuilt argument nodes).
    """

    kind: str
    spec: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    name: str | None = None
    file: str | None = field(default=None, compare=False, repr=False)
    line: int | None = field(default=None, compare=False, repr=False)

    @property
    def location(self) -> SourceLocation | None:
        return _location(self.file, self.line)

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


@dataclass(frozen=True)
class VarNode:
    """A value taken from the build context by `name`, else `default`."""

    name: str
    default: Any = None
    has_default: bool = False
    file: str | None = field(default=None, compare=False, repr=False)
    line: int | None = field(default=None, compare=False, repr=False)

    @property
    def location(self) -> SourceLocation | None:
        return _location(self.file, self.line)


Node = CallNode | VarNode


def _location(file: str | None, line: int | None) -> SourceLocation | None:
    return location(file, line)


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


@dataclass
class ConfigGraph:
    """A loaded config. `root` is usually a dict of targets (dot-keys removed)."""

    root: Any
    source: str = "<config>"
    pp_config: str = ""
    warnings: list[str] = field(default_factory=list)

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


def walk_nodes(value: Any, seen: set[int] | None = None, *, into_meta: bool = True) -> Iterator[Node]:
    """Every call and var node reachable from `value`, each once, in document order.

    `into_meta=False` leaves out what sits under a !meta node: its arguments
    reach the callable as raw graph and are never built.
    """
    seen = set() if seen is None else seen
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, (CallNode, VarNode, list, dict, tuple)):
            if id(item) in seen:
                continue
            seen.add(id(item))
        if isinstance(item, CallNode):
            yield item
            if into_meta or item.kind != "meta":
                stack.extend(reversed(list(item.kwargs.values())))
                stack.extend(reversed(item.args))
        elif isinstance(item, VarNode):
            yield item
            stack.append(item.default)
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, (list, tuple)):
            stack.extend(reversed(item))


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
    lines: list[str] = []
    shown: dict[int, str] = {}

    def label(node: Node) -> str:
        return node.name or f"{type(node).__name__}#{len(shown) + 1}"

    def emit(value: Any, indent: int, prefix: str) -> None:
        pad = "  " * indent
        if isinstance(value, (CallNode, VarNode)) and id(value) in shown:
            lines.append(f"{pad}{prefix}*{shown[id(value)]}")
            return
        if isinstance(value, CallNode):
            shown[id(value)] = label(value)
            where = f"  # line {value.line}" if value.line else ""
            lines.append(f"{pad}{prefix}{value.kind} {value.spec}{' @' + value.name if value.name else ''}{where}")
            for index, arg in enumerate(value.args):
                emit(arg, indent + 1, f"[{index}] ")
            for key, arg in value.kwargs.items():
                emit(arg, indent + 1, f"{key}= ")
        elif isinstance(value, VarNode):
            shown[id(value)] = label(value)
            default = f" (default {value.default!r})" if value.has_default else ""
            lines.append(f"{pad}{prefix}var {value.name}{default}")
        elif isinstance(value, dict):
            lines.append(f"{pad}{prefix}dict")
            for key, item in value.items():
                emit(item, indent + 1, f"{key}: ")
        elif isinstance(value, (list, tuple)):
            lines.append(f"{pad}{prefix}{type(value).__name__}")
            for item in value:
                emit(item, indent + 1, "- ")
        else:
            lines.append(f"{pad}{prefix}{value!r}")

    if isinstance(graph.root, dict):
        for key, value in graph.root.items():
            emit(value, 0, f"{key}: ")
    else:
        emit(graph.root, 0, "")
    return "\n".join(lines)
