"""Building objects: sharing, freshness, variables, targets, signature checks, specs."""

from __future__ import annotations

import functools
import textwrap

import pytest

from fgtui.engine.config import build
from fgtui.engine.config.aliases import apply_aliases
from fgtui.engine.errors import FgError

from .conftest import load

HELPERS = """
calls = []

def make(*args, **kwargs):
    calls.append((args, kwargs))
    return {"args": list(args), "kwargs": kwargs, "serial": len(calls)}

def nothing():
    calls.append("nothing")
    return None

def needs(a, b, *, c=1):
    return (a, b, c)

def boom():
    raise ValueError("kaboom")
"""


@pytest.fixture
def helpers(tmp_path):
    path = tmp_path / "helpers.py"
    path.write_text(HELPERS)
    return str(path)


def graph_with(helpers: str, text: str):
    return load(textwrap.dedent(text).replace("HELPERS", helpers))


def test_singleton_is_shared_within_a_build(helpers):
    graph = graph_with(
        helpers,
        """
        .a: &a !singleton:HELPERS:make []
        main: {x: *a, y: *a}
    """,
    )
    out = build(graph)
    assert out["x"] is out["y"]


def test_none_singleton_is_made_once(helpers):
    graph = graph_with(
        helpers,
        """
        .n: &n !singleton:HELPERS:nothing
        main: [*n, *n, *n]
    """,
    )
    assert build(graph) == [None, None, None]
    from fgtui.engine.config import specs

    module = specs.load_file_module(helpers, [], None)
    assert module.calls.count("nothing") == 1


def test_factory_is_fresh_at_every_reference(helpers):
    graph = graph_with(
        helpers,
        """
        .f: &f !factory:HELPERS:make []
        main: [*f, *f]
    """,
    )
    first, second = build(graph)
    assert first == {"args": [], "kwargs": {}, "serial": first["serial"]}
    assert first is not second and second["serial"] == first["serial"] + 1


def test_each_build_is_fresh(helpers):
    graph = graph_with(helpers, "main: !singleton:HELPERS:make []\n")
    assert build(graph) is not build(graph)


def test_partial_becomes_a_callable(helpers):
    graph = graph_with(helpers, "main: !partial:HELPERS:needs\n  a: 1\n")
    made = build(graph)
    assert isinstance(made, functools.partial) and made(b=2) == (1, 2, 1)


def test_partial_is_shared_like_a_singleton():
    graph = load(".p: &p !partial:int []\nmain: [*p, *p]\n")
    first, second = build(graph)
    assert first is second


def test_meta_receives_unbuilt_nodes():
    graph = load("main: !meta:builtins:list\n  - [!singleton:dict {a: 1}]\n")
    from fgtui.engine.config import CallNode

    made = build(graph)
    assert isinstance(made[0], CallNode) and made[0].spec == "dict"


def test_call_passes_args_and_kwargs(helpers):
    graph = graph_with(helpers, "main: !singleton:HELPERS:make\n  arg1: b\n  arg0: a\n  k: 1\n")
    made = build(graph)
    assert made["args"] == ["a", "b"] and made["kwargs"] == {"k": 1}


def test_var_from_context_and_default():
    graph = load("main: {a: !var x, b: !var [y, 5], c: !var {name: z, default: [1]}}\n")
    assert build(graph, context={"x": 1}) == {"a": 1, "b": 5, "c": [1]}
    assert build(graph, context={"x": 1, "y": 2})["b"] == 2


def test_var_without_value_is_an_error():
    with pytest.raises(FgError, match="variable 'x' has no value") as info:
        build(load("a: 1\nmain: !var x\n"))
    assert info.value.location.line == 2


def test_pp_config_is_in_the_context():
    text = "main: !var pp_config\n"
    assert build(load(text)) == text


def test_targets():
    graph = load("main: 1\nother: !singleton:dict {a: 2}\n.hidden: 3\n")
    assert build(graph, "other") == {"a": 2}
    assert build(graph, ["main", "other"]) == {"main": 1, "other": {"a": 2}}
    assert build(graph, None) == {"main": 1, "other": {"a": 2}}


def test_unknown_target_lists_the_targets():
    with pytest.raises(FgError) as info:
        build(load("main: 1\nother: 2\n"), "nope")
    assert "main, other" in info.value.hint


def test_call_flag_calls_the_target():
    assert build(load("main: !partial:int ['7']\n"), call=True) == 7
    with pytest.raises(FgError, match="cannot be called"):
        build(load("main: 1\n"), call=True)


def test_containers_build_plain_values():
    graph = load("main: {l: !list [1, 2], t: !tuple [1], d: !dict {1: a}, e: !dlist {a: 1, b: ~}}\n")
    assert build(graph) == {"l": [1, 2], "t": (1,), "d": {1: "a"}, "e": [1]}


def test_every_signature_mismatch_is_reported_before_anything_is_called(helpers):
    graph = graph_with(
        helpers,
        """
        main:
          - !singleton:HELPERS:make []
          - !singleton:HELPERS:needs [1]
          - !singleton:HELPERS:needs
              a: 1
              b: 2
              d: 4
    """,
    )
    from fgtui.engine.config import specs

    module = specs.load_file_module(helpers, [], None)
    before = len(module.calls)
    with pytest.raises(FgError) as info:
        build(graph)
    message = info.value.one_line()  # the first problem's place leads the line
    assert "2 argument mismatches" in message
    assert "test.yaml:3:" in message and "missing a required argument: 'b'" in message
    assert "test.yaml:4:" in message and "unexpected keyword argument 'd'" in message
    assert len(module.calls) == before


def test_partial_may_leave_arguments_missing_but_not_invent_them(helpers):
    build(graph_with(helpers, "main: !partial:HELPERS:needs {a: 1}\n"))
    with pytest.raises(FgError, match="unexpected keyword argument 'zz'"):
        build(graph_with(helpers, "main: !partial:HELPERS:needs {zz: 1}\n"))


def test_latent_args_are_merged_into_kwargs(helpers):
    graph = graph_with(helpers, "main: !singleton:HELPERS:make\n  a: 1\n  latent_args: !var [extra, {b: 2}]\n")
    assert build(graph)["kwargs"] == {"a": 1, "b": 2}
    assert build(graph, context={"extra": {"a": 9}})["kwargs"] == {"a": 9}


def test_latent_args_take_part_in_the_signature_check(helpers):
    graph = graph_with(helpers, "main: !singleton:HELPERS:needs\n  a: 1\n  latent_args: {b: 2, q: 3}\n")
    with pytest.raises(FgError, match="'q'"):
        build(graph)


def test_file_specs_with_the_same_stem_do_not_collide(tmp_path):
    for sub, value in (("one", 1), ("two", 2)):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "model.py").write_text(f"VALUE = {value}\ndef get():\n    return VALUE\n")
    graph = load(f"main: [!singleton:{tmp_path}/one/model.py:get [], !singleton:{tmp_path}/two/model.py:get []]\n")
    assert build(graph) == [1, 2]


def test_submodule_searchpath_lets_a_file_import_its_neighbours(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "layers.py").write_text("def width():\n    return 64\n")
    (tmp_path / "model.py").write_text("from .layers import width\ndef make():\n    return width()\n")
    graph = load(f"main: !singleton:{tmp_path}/model.py:make\n  submodule_searchpath: [{tmp_path}/pkg]\n")
    assert build(graph) == 64


def test_builtin_and_helper_specs():
    graph = load("""
        main:
          - !singleton:dict.fromkeys [[a, b], 0]
          - !singleton:getitem [[10, 20], 1]
          - !singleton:call [!partial:int ['5']]
          - !singleton:keys [{x: 1}]
          - !singleton:items [{x: 1}]
          - !singleton:values [{x: 1}]
    """)
    assert build(graph) == [{"a": 0, "b": 0}, 20, 5, ["x"], [("x", 1)], [1]]


def test_dotted_module_path_without_colon():
    graph = load("main: !singleton:os.path.join [a, b]\n")
    assert build(graph) == "a/b"


def test_module_attr_path_spec():
    assert build(load("main: !singleton:os:path.join [a, b]\n")) == "a/b"


def test_alias_table_maps_forgather_names():
    assert apply_aliases("forgather:from_project") == "fgtui.engine.project:from_project"
    assert apply_aliases("forgather.ml.datasets:block_tokenize_fn") == "fgtui.engine.data:block_tokenize_fn"
    assert apply_aliases("forgather.ml.datasets.sub:X") == "fgtui.engine.data.sub:X"
    assert apply_aliases("torch.nn:Linear") == "torch.nn:Linear"


def test_relative_spec_outside_meta_is_an_error():
    with pytest.raises(FgError, match="relative callable") as info:
        build(load("a: 1\nmain: !singleton:.layers:Layer []\n"))
    assert info.value.location.line == 2


def test_import_failure_names_the_module_and_line():
    with pytest.raises(FgError, match="cannot import module 'no_such_module_xyz'") as info:
        build(load("a: 1\nmain: !singleton:no_such_module_xyz:f []\n"))
    assert info.value.location.line == 2


def test_missing_attribute():
    with pytest.raises(FgError, match="has no attribute 'nope'"):
        build(load("main: !singleton:os:nope []\n"))


def test_exception_in_a_constructor_names_its_line(helpers):
    with pytest.raises(FgError, match="raised ValueError: kaboom") as info:
        build(graph_with(helpers, "x: 1\nmain: !singleton:HELPERS:boom []\n"))
    assert info.value.location.line == 2


def test_graph_is_not_changed_by_building(helpers):
    graph = graph_with(helpers, ".a: &a !singleton:HELPERS:make []\nmain: [*a]\n")
    before = graph.canonical()
    build(graph)
    assert graph.canonical() == before
