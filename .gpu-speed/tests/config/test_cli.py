"""The config commands as a user runs them: separate processes, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fgtui.engine.config import load_graph

from .conftest import write_tree

FILES = {
    "templates/base.yaml": """
        -- set ns = namespace()
        [meta]
        -- set ns.lr = lr | default(0.1)
        [main]
        main: !singleton:dict
            lr: {{ ns.lr }}
            width: !var [width, 8]
            [inner]
            inner: [1, 2]
        [other]
        other: !singleton:collections:OrderedDict {a: 1}
        .hidden: 1
    """,
    "templates/configs/leaf.yaml": """
        -- extends 'base.yaml'
        [inner]
            == super()
            mine: "leaf"
    """,
    "templates/configs/undefined.yaml": """
        -- extends 'base.yaml'
        [inner]
            bad: {{ not_defined }}
    """,
    "templates/configs/sentinel.yaml": """
        main: !singleton:fgtui_sentinel_module:make []
    """,
}


@pytest.fixture
def project(tmp_path) -> Path:
    write_tree(tmp_path, FILES)
    (tmp_path / "fgtui_sentinel_module.py").write_text(
        "import pathlib\npathlib.Path(__file__).with_name('IMPORTED').touch()\ndef make():\n    return 'made'\n"
    )
    return tmp_path


def fgtui(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fgtui.engine.cli", *args],
        cwd=project,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(project), "PATH": "/usr/bin:/bin"},
    )


def test_pp(project):
    result = fgtui(project, "-t", "templates/configs/leaf.yaml", "pp")
    assert result.returncode == 0, result.stderr
    assert "lr: 0.1" in result.stdout and 'mine: "leaf"' in result.stdout


def test_pp_with_variables_and_options_after_the_command(project):
    result = fgtui(project, "pp", "-t", "templates/configs/leaf.yaml", "--var", "lr=3e-4")
    assert "lr: 0.0003" in result.stdout


def test_project_dir_and_config_name(project):
    result = fgtui(project, "-p", ".", "-t", "leaf.yaml", "pp")
    assert result.returncode == 0, result.stderr
    assert "lr: 0.1" in result.stdout


def test_targets(project):
    result = fgtui(project, "-t", "templates/configs/leaf.yaml", "targets")
    assert result.stdout.split() == ["main", "other"]


def test_graph_yaml_reloads_to_the_same_graph(project):
    result = fgtui(project, "-t", "templates/configs/leaf.yaml", "graph", "--format", "yaml")
    assert result.returncode == 0, result.stderr
    pp = fgtui(project, "-t", "templates/configs/leaf.yaml", "pp").stdout
    assert load_graph(result.stdout) == load_graph(pp)


@pytest.mark.parametrize("fmt, expect", [("repr", "singleton dict"), ("python", "def construct(")])
def test_graph_formats(project, fmt, expect):
    result = fgtui(project, "-t", "templates/configs/leaf.yaml", "graph", "--format", fmt)
    assert result.returncode == 0 and expect in result.stdout


def test_code(project):
    result = fgtui(project, "-t", "templates/configs/leaf.yaml", "code", "--target", "other")
    assert "import collections" in result.stdout and "collections.OrderedDict(a=1)" in result.stdout


def test_construct_text_and_json(project):
    text = fgtui(project, "-t", "templates/configs/leaf.yaml", "construct")
    assert text.returncode == 0 and "'lr': 0.1" in text.stdout
    out = fgtui(project, "-t", "templates/configs/leaf.yaml", "construct", "--format", "json", "--var", "width=16")
    assert json.loads(out.stdout) == {"lr": 0.1, "width": 16, "inner": [1, 2], "mine": "leaf"}


def test_construct_json_refuses_non_json(project):
    result = fgtui(project, "-t", "templates/configs/leaf.yaml", "construct", "--target", "other", "--format", "json")
    assert result.returncode == 0  # an OrderedDict of JSON values is a dict
    bad = fgtui(project, "-t", "templates/configs/sentinel.yaml", "construct", "--format", "json")
    assert bad.returncode == 0 and json.loads(bad.stdout) == "made"


def test_preview_commands_import_no_named_module(project):
    for command in ("pp", "graph", "targets", "code"):
        result = fgtui(project, "-t", "templates/configs/sentinel.yaml", command)
        assert result.returncode == 0, result.stderr
    assert not (project / "IMPORTED").exists()
    assert fgtui(project, "-t", "templates/configs/sentinel.yaml", "construct").returncode == 0
    assert (project / "IMPORTED").exists()


def test_error_is_one_line_with_exit_code_2(project):
    result = fgtui(project, "-t", "templates/configs/undefined.yaml", "pp")
    assert result.returncode == 2
    lines = result.stderr.strip().split("\n")
    assert lines[0].startswith("fgtui: error: templates/configs/undefined.yaml:3: ")
    assert "Traceback" not in result.stderr
    assert len(lines) == 2 and lines[1].strip().startswith("template chain:") or len(lines) == 1


def test_debug_shows_the_traceback(project):
    result = fgtui(project, "-t", "templates/configs/undefined.yaml", "pp", "--debug")
    assert result.returncode == 2 and "Traceback" in result.stderr


def test_missing_config(project):
    result = fgtui(project, "-t", "nope.yaml", "pp")
    assert result.returncode == 2 and "not found" in result.stderr


def test_bad_var_option(project):
    result = fgtui(project, "-t", "templates/configs/leaf.yaml", "pp", "--var", "oops")
    assert result.returncode == 2 and "NAME=VALUE" in result.stderr


def test_build_error_exit_code(project):
    (project / "templates/configs/fail.yaml").write_text("main: !singleton:fractions:Fraction {bogus: 1}\n")
    result = fgtui(project, "-t", "templates/configs/fail.yaml", "construct")
    assert result.returncode == 2 and "fail.yaml:1" in result.stderr and "bogus" in result.stderr
