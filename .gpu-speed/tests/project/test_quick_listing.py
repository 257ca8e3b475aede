"""`ls` reads config names without rendering (project/quick_listing.py): the same
listing as rendering every config, or the config is rendered."""

from __future__ import annotations

from pathlib import Path

import pytest

from fgtui.engine.project import listing as listing_module
from fgtui.engine.project.listing import describe_config, list_tree
from fgtui.engine.project.project import Project
from fgtui.engine.project.scaffold import create_workspace
from fgtui.engine.project.workspace import find_projects

from fgproj_helpers import write

REPO = Path(__file__).resolve().parents[2]
FORGATHER = REPO / "tests/compat/fixtures/forgather/examples"

BASE = """\
-- set ns = namespace()
[config_metadata]
    -- set ns.config_name = "Base"
    -- set ns.config_description = "base description"
[body]
body: 1
[meta_output]
meta: &meta !dict:@meta
    config_name: "{{ ns.config_name }}"
    config_description: "{{ ns.config_description }}"
[main_output]
main: 1
"""


def _entries(project_dir: Path, quick: bool) -> list[tuple]:
    project = Project.open(project_dir, quick=quick)
    return [
        (e.name, e.title, e.description, e.config_class, e.error)
        for e in (describe_config(project, name, quick=quick) for name in project.configs())
    ]


def _quickly_read(monkeypatch, project_dir: Path) -> list[str]:
    """The configs `ls` listed without rendering them."""
    rendered: list[str] = []
    original = Project.render

    def render(self, config=None, variables=None):
        rendered.append(config)
        return original(self, config, variables)

    monkeypatch.setattr(Project, "render", render)
    names = Project.open(project_dir).configs()
    _entries(project_dir, quick=True)
    monkeypatch.setattr(Project, "render", original)
    return [name for name in names if name not in rendered]


@pytest.mark.parametrize("root", [FORGATHER, REPO / "examples"], ids=["forgather examples", "fgtui examples"])
def test_every_example_lists_as_rendering_lists_it(root, isolated_home, monkeypatch):
    if not root.is_dir():
        pytest.skip(f"{root} is missing")
    projects = find_projects(root)
    assert projects
    read = total = 0
    for project_dir in projects:
        assert _entries(project_dir, quick=True) == _entries(project_dir, quick=False), project_dir
        read += len(_quickly_read(monkeypatch, project_dir))
        total += len(Project.open(project_dir).configs())
    # Only configs that fail to render are rendered to say why (Forgather's
    # checkpointing example includes an inline template no file defines).
    assert read >= total - 2


@pytest.fixture
def project(tmp_path, isolated_home):
    root, _ = create_workspace(tmp_path, "W")
    write(
        root, {"p/meta.yaml": '-- extends "meta_defaults.yaml"\n[configs]\nname: "P"\n', "p/templates/base.yaml": BASE}
    )
    return root / "p"


CASES = {
    "override and super": "-- extends 'base.yaml'\n[config_metadata]\n    == super()\n    -- set ns.config_name = ns.config_name ~ ' leaf'\n",
    "an include sets the name": "-- extends 'base.yaml'\n[body]\n-- include 'namer.yaml'\n",
    "an if sets the name": (
        "-- extends 'base.yaml'\n[config_metadata]\n    == super()\n    -- if true\n"
        "    -- set ns.config_name = 'In if'\n    -- endif\n"
    ),
    "a macro sets the name": (
        "-- extends 'base.yaml'\n-- macro m()\n-- set ns.config_name = 'Macro'\n-- endmacro\n[body]\n== m()\n"
    ),
    "meta_output grows after super": (
        "-- extends 'base.yaml'\n[meta_output]\n    == super()\n    output_dir: \"{{ ns.config_name }}/out\"\n"
    ),
    "a meta key given twice": (
        "-- extends 'base.yaml'\n[meta_output]\n    == super()\n    config_description: \"twice\"\n"
    ),
    "a later set overrides": "-- extends 'base.yaml'\n[body]\n-- set ns.config_name = 'Late'\nbody: 2\n",
    "a name from a dynamic extends": (
        "-- extends 'base.yaml'\n[config_metadata]\n    == super()\n    -- set ns.part = 'namer.yaml'\n"
        "[body]\n-- include 'dyn'\n#---- dyn ----\n-- extends ns.part\n"
    ),
    "a missing include that runs": "-- extends 'base.yaml'\n[body]\n-- include 'nowhere.yaml'\n",
    "a missing include that may not run": (
        "-- extends 'base.yaml'\n[body]\n-- if false\n-- include 'nowhere.yaml'\n-- endif\n"
    ),
    "literal meta": 'meta:\n    config_name: "Literal"\n    config_description: plain words\nmain: 1\n',
    "no meta": "main: 1\n",
    "quoted text YAML would read otherwise": (
        "-- extends 'base.yaml'\n[config_metadata]\n    == super()\n    -- set ns.config_name = 'say \"hi\"'\n"
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_what_the_walk_cannot_follow_lists_as_rendered(project, case):
    write(
        project,
        {"templates/namer.yaml": "-- set ns.config_name = 'From include'\n", "templates/configs/c.yaml": CASES[case]},
    )
    quick = _entries(project, quick=True)
    assert quick == _entries(project, quick=False)


def test_the_usual_configs_are_read_without_rendering(project, monkeypatch):
    write(
        project,
        {
            "templates/configs/a.yaml": CASES["override and super"],
            "templates/configs/b.yaml": CASES["literal meta"],
            "templates/configs/c.yaml": CASES["meta_output grows after super"],
        },
    )
    assert _quickly_read(monkeypatch, project) == ["a.yaml", "b.yaml", "c.yaml"]
    assert [e[1] for e in _entries(project, quick=True)] == ["Base leaf", "Literal", "Base"]


def test_ls_reads_quickly_and_check_renders(project, monkeypatch):
    write(project, {"templates/configs/a.yaml": CASES["override and super"]})
    calls: list[bool] = []
    original = listing_module.describe_config

    def spy(project_, name, is_default=False, quick=False):
        calls.append(quick)
        return original(project_, name, is_default, quick)

    monkeypatch.setattr(listing_module, "describe_config", spy)
    quick = [listing.lines() for listing in list_tree(project.parent, quick=True)]
    checked = [listing.lines() for listing in list_tree(project.parent, quick=False)]
    assert quick == checked and calls == [True, False]
