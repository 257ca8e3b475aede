"""Projects: meta.yaml, config discovery and resolution, listing, dynamic
args read from templates, from_project composition."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fgtui.engine.errors import FgError
from fgtui.engine.project import Project, from_project
from fgtui.engine.project.listing import list_project, list_tree
from fgtui.engine.project.scaffold import create_workspace

from fgproj_helpers import write

LIST_BASE = """\
-- set ns = namespace()
-- block project_meta
    -- set ns.config_name = "Base"
    -- set ns.config_description = "base list"
-- endblock project_meta
meta:
    config_name: {{ ns.config_name | toyaml }}
    config_description: {{ ns.config_description | toyaml }}
-- block dynamic_args
dynamic_args: !dlist
    null: ~
-- endblock dynamic_args
main:
-- block list required
-- endblock list
"""


@pytest.fixture
def workspace(tmp_path, isolated_home):
    root, _ = create_workspace(tmp_path, "WS", "test workspace")
    write(
        root,
        {
            "listing/meta.yaml": '-- extends "meta_defaults.yaml"\n[configs]\nname: "Lists"\n'
            'description: "list configs"\ndefault_config: "a.yaml"\n',
            "listing/templates/base.yaml": LIST_BASE,
            "listing/templates/configs/a.yaml": '-- extends "base.yaml"\n[project_meta]\n    == super()\n'
            '    -- set ns.config_name = "A"\n[list]\n    - 1\n',
            "listing/templates/configs/sub/b.yaml": '-- extends "configs/a.yaml"\n[project_meta]\n'
            '    -- set ns.config_name = "B"\n'
            '    -- set ns.config_description = "bee"\n'
            "[list]\n    == super()\n    - 2\n",
            "listing/templates/configs/broken.yaml": '-- extends "nowhere.yaml"\n',
        },
    )
    return root


def test_meta_from_workspace_defaults(workspace):
    project = Project.open(workspace / "listing" / "templates")
    meta = project.meta
    assert (meta.name, meta.description, meta.config_prefix) == ("Lists", "list configs", "configs")
    assert meta.workspace_root == workspace and meta.has_workspace
    assert meta.searchdir[0] == workspace / "listing/templates"
    assert workspace / "forgather_workspace" in meta.searchdir
    assert any(str(p).endswith("templatelib/base") for p in meta.searchdir)
    assert project.configs() == ["a.yaml", "broken.yaml", "sub/b.yaml"]
    assert project.default_config() == "a.yaml"


def test_project_globals_reach_every_template(workspace):
    write(
        workspace,
        {
            "listing/templates/configs/where.yaml": 'meta: {config_name: "{{ project_dir }}", config_description: "{{ workspace_root }}"}\nmain: 1\n'
        },
    )
    from fgtui.engine.config import build

    meta = build(Project.open(workspace / "listing").load("where.yaml"), target="meta")
    assert meta == {"config_name": str(workspace / "listing"), "config_description": str(workspace)}


def test_missing_search_directory_is_a_warning_naming_it(workspace):
    write(
        workspace,
        {
            "other/meta.yaml": f'searchdir: ["{workspace}/other/templates", "{workspace}/other/gone"]\nname: "Other"\n',
            "other/templates/configs/x.yaml": "main: 1\n",
        },
    )
    meta = Project.open(workspace / "other").meta
    assert meta.missing_searchdirs == [workspace / "other/gone"]
    assert "gone" in meta.warnings[0] and "does not exist" in meta.warnings[0]


def test_failing_meta_is_a_user_error(workspace):
    write(workspace, {"bad/meta.yaml": '-- extends "no_such_defaults.yaml"\n'})
    with pytest.raises(FgError) as info:
        Project.open(workspace / "bad")
    assert "no_such_defaults.yaml" in str(info.value)
    write(workspace, {"bad2/meta.yaml": "name: [unclosed\n"})
    with pytest.raises(FgError, match="meta.yaml"):
        Project.open(workspace / "bad2")


@pytest.mark.parametrize(
    "name, expected",
    [
        ("a.yaml", "configs/a.yaml"),
        ("a", "configs/a.yaml"),
        ("sub/b.yaml", "configs/sub/b.yaml"),
        ("configs/sub/b.yaml", "configs/sub/b.yaml"),
        (None, "configs/a.yaml"),
    ],
)
def test_resolve_config(workspace, name, expected):
    assert Project.open(workspace / "listing").resolve_config(name) == expected


def test_resolve_config_by_path_and_suggestion(workspace, monkeypatch):
    project = Project.open(workspace / "listing")
    monkeypatch.chdir(workspace / "listing")
    assert project.resolve_config("templates/configs/sub/b.yaml") == "configs/sub/b.yaml"
    with pytest.raises(FgError, match="did you mean 'sub/b.yaml'"):
        project.resolve_config("sub/bb.yaml")


def test_listing_titles_default_and_parse_error(workspace):
    listing = list_project(Project.open(workspace / "listing"))
    lines = listing.lines()
    assert lines[0] == "Lists : list configs"
    assert lines[1] == "    " + f"{'[a.yaml]':<30} A : base list"
    assert lines[2].startswith("    broken.yaml") and "PARSE ERROR:" in lines[2]
    assert "nowhere.yaml" in lines[2] and "\n" not in lines[2]
    assert lines[3] == "    " + f"{'sub/b.yaml':<30} B : bee"


def test_nested_workspaces_each_project_uses_the_nearest(workspace):
    nested, _ = create_workspace(workspace, "Inner")
    (nested / "forgather_workspace/shared.yaml").write_text("main: inner\n")
    (workspace / "forgather_workspace/shared.yaml").write_text("main: outer\n")
    for where in (workspace, nested):
        write(
            where,
            {
                "p/meta.yaml": '-- extends "meta_defaults.yaml"\n[configs]\nname: "P"\n',
                "p/templates/configs/c.yaml": "-- include 'shared.yaml'\n",
            },
        )
    from fgtui.engine.config import build

    outer = Project.open(workspace / "p")
    inner = Project.open(nested / "p")
    assert inner.meta.workspace_root == nested
    assert build(inner.load("c.yaml")) == "inner"
    assert build(outer.load("c.yaml")) == "outer"
    names = [listing.project_dir for listing in list_tree(workspace)]
    assert names == [workspace / "inner/p", workspace / "listing", workspace / "p"]


def test_dynamic_args_declared_in_templates(workspace):
    write(
        workspace,
        {
            "listing/templates/configs/opts.yaml": """\
-- extends "base.yaml"
[project_meta]
    == super()
    -- set ns.count = count | default(2)
[dynamic_args]
    == super()
    count:
        names: "--count"
        type: int
        default: {{ ns.count }}
        help: "items"
    tag:
        names: ["--tag", "-T"]
        choices: ["x", "y"]
[list]
-- for i in range(ns.count)
    - {{ tag | default("n") }}{{ i }}
-- endfor
"""
        },
    )
    project = Project.open(workspace / "listing")
    specs = project.dynamic_args("opts.yaml")
    assert [(s.dest, s.type, s.default if s.has_default else None) for s in specs] == [
        ("count", "int", 2),
        ("tag", "str", None),
    ]
    from fgtui.engine.config import build
    from fgtui.engine.project.dynamic_args import parse_values

    values = parse_values(specs, {"count": "3", "tag": "y"})
    assert build(project.load("opts.yaml", values)) == ["y0", "y1", "y2"]


def test_from_project_builds_a_sibling_projects_target(workspace):
    write(
        workspace,
        {
            "data/meta.yaml": '-- extends "meta_defaults.yaml"\n[configs]\nname: "Data"\ndefault_config: "d.yaml"\n',
            "data/templates/configs/d.yaml": """\
main: !dict
    size: {{ size | default(1) }}
    where: {{ project_dir | toyaml }}
    split: !var [split, "train"]
""",
            "train/meta.yaml": '-- extends "meta_defaults.yaml"\n[configs]\nname: "Train"\n',
            "train/templates/configs/t.yaml": """\
main: !singleton:fgtui.engine.project:from_project
    project_dir: {{ joinpath(workspace_root, 'data') | toyaml }}
    targets: main
    pp_kwargs: { size: 7 }
    split: eval
""",
        },
    )
    from fgtui.engine.config import build

    built = build(Project.open(workspace / "train").load("t.yaml"))
    assert built == {"size": 7, "where": str(workspace / "data"), "split": "eval"}
    direct = from_project(workspace / "data", "d.yaml", targets=["main"], split="x")
    assert direct == [{"size": 1, "where": str(workspace / "data"), "split": "x"}]
    with pytest.raises(FgError, match="has no target 'nope'"):
        from_project(workspace / "data", targets="nope")
    with pytest.raises(FgError, match="not a project"):
        from_project(workspace / "missing")


def test_forgather_spelling_of_from_project(workspace):
    write(
        workspace,
        {
            "data/meta.yaml": '-- extends "meta_defaults.yaml"\n[configs]\nname: "Data"\n',
            "data/templates/configs/d.yaml": "main: 5\n",
            "train/meta.yaml": '-- extends "meta_defaults.yaml"\n[configs]\nname: "Train"\n',
            "train/templates/configs/t.yaml": "main: !call:forgather:from_project\n    project_dir: {{ joinpath(workspace_root, 'data') | toyaml }}\n",
        },
    )
    from fgtui.engine.config import build

    assert build(Project.open(workspace / "train").load("t.yaml")) == 5


FORGATHER_META_DEFAULTS = """\
-- set ns = namespace()

## Import default paths; common to meta and regular templates.
-- include "base_directories.yaml"
-- set ns.forgather_templates_dir = joinpath(ns.forgather_dir, "templatelib")

searchdir:
-- block searchdir_project
    - "{{ joinpath(project_dir, 'templates') }}"
-- endblock searchdir_project


-- block searchdir_common
    - "{{ joinpath(workspace_root, 'forgather_workspace') }}"
    - "{{ joinpath(ns.forgather_templates_dir, 'modellib') }}"
    - "{{ joinpath(ns.forgather_templates_dir, 'base') }}"
-- endblock searchdir_common


-- block configs
-- endblock configs
"""

# What `forgather project create` writes for a config without a source.
FORGATHER_DEFAULT_CONFIG = """\
-- set ns = namespace()
-- include "base_directories.yaml"

meta: &meta_output !dict:@meta
    config_name: "Default"
    config_description: "Default Config"
    config_class: "none"
    project_dir: "{{ project_dir }}"
    workspace_root: "{{ workspace_root }}"
    forgather_dir: "{{ ns.forgather_dir }}"

dynamic_args: []

main: "Main Output"
"""


def test_a_forgather_workspace_opens_and_lists_unchanged(tmp_path, isolated_home):
    from fgtui.engine.project.workspace import fgtui_dir

    write(
        tmp_path,
        {
            "forgather_workspace/base_directories.yaml": f'-- set ns.forgather_dir = "{fgtui_dir()}"\n',
            "forgather_workspace/meta_defaults.yaml": FORGATHER_META_DEFAULTS,
            "proj/meta.yaml": '-- extends "meta_defaults.yaml"\n\n[configs]\nname: "Old Project"\n'
            'description: "made by forgather"\nconfig_prefix: "configs"\n'
            'default_config: "default.yaml"\n',
            "proj/templates/configs/default.yaml": FORGATHER_DEFAULT_CONFIG,
            "proj/templates/configs/typed.yaml": "-- extends 'config_type.yaml'\n[main_body]\n[main_output]\nmain: 3\n",
        },
    )
    project = Project.open(tmp_path / "proj")
    assert [p.name for p in project.meta.missing_searchdirs] == ["modellib"]
    assert "modellib" in project.meta.warnings[0]
    lines = list_project(project).lines()
    assert lines == [
        "Old Project : made by forgather",
        "    " + f"{'[default.yaml]':<30} Default : Default Config",
        "    " + f"{'typed.yaml':<30} Anonymous : ",
    ]
    assert project.dynamic_args() == []


def test_a_command_opens_its_project_once_while_meta_yaml_stays_as_it_was(workspace, monkeypatch):
    # `pp` selects its config twice (its options, then its render): one open, one
    # warm environment, unless something meta.yaml reads changed in between.
    from fgtui.engine.project import selection

    opened: list[Path] = []
    original = Project.open

    def counting(path=None, quick=False):
        opened.append(Path(path))
        return original(path, quick=quick)

    monkeypatch.setattr(Project, "open", staticmethod(counting))
    project_dir = workspace / "listing"
    first = selection.open_project(project_dir)
    assert selection.open_project(project_dir) is first and len(opened) == 1
    meta = project_dir / "meta.yaml"
    meta.write_text(meta.read_text().replace('"Lists"', '"Renamed"'))
    stamp = os.stat(meta).st_mtime_ns + 10_000_000
    os.utime(meta, ns=(stamp, stamp))
    again = selection.open_project(project_dir)
    assert again is not first and again.name == "Renamed" and len(opened) == 2
    defaults = workspace / "forgather_workspace" / "meta_defaults.yaml"
    defaults.write_text(defaults.read_text() + "\n")
    stamp = os.stat(defaults).st_mtime_ns + 10_000_000
    os.utime(defaults, ns=(stamp, stamp))
    assert selection.open_project(project_dir) is not again and len(opened) == 3
    monkeypatch.chdir(workspace)  # a relative searchdir would name other directories from here
    selection.open_project(project_dir)
    assert len(opened) == 4
