"""A small project written the way Forgather templates are written, rendered and built.

The idioms: a namespace set up in the root type template, a macro library,
`-- filter trim()` / `<< endblock` boilerplate, `[config_metadata]` with
`== super()` and `ns.x = x | default(...)`, `toyaml` defaults, a `!dlist`
of dynamic args extended by children, `.define:` anchors, merge keys into
tagged mappings, templated specs, `latent_args`, `!partial:call`, `!var
"pp_config"`, inline sub-templates mixed in with `include`, and a dynamic
parent chosen through `ns`.
"""

from __future__ import annotations

import functools

import pytest

from fgtui.engine.config import build, generate_code, graph_to_yaml, load_graph

FILES = {
    "inc/formatting.jinja": """
        -- macro h1(title)
        # ========== {{ title }} ==========
        -- endmacro
    """,
    "types/config_type.yaml": """
        -- set ns = namespace()
        -- from 'inc/formatting.jinja' import h1
        [config_metadata]
        -- set ns.config_name = "Anonymous"
        -- set ns.trainer_class = trainer_class | default('trainers/simple.yaml')
        [header]
        == h1(ns.config_name)
        [dynamic_args]
        dynamic_args: !dlist
            null: ~
        [main]
        meta: !singleton:dict
            name: "{{ ns.config_name }}"
            pp: !var "pp_config"
        -- filter trim()
        -- block main_body
        main: !singleton:dict
            placeholder: true
        << endblock
        -- endfilter
    """,
    "trainers/simple.yaml": """
        [trainer]
        .trainer: &trainer !singleton:dict@trainer
            kind: simple
            steps: {{ ns.steps | toyaml(10) }}
    """,
    "trainers/fancy.yaml": """
        -- extends 'trainers/simple.yaml'
        [trainer]
        .trainer: &trainer !singleton:dict@trainer
            kind: fancy
            steps: {{ ns.steps | toyaml(10) }}
            extra: {{ ns.extra | toyaml }}
    """,
    "project.yaml": """
        -- extends 'types/config_type.yaml'
        [config_metadata]
            == super()
            -- set ns.config_name = "Project"
            -- set ns.lr = lr | default(1.0e-3)
            -- set ns.extra = {'a': [1, 2]}
            ## the trainer template is chosen by a variable
        [dynamic_args]
            == super()
            lr:
                names: "--lr"
                type: float
        [main_body]
        .define: &common
            lr: {{ ns.lr }}
            betas: [0.9, 0.99]
        .optimizer: &optimizer !partial:{{ 'collections' }}:{{ 'OrderedDict' }}@optimizer
            <<: *common
            lr: {{ ns.lr * 2 }}
        -- include 'project.trainer'
        main: !singleton:dict
            optimizer: *optimizer
            trainer: *trainer
            summed: !partial:call [!partial:operator:add [1]]
            scaled: !singleton:dict
                base: 1
                latent_args: !var [overrides, {base: 2}]
        #---- project.trainer ----
        -- extends ns.trainer_class
        [trainer]
            == super()
            note: from the inline template
    """,
    "configs/default.yaml": """
        -- extends 'project.yaml'
        [config_metadata]
            == super()
            -- set ns.config_name = "Default"
            -- set ns.steps = steps | default(100)
        [dynamic_args]
            == super()
            steps:
                names: "--steps"
                type: int
    """,
}


@pytest.fixture
def project(tree):
    return tree.write(FILES)


def test_renders(project):
    text = project.render("configs/default.yaml")
    assert "# ========== Default ==========" in text
    assert "kind: simple" in text and "note: from the inline template" in text


def test_builds_what_the_templates_say(project):
    graph = project.graph("configs/default.yaml")
    assert graph.targets == ["dynamic_args", "meta", "main"]
    main = build(graph, "main")
    assert "placeholder" not in main
    assert dict(main["optimizer"]()) == {"lr": 0.002, "betas": [0.9, 0.99]}
    assert main["trainer"] == {"kind": "simple", "steps": 100, "note": "from the inline template"}
    assert main["summed"](2) == 3
    assert main["scaled"] == {"base": 2}
    args = build(graph, "dynamic_args")
    assert [a["names"] for a in args] == ["--lr", "--steps"]
    meta = build(graph, "meta")
    assert meta["name"] == "Default" and "# ========== Default" in meta["pp"]


def test_dynamic_parent_and_variables(project):
    graph = project.graph("configs/default.yaml", {"trainer_class": "trainers/fancy.yaml", "lr": 0.5, "steps": 7})
    main = build(graph, "main", context={"overrides": {"base": 5}})
    assert main["trainer"] == {"kind": "fancy", "steps": 7, "extra": {"a": [1, 2]}, "note": "from the inline template"}
    assert dict(main["optimizer"]())["lr"] == 1.0
    assert main["scaled"] == {"base": 5}


def test_codegen_and_round_trip_on_the_project(project):
    graph = project.graph("configs/default.yaml")
    assert load_graph(graph_to_yaml(graph)) == graph
    namespace: dict = {}
    exec(generate_code(graph, "main"), namespace)
    made = namespace["construct"]()
    built = build(graph, "main")
    assert made["trainer"] == built["trainer"]
    assert isinstance(made["optimizer"], functools.partial)
    assert dict(made["optimizer"]()) == dict(built["optimizer"]())
