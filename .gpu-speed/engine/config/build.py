"""Build objects from a graph. Each build keeps its own state.

Singletons (and partials and metas) are made once per build and shared by
every reference, a `None` result included; factories are made again at
every reference. Building the same graph twice gives fresh objects. Before
anything is called, every call's arguments are checked against the
callable's signature, and all mismatches are reported together with their
template lines. Only mismatches that would certainly fail are refused
(see `signatures.checkable_signature`).
"""

from __future__ import annotations

import functools
from typing import Any, Iterator

from fgtui.engine.config import specs
from fgtui.engine.config.signatures import checkable_signature
from fgtui.engine.config.graph import CONTAINER_SPECS, CallNode, ConfigGraph, GraphVisitor, VarNode, walk_nodes
from fgtui.engine.errors import FgError


def _where(node: CallNode | VarNode) -> str:
    if node.file is None:
        return ""
    from fgtui.engine.config.errors import display_path

    return f"{display_path(node.file)}:{node.line}: "


def call_nodes(value: Any) -> Iterator[CallNode]:
    """The call nodes a build of `value` will call; a !meta node's arguments are not built."""
    return (node for node in walk_nodes(value, into_meta=False) if isinstance(node, CallNode))


class Builder(GraphVisitor):
    """One build of a graph: owns the singleton cache and the resolved callables."""

    def __init__(self, graph: ConfigGraph, context: dict[str, Any] | None = None) -> None:
        self.graph = graph
        self.context = {"pp_config": graph.pp_config, **(context or {})}
        self._cache: dict[int, Any] = {}
        self._callables: dict[tuple, Any] = {}
        self._active: set[int] = set()

    def build(self, target: str | list[str] | None = "main", call: bool = False) -> Any:
        value = self.graph.select(target)
        self.check(value)
        result = self.value(value)
        if call:
            if not callable(result):
                raise FgError(
                    f"target '{target}' built a {type(result).__name__}, which cannot be called",
                    hint="drop --call, or make the target a !partial",
                )
            result = result()
        return result

    # -- checking ----------------------------------------------------------

    def check(self, value: Any) -> None:
        """Resolve every callable and bind its arguments; report all mismatches at once."""
        problems: list[tuple[CallNode, str]] = []
        for node in call_nodes(value):
            if node.kind == "singleton" and node.spec in CONTAINER_SPECS:
                continue
            if specs.generated_by_build(node.spec):
                continue  # a code file an earlier node of this build writes (Forgather's model code)
            function = self._callable(node)
            problem = self._mismatch(node, function)
            if problem:
                problems.append((node, problem))
        if problems:
            problems.sort(key=lambda item: (item[0].file or "", item[0].line or 0))
            first = problems[0][0]
            # The first problem's place is the error's location; only the others name theirs.
            text = "; ".join(
                message if index == 0 else f"{_where(node)}{message}" for index, (node, message) in enumerate(problems)
            )
            count = f"{len(problems)} argument mismatches" if len(problems) > 1 else "argument mismatch"
            raise FgError(
                f"{count}: {text}", hint="fix the arguments to match the callables' signatures", location=first.location
            )

    def _mismatch(self, node: CallNode, function: Any) -> str | None:
        signature = checkable_signature(function)
        if signature is None:
            return None  # the call itself tells; refusing it here could be wrong
        kwargs = dict(node.call_kwargs)
        if "latent_args" in node.kwargs:
            latent = self._peek(node.kwargs["latent_args"])
            if not isinstance(latent, dict):
                return None  # only known while building
            kwargs.update(latent)
        if any(not isinstance(key, str) for key in kwargs):
            return f"{node.spec}(): keyword names must be strings, got {[k for k in kwargs if not isinstance(k, str)]}"
        bind = signature.bind_partial if node.kind == "partial" else signature.bind
        try:
            bind(*node.args, **kwargs)
        except TypeError as exc:
            return f"{node.spec}(): {exc}"
        return None

    def _peek(self, value: Any) -> Any:
        """The value of a `latent_args` entry if it is known without building anything."""
        if isinstance(value, VarNode):
            if value.name in self.context:
                return self.context[value.name]
            return value.default if value.has_default else None
        return value

    # -- building ----------------------------------------------------------

    def value(self, value: Any) -> Any:
        """The built value of a piece of the graph (containers rebuilt, nodes called)."""
        return self.visit(value)

    def visit_call(self, node: CallNode) -> Any:
        return self._call(node)

    def visit_var(self, node: VarNode) -> Any:
        return self._var(node)

    def _var(self, node: VarNode) -> Any:
        if node.name in self.context:
            return self.context[node.name]
        if node.has_default:
            return self.value(node.default)
        raise FgError(
            f"variable '{node.name}' has no value and no default",
            hint=f"pass it in the build context, or write !var [{node.name}, DEFAULT]",
            location=node.location,
        )

    def _callable(self, node: CallNode) -> Any:
        searchpath = node.kwargs.get("submodule_searchpath", ())
        if isinstance(searchpath, (CallNode, VarNode)):
            searchpath = self.value(searchpath)
        if isinstance(searchpath, str):
            searchpath = [searchpath]
        key = (node.spec, tuple(searchpath))
        if key not in self._callables:
            self._callables[key] = specs.resolve(node.spec, searchpath=list(searchpath), location=node.location)
        return self._callables[key]

    def _call(self, node: CallNode) -> Any:
        key = id(node)
        if node.kind != "factory" and key in self._cache:
            return self._cache[key]
        if key in self._active:
            raise FgError(
                f"reference cycle through {node.spec}", hint="a node cannot be its own argument", location=node.location
            )
        self._active.add(key)
        try:
            result = self._make(node)
        finally:
            self._active.discard(key)
        if node.kind != "factory":
            self._cache[key] = result
        return result

    def _make(self, node: CallNode) -> Any:
        if node.kind == "singleton" and node.spec in CONTAINER_SPECS:
            if node.spec == "named_dict":
                return {key: self.value(item) for key, item in node.kwargs.items()}
            items = [self.value(item) for item in node.args]
            return items if node.spec == "named_list" else tuple(items)
        if node.kind == "meta":
            raw = dict(node.call_kwargs)
            return self._invoke(node, self._callable(node), list(node.args), raw)
        # Resolved after its arguments are built: they may write the file it lives in.
        late = specs.generated_by_build(node.spec)
        function = None if late else self._callable(node)
        args = [self.value(item) for item in node.args]
        kwargs = {k: self.value(v) for k, v in node.call_kwargs.items()}
        if "latent_args" in node.kwargs:
            latent = self.value(node.kwargs["latent_args"])
            if latent is not None:
                if not isinstance(latent, dict):
                    raise FgError(
                        f"latent_args of {node.spec} is a {type(latent).__name__}, not a mapping",
                        hint="give latent_args a mapping of keyword arguments",
                        location=node.location,
                    )
                kwargs.update(latent)
        if late:
            function = self._callable(node)
        if node.kind == "partial":
            return functools.partial(function, *args, **kwargs)
        return self._invoke(node, function, args, kwargs)

    def _invoke(self, node: CallNode, function: Any, args: list, kwargs: dict) -> Any:
        try:
            return function(*args, **kwargs)
        except FgError:
            raise
        except Exception as exc:
            raise FgError(
                f"{node.spec}() raised {type(exc).__name__}: {exc}",
                hint="check the arguments given on that line (--debug shows the traceback)",
                location=node.location,
            ) from exc


def build(
    graph: ConfigGraph,
    target: str | list[str] | None = "main",
    context: dict[str, Any] | None = None,
    call: bool = False,
) -> Any:
    """Build `target` (a name, a list of names, or None for the whole root) in a fresh build."""
    return Builder(graph, context).build(target, call)
