"""fgtui's pp / targets / graph of the Forgather examples, judged against Forgather's goldens.

    python tests/compat/compare.py [--root DIR] [-v]

prints, per command, how many configs match the goldens and why the others
do not (the first differing line). The tests in test_goldens.py use the
same functions. The examples are read from tests/compat/fixtures/forgather
(copied there by make_goldens.py), or from --root.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
from forgather_graph import canonical_graph  # noqa: E402
from masking import mask  # noqa: E402

FIXTURE_ROOT = HERE / "fixtures" / "forgather"
GOLDEN_DIR = HERE / "goldens"
SUFFIX = {"pp": ".pp.yaml", "targets": ".targets.txt", "graph": ".graph.yaml"}


def golden_index() -> dict[str, dict[str, dict[str, str]]]:
    return json.loads((GOLDEN_DIR / "index.json").read_text())


def cases() -> list[tuple[str, str, str]]:
    """(project, config, command) for every golden, sorted."""
    index = golden_index()
    return [
        (project, config, command)
        for project in sorted(index)
        for config in sorted(index[project])
        for command in SUFFIX
    ]


def golden(project: str, config: str, command: str) -> str | None:
    """Forgather's masked output, or None where Forgather failed."""
    if golden_index()[project][config][command] != "ok":
        return None
    return (GOLDEN_DIR / project / (config + SUFFIX[command])).read_text(encoding="utf-8")


def run_fgtui(root: Path, project: str, config: str, command: str) -> tuple[int, str, str]:
    """Run `fgtui -t CONFIG COMMAND` in the project directory, in this process."""
    from fgtui.engine.cli import main

    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(root / project)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(["-t", config, command])
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        os.chdir(cwd)
    return code, out.getvalue(), err.getvalue()


def verdict(root: Path, project: str, config: str, command: str) -> str | None:
    """None when fgtui agrees with Forgather; else why not, in one line."""
    expected = golden(project, config, command)
    code, out, err = run_fgtui(root, project, config, command)
    if expected is None:
        return None if code != 0 else "fgtui succeeds where Forgather fails"
    if code != 0:
        return "fgtui refuses: " + (err.strip().splitlines() or ["(no message)"])[-1]
    actual = mask(out, str(root))
    if command == "graph":
        theirs, ours = canonical_graph(expected), canonical_graph(actual)
        return None if theirs == ours else "graph differs: " + _first_difference(theirs, ours)
    if actual == expected:
        return None
    return "text differs: " + _first_line_difference(expected, actual)


def _first_line_difference(expected: str, actual: str) -> str:
    theirs, ours = expected.split("\n"), actual.split("\n")
    for number, (a, b) in enumerate(zip(theirs, ours), 1):
        if a != b:
            return f"line {number}: Forgather {a!r}, fgtui {b!r}"
    return f"Forgather has {len(theirs)} lines, fgtui {len(ours)}"


def _first_difference(theirs, ours, path: str = "") -> str:
    if type(theirs) is not type(ours):
        return f"{path or '/'}: Forgather {theirs!r:.80}, fgtui {ours!r:.80}"
    if isinstance(theirs, dict):
        for key in list(theirs) + [k for k in ours if k not in theirs]:
            if key not in theirs or key not in ours:
                return f"{path}/{key}: only in {'Forgather' if key in theirs else 'fgtui'}"
            if theirs[key] != ours[key]:
                return _first_difference(theirs[key], ours[key], f"{path}/{key}")
    if isinstance(theirs, (list, tuple)):
        if len(theirs) != len(ours):
            return f"{path}: Forgather has {len(theirs)} items, fgtui {len(ours)}"
        for index, (a, b) in enumerate(zip(theirs, ours)):
            if a != b:
                return _first_difference(a, b, f"{path}[{index}]")
    return f"{path or '/'}: Forgather {theirs!r:.80}, fgtui {ours!r:.80}"


def main() -> int:
    import argparse
    from collections import Counter

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=FIXTURE_ROOT)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    tally: dict[str, Counter] = {command: Counter() for command in SUFFIX}
    for project, config, command in cases():
        why = verdict(args.root, project, config, command)
        both_fail = golden(project, config, command) is None
        tally[command][
            "both refuse" if why is None and both_fail else "identical" if why is None else why.split(":")[0]
        ] += 1
        if why and args.verbose:
            print(f"{command:8} {project}/{config}: {why}")
    for command, counts in tally.items():
        print(f"{command:8} " + ", ".join(f"{n} {what}" for what, n in counts.most_common()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
