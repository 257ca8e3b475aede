"""The `ls` cache: a hit renders nothing; any file change re-lists."""

from __future__ import annotations

import os

import pytest

from fgtui.engine.project import project as project_module
from fgtui.engine.project.listing import list_dir
from fgtui.engine.project.listing_cache import ListingCache
from fgtui.engine.project.scaffold import create_workspace

from fgproj_helpers import write


@pytest.fixture
def tree(tmp_path, isolated_home):
    root, _ = create_workspace(tmp_path, "W")
    write(
        root,
        {
            "p/meta.yaml": '-- extends "meta_defaults.yaml"\n[configs]\nname: "P"\ndescription: "d"\n',
            "p/templates/base.yaml": 'meta: {config_name: "Base", config_description: "{{ word | default(\'x\') }}"}\nmain: 1\n',
            "p/templates/configs/a.yaml": "-- extends 'base.yaml'\n",
        },
    )
    return root / "p"


def _forbid_rendering(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("rendered although the cache was fresh")

    monkeypatch.setattr(project_module.Project, "open", classmethod(refuse))


def _touch(path, text):
    path.write_text(text)
    stamp = os.stat(path).st_mtime_ns + 10_000_000  # coarse file-system clocks
    os.utime(path, ns=(stamp, stamp))


def test_a_fresh_cache_renders_nothing(tree, tmp_path, monkeypatch):
    cache = ListingCache(tmp_path / "cache")
    first = list_dir(tree, cache).lines()
    with monkeypatch.context() as patch:
        _forbid_rendering(patch)
        assert list_dir(tree, cache).lines() == first


def test_an_edited_template_on_the_search_path_relists(tree, tmp_path, monkeypatch):
    cache = ListingCache(tmp_path / "cache")
    assert list_dir(tree, cache).entries[0].title == "Base"
    _touch(tree / "templates/base.yaml", 'meta: {config_name: "Changed", config_description: "d"}\nmain: 1\n')
    assert list_dir(tree, cache).entries[0].title == "Changed"


def test_a_new_config_and_a_workspace_change_relist(tree, tmp_path):
    cache = ListingCache(tmp_path / "cache")
    list_dir(tree, cache)
    write(tree, {"templates/configs/b.yaml": "-- extends 'base.yaml'\n"})
    assert [e.name for e in list_dir(tree, cache).entries] == ["a.yaml", "b.yaml"]
    defaults = tree.parent / "forgather_workspace/meta_defaults.yaml"
    _touch(defaults, defaults.read_text() + "default_config: 'b.yaml'\n")
    assert [e.is_default for e in list_dir(tree, cache).entries] == [False, True]


def test_parse_errors_are_cached_too_and_unreadable_cache_is_ignored(tree, tmp_path):
    write(tree, {"templates/configs/bad.yaml": "main: [1\n"})
    cache = ListingCache(tmp_path / "cache")
    first = list_dir(tree, cache).lines()
    assert "PARSE ERROR" in first[2]
    assert list_dir(tree, cache).lines() == first
    for file in (tmp_path / "cache").iterdir():
        file.write_text("{not json")
    assert list_dir(tree, cache).lines() == first


def test_a_file_of_the_project_dir_that_meta_extends_relists_when_edited(tree, tmp_path):
    # meta.yaml's search path starts with the project directory, which the search-path
    # signature does not cover: the file is stamped because the listing read it.
    write(tree, {"meta_base.yaml": '-- extends "meta_defaults.yaml"\n[configs]\nname: "Old"\n'})
    _touch(tree / "meta.yaml", '-- extends "meta_base.yaml"\n')
    _age(tree / "meta_base.yaml")
    cache = ListingCache(tmp_path / "cache")
    assert list_dir(tree, cache).name == "Old"
    assert list_dir(tree, cache).name == "Old"
    _touch(tree / "meta_base.yaml", '-- extends "meta_defaults.yaml"\n[configs]\nname: "New"\n')
    assert list_dir(tree, cache).name == "New"


def test_a_file_written_while_listing_is_not_trusted(tree, tmp_path):
    write(tree, {"meta_base.yaml": '-- extends "meta_defaults.yaml"\n[configs]\nname: "Old"\n'})
    _touch(tree / "meta.yaml", '-- extends "meta_base.yaml"\n')
    cache = ListingCache(tmp_path / "cache")
    list_dir(tree, cache)  # meta_base.yaml is a moment old: its stamp may not show the next edit
    assert cache.load(tree) is None
    _age(tree / "meta_base.yaml")
    list_dir(tree, cache)
    assert cache.load(tree) is not None


def test_a_relative_searchdir_relists_from_another_working_directory(tree, tmp_path, monkeypatch):
    _touch(tree / "meta.yaml", 'name: "P"\nsearchdir: ["templates"]\n')
    monkeypatch.chdir(tree)
    cache = ListingCache(tmp_path / "cache")
    assert [e.name for e in list_dir(tree, cache).entries] == ["a.yaml"]
    elsewhere = tmp_path / "elsewhere"
    write(elsewhere, {"templates/configs/z.yaml": "main: 1\n"})
    monkeypatch.chdir(elsewhere)
    assert [e.name for e in list_dir(tree, cache).entries] == ["z.yaml"]


def _age(path, seconds=60):
    stamp = os.stat(path).st_mtime_ns - seconds * 1_000_000_000
    os.utime(path, ns=(stamp, stamp))
