"""Reading a config's data targets (`meta`, `dynamic_args`) without running anything.

Projects come from strangers, so listing, browsing, previewing, `--help` and
`--dry-run` must not import or call what a template names: a `meta:` written as
`!singleton:os:system [...]` would otherwise run the moment the project is
listed. Here a target is read as data: literals, `!var`s (from the given
variables, else their defaults) and the plain container tags (`!list`,
`!tuple`, `!dict`, `!dlist`) are evaluated; any other call is left as an
`Unresolved` marker that says what would have been called, and where.
Only `construct`, `train` and `--run` build targets for real.
"""

from __future__ import annotations

from typing import Any

from fgtui.engine.config.graph import CallNode, GraphVisitor, VarNode
from fgtui.engine.record import FrozenRecord

_CONTAINERS = {"named_list": list, "named_tuple": tuple}


class Unresolved(FrozenRecord):
    """A value only a build could compute; kept as a note instead of being computed."""

    spec: str
    where: str  # file:line of the call in the template, when known
    _fields = ("spec", "where")

    def __init__(self, spec: str, where: str = "") -> None:
        self._set(spec=spec, where=where)

    def note(self) -> str:
        where = f" ({self.where})" if self.where else ""
        return f"computed by {self.spec} when built{where}"

    def __str__(self) -> str:
        return f"<unresolved: {self.spec}>"


def static_value(value: Any, variables: dict[str, Any] | None = None) -> Any:
    """`value` (a piece of a config graph) as plain data; calls become `Unresolved`."""
    return _Reader(variables or {}).read(value)


def unresolved_in(value: Any) -> list[Unresolved]:
    """Every `Unresolved` marker inside a statically read value."""
    found: list[Unresolved] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Unresolved):
            found.append(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return found


class _Reader(GraphVisitor):
    def __init__(self, variables: dict[str, Any]) -> None:
        self.variables = variables
        self.memo: dict[int, Any] = {}  # shared nodes (YAML aliases) are read once
        self.active: set[int] = set()

    def read(self, value: Any) -> Any:
        return self.visit(value)

    def visit_call(self, node: CallNode) -> Any:
        return self._once(node)

    def visit_var(self, node: VarNode) -> Any:
        return self._once(node)

    def _once(self, node: CallNode | VarNode) -> Any:
        key = id(node)
        if key in self.memo:
            return self.memo[key]
        if key in self.active:  # a reference cycle: a build would refuse it
            return Unresolved("a reference cycle", _where(node))
        self.active.add(key)
        try:
            result = self._node(node)
        finally:
            self.active.discard(key)
        self.memo[key] = result
        return result

    def _node(self, node: CallNode | VarNode) -> Any:
        if isinstance(node, VarNode):
            if node.name in self.variables:
                return self.variables[node.name]
            if node.has_default:
                return self.read(node.default)
            return Unresolved(f"!var {node.name} (no value, no default)", _where(node))
        if node.kind == "singleton" and node.spec == "named_dict":
            merged: dict = {}
            for mapping in node.args:
                mapping = self.read(mapping)
                if not isinstance(mapping, dict):
                    return Unresolved(node.spec, _where(node))
                merged.update(mapping)
            merged.update({key: self.read(item) for key, item in node.kwargs.items()})
            return merged
        if node.kind == "singleton" and node.spec in _CONTAINERS:
            return _CONTAINERS[node.spec](self.read(item) for item in node.args)
        return Unresolved(f"!{node.kind}:{node.spec}", _where(node))


def _where(node: CallNode | VarNode) -> str:
    location = node.location
    return str(location) if location is not None else ""
