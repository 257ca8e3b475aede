"""Dynamic arguments: specs, argparse options, typed values, defaults."""

from __future__ import annotations

import argparse

import pytest

from fgtui.engine.errors import FgError
from fgtui.engine.commands.config_parser import (
    ConfigArgumentParser,
    add_config_command,
    add_to_parser,
    values_from_namespace,
)
from fgtui.engine.project.dynamic_args import check_required, parse_specs, parse_values

SPECS = [
    {"names": "--max-steps", "type": "int", "default": 100, "help": "steps"},
    {"names": ["--lr", "-l"], "type": "float", "help": "learning rate"},
    {"names": "--save-strategy", "type": "str", "choices": ["no", "steps"], "default": "steps"},
    {"names": "--compile", "type": "bool", "default": False},
    {"names": "--offload", "action": "store_true"},
    {"names": "--dataset-path", "type": "path"},
    {"names": "--layers", "type": "list", "item_type": "int"},
    {"names": "--rope", "type": "json"},
    {"names": "--batch", "type": "int", "min": 1, "max": 64},
]


def parse(argv, specs=SPECS):
    parsed = parse_specs(specs)
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_to_parser(parser, parsed)
    return values_from_namespace(parser.parse_args(argv), parsed)


def test_options_not_given_are_left_to_the_template_flags_pass_their_implied_value():
    # As Forgather passes them: pp renders with exactly what train runs with.
    values = parse([])
    assert values == {"offload": False}  # a store_true flag; --compile is a typed option
    assert "max_steps" not in values and "lr" not in values  # the template's | default() applies


def test_values_arrive_typed(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    values = parse(
        [
            "--max-steps",
            "7",
            "-l",
            "3e-4",
            "--compile",
            "--offload",
            "--dataset-path",
            "~/data",
            "--layers",
            "1",
            "2,3",
            "--rope",
            '{"type": "yarn", "f": 2}',
        ]
    )
    assert values["max_steps"] == 7 and isinstance(values["max_steps"], int)
    assert values["lr"] == pytest.approx(3e-4)
    assert values["compile"] is True and values["offload"] is True
    assert values["dataset_path"] == str(tmp_path / "data")
    assert values["layers"] == [1, 2, 3]
    assert values["rope"] == {"type": "yarn", "f": 2}


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--compile"], True),
        (["--no-compile"], False),
        (["--compile", "false"], False),
        (["--compile", "yes"], True),
    ],
)
def test_bool_spellings(argv, expected):
    assert parse(argv)["compile"] is expected


@pytest.mark.parametrize(
    "argv",
    [
        ["--max-steps", "ten"],
        ["--save-strategy", "epoch"],
        ["--batch", "0"],
        ["--batch", "65"],
        ["--rope", "{oops"],
        ["--compile", "maybe"],
        ["--unknown", "1"],
    ],
)
def test_bad_values_and_unknown_options_are_errors(argv):
    with pytest.raises((argparse.ArgumentError, SystemExit)):
        parse(argv)


def test_help_shows_the_declared_default():
    parsed = parse_specs(SPECS)
    parser = argparse.ArgumentParser()
    add_to_parser(parser, parsed)
    text = parser.format_help()
    assert "(default: 100)" in text
    assert "(default: set by the template)" in text
    assert "--no-compile" in text


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ({"names": "--x", "tpye": "int"}, "unknown field"),
        ({"names": "x"}, "option strings"),
        ({"names": "--x", "type": "complex"}, "unknown type"),
        ({"names": "--x", "type": "int", "default": "ten"}, "default"),
        ({"names": "--x", "action": "count"}, "unsupported action"),
    ],
)
def test_malformed_specs_are_user_errors(bad, fragment):
    with pytest.raises(FgError, match=fragment):
        parse_specs([bad])


def test_dlist_style_entries_and_none_are_accepted():
    specs = parse_specs({"a": {"names": "--a"}, "b": None})
    assert [s.dest for s in specs] == ["a"]


def test_duplicate_option_is_an_error():
    with pytest.raises(FgError, match="declared twice"):
        parse_specs([{"names": "--a"}, {"names": ["--b", "--a"]}])


def test_parse_values_for_the_launch_form():
    specs = parse_specs(SPECS)
    values = parse_values(specs, {"max_steps": "12", "compile": "true", "layers": "4,5"})
    assert values["max_steps"] == 12 and values["compile"] is True and values["layers"] == [4, 5]
    with pytest.raises(FgError, match="did you mean 'max_steps'"):
        parse_values(specs, {"max_step": "1"})
    with pytest.raises(FgError, match="--save-strategy"):
        parse_values(specs, {"save_strategy": "epoch"})


def test_required_is_checked_by_actions_only():
    specs = parse_specs([{"names": "--model", "required": True}])
    assert parse([], [{"names": "--model", "required": True}]) == {}
    with pytest.raises(FgError, match="--model"):
        check_required(specs, {})
    check_required(specs, {"model": "x"})


def test_config_parser_reads_t_before_and_after_the_subcommand(monkeypatch):
    seen = []

    def loader(project_dir, config):
        seen.append(config)
        return parse_specs([{"names": "--max-steps", "type": "int", "default": 5}])

    monkeypatch.setattr(ConfigArgumentParser, "spec_loader", staticmethod(loader))
    for argv in (["-t", "a.yaml", "train", "--max-steps", "9"], ["train", "-t", "a.yaml", "--max-steps", "9"]):
        main = argparse.ArgumentParser(prog="fgtui")
        main.add_argument("-t", "--config-template", default=argparse.SUPPRESS)
        subparsers = main.add_subparsers(dest="command")
        train = add_config_command(subparsers, "train")
        train.add_argument("-t", "--config-template", default=argparse.SUPPRESS)
        subparsers.add_parser("pp")  # other commands still parse normally
        args = main.parse_args(argv)
        assert args.dynamic_args == {"max_steps": 9}
        assert [s.dest for s in args.dynamic_arg_specs] == ["max_steps"]
    assert seen == ["a.yaml", "a.yaml"]


def test_config_parser_without_a_config_says_so(monkeypatch, capsys):
    monkeypatch.setattr(ConfigArgumentParser, "spec_loader", staticmethod(lambda p, c: None))
    main = argparse.ArgumentParser(prog="fgtui")
    subparsers = main.add_subparsers(dest="command")
    add_config_command(subparsers, "train")
    with pytest.raises(SystemExit):
        main.parse_args(["train", "--help"])
    assert "Config options appear here" in capsys.readouterr().out


def test_config_option_clashing_with_a_command_option_is_skipped_with_a_warning(monkeypatch, capsys):
    monkeypatch.setattr(
        ConfigArgumentParser,
        "spec_loader",
        staticmethod(lambda p, c: parse_specs([{"names": "--target"}, {"names": "--x"}])),
    )
    main = argparse.ArgumentParser(prog="fgtui")
    subparsers = main.add_subparsers(dest="command")
    construct = add_config_command(subparsers, "construct")
    construct.add_argument("--target", default="main")
    args = main.parse_args(["construct", "--target", "t", "--x", "1"])
    assert args.target == "t" and args.dynamic_args == {"x": "1"}
    assert "--target not added" in capsys.readouterr().err
