"""YAML -> graph: every tag, argument form and YAML feature the language uses."""

from __future__ import annotations

import pytest

from fgtui.engine.config import CallNode, VarNode
from fgtui.engine.config.loader import parse_tag
from fgtui.engine.errors import FgError

from .conftest import load


@pytest.mark.parametrize(
    "tag, kind",
    [
        ("!singleton:m:f", "singleton"),
        ("!call:m:f", "singleton"),
        ("!factory:m:f", "factory"),
        ("!partial:m:f", "partial"),
        ("!lambda:m:f", "partial"),
        ("!meta:m:f", "meta"),
    ],
)
def test_call_tags(tag, kind):
    node = load(f"x: {tag} []\n").root["x"]
    assert isinstance(node, CallNode) and node.kind == kind and node.spec == "m:f"


def test_lambda_is_deprecated_with_a_warning():
    assert "deprecated" in load("x: !lambda:m:f []\n").warnings[0]


@pytest.mark.parametrize(
    "spec",
    [
        "torch.nn:Linear",
        "torch:optim.AdamW",
        "dict",
        "dict.fromkeys",
        "torch.nn.SiLU",
        "path/to/file.py:Model",
        ".relative:Thing",
        "a.b:C.d.e",
    ],
)
def test_spec_forms_load(spec):
    assert load(f"x: !singleton:{spec}@n []\n").root["x"].spec == spec


def test_node_name():
    node = load("x: !singleton:dict@my_name {}\n").root["x"]
    assert node.name == "my_name"


def test_sequence_gives_positional_arguments():
    node = load("x: !singleton:f [1, two, 3.5]\n").root["x"]
    assert node.args == (1, "two", 3.5) and node.kwargs == {}


def test_mapping_gives_keyword_arguments():
    node = load("x: !singleton:f\n  a: 1\n  b: [1, 2]\n").root["x"]
    assert node.args == () and node.kwargs == {"a": 1, "b": [1, 2]}


def test_arg_n_keys_are_positional_in_order():
    node = load("x: !singleton:f\n  arg2: c\n  k: v\n  arg0: a\n  arg1: b\n").root["x"]
    assert node.args == ("a", "b", "c") and node.kwargs == {"k": "v"}


def test_literal_args_and_kwargs():
    node = load("x: !singleton:f\n  args: [1, 2]\n  kwargs: {arg0: 3}\n").root["x"]
    assert node.args == (1, 2) and node.kwargs == {"arg0": 3}


def test_scalar_is_one_positional_argument():
    assert load("x: !singleton:f 5\n").root["x"].args == (5,)
    assert load("x: !singleton:f '5'\n").root["x"].args == ("5",)


def test_empty_scalar_is_no_arguments():
    node = load("x: !singleton:f\ny: 1\n").root["x"]
    assert node.args == () and node.kwargs == {}


def test_reserved_kwargs_stay_in_the_graph():
    node = load("x: !singleton:f\n  submodule_searchpath: [a]\n  latent_args: !var [la, {}]\n").root["x"]
    assert node.kwargs["submodule_searchpath"] == ["a"]
    assert isinstance(node.kwargs["latent_args"], VarNode)


@pytest.mark.parametrize(
    "text, name, default, has_default",
    [
        ("!var lr", "lr", None, False),
        ("!var [lr]", "lr", None, False),
        ("!var [lr, 0.1]", "lr", 0.1, True),
        ("!var {name: lr, default: 0.2}", "lr", 0.2, True),
        ("!var {name: lr}", "lr", None, False),
        ("!var {name: lr, default: null}", "lr", None, True),
    ],
)
def test_var_forms(text, name, default, has_default):
    node = load(f"x: {text}\n").root["x"]
    assert (node.name, node.default, node.has_default) == (name, default, has_default)


@pytest.mark.parametrize(
    "tag, value, expected",
    [
        ("!list", "[1, 2]", "named_list"),
        ("!tuple", "[1, 2]", "named_tuple"),
        ("!list:@l", "[1]", "named_list"),
    ],
)
def test_sequence_containers(tag, value, expected):
    node = load(f"x: {tag} {value}\n").root["x"]
    assert node.spec == expected and node.kind == "singleton"


def test_dict_container_and_name():
    node = load("x: !dict:@d {a: 1}\n").root["x"]
    assert (node.spec, node.kwargs, node.name) == ("named_dict", {"a": 1}, "d")


@pytest.mark.parametrize("tag", ["!list", "!tuple", "!dict", "!dlist"])
def test_empty_containers(tag):
    node = load(f"x: {tag}\n").root["x"]
    assert node.args == () and node.kwargs == {}


def test_dlist_keeps_order_drops_none_and_later_keys_win():
    node = load("x: !dlist\n  a: 1\n  b: 2\n  b: ~\n  a: 3\n  c: 4\n").root["x"]
    assert node.args == (3, 4)


def test_dlist_empty_idiom():
    assert load("x: !dlist {null: ~}\n").root["x"].args == ()


def test_duplicate_keys_later_wins_first_position():
    root = load("a: 1\nb: 2\na: 3\n").root
    assert list(root.items()) == [("a", 3), ("b", 2)]


def test_anchor_and_alias_share_the_node():
    root = load("a: &x !singleton:f []\nb: *x\n").root
    assert root["a"] is root["b"]


def test_merge_keys_into_tagged_mapping_with_override():
    root = load(".common: &c\n  a: 1\n  b: 2\nx: !singleton:f\n  <<: *c\n  b: 3\n").root
    assert root["x"].kwargs == {"a": 1, "b": 3}


def test_merge_list_of_mappings():
    root = load(".a: &a {x: 1}\n.b: &b {y: 2}\nm:\n  <<: [*a, *b]\n  z: 3\n").root
    assert root["m"] == {"x": 1, "y": 2, "z": 3}


def test_dot_keys_are_hidden_but_their_nodes_live_on():
    graph = load(".define: &n !singleton:f@hidden []\nmain: *n\n")
    assert graph.targets == ["main"] and graph.root["main"].name == "hidden"


def test_node_lines_are_recorded():
    node = load("a: 1\n\nx: !singleton:f []\n").root["x"]
    assert (node.file, node.line) == ("test.yaml", 3)


@pytest.mark.parametrize(
    "tag, fix",
    [
        ("!var:x", "!var takes no spec"),
        ("!call:random:randrange:@r", "one ':'"),
        ("!singleton:", "missing callable"),
        ("!singleton", "needs a callable"),
        ("!singleton:f@bad-name", "letters, digits"),
    ],
)
def test_spellings_that_cannot_work_are_refused_with_the_fix(tag, fix):
    with pytest.raises(FgError) as info:
        load(f"a: 1\nx: {tag} []\n")
    assert fix in info.value.message
    assert info.value.location.line == 2


@pytest.mark.parametrize(
    "tag, kind, spec, name",
    [
        # Forgather skips the character after the prefix and splits the rest at its first '@'.
        ("!dict@model_factory", "dict", "", None),  # the word takes a callable's place; containers ignore it
        ("!dict:@model_factory", "dict", "", "model_factory"),
        ("!list@name", "list", "", None),
        ("!list:dict", "list", "", None),
        ("!tuple:@t", "tuple", "", "t"),
        ("!singleton@dict", "singleton", "dict", None),
        ("!call:dict@d", "call", "dict", "d"),
        ("!partial:torch:optim.AdamW@opt", "partial", "torch:optim.AdamW", "opt"),
        ("!var", "var", "", None),
    ],
)
def test_every_forgather_spelling_has_forgathers_meaning(tag, kind, spec, name):
    assert parse_tag(tag) == (kind, spec, name)


def test_unnamed_dict_spelled_with_at_loads():
    node = load("x: !dict@model_factory {a: 1}\n").root["x"]
    assert node.spec == "named_dict" and node.name is None and node.kwargs == {"a": 1}


def test_unknown_tag():
    with pytest.raises(FgError, match="unknown tag !nope"):
        load("x: !nope 1\n")


def test_python_tags_are_refused():
    with pytest.raises(FgError):
        load("x: !!python/object/apply:os.system ['true']\n")


def test_duplicate_node_names():
    with pytest.raises(FgError, match="'@n' is used twice") as info:
        load("a: !singleton:f@n []\nb: !singleton:g@n []\n")
    assert info.value.location.line == 2


def test_reference_cycle():
    with pytest.raises(FgError, match="reference cycle"):
        load("a: &x !singleton:f [*x]\n")


def test_parse_tag_splits_name_from_the_right():
    assert parse_tag("!singleton:pkg.mod:Cls.method@name") == ("singleton", "pkg.mod:Cls.method", "name")


def test_malformed_yaml_is_located():
    with pytest.raises(FgError) as info:
        load("a: 1\nb: [1, 2\nc: 3\n")
    assert info.value.location.line == 2


def test_empty_document():
    graph = load("")
    assert graph.root is None and graph.targets == []


def test_non_mapping_keys_are_refused():
    with pytest.raises(FgError, match="keys"):
        load("? [1, 2]\n: x\n")
