"""The template language: templates -> YAML -> node graph -> objects or Python code.

    env = TemplateEnvironment(["templates", ...])
    rendered = env.render("configs/train.yaml", {"lr": 3e-4})   # text, templates, line_map
    graph = load_rendered(rendered)                             # or load_graph(text)
    trainer = build(graph, "main")                              # a fresh build each call
    source = generate_code(graph, "main")                       # Python that builds the same

Previewing (render, load, codegen, YAML out) imports no module a template names.
"""

from __future__ import annotations

from fgtui.engine.lazy import lazy_exports

# Public name -> defining module. Imported on first use, so `fgtui pp` pays
# only for Jinja and the environment, not for the loader, builder and codegen.
_EXPORTS = {
    "Builder": "build",
    "build": "build",
    "generate_code": "codegen",
    "RenderedConfig": "environment",
    "TemplateEnvironment": "environment",
    "default_filters": "jinja_globals",
    "default_globals": "jinja_globals",
    "CallNode": "graph",
    "ConfigGraph": "graph",
    "VarNode": "graph",
    "graph_repr": "graph",
    "load_graph": "loader",
    "load_rendered": "loader",
    "graph_to_yaml": "yaml_out",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
