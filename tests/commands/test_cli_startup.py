"""`fgtui` registers only the command being run; `--help` still lists them all."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fgtui.engine.cli import build_parser, command_in, modules_for
from fgtui.engine.commands import COMMAND_MODULES, command_names


@pytest.mark.parametrize(
    "argv, command",
    [
        (["pp"], "pp"),
        (["-t", "pp", "graph"], "graph"),  # a config named like a command is -t's value
        (["-p", "proj", "--config-template", "x.yaml", "ls", "-r"], "ls"),
        (["--debug", "targets"], "targets"),
        (["--project-dir=proj", "ls"], "ls"),
        (["--run", "cfg.yaml"], None),
        (["--", "pp"], "pp"),
        ([], None),
    ],
)
def test_command_in_finds_the_first_positional(argv, command):
    assert command_in(argv) == command


def test_only_the_owning_module_is_registered():
    assert modules_for(["-t", "a.yaml", "pp"]) == ["config_cmds"]
    assert modules_for(["ls", "-r"]) == ["project_cmds"]
    assert modules_for(["--help"]) == list(COMMAND_MODULES)
    assert modules_for(["nosuch"]) == list(COMMAND_MODULES)  # argparse lists the choices
    # config_cmds and project_cmds register the command being run alone, the others their few
    for argv, registered in ((["pp"], {"pp"}), (["ls", "-r"], {"ls"}), (["logs"], set(COMMAND_MODULES["train_cmds"]))):
        subparsers = build_parser(argv)._subparsers._group_actions[0]
        assert set(subparsers.choices) == registered
    assert build_parser(["ls", "-r"]).parse_args(["ls", "-r"]).recursive


def test_help_lists_every_command():
    subparsers = build_parser(["--help"])._subparsers._group_actions[0]
    assert set(subparsers.choices) == command_names()


def test_pp_imports_no_other_command_module_and_no_ml_library(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("a: 1\n")
    code = (
        "import sys\nfrom fgtui.engine import cli\nrc = cli.main(['-t', sys.argv[1], 'pp'])\n"
        "print(sorted(m.rsplit('.', 1)[1] for m in sys.modules if m.startswith('fgtui.engine.commands.')))\n"
        "print(sorted(m for m in ('torch', 'numpy', 'datasets', 'transformers', 'textual', 'yaml') "
        "if m in sys.modules))\nsys.exit(rc)"
    )
    result = subprocess.run([sys.executable, "-c", code, str(config)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "a: 1"
    # config_parser is the parser that grows the config's options, not a command module
    assert lines[-2:] == ["['config_cmds', 'config_parser']", "[]"]


def test_only_a_process_of_its_own_has_its_collector_paused_and_the_parse_frozen(capsys):
    import gc
    from pathlib import Path

    from fgtui.engine.cli import main

    datasets = str(Path(__file__).resolve().parents[2] / "examples" / "datasets")
    frozen = gc.get_freeze_count()
    assert main(["ls", "-r", datasets]) == 0  # shares this process: the collector is left as it was
    assert gc.isenabled() and gc.get_freeze_count() == frozen
    script = (
        "import gc, sys\n"
        "from fgtui.engine.cli import main\n"
        "code = main(['ls', '-r', sys.argv[1]], own_process=True)\n"
        "print(code, gc.isenabled(), gc.get_freeze_count() > 1000)\n"
    )
    out = subprocess.run([sys.executable, "-c", script, datasets], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-3:] == ["0", "True", "True"]  # on again for the command, what parsing made frozen
