"""`fgtui [PATH]`: open the workbench, or explain why it cannot open here.

Textual writes escape sequences to stderr even when stderr is a file, so the
terminal check happens before Textual is imported: under nohup, Slurm or CI
the user gets one readable line instead of a log full of control codes.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

NO_TERMINAL = (
    "fgtui: the workbench needs an interactive terminal ({why}); "
    "use `fgtui --run CFG` to train headless, `fgtui ls` to list configs, "
    "`fgtui logs summary RUN` to see how a run goes"
)


def terminal_problem() -> str | None:
    """Why the UI cannot draw here, or None when it can."""
    if os.environ.get("TERM", "") == "dumb":
        return "TERM=dumb"
    if not sys.stdin.isatty():
        return "stdin is not a terminal"
    if not sys.stderr.isatty():
        return "stderr is not a terminal"
    return None


def bundled_examples() -> Path:
    return Path(__file__).resolve().parent.parent / "examples"


def start_path(path: str | None) -> Path:
    """The directory the workbench opens: PATH, else the current directory when
    it holds a workspace or project, else the examples shipped with fgtui."""
    if path is not None:
        return Path(path).resolve()
    here = Path.cwd()
    from fgtui.engine.project.workspace import find_project_dir, find_projects, find_workspace

    if find_workspace(here) or find_project_dir(here) or find_projects(here):
        return here
    return bundled_examples()


def run_workbench(path: str | None) -> int:
    """Entry point for `fgtui` and `fgtui PATH`; returns the process exit code."""
    problem = terminal_problem()
    if problem is not None:
        print(NO_TERMINAL.format(why=problem), file=sys.stderr)
        return 2
    from fgtui.app.app import Workbench

    app = Workbench(start_path(path))
    # FGTUI_MOUSE=0 leaves the mouse to the terminal (native text selection over SSH).
    result = app.run(mouse=os.environ.get("FGTUI_MOUSE", "1") != "0")
    return int(result or 0) if app.return_code is None else app.return_code
