"""Discovery of workspaces and projects, and scaffolding that writes files."""

from __future__ import annotations

import pytest

from fgtui.engine.errors import FgError
from fgtui.engine.project.scaffold import create_workspace, dir_name_for
from fgtui.engine.project.workspace import (
    find_project_dir,
    find_projects,
    find_workspace,
    require_project_dir,
    user_template_dirs,
)

from fgproj_helpers import write


def test_nearest_workspace_wins(tmp_path):
    write(
        tmp_path,
        {
            "forgather_workspace/meta_defaults.yaml": "",
            "a/forgather_workspace/meta_defaults.yaml": "",
            "a/proj/meta.yaml": "",
            "b/proj/meta.yaml": "",
        },
    )
    assert find_workspace(tmp_path / "a/proj") == tmp_path / "a"
    assert find_workspace(tmp_path / "b/proj/templates") == tmp_path
    assert find_workspace(tmp_path.parent) is None or find_workspace(tmp_path.parent) != tmp_path


def test_project_found_from_inside(tmp_path):
    write(tmp_path, {"p/meta.yaml": "", "p/templates/configs/x.yaml": ""})
    assert find_project_dir(tmp_path / "p/templates/configs") == tmp_path / "p"
    assert find_project_dir(tmp_path) is None


def test_not_a_project_is_a_user_error(tmp_path):
    with pytest.raises(FgError, match="not inside a project"):
        require_project_dir(tmp_path)
    with pytest.raises(FgError, match="does not exist"):
        require_project_dir(tmp_path / "missing")


def test_find_projects_walks_but_skips_hidden_and_outputs(tmp_path):
    write(
        tmp_path,
        {
            "one/meta.yaml": "",
            "one/sub/meta.yaml": "",
            "two/meta.yaml": "",
            ".hidden/meta.yaml": "",
            "one/output_models/m/meta.yaml": "",
        },
    )
    assert find_projects(tmp_path) == [tmp_path / "one", tmp_path / "one/sub", tmp_path / "two"]


def test_user_template_dirs_include_forgather_for_compatibility(isolated_home):
    config = isolated_home / ".config"
    assert user_template_dirs() == []
    (config / "forgather/templates").mkdir(parents=True)
    (config / "fgtui/templates").mkdir(parents=True)
    assert user_template_dirs() == [config / "fgtui/templates", config / "forgather/templates"]


@pytest.mark.parametrize(
    "name, expected",
    [
        ("H.P. Lovecraft Workspace", "hp_lovecraft_workspace"),
        ("Lovecraft Dataset", "lovecraft_dataset"),
        ("Finetune Lovecraft", "finetune_lovecraft"),
    ],
)
def test_directory_names_follow_forgather(name, expected):
    assert dir_name_for(name) == expected


def test_ws_create_writes_the_workspace_files(tmp_path):
    root, warnings = create_workspace(
        tmp_path, "H.P. Lovecraft Workspace", "tutorial", libraries=["base", "no_such_lib"], search_paths=["/extra"]
    )
    assert root == tmp_path / "hp_lovecraft_workspace"
    ws = root / "forgather_workspace"
    base = (ws / "base_directories.yaml").read_text()
    meta = (ws / "meta_defaults.yaml").read_text()
    assert "-- set ns.fgtui_dir = fgtui_dir" in base and "ns.forgather_dir = ns.fgtui_dir" in base
    assert "joinpath(ns.templatelib_dir, 'base')" in meta
    assert meta.index('"/extra"') < meta.index("forgather_workspace")
    assert "tutorial" in (ws / "README.md").read_text()
    assert any("no_such_lib" in w for w in warnings)


def test_ws_create_relative_fgtui_dir_is_stored_relative_to_the_workspace(tmp_path, monkeypatch):
    install = tmp_path / "install"
    (install / "templatelib").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    root, warnings = create_workspace(tmp_path / "wss", "W", fgtui_dir="install")
    text = (root / "forgather_workspace/base_directories.yaml").read_text()
    assert "joinpath(workspace_root, '../../install')" in text
    assert warnings == []


def test_ws_create_refuses_an_existing_directory(tmp_path):
    (tmp_path / "w").mkdir()
    (tmp_path / "w/keep.txt").write_text("mine")
    with pytest.raises(FgError, match="already exists"):
        create_workspace(tmp_path, "W")
    assert (tmp_path / "w/keep.txt").read_text() == "mine"
    assert not (tmp_path / "w/forgather_workspace").exists()


def test_project_create_and_new_config(tmp_path, isolated_home):
    from fgtui.engine.project.project import Project
    from fgtui.engine.project.scaffold import create_project, new_config

    root, _ = create_workspace(tmp_path, "W")
    project_dir = create_project(root, "My Project", 'says "hi" {{ braces }}', default_config="exp/first")
    project = Project.open(project_dir)
    assert project_dir == root / "my_project"
    assert project.meta.description == 'says "hi" {{ braces }}'
    assert project.configs() == ["exp/first.yaml"] and project.default_config() == "exp/first.yaml"
    first = (project_dir / "templates/configs/exp/first.yaml").read_text()
    assert "extends 'config_type.yaml'" in first  # base is on the workspace's search path

    path = new_config(project, "project.yaml", kind="project")
    assert path == project_dir / "templates/project.yaml"
    second = new_config(project, "second", kind="config")
    assert second.read_text().startswith("-- extends 'project.yaml'")
    copied = new_config(project, "third.yaml", "configs/exp/first.yaml")  # a template name
    assert copied.read_text() == first
    shared = new_config(project, "shared.yaml", kind="ws")
    assert shared.parent == root / "forgather_workspace"

    from fgtui.engine.project.listing import list_project

    assert not [e.error for e in list_project(Project.open(project_dir)).entries if e.error]


def test_project_create_refuses_without_writing(tmp_path, isolated_home):
    from fgtui.engine.project.project import Project
    from fgtui.engine.project.scaffold import create_project, new_config

    root, _ = create_workspace(tmp_path, "W")
    with pytest.raises(FgError, match="source config"):
        create_project(root, "P", source_config=tmp_path / "missing.yaml")
    assert not (root / "p").exists()
    create_project(root, "P")
    before = (root / "p/meta.yaml").read_text()
    with pytest.raises(FgError, match="already exists"):
        create_project(root, "P", description="other")
    assert (root / "p/meta.yaml").read_text() == before
    project = Project.open(root / "p")
    config = root / "p/templates/configs/default.yaml"
    config.write_text("mine")
    with pytest.raises(FgError, match="already exists"):
        new_config(project, "default.yaml")
    assert config.read_text() == "mine"
    with pytest.raises(FgError, match="unknown config type"):
        new_config(project, "x.yaml", kind="nope")


def test_project_create_copies_a_library_template_by_name(tmp_path, isolated_home, monkeypatch):
    """`fgtui project create --name N datasets/local_text.yaml`, as for `project new_config`:
    the name is looked up on the search path the new project will have."""
    from fgtui.engine.project.project import Project
    from fgtui.engine.project.scaffold import create_project
    from fgtui.engine.project.workspace import bundled_templatelib

    root, _ = create_workspace(tmp_path, "W")
    monkeypatch.chdir(root)  # no such file here: only the search path has it
    project = Project.open(create_project(root, "Stories", source_config="datasets/local_text.yaml"))
    copied = project.config_dir() / "default.yaml"
    assert copied.read_text() == (bundled_templatelib() / "datasets/local_text.yaml").read_text()
    with pytest.raises(FgError, match="not found, as a file or a template on the search path"):
        create_project(root, "Other", source_config="datasets/no_such.yaml")
    assert not (root / "other").exists()


def test_project_outside_any_workspace_is_standalone(tmp_path, isolated_home):
    from fgtui.engine.project.project import Project
    from fgtui.engine.project.scaffold import create_project

    project = Project.open(create_project(tmp_path, "Alone"))
    assert not project.meta.has_workspace and project.meta.workspace_root == tmp_path / "alone"
    assert project.find_template("config_type.yaml") is not None
    from fgtui.engine.project.listing import list_project

    assert list_project(project).entries[0].error is None
