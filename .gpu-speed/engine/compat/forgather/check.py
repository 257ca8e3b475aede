"""Before a launch writes anything: is every `forgather.*` name in the config one fgtui provides?

Reads the loaded graph only (no imports), so it runs at --dry-run and before the run
dir exists. The first missing name is reported with the config line that uses it.
"""

from __future__ import annotations

from fgtui.engine.compat.forgather import names
from fgtui.engine.compat.forgather.resolve import not_provided, real_forgather_installed


def forgather_calls(graph) -> list:
    """The call nodes naming a `forgather.*` object, provided or not."""
    from fgtui.engine.config.graph import CallNode, walk_nodes

    nodes = walk_nodes(graph.root)
    return [node for node in nodes if isinstance(node, CallNode) and names.is_forgather_spec(node.spec)]


def missing_names(graph) -> list:
    """The call nodes naming a Forgather object fgtui does not provide, in file order."""
    if real_forgather_installed():
        return []
    found = [node for node in forgather_calls(graph) if names.lookup(node.spec) is None]
    return sorted(found, key=lambda node: (node.file or "", node.line or 0))


def check_graph(graph) -> None:
    """Raise FgError naming the first unprovided Forgather name and its template line."""
    missing = missing_names(graph)
    if missing:
        node = missing[0]
        error = not_provided(node.spec, node.location)
        if len(missing) > 1:
            others = sorted({n.spec for n in missing[1:]} - {node.spec})
            if others:
                error.message += f" (also: {', '.join(others)})"
        raise error
