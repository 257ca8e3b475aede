"""Graph -> a Python module whose `construct(**variables)` builds what a build builds.

Singletons used more than once (or named) become local variables assigned
once; factories are called again at each reference; partials become
`functools.partial`; `!var`s become keyword parameters. `module:attr.path`
specs are imported as `import module` and used as `module.attr.path`, which
is valid Python for any depth. Generating code imports nothing.
"""

from __future__ import annotations

import builtins
import keyword
import math
from datetime import date, datetime
from typing import Any

from fgtui.engine.config.aliases import apply_aliases
from fgtui.engine.config.graph import CONTAINER_SPECS, CallNode, ConfigGraph, GraphVisitor, VarNode
from fgtui.engine.config.specs import is_file_module
from fgtui.engine.errors import FgError


_HELPER_SOURCE = {
    "call": "def call(function, *args, **kwargs):\n    return function(*args, **kwargs)\n",
    "items": "def items(mapping):\n    return list(mapping.items())\n",
    "keys": "def keys(mapping):\n    return list(mapping.keys())\n",
    "values": "def values(mapping):\n    return list(mapping.values())\n",
    "_import_dotted": (
        "def _import_dotted(path):\n"
        '    """Import the longest importable prefix of a dotted path, then follow attributes."""\n'
        "    parts = path.split('.')\n"
        "    for cut in range(len(parts), 0, -1):\n"
        "        try:\n"
        "            obj = importlib.import_module('.'.join(parts[:cut]))\n"
        "        except ModuleNotFoundError:\n"
        "            continue\n"
        "        for attr in parts[cut:]:\n"
        "            obj = getattr(obj, attr)\n"
        "        return obj\n"
        "    raise ImportError(path)\n"
    ),
    "_load_file_module": (
        "def _load_file_module(path, searchpath=()):\n"
        '    """Load a Python file as a module; `searchpath` holds its importable neighbours."""\n'
        "    from fgtui.engine.config.specs import load_file_module\n"
        "    return load_file_module(path, list(searchpath), None)\n"
    ),
    "_raw_arguments": (
        "def _raw_arguments(text):\n"
        '    """The unbuilt argument nodes of a !meta node, re-loaded from YAML."""\n'
        "    from fgtui.engine.config import load_graph\n"
        "    root = load_graph(text).root\n"
        "    return root['args'], root['kwargs']\n"
    ),
    "_UNSET": "_UNSET = object()\n",
    "_required": (
        "def _required(value, name):\n"
        "    if value is _UNSET:\n"
        "        raise TypeError(f'construct() needs the variable {name!r}')\n"
        "    return value\n"
    ),
}
_HELPER_IMPORTS = {"_import_dotted": "importlib"}


class _Generator:
    def __init__(self, graph: ConfigGraph) -> None:
        self.graph = graph
        self.uses: dict[int, int] = {}
        self.vars: dict[str, list[VarNode]] = {}
        self.imports: set[str] = set()
        self.helpers: list[str] = []
        self.statements: list[str] = []
        self.hoisted: dict[int, str] = {}
        self.taken: set[str] = set(dir(builtins)) | set(keyword.kwlist) | set(_HELPER_SOURCE)
        self.param_style: dict[str, str] = {}

    # -- analysis ----------------------------------------------------------

    def scan(self, value: Any) -> None:
        """Count each node's uses and note the specs and variables the code will need."""
        _Scan(self).visit(value)

    def note_spec(self, node: CallNode) -> None:
        if node.spec in CONTAINER_SPECS and node.kind == "singleton":
            return
        spec = apply_aliases(node.spec)
        if spec.startswith("."):
            raise FgError(
                f"relative callable '{node.spec}' can only be used inside a !meta subgraph",
                hint="write the full module path (package.module:Name)",
                location=node.location,
            )
        module, colon, _ = spec.partition(":")
        if colon and not is_file_module(module):
            self.imports.add(module)
            self.taken.add(module.split(".")[0])
        if node.kind == "partial":
            self.imports.add("functools")
            self.taken.add("functools")

    # -- emission ----------------------------------------------------------

    def helper(self, name: str) -> str:
        if name not in self.helpers:
            self.helpers.append(name)
            if name in _HELPER_IMPORTS:
                self.imports.add(_HELPER_IMPORTS[name])
        return name

    def fresh_name(self, preferred: str | None, kind: str) -> str:
        base = preferred if preferred and preferred.isidentifier() else kind
        name = base if preferred and preferred.isidentifier() else f"{kind}_1"
        counter = 1
        while name in self.taken:
            counter += 1
            name = f"{base}_{counter}"
        self.taken.add(name)
        return name

    def expr(self, value: Any) -> str:
        """Python source for a piece of the graph."""
        return _Expression(self).visit(value)

    def literal(self, value: Any) -> str:
        if isinstance(value, float) and not math.isfinite(value):
            return f"float({str(value)!r})"
        if isinstance(value, (datetime, date)):
            self.imports.add("datetime")
            return repr(value)
        if value is None or isinstance(value, (str, int, float, bool, bytes)):
            return repr(value)
        raise FgError(f"cannot write a {type(value).__name__} value as Python", hint="use plain YAML scalars")

    def call_expr(self, node: CallNode) -> str:
        if id(node) in self.hoisted:
            return self.hoisted[id(node)]
        hoist = node.kind != "factory" and (self.uses.get(id(node), 0) > 1 or node.name)
        text = self.construct_expr(node)
        if not hoist:
            return text
        name = self.fresh_name(node.name, node.kind)
        self.statements.append(f"{name} = {text}")
        self.hoisted[id(node)] = name
        return name

    def construct_expr(self, node: CallNode) -> str:
        if node.kind == "singleton" and node.spec in CONTAINER_SPECS:
            if node.spec == "named_dict":
                return self.expr(dict(node.kwargs))
            return self.expr(list(node.args)) if node.spec == "named_list" else self.expr(tuple(node.args))
        function = self.callable_expr(node)
        if node.kind == "meta":
            return self.meta_expr(node, function)
        pieces = [self.expr(arg) for arg in node.args]
        kwargs = dict(node.call_kwargs)
        if "latent_args" in node.kwargs:
            merged = ", ".join(f"{self.literal(k)}: {self.expr(v)}" for k, v in kwargs.items())
            latent = self.expr(node.kwargs["latent_args"])
            pieces.append(f"**{{{merged}{', ' if merged else ''}**({latent} or {{}})}}")
        else:
            for key, item in kwargs.items():
                if isinstance(key, str) and key.isidentifier() and not keyword.iskeyword(key):
                    pieces.append(f"{key}={self.expr(item)}")
                else:
                    pieces.append(f"**{{{self.literal(key)}: {self.expr(item)}}}")
        if node.kind == "partial":
            return f"functools.partial({', '.join([function] + pieces)})"
        return f"{function}({', '.join(pieces)})"

    def meta_expr(self, node: CallNode, function: str) -> str:
        from fgtui.engine.config.yaml_out import graph_to_yaml

        raw = dict(node.call_kwargs)
        text = graph_to_yaml(ConfigGraph({"args": list(node.args), "kwargs": raw}))
        name = self.fresh_name(None, "meta_arguments")
        self.statements.append(f"{name} = {self.helper('_raw_arguments')}({text!r})")
        return f"{function}(*{name}[0], **{name}[1])"

    def callable_expr(self, node: CallNode) -> str:
        spec = apply_aliases(node.spec)
        module, colon, attrs = spec.partition(":")
        if colon and is_file_module(module):
            searchpath = node.kwargs.get("submodule_searchpath", [])
            loader = self.helper("_load_file_module")
            return f"{loader}({module!r}, {self.expr(searchpath)}).{attrs}"
        if colon:
            return f"{module}.{attrs}"
        if hasattr(builtins, spec.partition(".")[0]):
            return spec
        if spec == "getitem":
            self.imports.add("operator")
            return "operator.getitem"
        if spec in ("call", "items", "keys", "values"):
            return self.helper(spec)
        return f"{self.helper('_import_dotted')}({spec!r})"

    def var_expr(self, node: VarNode) -> str:
        style = self.param_style[node.name]
        if style == "plain":
            return node.name
        if node.has_default:
            return f"({node.name} if {node.name} is not _UNSET else {self.expr(node.default)})"
        return f"{self.helper('_required')}({node.name}, {node.name!r})"

    def parameters(self) -> list[str]:
        params = []
        for name, nodes in sorted(self.vars.items()):
            if not name.isidentifier() or keyword.iskeyword(name):
                raise FgError(
                    f"variable '{name}' is not a Python name, so it cannot be a parameter",
                    hint="rename the !var to a valid identifier",
                    location=nodes[0].location,
                )
            self.taken.add(name)
            defaults = [n.default for n in nodes if n.has_default]
            plain_defaults = all(not isinstance(d, (CallNode, VarNode, dict, list)) for d in defaults)
            if name == "pp_config":
                self.param_style[name] = "plain"
                params.append("pp_config=PP_CONFIG")
            elif not defaults:
                self.param_style[name] = "plain"
                params.append(name)
            elif (
                len(defaults) == len(nodes)
                and plain_defaults
                and all(d == defaults[0] for d in defaults)
                and all(type(d) is type(defaults[0]) for d in defaults)
            ):
                self.param_style[name] = "plain"
                params.append(f"{name}={self.literal(defaults[0])}")
            else:
                self.param_style[name] = "unset"
                self.helper("_UNSET")
                params.append(f"{name}=_UNSET")
        return params


def generate_code(graph: ConfigGraph, target: str | list[str] | None = "main") -> str:
    """Python source of a module whose `construct(**variables)` builds `target`."""
    value = graph.select(target)
    gen = _Generator(graph)
    gen.scan(value)
    params = gen.parameters()
    result = gen.expr(value)
    lines = [
        f'"""Generated by fgtui from {graph.source} (target: {target!r}).',
        "",
        "construct(**variables) builds what `fgtui construct` builds for this target.",
        '"""',
    ]
    lines += [f"import {module}" for module in sorted(gen.imports)]
    if "pp_config" in gen.vars:
        lines += ["", f"PP_CONFIG = {graph.pp_config!r}"]
    for name in gen.helpers:
        lines += ["", "", _HELPER_SOURCE[name].rstrip("\n")]
    signature = f"*, {', '.join(params)}" if params else ""
    lines += ["", "", f"def construct({signature}):"]
    lines += [f"    {statement}" for statement in gen.statements]
    lines += [
        f"    return {result}",
        "",
        "",
        'if __name__ == "__main__":',
        "    import pprint",
        "",
        "    pprint.pprint(construct())",
        "",
    ]
    return "\n".join(lines)


class _Scan(GraphVisitor):
    """The first pass of code generation: uses per node, specs to import, variables."""

    def __init__(self, generator) -> None:
        self.gen = generator

    def visit_call(self, node: CallNode) -> None:
        uses = self.gen.uses
        uses[id(node)] = uses.get(id(node), 0) + 1
        if uses[id(node)] > 1 and node.kind != "factory":
            return
        self.gen.note_spec(node)
        if node.kind == "meta":
            return
        for item in node.args:
            self.visit(item)
        for item in node.kwargs.values():
            self.visit(item)

    def visit_var(self, node: VarNode) -> None:
        group = self.gen.vars.setdefault(node.name, [])
        if all(other is not node for other in group):
            group.append(node)
            self.visit(node.default)

    def visit_dict(self, value: dict) -> None:
        for item in value.values():
            self.visit(item)

    def visit_list(self, value: list) -> None:
        for item in value:
            self.visit(item)

    visit_tuple = visit_list

    def visit_value(self, value: Any) -> None:
        return None


class _Expression(GraphVisitor):
    """The second pass: a Python expression for each piece of the graph."""

    def __init__(self, generator) -> None:
        self.gen = generator

    def visit_call(self, node: CallNode) -> str:
        return self.gen.call_expr(node)

    def visit_var(self, node: VarNode) -> str:
        return self.gen.var_expr(node)

    def visit_dict(self, value: dict) -> str:
        return "{" + ", ".join(f"{self.gen.literal(k)}: {self.visit(v)}" for k, v in value.items()) + "}"

    def visit_list(self, value: list) -> str:
        return "[" + ", ".join(self.visit(v) for v in value) + "]"

    def visit_tuple(self, value: tuple) -> str:
        inner = ", ".join(self.visit(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"

    def visit_value(self, value: Any) -> str:
        return self.gen.literal(value)
