"""Every failure is one line pointing into the template the user wrote, plus the chain."""

from __future__ import annotations

import pytest

from fgtui.engine.config import build
from fgtui.engine.errors import FgError

BASE = """
-- set ns = namespace()
[meta]
-- set ns.lr = 0.1
[main]
main: !singleton:dict
    lr: {{ ns.lr }}
    [inner]
    inner: 1
"""


def failure(tree, files: dict[str, str], name: str = "configs/leaf.yaml", *, graph=False, do_build=False):
    tree.write({"base.yaml": BASE, **files})
    with pytest.raises(FgError) as info:
        if do_build:
            build(tree.graph(name))
        elif graph:
            tree.graph(name)
        else:
            tree.render(name)
    return info.value


def where(error: FgError) -> tuple[str, int | None]:
    return error.location.file.rsplit("templates/", 1)[-1], error.location.line


def test_jinja_syntax_error_in_the_leaf(tree):
    error = failure(tree, {"configs/leaf.yaml": "-- extends 'base.yaml'\n[inner]\n    x: {{ 1 + }}\n"})
    assert where(error) == ("configs/leaf.yaml", 3)
    assert "syntax error" in error.message


def test_jinja_syntax_error_in_a_parent_names_the_parent(tree):
    tree.write({"broken.yaml": "a: 1\nb: {% if %}\n"})
    error = failure(tree, {"configs/leaf.yaml": "-- extends 'broken.yaml'\n"})
    assert where(error) == ("broken.yaml", 2)


def test_undefined_variable_points_at_its_line(tree):
    error = failure(tree, {"configs/leaf.yaml": "-- extends 'base.yaml'\n[inner]\n\n    x: {{ missing_var }}\n"})
    assert where(error) == ("configs/leaf.yaml", 4)
    assert "missing_var" in error.message and "--var" in error.hint


def test_undefined_variable_in_a_parent_has_the_chain(tree):
    tree.write({"mid.yaml": "-- extends 'base.yaml'\n[inner]\n    m: {{ nope }}\n"})
    error = failure(tree, {"configs/leaf.yaml": "-- extends 'mid.yaml'\n"})
    assert where(error) == ("mid.yaml", 3)
    assert error.chain == ["configs/leaf.yaml", "mid.yaml"]
    assert "template chain: configs/leaf.yaml -> mid.yaml" in str(error)


def test_missing_template(tree):
    error = failure(tree, {"configs/leaf.yaml": "a: 1\n-- include 'nowhere.yaml'\n"})
    assert "'nowhere.yaml' not found" in error.message
    assert where(error) == ("configs/leaf.yaml", 2)


def test_missing_root_template(tree):
    error = failure(tree, {}, "configs/absent.yaml")
    assert "not found" in error.message


def test_yaml_error_in_the_leaf_maps_to_the_leaf_line(tree):
    error = failure(
        tree, {"configs/leaf.yaml": "-- extends 'base.yaml'\n[inner]\n    == super()\n    bad: [1, 2\n"}, graph=True
    )
    assert where(error) == ("configs/leaf.yaml", 4)
    assert error.message.startswith("YAML:")


def test_an_unclosed_flow_before_the_extends_still_names_its_line(tree):
    error = failure(tree, {"configs/leaf.yaml": "zzz: [1, 2\n-- extends 'base.yaml'\n"}, graph=True)
    assert where(error) == ("configs/leaf.yaml", 1)


def test_multi_line_flows_render_the_same_with_origin_markers(tree):
    tree.write({"base.yaml": BASE, "configs/flow.yaml": "a: [1,\n    2,\n    3]\nb: {x: 1,\n    y: 2}\n"})
    text = tree.render("configs/flow.yaml")
    graph = tree.graph("configs/flow.yaml")
    assert graph.root["a"] == [1, 2, 3] and graph.root["b"] == {"x": 1, "y": 2}
    assert "#@" not in text


def test_yaml_error_in_an_inherited_block(tree):
    tree.write({"mid.yaml": "-- extends 'base.yaml'\n[inner]\n    first: 1\n      wrong: indent\n"})
    error = failure(tree, {"configs/leaf.yaml": "-- extends 'mid.yaml'\n[meta]\n    == super()\n"}, graph=True)
    assert where(error)[0] == "mid.yaml" and where(error)[1] in (3, 4)
    assert error.chain == ["configs/leaf.yaml", "mid.yaml"]


def test_unknown_tag_line(tree):
    error = failure(
        tree, {"configs/leaf.yaml": "-- extends 'base.yaml'\n[inner]\n    == super()\n    x: !nonsense 1\n"}, graph=True
    )
    assert where(error) == ("configs/leaf.yaml", 4)


def test_unknown_tag_in_a_template(tree):
    error = failure(
        tree, {"configs/leaf.yaml": "-- extends 'base.yaml'\n[inner]\n    d: !sigleton:dict {}\n"}, graph=True
    )
    assert "unknown tag !sigleton:dict" in error.message and where(error) == ("configs/leaf.yaml", 3)


def test_undefined_alias(tree):
    error = failure(tree, {"configs/leaf.yaml": "-- extends 'base.yaml'\n[inner]\n    x: *nothing\n"}, graph=True)
    assert "anchor" in error.hint and where(error) == ("configs/leaf.yaml", 3)


def test_signature_mismatch_points_at_the_template_line(tree):
    error = failure(
        tree,
        {
            "configs/leaf.yaml": (
                "-- extends 'base.yaml'\n[inner]\n    f: !singleton:fractions:Fraction\n        bogus: 1\n"
            )
        },
        do_build=True,
    )
    assert where(error) == ("configs/leaf.yaml", 3)
    assert "configs/leaf.yaml:3" in error.one_line() and error.one_line().count("configs/leaf.yaml") == 1


def test_duplicate_names_across_templates(tree):
    tree.write({"mid.yaml": "-- extends 'base.yaml'\n[inner]\n    a: !singleton:dict@twin {}\n"})
    error = failure(
        tree,
        {
            "configs/leaf.yaml": "-- extends 'mid.yaml'\n[meta]\n    == super()\n"
            "[main]\n    == super()\nother: !singleton:dict@twin {}\n"
        },
        graph=True,
    )
    assert "'@twin' is used twice" in error.message
    assert "mid.yaml:3" in error.message


def test_one_line_format(tree):
    error = failure(tree, {"configs/leaf.yaml": "-- extends 'base.yaml'\n[inner]\n    x: {{ missing_var }}\n"})
    line = error.one_line()
    assert "\n" not in line
    assert line.startswith(error.location.file + ":3: ") and " — " in line


def test_error_in_an_inline_template_points_at_the_file_line(tree):
    tree.write({"defs.yaml": "own: 1\n#---- part.x ----\na: 1\nb: {{ undefined_here }}\n"})
    error = failure(tree, {"configs/leaf.yaml": "-- include 'part.x'\n"})
    assert where(error) == ("defs.yaml", 4)
    assert error.chain == ["configs/leaf.yaml", "part.x"]


def test_unclosed_statement_points_at_its_opening_line(tree):
    error = failure(
        tree,
        {"configs/leaf.yaml": "-- extends 'base.yaml'\n[inner]\n    -- if true\n    x: 1\n[meta]\n    == super()\n"},
    )
    assert where(error) == ("configs/leaf.yaml", 3)
    assert "`-- if` is never closed" in error.message and "-- endif" in error.hint
