"""Run the shell sessions written in a markdown guide and compare their output.

The convention the guides follow (docs/tutorial.md, docs/templates.md):

* A fenced block whose info string starts with ``console`` is a session. Each
  line starting with ``$ `` is a command; a command line ending in ``\\``
  continues on the next line, and a command holding a here-document
  (``<<'EOF'``) takes every line up to the terminator. The lines after a
  command, up to the next ``$ ``, are the output it must print.
* Output comparison, line by line after stripping trailing blanks and
  dropping empty lines (on both sides): a line that
  is exactly ``...`` stands for any number of lines (none included); ``...``
  inside a line stands for any text on that line. A command shown with no
  output must print nothing. A last line ``[exit N]`` says the command exits
  with status N; otherwise it must exit 0. stdout and stderr are compared
  together, in the order they were written.
* ``console gpu`` blocks run only where CUDA is available; any other fence
  (``sh``, ``yaml``, ...) is shown to the reader and never run.

Every session of one guide runs in order in one scratch directory; the
working directory and exported variables carry from one command to the next,
as they would in the reader's terminal.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

HEREDOC = re.compile(r"<<-?\s*'?\"?([A-Za-z_]+)'?\"?")
EXIT_LINE = re.compile(r"^\[exit (\d+)\]$")


@dataclass
class Command:
    text: str
    expected: list[str]
    exit_code: int
    line: int  # where the command starts in the markdown file
    gpu: bool = False


@dataclass
class Session:
    commands: list[Command] = field(default_factory=list)


def parse(markdown: str) -> list[Command]:
    """The commands of every console block of `markdown`, in order."""
    lines = markdown.splitlines()
    commands: list[Command] = []
    i = 0
    while i < len(lines):
        fence = lines[i].strip()
        if not fence.startswith("```"):
            i += 1
            continue
        info = fence[3:].split()
        end = i + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if info and info[0] == "console":
            commands.extend(_parse_block(lines[i + 1 : end], i + 2, gpu="gpu" in info[1:]))
        i = end + 1
    return commands


def _parse_block(body: list[str], first_line: int, gpu: bool) -> list[Command]:
    commands: list[Command] = []
    i = 0
    while i < len(body):
        if not body[i].startswith("$ "):
            raise ValueError(f"line {first_line + i}: output with no command before it: {body[i]!r}")
        start = i
        parts = [body[i][2:]]
        while parts[-1].endswith("\\") and i + 1 < len(body):
            i += 1
            parts.append(body[i])
        match = HEREDOC.search(parts[0])
        if match:
            terminator = match.group(1)
            while i + 1 < len(body) and body[i].strip() != terminator:
                i += 1
                parts.append(body[i])
        i += 1
        expected: list[str] = []
        while i < len(body) and not body[i].startswith("$ "):
            expected.append(body[i].rstrip())
            i += 1
        exit_code = 0
        if expected and EXIT_LINE.match(expected[-1]):
            exit_code = int(EXIT_LINE.match(expected.pop()).group(1))
        commands.append(Command("\n".join(parts), expected, exit_code, first_line + start, gpu))
    return commands


def _line_pattern(expected: str) -> re.Pattern[str]:
    return re.compile("^" + ".*".join(re.escape(piece) for piece in expected.split("...")) + "$")


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether `actual` fits `expected` under the ``...`` rules; empty lines do not count."""
    expected = [line for line in expected if line.strip()]
    actual = [line for line in actual if line.strip()]
    # Dynamic programming over (expected index, actual index): small inputs.
    memo: dict[tuple[int, int], bool] = {}

    def fit(e: int, a: int) -> bool:
        key = (e, a)
        if key in memo:
            return memo[key]
        if e == len(expected):
            result = a == len(actual)
        elif expected[e] == "...":
            result = any(fit(e + 1, k) for k in range(a, len(actual) + 1))
        else:
            result = a < len(actual) and bool(_line_pattern(expected[e]).match(actual[a])) and fit(e + 1, a + 1)
        memo[key] = result
        return result

    return fit(0, 0)


class Shell:
    """Runs commands one at a time, keeping the working directory and exports."""

    def __init__(self, root: Path, env: dict[str, str]):
        self.root = root
        self.state = root / ".mdrun"
        self.state.mkdir(exist_ok=True)
        (self.state / "cwd").write_text(str(root))
        (self.state / "env").write_text("")
        self.env = env

    def run(self, command: str, timeout: float) -> tuple[int, list[str]]:
        script = (
            f'. "{self.state}/env"\ncd "$(cat "{self.state}/cwd")"\n'
            f"{command}\n"
            f'__rc=$?; pwd > "{self.state}/cwd"; export -p > "{self.state}/env"; exit $__rc\n'
        )
        result = subprocess.run(
            ["bash", "-c", script],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            timeout=timeout,
        )
        return result.returncode, [line.rstrip() for line in result.stdout.splitlines()]


def check(doc: Path, commands: list[Command], shell: Shell, timeout: float = 600) -> None:
    """Run `commands` in `shell`; raise AssertionError at the first that differs from `doc`."""
    for command in commands:
        code, output = shell.run(command.text, timeout)
        where = f"{doc.name}:{command.line}: $ {command.text.splitlines()[0]}"
        if code != command.exit_code:
            raise AssertionError(
                f"{where}\nexited {code}, the guide says {command.exit_code}; it printed:\n" + "\n".join(output)
            )
        if not matches(command.expected, output):
            raise AssertionError(
                f"{where}\nthe guide shows:\n"
                + "\n".join(command.expected)
                + "\n--- but it printed:\n"
                + "\n".join(output)
            )


def scratch_env() -> dict[str, str]:
    """The environment guide sessions run in: this one, unbuffered, with this
    Python's `fgtui` first on PATH (as in an activated venv), and a job registry
    of its own. The guides print `fgtui control list`, so a registry shared with
    another test (the conftest's, which every pytest-xdist worker inherits)
    would show that test's jobs too. mkdtemp keeps the path short enough for
    the jobs' Unix sockets and makes it 0700, as the registry requires."""
    bin_dir = str(Path(sys.executable).parent)
    runtime = tempfile.mkdtemp(prefix="fgdoc-")
    atexit.register(shutil.rmtree, runtime, True)
    return {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        "FGTUI_RUNTIME_DIR": runtime,
    }


REPO = Path(__file__).resolve().parents[2]
SHARED_CORPUS = REPO.parent / "shared" / "corpora" / "lovecraft"
BUNDLED_CORPUS = REPO / "examples" / "datasets" / "lovecraft" / "data"


def copy_stories(into: Path) -> None:
    """The tutorial's `stories/`: the shared Lovecraft corpus when this checkout sits
    next to one, else the 17 stories fgtui ships (FGTUI_DOCS_CORPUS=bundled forces
    those, FGTUI_DOCS_CORPUS=DIR reads DIR's .txt files)."""
    into.mkdir()
    chosen = os.environ.get("FGTUI_DOCS_CORPUS", "")
    if chosen not in ("", "bundled"):
        sources = Path(chosen).glob("*.txt")
    elif SHARED_CORPUS.is_dir() and chosen != "bundled":
        sources = SHARED_CORPUS.glob("*.txt")
    else:
        sources = BUNDLED_CORPUS.glob("*/*.txt")
    for source in sources:
        shutil.copy(source, into / source.name)


def record(doc: Path, root: Path) -> None:
    """Run every command of `doc` in `root` and print what each printed: how a
    writer sees the real output before choosing what the guide shows."""
    shell = Shell(root, scratch_env())
    for command in parse(doc.read_text()):
        code, output = shell.run(command.text, 900)
        print(f"### {doc.name}:{command.line} (exit {code})\n$ {command.text}")
        print("\n".join(output))


if __name__ == "__main__":
    record(Path(sys.argv[1]), Path(sys.argv[2]))
