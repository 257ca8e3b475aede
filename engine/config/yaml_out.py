"""Graph -> YAML that loads back to an equal graph (sharing included).

Nodes referenced more than once get an anchor (their `@name` when they have
one) and aliases; arguments are written in the form the loader reads back:
a sequence for positional only, a mapping for keywords (with `argN` keys for
positional ones), or literal `args`/`kwargs` when keyword names would be
mistaken for either.
"""

from __future__ import annotations

import re

from fgtui.engine.config.graph import CONTAINER_SPECS, CallNode, ConfigGraph, VarNode
from fgtui.engine.config.yaml_module import import_yaml

yaml = import_yaml()

_ARG_KEY = re.compile(r"arg\d+")


class _GraphDumper(yaml.SafeDumper):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.preferred_anchors: dict[int, str] = {}
        self.used_anchors: set[str] = set()

    def generate_anchor(self, node: yaml.Node) -> str:
        name = self.preferred_anchors.get(id(node))
        if name and name not in self.used_anchors:
            self.used_anchors.add(name)
            return name
        anchor = super().generate_anchor(node)
        while anchor in self.used_anchors:
            anchor = super().generate_anchor(node)
        self.used_anchors.add(anchor)
        return anchor

    def ignore_aliases(self, data) -> bool:
        return super().ignore_aliases(data) or isinstance(data, tuple)


def _needs_literal(kwargs: dict) -> bool:
    keys = set(kwargs)
    return any(isinstance(k, str) and _ARG_KEY.fullmatch(k) for k in keys) or bool(keys) and keys <= {"args", "kwargs"}


def _represent_call(dumper: _GraphDumper, node: CallNode) -> yaml.Node:
    tag = node.tag
    if node.spec in CONTAINER_SPECS and node.kind == "singleton":
        if node.spec == "named_dict":
            result = dumper.represent_mapping(tag, node.kwargs) if node.kwargs else dumper.represent_scalar(tag, "")
        else:
            result = dumper.represent_sequence(tag, list(node.args)) if node.args else dumper.represent_scalar(tag, "")
    elif not node.args and not node.kwargs:
        result = dumper.represent_scalar(tag, "")
    elif not node.kwargs:
        result = dumper.represent_sequence(tag, list(node.args))
    elif _needs_literal(node.kwargs):
        result = dumper.represent_mapping(tag, {"args": list(node.args), "kwargs": dict(node.kwargs)})
    else:
        mapping = {f"arg{index}": arg for index, arg in enumerate(node.args)}
        mapping.update(node.kwargs)
        result = dumper.represent_mapping(tag, mapping)
    if node.name:
        dumper.preferred_anchors[id(result)] = node.name
    return result


def _represent_var(dumper: _GraphDumper, node: VarNode) -> yaml.Node:
    if not node.has_default:
        return dumper.represent_scalar("!var", node.name)
    return dumper.represent_mapping("!var", {"name": node.name, "default": node.default})


_GraphDumper.add_representer(CallNode, _represent_call)
_GraphDumper.add_representer(VarNode, _represent_var)
_GraphDumper.add_representer(tuple, lambda dumper, data: dumper.represent_list(list(data)))


def graph_to_yaml(graph: ConfigGraph) -> str:
    """The graph as YAML; `load_graph` of the result equals `graph`."""
    return yaml.dump(
        graph.root, Dumper=_GraphDumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100
    )
