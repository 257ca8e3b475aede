"""Rendered YAML -> node graph, importing nothing the config names.

PyYAML composes the text (anchors and aliases become shared node objects,
so their order is the rendered order), then this module walks the composed
tree once. Tags:

    !singleton:SPEC[@name]  (= !call:)   !factory:SPEC   !partial:SPEC (!lambda: deprecated)
    !meta:SPEC   !var name | [name, default] | {name:, default:}
    !list / !tuple / !dict / !dlist, named as !list:@name

Arguments: a sequence is positional; a mapping is keyword, except `argN`
keys (positional, by N) and a mapping of exactly `args`/`kwargs` (literal);
a scalar is one positional argument; an empty scalar is none. Merge keys
work everywhere and a repeated key keeps its first position with its last
value, as PyYAML does (`!dlist` relies on it).
"""

from __future__ import annotations

import re
from typing import Any, Callable

from fgtui.engine.config import errors
from fgtui.engine.config.graph import CallNode, ConfigGraph, VarNode, split_arguments
from fgtui.engine.config.yaml_module import import_yaml
from fgtui.engine.errors import FgError

yaml = import_yaml()

STANDARD_TAG = "tag:yaml.org,2002:"
_STR_TAG = STANDARD_TAG + "str"
CALL_KINDS = {
    "singleton": "singleton",
    "call": "singleton",
    "factory": "factory",
    "partial": "partial",
    "lambda": "partial",
    "meta": "meta",
}
CONTAINER_KINDS = {"list": "named_list", "tuple": "named_tuple", "dict": "named_dict", "dlist": "named_list"}
TAG_HELP = "tags: !singleton:SPEC !factory:SPEC !partial:SPEC !meta:SPEC !var !list !tuple !dict !dlist"
_NAME = re.compile(r"\w+")
_MODULE = re.compile(r"\.*[A-Za-z_][\w.]*")
_ATTRS = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


# libyaml composes about ten times faster than pure Python; the node trees are the same.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Composer(_BaseLoader):
    """SafeLoader used for composing and for plain scalars only."""


# Forgather's tag prefixes, in the order PyYAML tries them: a tag is claimed by
# the first prefix it starts with, and the character after the prefix (":" by
# convention) is dropped unread. `!var` matches only exactly.
_TAG_PREFIXES = ("factory", "singleton", "call", "lambda", "partial", "meta", "tuple", "list", "dlist", "dict")


def parse_tag(tag: str) -> tuple[str, str, str | None]:
    """`!kind:spec@name` -> (kind, spec, name), with Forgather's reading of every spelling.

    kind is a node kind (singleton, factory, partial, meta), "var", or a
    container kind (list, tuple, dict, dlist). After the prefix, one
    character is skipped and the rest splits at its first '@': so
    `!dict@name` is an unnamed dict (the word after '@' takes the place
    of a callable, which containers ignore), and `!singleton@f` calls `f`.
    """
    if tag == "!var":
        return "var", "", None
    body = tag[1:]
    head = next((prefix for prefix in _TAG_PREFIXES if body.startswith(prefix)), None)
    if head is None:
        if body.startswith("var"):
            raise ValueError(f"!var takes no spec or name (got {tag}): write !var name")
        raise ValueError(f"unknown tag {tag}")
    suffix = body[len(head) :]
    spec, at, name = suffix[1:].partition("@")
    if head in CONTAINER_KINDS:
        return head, "", name if at and name else None
    if not suffix:
        raise ValueError(f"!{head} needs a callable: write !{head}:module:Name")
    if at and not _NAME.fullmatch(name):
        raise ValueError(f"bad node name '@{name}' in {tag}: use letters, digits and _")
    check_spec(spec)
    return head, spec, name if at else None


def check_spec(spec: str) -> None:
    """Refuse specs that can never resolve, with the right spelling in the message."""
    if not spec:
        raise ValueError("missing callable after ':' (write module:Name, path/file.py:Name or a builtin)")
    if spec.count(":") > 1 or spec.endswith(":"):
        raise ValueError(f"bad callable '{spec}': write module:attr.path (one ':', nothing trailing)")
    if ":" in spec:
        module, attrs = spec.split(":")
        is_file = module.endswith(".py") or "/" in module
        if not module or not (is_file or _MODULE.fullmatch(module)) or not _ATTRS.fullmatch(attrs):
            raise ValueError(f"bad callable '{spec}': write module:attr.path or path/file.py:Name")
    elif not _MODULE.fullmatch(spec) or spec.endswith("."):
        raise ValueError(f"bad callable '{spec}': write module:attr.path, a builtin name or a dotted path")


class _Converter:
    def __init__(self, source: str, line_map: list | None, chain_for: Callable[[str | None], list[str]] | None):
        self.source = source
        self.line_map = line_map
        self.chain_for = chain_for
        self.constructor = _Composer("")
        self.memo: dict[int, Any] = {}
        self.active: set[int] = set()
        self.names: dict[str, CallNode] = {}
        self.warnings: list[str] = []

    def where(self, node: yaml.Node) -> tuple[str | None, int | None]:
        """The template file and line of a node (paths shown to users are shortened later)."""
        line = node.start_mark.line
        if self.line_map is None:
            return self.source, line + 1
        origin = self.line_map[line] if 0 <= line < len(self.line_map) else None
        return origin if origin else (self.source, None)

    def fail(self, node: yaml.Node, message: str, hint: str) -> FgError:
        loc = errors.rendered_location(node.start_mark.line, node.start_mark.column, self.line_map, self.source)
        chain = self.chain_for(self.line_origin(node)) if self.chain_for else []
        return FgError(message, hint=hint, location=loc, chain=chain)

    def line_origin(self, node: yaml.Node) -> str | None:
        if self.line_map is None:
            return None
        line = node.start_mark.line
        origin = self.line_map[line] if 0 <= line < len(self.line_map) else None
        return origin[0] if origin else None

    def convert(self, node: yaml.Node) -> Any:
        key = id(node)
        if key in self.memo:
            return self.memo[key]
        if key in self.active:
            raise self.fail(
                node,
                "reference cycle: an alias refers to a node that contains it",
                "break the cycle; an anchor cannot be used inside its own value",
            )
        self.active.add(key)
        try:
            value = self._convert(node)
        finally:
            self.active.discard(key)
        self.memo[key] = value
        return value

    def _convert(self, node: yaml.Node) -> Any:
        tag = node.tag or ""
        if tag.startswith("!"):
            return self.tagged(node, tag)
        if isinstance(node, yaml.MappingNode) and tag == STANDARD_TAG + "map":
            return self.mapping(node)
        if isinstance(node, yaml.SequenceNode) and tag == STANDARD_TAG + "seq":
            return [self.convert(item) for item in node.value]
        if isinstance(node, yaml.ScalarNode):
            if tag == _STR_TAG:
                return node.value
            return self.constructor.construct_object(node, deep=True)
        raise self.fail(node, f"unsupported YAML tag {tag}", TAG_HELP)

    def mapping(self, node: yaml.MappingNode) -> dict:
        self.constructor.flatten_mapping(node)
        result: dict = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or (key_node.tag or "").startswith("!"):
                raise self.fail(key_node, "mapping keys must be plain scalars", "quote the key or use a plain name")
            key = key_node.value if key_node.tag == _STR_TAG else self.constructor.construct_object(key_node)
            try:
                hash(key)
            except TypeError:
                raise self.fail(key_node, "mapping key is not hashable", "use a plain scalar key") from None
            result[key] = self.convert(value_node)
        return result

    def scalar(self, node: yaml.ScalarNode) -> Any:
        plain = node.style in (None, "")  # libyaml reports plain style as ""
        if plain and node.value == "":
            return None
        if not plain:
            return node.value
        plain = yaml.ScalarNode(
            self.constructor.resolve(yaml.ScalarNode, node.value, (True, False)),
            node.value,
            node.start_mark,
            node.end_mark,
        )
        return self.constructor.construct_object(plain, deep=True)

    def tagged(self, node: yaml.Node, tag: str) -> Any:
        try:
            kind, spec, name = parse_tag(tag)
        except ValueError as exc:
            raise self.fail(node, str(exc), TAG_HELP) from None
        file, line = self.where(node)
        if kind == "var":
            return self.var(node, file, line)
        if kind in CONTAINER_KINDS:
            args, kwargs = self.container(node, kind)
            result = CallNode("singleton", CONTAINER_KINDS[kind], args, kwargs, name, file, line)
        else:
            if kind == "lambda":
                self.warnings.append(f"{file}:{line}: !lambda is deprecated; write !partial")
            args, kwargs = self.arguments(node)
            result = CallNode(CALL_KINDS[kind], spec, args, kwargs, name, file, line)
        if name:
            if name in self.names:
                first = self.names[name]
                raise self.fail(
                    node,
                    f"node name '@{name}' is used twice (first at {first.file}:{first.line})",
                    "give each named node its own name, or reuse the first one with an alias *anchor",
                )
            self.names[name] = result
        return result

    def is_empty(self, node: yaml.Node) -> bool:
        return isinstance(node, yaml.ScalarNode) and node.value == ""

    def arguments(self, node: yaml.Node) -> tuple[tuple, dict]:
        if isinstance(node, yaml.ScalarNode):
            return ((), {}) if node.value == "" else ((self.scalar(node),), {})
        if isinstance(node, yaml.SequenceNode):
            return tuple(self.convert(item) for item in node.value), {}
        mapping = self.mapping(node)
        if mapping and set(mapping) <= {"args", "kwargs"}:
            args, kwargs = mapping.get("args", []), mapping.get("kwargs", {})
            if not isinstance(args, (list, tuple)) or not isinstance(kwargs, dict):
                raise self.fail(
                    node,
                    "literal `args` must be a sequence and `kwargs` a mapping",
                    "write args: [..] and kwargs: {..}",
                )
            return tuple(args), dict(kwargs)
        return split_arguments(mapping)

    def container(self, node: yaml.Node, kind: str) -> tuple[tuple, dict]:
        if self.is_empty(node):
            return (), {}
        if kind == "dict":
            if not isinstance(node, yaml.MappingNode):
                raise self.fail(node, "!dict takes a mapping", "write !dict {key: value}")
            return (), self.mapping(node)
        if kind == "dlist":
            if isinstance(node, yaml.MappingNode):
                values = list(self.mapping(node).values())
            elif isinstance(node, yaml.SequenceNode):
                values = [self.convert(item) for item in node.value]
            else:
                raise self.fail(node, "!dlist takes a mapping", "write !dlist {key: value, other: ~}")
            return tuple(value for value in values if value is not None), {}
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"!{kind} takes a sequence", f"write !{kind} [a, b]")
        return tuple(self.convert(item) for item in node.value), {}

    def var(self, node: yaml.Node, file: str | None, line: int | None) -> VarNode:
        if isinstance(node, yaml.ScalarNode):
            name, has_default, default = node.value, False, None
        elif isinstance(node, yaml.SequenceNode) and len(node.value) in (1, 2):
            name = self.convert(node.value[0])
            has_default = len(node.value) == 2
            default = self.convert(node.value[1]) if has_default else None
        elif isinstance(node, yaml.MappingNode):
            mapping = self.mapping(node)
            if "name" not in mapping or set(mapping) - {"name", "default"}:
                raise self.fail(
                    node, "!var mapping needs `name` (and optionally `default`)", "write !var {name: x, default: 1}"
                )
            name, has_default, default = mapping["name"], "default" in mapping, mapping.get("default")
        else:
            raise self.fail(
                node, "!var takes a name, [name, default] or {name:, default:}", "write !var lr or !var [lr, 0.001]"
            )
        if not isinstance(name, str) or not name:
            raise self.fail(node, "!var name must be a non-empty string", "write !var lr")
        return VarNode(name, default, has_default, file, line)


def load_graph(
    yaml_text: str,
    source: str = "<config>",
    *,
    line_map: list | None = None,
    chain_for: Callable[[str | None], list[str]] | None = None,
) -> ConfigGraph:
    """Parse rendered YAML into a graph. Imports nothing the config names.

    `line_map` (from `RenderedConfig`) sends rendered lines back to template
    lines for messages; `chain_for(file)` gives the template chain to a file.
    """
    converter = _Converter(source, line_map, chain_for)
    try:
        node = yaml.compose(yaml_text, Loader=_Composer)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        origin = None
        if mark is not None and line_map and 0 <= mark.line < len(line_map) and line_map[mark.line]:
            origin = line_map[mark.line][0]
        chain = chain_for(origin) if chain_for else []
        raise errors.from_yaml_error(exc, line_map, source, chain, yaml_text) from None
    if node is None:
        return ConfigGraph(None, source, yaml_text)
    try:
        root = converter.convert(node)
    except yaml.YAMLError as exc:
        raise errors.from_yaml_error(exc, line_map, source, [], yaml_text) from None
    except RecursionError:
        raise FgError(
            "config nests too deeply to load", hint="flatten the structure", location=errors.location(source, None)
        ) from None
    if isinstance(root, dict):
        root = {key: value for key, value in root.items() if not str(key).startswith(".")}
    return ConfigGraph(root, source, yaml_text, converter.warnings)


def load_rendered(rendered: Any) -> ConfigGraph:
    """Load a `RenderedConfig`, with messages located in its templates."""
    return load_graph(rendered.text, rendered.source, line_map=rendered.line_map, chain_for=rendered.chain_to)
