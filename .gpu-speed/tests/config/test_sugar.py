"""The line syntax, judged by what templates render to."""

from __future__ import annotations

import textwrap

import pytest
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from fgtui.engine.config.sugar import marker, preprocess, strip_markers


def render(source: str, **variables) -> str:
    """Render one template through the sugar alone (no search path)."""
    env = SandboxedEnvironment(trim_blocks=True, undefined=StrictUndefined)
    return env.from_string(preprocess(textwrap.dedent(source).lstrip("\n"))).render(**variables)


def test_statement_line():
    assert render("-- set x = 3\nvalue: {{ x }}\n") == "value: 3"


def test_statement_line_may_be_indented():
    assert render("a: 1\n    -- if True\nb: 2\n    -- endif\n") == "a: 1\nb: 2\n"


def test_output_line():
    assert render("== 'k: ' ~ (1 + 2)\n") == "k: 3"


def test_lstrip_statement_trims_left():
    assert render("a: 1\n\n\n<< if True\nb: 2\n<< endif\n") == "a: 1b: 2"


def test_rstrip_statement_trims_right():
    assert render(">> if True\n\n\nb: 2\n-- endif\n") == "b: 2\n"


def test_trimmed_output_line_strips_newlines():
    assert render("-- set s = '\\n\\nx: 1\\n\\n'\n=> s\ny: 2\n") == "x: 1\ny: 2"


def test_whole_line_comment_disappears():
    assert render("## hello\na: 1\n  ## indented\nb: 2\n") == "a: 1\nb: 2"


def test_trailing_comment_is_cut_keeping_all_blanks_but_one_as_forgather_does():
    assert render("a: 1   ## note\n") == "a: 1  "


def test_trailing_comment_is_cut_at_the_last_double_hash():
    assert render("a: x ## y ## z\n") == "a: x ## y"


def test_trailing_comment_on_statement_is_cut():
    assert render("-- set x = 4 ## why\nv: {{ x }}\n") == "v: 4"


# Forgather cuts ` ##` wherever it appears, quotes and block scalars included; pp must match.
def test_double_hash_in_double_quoted_yaml_is_cut_as_in_forgather():
    assert render('a: "x ## y"\n') == 'a: "x'


def test_double_hash_in_multiline_quoted_yaml_is_cut_as_in_forgather():
    assert render('a: "one\n  two ## cut"\n') == 'a: "one\n  two'


def test_double_hash_without_a_blank_before_it_is_kept():
    assert render('a: "x##y"\n') == 'a: "x##y"'


def test_apostrophe_inside_plain_scalar_is_not_a_quote():
    assert render("a: it's here ## cut\nb: 1 ## cut\n") == "a: it's here\nb: 1"


def test_block_scalar_lines_are_rewritten_as_in_forgather():
    source = "text: |\n  line one\n  ## dropped\n  == 1 + 1\nafter: 1 ## cut\n"
    assert render(source) == "text: |\n  line one\n2\nafter: 1"


def test_block_scalar_in_sequence_item():
    source = "- key: >-\n    kept\n  other: 1\n-- set y = 2\n- {{ y }}\n"
    assert render(source) == "- key: >-\n    kept\n  other: 1\n- 2"


def test_comment_before_lstrip_statement_strips_as_if_deleted():
    # Forgather deletes the comment line, so `<<` strips back to `a: 1`.
    assert render("[b]\na: 1\n## note\n<< if True\nb: 2\n<< endif\n") == "a: 1b: 2"


def test_comment_after_rstrip_statement_strips_as_if_deleted():
    assert render(">> if True\n## note\n\n   b: 2\n-- endif\n") == "b: 2\n"


def test_section_closing_after_a_comment_adds_no_blank_line():
    assert render("[a]\nx: 1\n## note\n[b]\ny: 2\n") == render("[a]\nx: 1\n[b]\ny: 2\n")


def test_merge_key_is_not_a_statement():
    assert render("<<: *x\n") == "<<: *x"


def test_yaml_document_marker_is_not_a_statement():
    assert render("---\na: 1\n") == "---\na: 1"


def test_sections_become_blocks_that_children_override():
    env = SandboxedEnvironment(trim_blocks=True)
    from jinja2 import DictLoader

    env.loader = DictLoader(
        {
            "base": preprocess("[a]\nx: 1\n[b]\ny: 2\n"),
            "child": preprocess("-- extends 'base'\n[b]\ny: 3\n"),
        }
    )
    assert env.get_template("child").render().split() == ["x:", "1", "y:", "3"]


def test_nested_sections_by_indentation():
    out = render("[outer]\nouter:\n    [inner]\n    x: 1\n[next]\nn: 2\n")
    assert [line for line in out.split("\n") if line.strip()] == ["outer:", "    x: 1", "n: 2"]


def test_section_header_closes_deeper_sections():
    source = "[a]\na:\n  [b]\n  b: 1\n[c]\nc: 1\n"
    jinja = preprocess(source)
    assert "{% endblock b +%}{{'\\n'}}{% endblock a +%}" in jinja


def test_sections_close_at_end_of_file():
    assert preprocess("[a]\nx: 1").endswith("{% endblock a +%}")


def test_bang_section_is_trimmed():
    assert render("[a!]\n\n  x: 1  \n\n[b]\ny: 2\n").startswith("x: 1")


def test_bracketed_word_in_block_scalar_is_a_section_as_in_forgather():
    assert "{% block word %}" in preprocess("t: |\n  [word]\n")


@pytest.mark.parametrize(
    "source",
    [
        "a: 1\n-- if x\nb: 2\n-- endif\n[s]\nc: 3\n## c\n",
        "#---- x ----\n[a!]\n  [b]\n== y\n=> z\n",
        "",
        "\n\n\n",
        "t: |\n  -- a\n  [b]\nu: 1 ## x\n",
    ],
)
def test_one_output_line_per_input_line(source):
    assert preprocess(source).count("\n") == source.count("\n")
    assert preprocess(source, file_id="0").count("\n") == source.count("\n")


def test_first_line_pads_for_inline_templates():
    assert preprocess("a: 1", None, first_line=4).split("\n")[3] == "a: 1"


def test_markers_do_not_change_the_output():
    source = textwrap.dedent("""
        -- set ns = namespace(v=1)
        [head]
        name: "q #x"   ## c
        items:
          - a
          - {{ ns.v }}
        text: |
          line one
          line two
        plain: this is
          continued
        flow: [1,
          2]
        -- set cap
        captured
        -- endset
        cap: {{ cap | trim }}
        [tail!]
          t: 1
    """).lstrip("\n")
    env = SandboxedEnvironment(trim_blocks=True)
    plain = env.from_string(preprocess(source)).render()
    marked = env.from_string(preprocess(source, file_id="0")).render()
    clean, origins = strip_markers(marked, {"0": "f.yaml"})
    assert clean == plain
    assert origins[clean.split("\n").index('name: "q #x"  ')] == ("f.yaml", 3)
    assert "cap: captured" in clean


def test_strip_markers_maps_unmarked_lines_below_the_last_marker():
    source = f"a: |{marker('0', 5)}\n  x\n  y\nb: 1{marker('1', 2)}"
    text, origins = strip_markers(source, {"0": "f", "1": "g"})
    assert text == "a: |\n  x\n  y\nb: 1"
    assert origins == [("f", 5), ("f", 6), ("f", 7), ("g", 2)]


def test_markers_vanish_where_whitespace_control_and_trim_remove_blanks():
    # `== super()` printing nothing inside a trimmed block leaves no line behind, as in Forgather.
    source = "{% filter trim() %}\n== ''\n== ''\n{% endfilter %}\nx: 1\n== ''\n<< if True\ny: 2\n<< endif\n"
    env = SandboxedEnvironment(trim_blocks=True)
    plain = env.from_string(preprocess(source)).render()
    clean, _ = strip_markers(env.from_string(preprocess(source, file_id="0")).render(), {"0": "f.yaml"})
    assert clean == plain == "x: 1\ny: 2"
