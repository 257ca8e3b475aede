"""A node graph printed as YAML, by Forgather's `graph` or fgtui's, read into one plain form.

The two print the same graph differently (Forgather: Python reprs, `!lambda`,
lists as `!singleton:named_list`, shared nodes under `.define`; fgtui: YAML
scalars, `!partial`, `!list`, anchors in place), so the goldens are compared
by meaning: every node becomes a tuple (kind, callable, explicit @name,
positional arguments, keyword arguments), aliases are followed, and dot keys
at the root are dropped. Forgather does not print a node's
`submodule_searchpath` and `latent_args`, so they are left out of both, and
`versions` mappings are masked. Tags are read with Forgather's rules (the character
after the kind is skipped, the rest splits at its first '@').
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_KINDS = {
    "singleton": "singleton",
    "call": "singleton",
    "factory": "factory",
    "lambda": "partial",
    "partial": "partial",
    "meta": "meta",
}
_CONTAINER_SPECS = {"named_list": "list", "named_tuple": "tuple", "named_dict": "dict"}
_TAG_PREFIXES = ("factory", "singleton", "call", "lambda", "partial", "meta", "tuple", "list", "dlist", "dict")
_ARG = re.compile(r"arg(\d+)")
_NODE_SETTINGS = ("submodule_searchpath", "latent_args")


class _Composer(yaml.SafeLoader):
    pass


def canonical_graph(text: str) -> Any:
    # Masked words (see masking.py) may sit inside tags, where '<' is not allowed.
    text = re.sub(r"<([A-Z]+)>", r"MASKED_\1", text)
    # Forgather prints a named tuple as `!singleton:named_tuple!tuple` (two tags run together).
    text = re.sub(r"(![^\s!]+)!tuple\b", r"\1", text)
    node = yaml.compose(text, Loader=_Composer)
    if node is None:
        return None
    root = _Reader().value(node)
    if isinstance(root, dict):
        root = {key: value for key, value in root.items() if not str(key).startswith(".")}
    return _mask_versions(root, {})


def _mask_versions(value: Any, seen: dict[int, Any]) -> Any:
    """`versions` mappings (python, torch, ...) differ between installs: compared as one word."""
    if id(value) in seen:
        return seen[id(value)]
    if isinstance(value, dict):
        if "python" in value and all(isinstance(v, str) for v in value.values()):
            return "<VERSIONS>"
        result: Any = {}
        seen[id(value)] = result
        result.update({k: _mask_versions(v, seen) for k, v in value.items()})
        return result
    if isinstance(value, tuple):
        result = tuple(_mask_versions(v, seen) for v in value)
        seen[id(value)] = result
        return result
    return value


class _Reader:
    def __init__(self) -> None:
        self.memo: dict[int, Any] = {}

    def value(self, node: yaml.Node) -> Any:
        key = id(node)
        if key not in self.memo:
            self.memo[key] = ("cycle",)
            self.memo[key] = self._value(node)
        return self.memo[key]

    def _value(self, node: yaml.Node) -> Any:
        tag = node.tag or ""
        if tag.startswith("!") and not tag.startswith("!!"):
            return self.tagged(node, tag)
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node)
        if isinstance(node, yaml.SequenceNode):
            return tuple(self.value(item) for item in node.value)
        return self.scalar(node)

    def mapping(self, node: yaml.MappingNode) -> dict:
        return {
            self.scalar(k) if isinstance(k, yaml.ScalarNode) else self.value(k): self.value(v) for k, v in node.value
        }

    @staticmethod
    def scalar(node: yaml.ScalarNode) -> Any:
        text = node.value
        if node.style not in (None, ""):
            return text  # quoted or a block: a string as written
        lowered = text.lower()
        if lowered in ("", "~", "null", "none"):
            return None
        if lowered in ("true", "false"):
            return lowered == "true"
        try:
            return int(text.replace("_", ""), 0) if re.fullmatch(r"[-+]?(0x)?[0-9_a-fA-F]+", text) else float(text)
        except ValueError:
            return text

    def tagged(self, node: yaml.Node, tag: str) -> Any:
        body = tag[1:]
        if body == "var":
            return self.var(node)
        head = next((prefix for prefix in _TAG_PREFIXES if body.startswith(prefix)), None)
        if head is None:
            return ("unknown-tag", tag, self.plain(node))
        rest = body[len(head) :][1:]
        spec, at, name = rest.partition("@")
        name = name if at and name else None
        if head in ("list", "tuple", "dlist", "dict"):
            return self.container(head, name, node)
        if spec.endswith("!tuple"):  # Forgather prints a named tuple's items with a second tag
            spec = spec[: -len("!tuple")]
        if name and name.endswith("!tuple"):
            name = name[: -len("!tuple")]
        if spec in _CONTAINER_SPECS:
            return self.container(_CONTAINER_SPECS[spec], name, node)
        args, kwargs = self.arguments(node)
        # Forgather keeps these two on the node, out of its printed arguments.
        kwargs = {k: v for k, v in kwargs.items() if k not in _NODE_SETTINGS}
        return ("call", _KINDS[head], spec, name, args, kwargs)

    def plain(self, node: yaml.Node) -> Any:
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node)
        if isinstance(node, yaml.SequenceNode):
            return tuple(self.value(item) for item in node.value)
        return self.scalar(node)

    def container(self, kind: str, name: str | None, node: yaml.Node) -> tuple:
        if isinstance(node, yaml.ScalarNode) and node.value == "":
            items: Any = {} if kind == "dict" else ()
        elif kind == "dict":
            items = self.mapping(node) if isinstance(node, yaml.MappingNode) else self.plain(node)
        elif kind == "dlist" and isinstance(node, yaml.MappingNode):
            items = tuple(v for v in self.mapping(node).values() if v is not None)
        else:
            items = self.plain(node)
        return ("dict" if kind == "dict" else "list" if kind in ("list", "dlist") else "tuple", name, items)

    def arguments(self, node: yaml.Node) -> tuple[tuple, dict]:
        if isinstance(node, yaml.ScalarNode):
            return ((), {}) if node.value == "" else ((self.scalar(node),), {})
        if isinstance(node, yaml.SequenceNode):
            return tuple(self.value(item) for item in node.value), {}
        mapping = self.mapping(node)
        if mapping and set(mapping) <= {"args", "kwargs"}:
            args, kwargs = mapping.get("args", ()), mapping.get("kwargs", {})
            return tuple(args or ()), dict(kwargs or {})
        positional = sorted((int(m[1]), key) for key in mapping if isinstance(key, str) and (m := _ARG.fullmatch(key)))
        taken = {key for _, key in positional}
        return (
            tuple(mapping[key] for _, key in positional),
            {key: value for key, value in mapping.items() if key not in taken},
        )

    def var(self, node: yaml.Node) -> tuple:
        if isinstance(node, yaml.ScalarNode):
            return ("var", node.value, False, None)
        if isinstance(node, yaml.SequenceNode):
            items = [self.value(item) for item in node.value]
            return ("var", items[0], len(items) > 1, items[1] if len(items) > 1 else None)
        mapping = self.mapping(node)
        return ("var", mapping.get("name"), "default" in mapping, mapping.get("default"))
