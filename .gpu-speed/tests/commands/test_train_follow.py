"""`fgtui train --follow` away from a terminal: the lines a user (or a CI log) reads."""

from __future__ import annotations

from fgtui.engine.commands.headless import follow
from fgtui.engine.runs.synthetic import write_run


class _Ended:
    """A launched process that has already exited 0."""

    returncode = 0

    def poll(self) -> int:
        return 0


def test_plain_follow_prints_every_logged_step_eval_and_checkpoint(tmp_path, capsys):
    run_dir = write_run(tmp_path / "out" / "runs" / "r", 12, eval_every=5)
    assert follow(run_dir, None, _Ended()) == 0
    lines = capsys.readouterr().out.splitlines()
    train = [line.split()[1] for line in lines if line.startswith("step ") and "  loss " in line]
    # Every step the run logged, in order: none dropped however fast they were written.
    assert train == [f"{step}/12" for step in range(1, 13)]
    assert sum("eval_loss" in line for line in lines) == 2
    assert sum(" saved " in line for line in lines) == 2
    assert lines[0] == "started on cpu x1, 1,234,567 parameters"
    assert lines[-1] == f"run completed at step 12 (exit 0): {run_dir}"
