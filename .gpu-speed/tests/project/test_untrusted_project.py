"""A stranger's project is listed, browsed, previewed, --help'ed and dry-run without
running any of its code (issue: opening a project runs nothing).

The config's meta, dynamic_args and trainer_args call `os.system`, which would create a
marker file; no command that only looks at the project may create it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from fgproj_helpers import run_cli, write

MARKER = "RAN_CODE"


def _evil_project(root: Path) -> Path:
    marker = root / MARKER
    touch = f'["touch {marker}"]'
    return write(
        root / "evil",
        {
            "meta.yaml": 'name: "Evil"\ndescription: "calls os.system from its data targets"\n'
            'config_prefix: "configs"\ndefault_config: "evil.yaml"\n',
            "templates/configs/evil.yaml": f"""\
meta: !dict:@meta
    config_name: "Evil"
    config_description: !singleton:os:system {touch}
    output_dir: "{root}/out"
dynamic_args: !dlist
    steps:
        names: "--steps"
        type: int
        default: !singleton:os:system {touch}
        help: "how long"
    level:
        names: "--level"
        type: int
        default: 3
        help: "a plain option"
trainer_args: !singleton:fgtui.engine.train:TrainingArguments
    output_dir: !singleton:os:system {touch}
main: !singleton:os:system {touch}
""",
        },
    )


@pytest.fixture
def evil(tmp_path, isolated_home):
    project = _evil_project(tmp_path)
    yield project
    assert not (tmp_path / MARKER).exists(), "a command ran the project's code"


@pytest.mark.parametrize(
    "argv",
    [
        ["ls"],
        ["ls", "-r"],
        ["index"],
        ["trefs"],
        ["pp"],
        ["targets"],
        ["graph"],
        ["code"],
        ["train", "--help"],
        ["construct", "--help"],
    ],
)
def test_looking_at_a_project_runs_none_of_its_code(evil, argv):
    result = run_cli("-p", str(evil), *argv, cwd=evil)
    assert result.returncode in (0, 2), result.stderr
    assert "Traceback" not in result.stderr


def test_ls_shows_a_computed_meta_value_as_unresolved(evil):
    result = run_cli("-p", str(evil), "ls", cwd=evil)
    assert result.returncode == 0, result.stderr
    assert "<unresolved: !singleton:os:system>" in result.stdout


def test_help_shows_a_computed_default_without_computing_it(evil):
    result = run_cli("-p", str(evil), "train", "--help", cwd=evil)
    assert result.returncode == 0, result.stderr
    flat = " ".join(result.stdout.split())
    assert "--level" in flat and "(default: 3)" in flat
    assert "computed by !singleton:os:system when built" in flat
    assert "runs the config's code" in flat  # said once, in --help


def test_dry_run_runs_none_of_its_code(evil):
    result = run_cli("-p", str(evil), "train", "--dry-run", "-d", "cpu", cwd=evil)
    assert result.returncode == 0, result.stderr
    assert "torch.distributed.run" in result.stdout
    assert not (evil.parent / "out").exists(), "a dry run wrote the output dir"


def test_workbench_browses_and_previews_without_running_it(evil):
    from textual.widgets import Tree

    from fgtui.app.app import Workbench

    async def scenario() -> None:
        app = Workbench(evil, poll=False)
        async with app.run_test(size=(120, 40)) as pilot:
            tree = app.screen.query_one(Tree)
            for _ in range(250):
                await pilot.pause(0.02)
                if tree.root.children and tree.root.children[0].children:
                    break
            config = next(
                node for project in tree.root.children for node in project.children if "evil" in str(node.label)
            )
            tree.move_cursor(config)  # the details pane shows its meta and options
            await pilot.pause(1.0)
            assert "<unresolved" in str(app.screen.query_one("#details").render())
            await pilot.press("p")  # the editor with its live preview
            await pilot.pause(2.0)

    asyncio.run(scenario())
