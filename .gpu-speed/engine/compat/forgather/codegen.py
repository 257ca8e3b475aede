"""`forgather.codegen`: a config subgraph -> Python source, rendered into a code template.

Used as a `!meta` node (it receives the unbuilt graph), as Forgather's model projects do
to write a model's construction code into the output dir. The template sees:

    imports      sorted (module, name) pairs: `from module import name`
    variables    sorted (name, has_default, default) of the graph's !var nodes
    definitions  statements assigning the nodes that need a name
    main_body    the expression that builds the graph's root

plus the caller's keyword arguments. A node gets a name when it is used more than once
(a shared singleton is made once; a factory is defined as a partial and called at each
use); with name_policy "named" also when the config names it (`@name`), and with "all"
every call. Templates use Forgather's line syntax (`-- stmt`, `== expr`, `## comment`).
"""

from __future__ import annotations

import os
from typing import Any

from fgtui.engine.config.graph import CONTAINER_SPECS, CallNode, VarNode
from fgtui.engine.config.sugar import preprocess
from fgtui.engine.errors import FgError

NAME_POLICIES = ("required", "named", "all")
# The default module: `construct(**variables)` building the graph. Plain Jinja (no line
# syntax needed); a model project's own code templates use the line syntax, which the
# loader translates with the template language's own preprocessor.
DEFAULT_TEMPLATE = (
    "from functools import partial\n"
    "{% for module, name in imports %}from {{ module }} import {{ name }}\n{% endfor %}"
    "\n\n"  # trim_blocks takes the first newline after the loop
    "def {{ factory_name | default('construct') }}(\n"
    "{% for var, has_default, default in variables %}"
    "    {{ var }}{{ ('=' ~ repr(default)) if has_default else '' }},\n"
    "{% endfor %}"
    "{% if relaxed_kwargs is defined %}    **kwargs\n{% endif %}"
    "):\n"
    "    {{ definitions | indent(4) }}\n"
    "\n"
    "    return {{ main_body | indent(4) }}\n"
)


def _block(open_: str, items: list[str], close: str) -> str:
    """`open_` items... `close`, one item per line (nested items indented with them)."""
    if not items:
        return open_ + close
    body = "".join("    " + item.replace("\n", "\n    ") + ",\n" for item in items)
    return f"{open_}\n{body}{close}"


class PythonEncoder:
    """Turns one graph into imports, variables, definitions and a main expression."""

    def __init__(self, name_policy: str = "named") -> None:
        if name_policy not in NAME_POLICIES:
            raise FgError(f"name_policy {name_policy!r} is not one of {', '.join(NAME_POLICIES)}")
        self.policy = name_policy
        self.uses: dict[int, int] = {}
        self.imports: set[tuple[str, str]] = set()
        self.variables: dict[str, tuple[str, bool, Any]] = {}
        self.names: dict[int, str] = {}
        self.taken: set[str] = set()
        self.definitions: list[str] = []
        self.defined: set[int] = set()
        self.needs_partial = False

    def __call__(self, obj: Any) -> dict[str, Any]:
        self._count(obj)
        self._name(obj, set())
        main_body = self._expr(obj, top=True)
        return {
            "imports": sorted(self.imports),
            "variables": sorted(self.variables.values(), key=repr),
            "definitions": "\n".join(self.definitions),
            "main_body": main_body,
            "dynamic_imports": [],
        }

    # -- analysis
    def _children(self, value: Any) -> list:
        if isinstance(value, CallNode):
            return [*value.args, *value.kwargs.values()]
        if isinstance(value, dict):
            return list(value.values())
        if isinstance(value, (list, tuple)):
            return list(value)
        if isinstance(value, VarNode):
            return [value.default] if value.has_default else []
        return []

    def _count(self, value: Any) -> None:
        if isinstance(value, CallNode):
            self.uses[id(value)] = self.uses.get(id(value), 0) + 1
            if self.uses[id(value)] > 1:
                return
        if isinstance(value, VarNode):
            self.variables.setdefault(
                value.name, (value.name, value.has_default, value.default if value.has_default else None)
            )
            return
        for child in self._children(value):
            self._count(child)

    def _wants_name(self, node: CallNode) -> bool:
        if self.uses.get(id(node), 0) > 1:
            return True
        return (self.policy == "named" and bool(node.name)) or self.policy == "all"

    def _name(self, value: Any, seen: set[int]) -> None:
        if isinstance(value, CallNode):
            if id(value) in seen:
                return
            seen.add(id(value))
            if self._wants_name(value):
                base = value.name or self._callable_name(value).split(".")[-1].lower()
                name, counter = base, 1
                while name in self.taken:
                    counter += 1
                    name = f"{base}_{counter}"
                self.taken.add(name)
                self.names[id(value)] = name
        for child in self._children(value):
            self._name(child, seen)

    # -- emission
    def _callable_name(self, node: CallNode) -> str:
        spec = node.spec
        if ":" in spec:
            module, attrs = spec.split(":", 1)
            if module.endswith(".py") or "/" in module:
                raise FgError(
                    f"code generation cannot import the file module '{spec}'",
                    hint="name the callable by its package module (relative '.module:Name' "
                    "for files on the submodule search path)",
                    location=node.location,
                )
            head = attrs.split(".")[0]
            self.imports.add((module, head))
            return attrs
        if "." in spec and spec not in ("dict.fromkeys",):
            module, _, name = spec.rpartition(".")
            self.imports.add((module, name))
            return name
        return spec

    def _arguments(self, node: CallNode) -> list[str]:
        items = [self._expr(arg) for arg in node.args]
        items += [
            f"{key}={self._expr(value)}"
            for key, value in node.kwargs.items()
            if key not in ("submodule_searchpath", "_identity")
        ]
        return items

    def _call_text(self, node: CallNode, partial: bool) -> str:
        if node.spec in CONTAINER_SPECS and node.kind == "singleton":
            return self._container(node)
        if node.spec == "getitem":
            return f"{self._expr(node.args[0])}[{self._expr(node.args[1])}]"
        if node.spec == "call":
            rest = self._arguments(CallNode(node.kind, "call", node.args[1:], node.kwargs))
            return f"{self._expr(node.args[0])}({', '.join(rest)})"
        function = self._callable_name(node)
        arguments = self._arguments(node)
        if partial:
            self.needs_partial = True
            return _block(f"partial({function},", arguments, ")") if arguments else function
        return _block(f"{function}(", arguments, ")")

    def _container(self, node: CallNode) -> str:
        if node.spec == "named_dict":
            return _block("{", [f"{key!r}: {self._expr(value)}" for key, value in node.kwargs.items()], "}")
        items = [self._expr(item) for item in node.args]
        if node.spec == "named_tuple":
            return _block("(", items, ")") if items else "()"
        return _block("[", items, "]")

    def _define(self, node: CallNode) -> None:
        if id(node) in self.defined:
            return
        self.defined.add(id(node))
        # A named factory is defined as a constructor and called where it is used.
        text = self._call_text(node, partial=node.kind in ("partial", "factory"))
        self.definitions.append(f"{self.names[id(node)]} = {text}\n")

    def _expr(self, value: Any, top: bool = False) -> str:
        if isinstance(value, CallNode):
            if value.kind == "meta":
                raise FgError("a !meta node cannot be turned into code", location=value.location)
            if id(value) in self.names:
                self._define(value)
                name = self.names[id(value)]
                return f"{name}()" if value.kind == "factory" else name
            return self._call_text(value, partial=value.kind == "partial")
        if isinstance(value, VarNode):
            return value.name
        if isinstance(value, dict):
            return _block("{", [f"{key!r}: {self._expr(item)}" for key, item in value.items()], "}")
        if isinstance(value, list):
            return _block("[", [self._expr(item) for item in value], "]")
        if isinstance(value, tuple):
            return _block("(", [self._expr(item) for item in value], ")") if value else "()"
        return repr(value)


def generate_code(
    obj: Any,
    template_name: str | None = None,
    template_str: str | None = None,
    searchpath: Any = ".",
    env: Any = None,
    name_policy: str | None = None,
    **kwargs: Any,
) -> str:
    """Python source for `obj` (a graph) rendered into a template (by name from `searchpath`,
    or `template_str`, or the default module with a `construct(**variables)` function)."""
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    encoded = PythonEncoder(name_policy or "named")(obj)
    if env is None:
        paths = [searchpath] if isinstance(searchpath, (str, os.PathLike)) else list(searchpath or [])
        paths = [str(p) for p in paths if os.path.isdir(p)]

        class LineSyntaxLoader(jinja2.FileSystemLoader):
            def get_source(self, environment, template):
                source, filename, uptodate = super().get_source(environment, template)
                return preprocess(source), filename, uptodate

        env = SandboxedEnvironment(loader=LineSyntaxLoader(paths), trim_blocks=True, undefined=jinja2.StrictUndefined)
        env.globals["repr"] = repr
    if template_name is not None:
        try:
            template = env.get_template(template_name)
        except jinja2.TemplateNotFound:
            raise FgError(
                f"code template {template_name!r} not found in {searchpath}",
                hint="check the model template name and search path",
            ) from None
    else:
        template = env.from_string(preprocess(template_str) if template_str else DEFAULT_TEMPLATE)
    return template.render(**{**kwargs, **encoded}).strip()
