"""Generated Python builds what `build` builds; graph YAML loads back to the same graph."""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
import textwrap

import pytest

from fgtui.engine.config import build, generate_code, graph_to_yaml, load_graph

from .conftest import load

CONFIG = """
.define: &shared !singleton:collections:OrderedDict@shared
    a: 1
.fac: &fac !factory:fractions:Fraction [1, 3]
main: !singleton:dict
    x: *shared
    y: *shared
    f1: *fac
    f2: *fac
    part: !partial:int ['10']
    lr: !var [lr, 0.5]
    name: !var name
    nested: !singleton:os:path.join [a, b]
    deep: !singleton:os.path.join [c, d]
    builtin: !singleton:dict.fromkeys [[k], 0]
    items: !singleton:items [{q: 1}]
    picked: !singleton:getitem [[1, 2, 3], 2]
    seq: !list [1, !tuple [2, 3]]
    dl: !dlist {a: 1, b: ~, c: 3}
    kw: !singleton:dict
        "not-an-identifier": 1
        class: 2
    latent: !singleton:dict
        a: 1
        latent_args: !var [extra, {b: 2}]
    inf: .inf
"""


def run(code: str, **variables):
    namespace: dict = {}
    exec(compile(code, "<generated>", "exec"), namespace)
    return namespace["construct"](**variables)


def comparable(value):
    if isinstance(value, functools.partial):
        return ("partial", value.func, value.args, value.keywords)
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(comparable(v) for v in value)
    return value


def test_generated_code_builds_what_build_builds():
    graph = load(CONFIG)
    code = generate_code(graph, "main")
    ast.parse(code)
    built = build(graph, "main", context={"name": "n"})
    made = run(code, name="n")
    assert comparable(made) == comparable(built)


def test_generated_code_keeps_sharing_and_freshness():
    made = run(generate_code(load(CONFIG), "main"), name="n")
    assert made["x"] is made["y"]
    assert made["f1"] == made["f2"] and made["f1"] is not made["f2"]


def test_variables_become_parameters():
    code = generate_code(load(CONFIG), "main")
    assert "def construct(*, extra=_UNSET, lr=0.5, name):" in code
    assert run(code, name="n", lr=0.1, extra={"c": 3})["latent"] == {"a": 1, "c": 3}
    assert run(code, name="n", lr=0.1)["lr"] == 0.1


def test_module_attr_path_specs_emit_valid_imports():
    code = generate_code(
        load("main: !singleton:os:path.join [a, b]\nopt: !partial:collections.abc:Mapping.get []\n"), None
    )
    assert "import os\n" in code and "os.path.join('a', 'b')" in code
    assert "import collections.abc\n" in code
    assert run(code)["main"] == "a/b"


def test_code_for_a_whole_graph():
    graph = load("a: !singleton:dict {x: 1}\nb: [1, 2]\n")
    assert run(generate_code(graph, None)) == build(graph, None)


def test_pp_config_parameter_defaults_to_the_config_text():
    graph = load("main: !var pp_config\n")
    assert run(generate_code(graph)) == build(graph)


def test_named_variables_avoid_shadowing_imports():
    graph = load(".o: &os !singleton:dict@os {a: 1}\nmain: [*os, *os, !singleton:os:getcwd []]\n")
    made = run(generate_code(graph))
    assert made[0] is made[1] and isinstance(made[2], str)


def test_file_specs_in_generated_code(tmp_path):
    (tmp_path / "mod.py").write_text("def f(x):\n    return x * 2\n")
    graph = load(f"main: !singleton:{tmp_path}/mod.py:f [21]\n")
    assert run(generate_code(graph)) == 42


def test_meta_nodes_in_generated_code():
    graph = load("main: !meta:builtins:list\n  - [!singleton:dict {a: 1}]\n")
    assert run(generate_code(graph)) == build(graph)


def test_generating_code_imports_nothing(tmp_path):
    (tmp_path / "sentinel_mod_fgtui.py").write_text("raise SystemExit('imported!')\n")
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from fgtui.engine.config import load_graph, generate_code, graph_to_yaml, graph_repr
        g = load_graph("main: !singleton:sentinel_mod_fgtui:X [1]\\nb: !singleton:sentinel_mod_fgtui.Y []\\n")
        generate_code(g, None); graph_to_yaml(g); graph_repr(g)
        print('sentinel_mod_fgtui' in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


ROUND_TRIP = [
    CONFIG,
    "a: !singleton:f\n  args: [1]\n  kwargs: {arg0: 2, args: 3}\n",
    "a: !singleton:f {kwargs: {a: 1}}\nb: !singleton:f {args: [1]}\n",
    "a: !singleton:f [1, 2]\nb: !singleton:f {k: v}\nc: !singleton:f\nd: !singleton:f 5\n",
    "a: !var x\nb: !var [y, null]\nc: !var {name: z, default: {q: [1]}}\n",
    "a: &l [1, 2]\nb: *l\nc: !dict\nd: !list\ne: !tuple:@t [1]\n",
    ".x: &n !factory:f@named []\na: [*n, *n]\nb: {k: *n}\n",
    "a: !meta:m:f [!singleton:.rel:X []]\n",
    "1: int key\n'1': str key\nt: 2020-01-02\nf: 1.5e-3\nn: null\nb: true\ns: 'yes'\n",
]


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_graph_yaml_round_trip(text):
    graph = load(text)
    again = load_graph(graph_to_yaml(graph))
    assert again == graph


def test_round_trip_keeps_names_as_anchors():
    yaml_text = graph_to_yaml(load(".x: &n !singleton:f@model []\na: [*n, *n]\n"))
    assert "&model !singleton:f@model" in yaml_text and "*model" in yaml_text


def test_graph_equality_sees_sharing():
    assert load("a: &x !singleton:f []\nb: *x\n") != load("a: !singleton:f []\nb: !singleton:f []\n")
