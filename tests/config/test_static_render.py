"""Rendering without Jinja (config/static_render.py): Jinja's text, or NotStatic."""

from __future__ import annotations

from pathlib import Path

import pytest

from fgtui.engine.config import TemplateEnvironment
from fgtui.engine.config.jinja_globals import default_filters, default_globals
from fgtui.engine.config.static_render import NotStatic, StaticRenderer
from fgtui.engine.project.meta import META_NAME, meta_searchpath, project_globals
from fgtui.engine.project.workspace import find_workspace

REPO = Path(__file__).resolve().parents[2]

# Each case is rendered by both; the texts must be equal to the character.
CASES = {
    "line syntax and blank lines": "-- set x = 'a'\n\n== x\n\n  -- set y = 2\nplain: {{ y }}\n\n\n",
    "whitespace control": "a:\n    << set y = 1\n    b: {{ y }}\n    >> set z = 2\n  c: {{- z }}\n{#- gone -#}\nd: 1",
    "keep the newline": "{% block x +%}\nx: 1\n{% endblock x +%}\ny: 2\n{% set q = 1 %}\nz: 3\n",
    "comments": "## whole line\nkey: value  ## trailing\n{# jinja #}\nother: 2\n",
    "sections and super": "[outer]\nouter: 1\n    [inner]\n    inner: 2\n",
    "namespace and paths": "-- set ns = namespace()\n-- set ns.d = joinpath('a', 'b', 'c')\npath: \"{{ ns.d }}\"\nbase: {{ basename(ns.d) }}\n",
    "filters": "-- set ns = namespace()\nx: {{ ns.missing | default('d') }}\ny: {{ '  t  ' | trim }}\nz: {{ 3 | toyaml }}\n",
    "concatenation": "-- set a = 'x' ~ 1 ~ 'y'\n-- set b = 'p' + 'q'\nv: {{ a }} {{ b }} {{ -2 }}\n",
    "escapes": "t: {{ 'a\\tb' }}|{{ \"q'\" }}\n=> 'trimmed'\n",
    "filter trim block": "-- filter trim()\n\n  body: 1\n\n-- endfilter\nafter: 2\n",
}


def _both(tmp_path: Path, files: dict[str, str], name: str) -> tuple[str, str]:
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    jinja = TemplateEnvironment([str(tmp_path)]).render(name).text
    static = StaticRenderer([str(tmp_path)], default_globals(), default_filters()).render(name)
    return static, jinja


@pytest.mark.parametrize("case", sorted(CASES))
def test_static_text_is_jinjas(tmp_path, case):
    static, jinja = _both(tmp_path, {"t.yaml": CASES[case]}, "t.yaml")
    assert static == jinja


def test_inheritance_include_and_inline_templates_render_as_jinja(tmp_path):
    files = {
        "base.yaml": "-- set ns = namespace()\n[head]\n-- set ns.n = 'base'\n== ns.n\n[body]\nbody: 0\n-- include 'part'\n",
        "mid.yaml": "-- extends 'base.yaml'\n[head]\n    == super()\n    -- set ns.n = ns.n ~ '+mid'\n",
        "leaf.yaml": (
            "-- extends 'mid.yaml'\n[body]\n    == super()\nleaf: {{ ns.n }}\n"
            "#---- part ----\npart: {{ ns.n }}\n-- include 'inc.yaml'\n"
        ),
        "inc.yaml": "inc: 1\n",
    }
    static, jinja = _both(tmp_path, files, "leaf.yaml")
    assert static == jinja and "part: base+mid" in static


@pytest.mark.parametrize(
    "text",
    [
        "-- if true\nx: 1\n-- endif\n",  # control flow is Jinja's
        "-- for i in [1]\n-- endfor\n",
        "-- macro m()\n-- endmacro\n",
        "x: {{ undefined_name }}\n",  # Jinja's error, with its location
        "x: {{ 'a' | upper }}\n",  # a filter not implemented here
        "x: {{ 1 - 2 }}\n",
        "-- include 'missing.yaml'\n",
        "-- extends 'a.yaml'\n-- extends 'b.yaml'\n",
    ],
)
def test_what_is_not_supported_is_refused(tmp_path, text):
    (tmp_path / "t.yaml").write_text(text)
    with pytest.raises(NotStatic):
        StaticRenderer([str(tmp_path)], default_globals(), default_filters()).render("t.yaml")


def _meta_files() -> list[Path]:
    roots = [REPO / "examples", REPO / "tests/compat/fixtures/forgather/examples"]
    return sorted(path for root in roots if root.is_dir() for path in root.rglob(META_NAME))


@pytest.mark.parametrize("meta", _meta_files(), ids=lambda p: str(p.parent.relative_to(REPO)))
def test_every_example_meta_yaml_renders_statically_as_jinja_does(meta):
    project_dir = meta.parent
    workspace = find_workspace(project_dir)
    searchpath = meta_searchpath(project_dir, workspace)
    variables = project_globals(project_dir, workspace or project_dir)
    static = StaticRenderer(searchpath, {**default_globals(), **variables}, default_filters()).render(META_NAME)
    assert static == TemplateEnvironment(searchpath, globals=variables).render(META_NAME).text


@pytest.mark.timeout(60)
@pytest.mark.parametrize("opener", ["{{ ", "{% set x = ", "{{- "])
def test_a_tag_left_open_is_refused_not_retried_forever(tmp_path, opener):
    # The tag regex once retried every split of an unclosed tag's text: forty words never ended.
    (tmp_path / "t.yaml").write_text("a: " + opener + "word " * 40 + "\nb: 1\n")
    with pytest.raises(NotStatic):
        StaticRenderer([str(tmp_path)], {}).render("t.yaml")


@pytest.mark.parametrize(
    "text",
    ["'a'", " 'a' ", '"b"', "'é'", "''", "'a\nb'", "ns.x", " ns . x ", "ns.x.y", "x", "ns.if", "true", "None.x"]
    + ["'a' 'b'", "'a\\nb'", "if", "not.x", "a.0", "é", "'"],
)
def test_quick_expression_shapes_read_as_the_parser_reads_them(text):
    from fgtui.engine.config import static_render

    quick = static_render._quick_tree(text)
    parser = static_render.Expr.__new__(static_render.Expr)
    parser.text, parser._i = text, 0
    try:
        parser._tokens = static_render._lex(text)
        full = parser._math()
        complete = parser._i == len(parser._tokens)
    except static_render.NotStatic:
        full, complete = None, False
    if quick is not None:  # a shape read quickly is read whole, to the parser's tree
        assert complete and quick == full
    if text.strip() in ("'a'", "ns.x", "ns.x.y", "x"):
        assert quick is not None
