"""The guide runner's own rules: parsing sessions and matching output."""

from __future__ import annotations

from mdrun import matches, parse


def test_commands_outputs_heredocs_and_exit_codes():
    doc = "\n".join(
        [
            "text",
            "```console",
            "$ echo a \\",
            "  b",
            "a b",
            "$ cat > f <<'EOF'",
            "x: 1",
            "EOF",
            "$ false",
            "[exit 1]",
            "```",
            "```sh",
            "$ not run",
            "```",
            "```console gpu",
            "$ nvidia-smi",
            "...",
            "```",
        ]
    )
    commands = parse(doc)
    assert [c.text for c in commands] == ["echo a \\\n  b", "cat > f <<'EOF'\nx: 1\nEOF", "false", "nvidia-smi"]
    assert commands[0].expected == ["a b"] and commands[1].expected == []
    assert commands[2].exit_code == 1 and commands[2].expected == []
    assert [c.gpu for c in commands] == [False, False, False, True]
    assert commands[0].line == 3


def test_ellipsis_lines_and_inline():
    assert matches(["a", "...", "z"], ["a", "z"])
    assert matches(["a", "...", "z"], ["a", "b", "c", "z"])
    assert not matches(["a", "...", "z"], ["a", "b"])
    assert matches(["step ... loss ..."], ["step 5 loss 7.1"])
    assert not matches(["step ... loss ..."], ["step 5 lr 7.1"])
    assert not matches([], ["unexpected"])
    assert matches(["x.y"], ["x.y"]) and not matches(["x.y"], ["xzy"])


def test_empty_lines_do_not_count():
    assert matches(["a", "", "b"], ["a", "b", ""])
    assert matches(["a", "b"], ["", "a", "", "b"])
