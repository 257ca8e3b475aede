"""Rendering template trees: inheritance, includes, inline templates, reloads."""

from __future__ import annotations

import os
import time

import pytest

from fgtui.engine.config import TemplateEnvironment
from fgtui.engine.errors import FgError

BASE = """
-- set ns = namespace()
[meta]
-- set ns.lr = 0.1
-- set ns.name = "base"
[main]
main:
    lr: {{ ns.lr }}
    name: {{ ns.name }}
    [extra]
    extra: 1
"""


def lines(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.strip()]


def test_static_extends_and_super(tree):
    tree.write(
        {
            "base.yaml": BASE,
            "configs/leaf.yaml": """
        -- extends 'base.yaml'
        [meta]
            == super()
            -- set ns.lr = 0.5
        [extra]
            == super()
            more: 2
    """,
        }
    )
    assert lines(tree.render("configs/leaf.yaml")) == [
        "main:",
        "    lr: 0.5",
        "    name: base",
        "    extra: 1",
        "    more: 2",
    ]


def test_dynamic_extends(tree):
    tree.write(
        {
            "a.yaml": "[x]\nwho: a\n",
            "b.yaml": "[x]\nwho: b\n",
            "leaf.yaml": "-- set parent = which ~ '.yaml'\n-- extends parent\n",
        }
    )
    assert tree.render("leaf.yaml", {"which": "b"}).strip() == "who: b"


def test_super_super(tree):
    tree.write(
        {
            "g.yaml": "[x]\ng: 1\n",
            "p.yaml": "-- extends 'g.yaml'\n[x]\np: 2\n",
            "c.yaml": "-- extends 'p.yaml'\n[x]\n== super.super()\nc: 3\n",
        }
    )
    assert lines(tree.render("c.yaml")) == ["g: 1", "c: 3"]


def test_five_levels_of_super(tree):
    tree.write({"l0.yaml": "[x]\nv0: 0\n"})
    for level in range(1, 5):
        tree.write({f"l{level}.yaml": f"-- extends 'l{level - 1}.yaml'\n[x]\n== super()\nv{level}: {level}\n"})
    assert lines(tree.render("l4.yaml")) == [f"v{i}: {i}" for i in range(5)]


def test_include_sees_the_callers_namespace(tree):
    tree.write(
        {
            "inc.yaml": "included: {{ ns.v }}\n\n",
            "main.yaml": "-- set ns = namespace(v=7)\n-- include 'inc.yaml'\nafter: 1\n",
        }
    )
    assert lines(tree.render("main.yaml")) == ["included: 7", "after: 1"]


def test_import_macros(tree):
    tree.write(
        {
            "inc/macros.jinja": "-- macro h1(t)\n# == {{ t }} ==\n-- endmacro\n",
            "main.yaml": "-- from 'inc/macros.jinja' import h1\n== h1('Title')\nx: 1\n",
        }
    )
    assert lines(tree.render("main.yaml")) == ["# == Title ==", "x: 1"]


def test_namespace_shared_between_child_and_parent(tree):
    tree.write(
        {
            "base.yaml": BASE,
            "leaf.yaml": """
        -- extends 'base.yaml'
        [meta]
            == super()
            -- set ns.name = "child:" ~ ns.lr
    """,
        }
    )
    assert "name: child:0.1" in tree.render("leaf.yaml")


def test_inline_template_found_before_its_file_is_rendered(tree):
    tree.write(
        {
            "callbacks.yaml": "[cb]\ncallbacks: base\n",
            "lib/defs.yaml": "unused: 1\n#---- proj.callbacks ----\n-- extends 'callbacks.yaml'\n[cb]\ncallbacks: mine\n",
            "main.yaml": "-- include 'proj.callbacks'\n",
        }
    )
    assert tree.render("main.yaml").strip() == "callbacks: mine"


def test_inline_template_extends_inline_template_of_another_file(tree):
    tree.write(
        {
            "one.yaml": "one: 1\n#---- first.part ----\n[p]\nvalue: first\n",
            "two.yaml": "two: 2\n#---- second.part ----\n-- extends 'first.part'\n[p]\nvalue: second\n",
            "main.yaml": "-- include 'second.part'\n",
        }
    )
    assert tree.render("main.yaml").strip() == "value: second"


def test_file_text_before_the_first_marker_is_the_files_template(tree):
    tree.write({"f.yaml": "own: 1\n#---- f.sub ----\nsub: 2\n"})
    assert tree.render("f.yaml").strip() == "own: 1"
    assert tree.render("f.sub").strip() == "sub: 2"


def test_sibling_configs_may_each_define_the_same_inline_template(tree):
    # Forgather's grad_accumulation: every config defines `experiment.callbacks`.
    tree.write(
        {
            "callbacks.yaml": "[cb]\ncallbacks: base\n",
            "one.yaml": "-- include 'exp.callbacks'\n#---- exp.callbacks ----\n-- extends 'callbacks.yaml'\n[cb]\ncallbacks: one\n",
            "two.yaml": "-- include 'exp.callbacks'\n#---- exp.callbacks ----\n-- extends 'callbacks.yaml'\n[cb]\ncallbacks: two\n",
        }
    )
    assert tree.render("one.yaml").strip() == "callbacks: one"
    assert tree.render("two.yaml").strip() == "callbacks: two"
    assert tree.render("one.yaml").strip() == "callbacks: one"  # not the compiled one of two.yaml
    assert not tree.env.render("two.yaml").warnings


def test_the_definition_loaded_last_wins_with_a_warning_naming_both_files(tree):
    # The config defines `part`, then loads base.yaml, which defines it again: as in
    # Forgather, base.yaml's registration replaces the config's; the user cannot see that.
    tree.write(
        {
            "base.yaml": "[body]\n-- include 'part'\n#---- part ----\nfrom: base\n",
            "leaf.yaml": "-- extends 'base.yaml'\n#---- part ----\nfrom: leaf\n",
        }
    )
    rendered = tree.env.render("leaf.yaml")
    assert rendered.text.strip() == "from: base"
    assert len(rendered.warnings) == 1
    assert "leaf.yaml:2" in rendered.warnings[0] and "base.yaml:3" in rendered.warnings[0]


def test_a_registered_inline_template_is_found_before_a_file_of_that_name(tree):
    tree.write({"x.yaml": "from: file\n", "main.yaml": "-- include 'x.yaml'\n#---- x.yaml ----\nfrom: inline\n"})
    assert tree.render("main.yaml").strip() == "from: inline"


def test_inline_name_defined_twice_names_both_files(tree):
    tree.write(
        {
            "a.yaml": "a: 1\n#---- dup ----\nx: 1\n",
            "b.yaml": "b: 1\n#---- dup ----\nx: 2\n",
            "main.yaml": "-- include 'dup'\n",
        }
    )
    with pytest.raises(FgError) as info:
        tree.render("main.yaml")
    assert "a.yaml" in info.value.message and "b.yaml" in info.value.message


def test_first_search_path_entry_shadows_later_ones(tmp_path):
    (tmp_path / "proj").mkdir()
    (tmp_path / "lib").mkdir()
    (tmp_path / "proj" / "x.yaml").write_text("from: proj\n")
    (tmp_path / "lib" / "x.yaml").write_text("from: lib\n")
    env = TemplateEnvironment([str(tmp_path / "proj"), str(tmp_path / "lib")])
    assert env.render("x.yaml").text.strip() == "from: proj"


def test_render_string_extends_templates_on_disk(tree):
    tree.write({"base.yaml": BASE})
    out = tree.env.render_string("-- extends 'base.yaml'\n[extra]\nextra: 9\n")
    assert "extra: 9" in out.text and "lr: 0.1" in out.text


def test_render_string_shadows_the_file_being_edited(tree):
    tree.write({"base.yaml": BASE, "leaf.yaml": "-- extends 'base.yaml'\n"})
    path = str(tree.root / "leaf.yaml")
    out = tree.env.render_string("-- extends 'base.yaml'\n[extra]\nedited: 1\n", name=path)
    assert "edited: 1" in out.text
    assert out.source == os.path.realpath(path)
    assert "edited" not in tree.render("leaf.yaml")


def test_render_string_inline_templates_take_precedence(tree):
    tree.write({"a.yaml": "a: 1\n#---- part ----\nold: 1\n"})
    path = str(tree.root / "a.yaml")
    out = tree.env.render_string("-- include 'part'\n#---- part ----\nnew: 1\n", name=path)
    assert out.text.strip() == "new: 1"


def test_unsaved_text_resolves_inline_templates_as_its_saved_file_would(tree):
    # The preview of the editor's text must be `pp`'s output for the same text: a file
    # loaded later that defines the text's inline template again replaces it, with the
    # warning, and a definition deleted from the text is not found in the saved file.
    tree.write(
        {
            "base.yaml": "[body]\n-- include 'part'\n#---- part ----\nfrom: base\n",
            "leaf.yaml": "-- extends 'base.yaml'\n#---- part ----\nfrom: leaf\n",
            "solo.yaml": "-- include 'gone'\n#---- gone ----\nsaved: 1\n",
        }
    )
    leaf = str(tree.root / "leaf.yaml")
    saved = tree.env.render("leaf.yaml")
    unsaved = tree.env.render_string((tree.root / "leaf.yaml").read_text(), name=leaf)
    assert unsaved.text == saved.text == "from: base\n"
    assert unsaved.warnings == saved.warnings and "leaf.yaml:2" in unsaved.warnings[0]
    edited = tree.env.render_string("-- extends 'base.yaml'\n#---- part ----\nfrom: edited\n", name=leaf)
    assert edited.text == "from: base\n" and "leaf.yaml:2" in edited.warnings[0]
    with pytest.raises(FgError, match="gone"):
        tree.env.render_string("-- include 'gone'\n", name=str(tree.root / "solo.yaml"))


def test_edits_are_picked_up_without_a_new_environment(tree):
    tree.write({"base.yaml": BASE, "leaf.yaml": "-- extends 'base.yaml'\n"})
    assert "lr: 0.1" in tree.render("leaf.yaml")
    base = tree.root / "base.yaml"
    base.write_text(BASE.replace("0.1", "0.25"))
    stamp = time.time_ns() + 10_000_000
    os.utime(base, ns=(stamp, stamp))
    assert "lr: 0.25" in tree.render("leaf.yaml")


def test_new_inline_templates_are_indexed_on_the_next_render(tree):
    tree.write({"main.yaml": "-- include 'later'\n"})
    with pytest.raises(FgError):
        tree.render("main.yaml")
    tree.write({"defs.yaml": "d: 1\n#---- later ----\nlater: 1\n"})
    assert tree.render("main.yaml").strip() == "later: 1"


def test_invalidate_forgets_a_file(tree):
    tree.write({"x.yaml": "v: 1\n"})
    assert tree.render("x.yaml").strip() == "v: 1"
    path = tree.root / "x.yaml"
    stat = path.stat()
    path.write_text("v: 2\n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime: only invalidate can tell
    tree.env.invalidate(str(path))
    assert tree.render("x.yaml").strip() == "v: 2"


def test_rendered_config_lists_templates_and_maps_lines(tree):
    tree.write({"base.yaml": BASE, "configs/leaf.yaml": "-- extends 'base.yaml'\n[extra]\n    mine: 3\n"})
    rendered = tree.env.render("configs/leaf.yaml")
    leaf, base = (os.path.realpath(tree.root / p) for p in ("configs/leaf.yaml", "base.yaml"))
    assert rendered.templates == [leaf, base]
    out = rendered.text.split("\n")
    assert rendered.line_map[out.index("    mine: 3")] == (leaf, 3)
    assert rendered.line_map[out.index("    lr: 0.1")] == (base, 7)
    assert rendered.chain_to(base) == ["configs/leaf.yaml", "base.yaml"]


def test_template_given_as_a_path(tree):
    tree.write({"base.yaml": BASE, "configs/leaf.yaml": "-- extends 'base.yaml'\n"})
    rendered = tree.env.render(str(tree.root / "configs" / "leaf.yaml"))
    assert rendered.name == "configs/leaf.yaml"
    assert "lr: 0.1" in rendered.text


def test_template_outside_the_search_path(tmp_path, tree):
    tree.write({"base.yaml": BASE})
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text("-- extends 'base.yaml'\n[extra]\nfar: 1\n")
    assert "far: 1" in tree.env.render(str(outside)).text


def test_missing_search_dirs_are_ignored(tmp_path):
    (tmp_path / "x.yaml").write_text("a: 1\n")
    env = TemplateEnvironment([str(tmp_path / "nope"), str(tmp_path)])
    assert env.render("x.yaml").text.strip() == "a: 1"


def test_environment_globals_reach_templates(tmp_path):
    (tmp_path / "x.yaml").write_text("dir: {{ project_dir }}\n")
    env = TemplateEnvironment([str(tmp_path)], {"project_dir": "/p"})
    assert env.render("x.yaml").text.strip() == "dir: /p"


def test_crlf_templates_render(tmp_path):
    (tmp_path / "x.yaml").write_bytes(b"-- set a = 1\r\nv: {{ a }}\r\n")
    assert TemplateEnvironment([str(tmp_path)]).render("x.yaml").text.strip() == "v: 1"


def test_threads_can_share_an_environment(tree):
    from concurrent.futures import ThreadPoolExecutor

    tree.write({"base.yaml": BASE})
    env = tree.env

    def one(i: int) -> str:
        return env.render_string(f"-- extends 'base.yaml'\n[extra]\nextra: {i}\n").text

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, range(24)))
    assert all(f"extra: {i}" in text for i, text in enumerate(results))


def test_unsaved_text_and_the_saved_file_never_answer_for_each_other(tmp_path):
    (tmp_path / "base.yaml").write_text("[body]\nx: 1\n")
    (tmp_path / "leaf.yaml").write_text("-- extends 'base.yaml'\n[body]\ny: saved\n")
    env = TemplateEnvironment([str(tmp_path)])
    leaf = str(tmp_path / "leaf.yaml")
    assert env.render("leaf.yaml").text == "y: saved\n"
    assert env.render_string("-- extends 'base.yaml'\n[body]\ny: edited\n", name=leaf).text == "y: edited\n"
    assert env.render("leaf.yaml").text == "y: saved\n"


def test_without_origin_markers_the_text_and_render_errors_are_the_same(tree):
    tree.write(
        {
            "base.yaml": BASE,
            "configs/leaf.yaml": "-- extends 'base.yaml'\n[extra]\n    mine: 3\n",
            "configs/bad.yaml": "-- extends 'base.yaml'\n[extra]\n    bad: {{ missing }}\n",
        }
    )
    plain = TemplateEnvironment([str(tree.root)], markers=False)
    marked, unmarked = tree.env.render("configs/leaf.yaml"), plain.render("configs/leaf.yaml")
    assert unmarked.text == marked.text and unmarked.templates == marked.templates
    assert any(marked.line_map) and not any(unmarked.line_map)  # no line map is built
    errors = []
    for env in (tree.env, plain):
        with pytest.raises(FgError) as caught:
            env.render("configs/bad.yaml")
        errors.append(caught.value.one_line())
    assert errors[0] == errors[1] and "configs/bad.yaml:3" in errors[0]
