"""Every config under examples/ lists without PARSE ERROR, and the bundled
examples form one workspace."""

from __future__ import annotations

from fgtui.engine.project import Project
from fgtui.engine.project.listing import list_tree
from fgtui.engine.project.workspace import find_projects

from fgproj_helpers import REPO

EXAMPLES = REPO / "examples"


def test_examples_form_one_workspace():
    projects = find_projects(EXAMPLES)
    assert EXAMPLES / "tutorials/project_composition" in projects
    assert EXAMPLES / "template_project" in projects
    for project_dir in projects:
        meta = Project.open(project_dir).meta
        assert meta.has_workspace, project_dir


def test_every_example_config_parses():
    listings = list_tree(EXAMPLES)
    failures = [f"{listing.project_dir}: {listing.error}" for listing in listings if listing.error]
    failures += [
        f"{listing.project_dir}/{entry.name}: {entry.error}"
        for listing in listings
        for entry in listing.entries
        if entry.error
    ]
    assert failures == []
    assert sum(len(listing.entries) for listing in listings) >= 5
    assert all(not listing.warnings for listing in listings), [l.warnings for l in listings]


def test_project_composition_builds_what_the_tutorial_says():
    from fgtui.engine.config import build

    project = Project.open(EXAMPLES / "tutorials/project_composition")
    assert build(project.load("list.yaml")) == ["Alpha", "Bravo", "Charlie", "Delta"]
    full = build(project.load("full_list.yaml"))
    assert len(full) == 26 and full[:4] == ["Alpha", "Bravo", "Charlie", "Delta"] and full[-1] == "Zulu"
    specs = project.dynamic_args("counted_list.yaml")
    assert [(s.dest, s.default, s.minimum, s.maximum) for s in specs] == [("count", 3, 1, 8)]
    assert build(project.load("counted_list.yaml", {"count": 5}))[-1] == "Echo"


def test_template_project_declares_its_defaults_once():
    from fgtui.engine.config import build

    project = Project.open(EXAMPLES / "template_project")
    loud = {s.dest: s.default for s in project.dynamic_args("loud.yaml")}
    assert loud == {"greeting": "HELLO", "repeat": 2}
    assert build(project.load("loud.yaml"))["words"] == ["HELLO", "HELLO"]
    assert build(project.load("default.yaml", {"repeat": 3}))["words"] == ["hello"] * 3
