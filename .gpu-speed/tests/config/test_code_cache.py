"""Compiled templates shared across environments and processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import jinja2
import pytest

from fgtui.engine.config import TemplateEnvironment
from fgtui.engine.config.code_cache import TemplateCodeCache
from fgtui.engine.errors import FgError


@pytest.fixture
def compiles(monkeypatch):
    """Names Jinja compiled, in order."""
    names: list[str] = []
    real_compile = jinja2.Environment.compile

    def counting(self, source, name=None, filename=None, raw=False, defer_init=False):
        names.append(name)
        return real_compile(self, source, name, filename, raw, defer_init)

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    return names


@pytest.fixture
def templates(tmp_path):
    root = tmp_path / "templates"
    root.mkdir()
    (root / "base.yaml").write_text("[body]\nx: {{ 1 + 1 }}\n")
    (root / "leaf.yaml").write_text("-- extends 'base.yaml'\n[body]\n    == super()\ny: 3\n")
    return root


def test_a_second_environment_reuses_the_compiled_templates(templates, tmp_path, compiles):
    cache = TemplateCodeCache(tmp_path / "cache", persist=False)
    first = TemplateEnvironment([str(templates)], code_cache=cache).render("leaf.yaml")
    assert sorted(compiles) == ["base.yaml", "leaf.yaml"]
    second = TemplateEnvironment([str(templates)], code_cache=cache).render("leaf.yaml")
    assert sorted(compiles) == ["base.yaml", "leaf.yaml"]
    assert second.text == first.text == "x: 2\n\ny: 3\n"
    assert second.line_map == first.line_map  # markers name files the same way in both


def test_a_fresh_cache_over_the_same_directory_loads_from_disk(templates, tmp_path, compiles):
    TemplateEnvironment([str(templates)], code_cache=TemplateCodeCache(tmp_path / "cache")).render("leaf.yaml")
    assert len(list((tmp_path / "cache").glob("*.cache"))) == 2
    compiles.clear()
    env = TemplateEnvironment([str(templates)], code_cache=TemplateCodeCache(tmp_path / "cache"))
    assert env.render("leaf.yaml").text == "x: 2\n\ny: 3\n"
    assert compiles == []


def test_an_edited_file_compiles_again(templates, tmp_path, compiles):
    TemplateEnvironment([str(templates)], code_cache=TemplateCodeCache(tmp_path / "cache")).render("leaf.yaml")
    (templates / "base.yaml").write_text("[body]\nx: {{ 2 + 2 }}\n")
    compiles.clear()
    env = TemplateEnvironment([str(templates)], code_cache=TemplateCodeCache(tmp_path / "cache"))
    assert env.render("leaf.yaml").text == "x: 4\n\ny: 3\n"
    assert compiles == ["base.yaml"]


def test_unsaved_text_is_neither_cached_nor_written(templates, tmp_path, compiles):
    cache = TemplateCodeCache(tmp_path / "cache")
    env = TemplateEnvironment([str(templates)], code_cache=cache)
    env.render("leaf.yaml")
    stored = {p.name: p.read_bytes() for p in (tmp_path / "cache").glob("*.cache")}
    edited = "-- extends 'base.yaml'\n[body]\n    == super()\ny: 4\n"
    assert env.render_string(edited, name=str(templates / "leaf.yaml")).text == "x: 2\n\ny: 4\n"
    assert {p.name: p.read_bytes() for p in (tmp_path / "cache").glob("*.cache")} == stored
    compiles.clear()
    other = TemplateEnvironment([str(templates)], code_cache=cache)
    assert other.render_string(edited, name=str(templates / "leaf.yaml")).text == "x: 2\n\ny: 4\n"
    assert compiles == ["leaf.yaml"]  # the unsaved text again; base.yaml came from the cache


def test_a_damaged_cache_file_compiles_again(templates, tmp_path, compiles):
    TemplateEnvironment([str(templates)], code_cache=TemplateCodeCache(tmp_path / "cache")).render("leaf.yaml")
    for path in (tmp_path / "cache").glob("*.cache"):
        path.write_bytes(path.read_bytes()[:40])
    compiles.clear()
    env = TemplateEnvironment([str(templates)], code_cache=TemplateCodeCache(tmp_path / "cache"))
    assert env.render("leaf.yaml").text == "x: 2\n\ny: 3\n"
    assert sorted(compiles) == ["base.yaml", "leaf.yaml"]


def test_errors_point_at_the_template_line_when_code_comes_from_disk(tmp_path):
    root = tmp_path / "templates"
    root.mkdir()
    (root / "bad.yaml").write_text("a: 1\nb: {{ missing_name }}\n")
    for _ in range(2):  # compiled, then loaded from disk
        env = TemplateEnvironment([str(root)], code_cache=TemplateCodeCache(tmp_path / "cache"))
        with pytest.raises(FgError, match="missing_name") as caught:
            env.render("bad.yaml")
        assert caught.value.location.line == 2
    assert len(list((tmp_path / "cache").glob("*.cache"))) == 1


def test_the_switch_keeps_nothing_on_disk(templates, tmp_path, monkeypatch):
    monkeypatch.setenv("FGTUI_TEMPLATE_CACHE", "0")
    TemplateEnvironment([str(templates)], code_cache=TemplateCodeCache(tmp_path / "cache")).render("leaf.yaml")
    assert not (tmp_path / "cache").exists()


def test_a_new_process_compiles_nothing_the_last_one_compiled(templates, tmp_path):
    script = textwrap.dedent(f"""
        import jinja2
        compiled = []
        real = jinja2.Environment.compile
        jinja2.Environment.compile = lambda self, source, name=None, *a, **k: (
            compiled.append(name), real(self, source, name, *a, **k))[1]
        from fgtui.engine.config import TemplateEnvironment
        print(TemplateEnvironment([{str(templates)!r}]).render("leaf.yaml").text.split(), sorted(compiled))
    """)
    env = dict(os.environ, FGTUI_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("FGTUI_TEMPLATE_CACHE", None)
    runs = [
        subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        for _ in range(2)
    ]
    assert runs[0].stdout.strip() == "['x:', '2', 'y:', '3'] ['base.yaml', 'leaf.yaml']"
    assert runs[1].stdout.strip() == "['x:', '2', 'y:', '3'] []"


def test_entries_not_rewritten_for_a_month_are_pruned_once_a_day(templates, tmp_path):
    cache_dir = tmp_path / "cache"
    TemplateCodeCache(cache_dir).clear()
    TemplateEnvironment([str(templates)], code_cache=TemplateCodeCache(cache_dir)).render("leaf.yaml")
    old = time.time() - 40 * 24 * 3600
    stale = cache_dir / ("0" * 40 + ".cache")
    stale.write_bytes(b"old")
    os.utime(stale, (old, old))
    (templates / "base.yaml").write_text("[body]\nx: 5\n")  # forces a write, which may prune
    TemplateEnvironment([str(templates)], code_cache=TemplateCodeCache(cache_dir)).render("leaf.yaml")
    assert stale.exists()  # pruned less than a day ago (at the first write)
    os.utime(cache_dir / "last-pruned", (old, old))
    (templates / "base.yaml").write_text("[body]\nx: 6\n")
    TemplateEnvironment([str(templates)], code_cache=TemplateCodeCache(cache_dir)).render("leaf.yaml")
    assert not stale.exists()
    assert len(list(cache_dir.glob("*.cache"))) == 2


def test_cache_dir_follows_fgtui_cache_dir_then_xdg(monkeypatch, tmp_path):
    from fgtui.engine.config.code_cache import cache_dir

    monkeypatch.setenv("FGTUI_CACHE_DIR", str(tmp_path / "fg"))
    assert cache_dir().parent == tmp_path / "fg"
    monkeypatch.delenv("FGTUI_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir().parent == tmp_path / "xdg" / "fgtui"
    assert cache_dir().name.startswith("templates-")
