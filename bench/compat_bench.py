"""fgtui and Forgather side by side on Forgather's own examples, in one run.

    .venv/bin/python bench/compat_bench.py [--examples ../shared/forgather/examples]
        [--forgather /work/forgather-venv/bin/forgather] [--repeat 5]

Every figure is the wall time of a whole process, start-up and imports
included, the median of --repeat runs:

* `ls -r` over the examples tree, Forgather as it always runs (it keeps no
  cache) against fgtui cold: no listing cache and no compiled templates on
  disk (FGTUI_TEMPLATE_CACHE=0). fgtui's `ls` reads names without rendering
  where the templates allow (project/quick_listing.py). Goal: >= 20x faster.
  For the record, `ls -r --check` (every config rendered, as Forgather
  does) cold, and with the listing cache of an earlier run.
* one `pp` process on a training config (the tiny_experiments default, which
  extends Forgather's training script chain), against Forgather: fgtui cold
  ("pp, cold": no compiled templates on disk, so Jinja compiles all ~13 of
  them, about half its CPU) and as usual ("pp, compiled on disk": the
  templates' code kept by an earlier run). Goal: >= 2x faster.

It also checks that the two `pp` outputs are the same text once the clock,
paths and versions are masked (tests/compat/masking.py), that fgtui's `ls`
lists every config with Forgather's name, title and description (configs
that fail aside: the two print their errors differently), and that `ls`
and `ls --check` print the same.

Both programs run as installed ones do, with the bytecode of their Python
modules on disk (pip compiles it at install time; an editable install or
PYTHONDONTWRITEBYTECODE would make every process compile fgtui's, or
Forgather's, sources again): the run sets PYTHONPYCACHEPREFIX to a fresh
directory and runs each program once before timing. "Cold" is about fgtui's
own caches (listing and compiled templates), which that leaves empty.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PP_PROJECT = "tiny_experiments/tiny_experiment"
PP_CONFIG = "default.yaml"


def default_examples() -> Path | None:
    for base in (REPO.parent, REPO.parent.parent):
        candidate = base / "shared" / "forgather" / "examples"
        if candidate.is_dir():
            return candidate
    return None


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds, stdout) of one process."""
    start, cpu = time.perf_counter(), _child_cpu()
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed, cpu = time.perf_counter() - start, _child_cpu() - cpu
    if proc.returncode != 0:
        sys.exit(f"{' '.join(command)} failed in {cwd}:\n{proc.stderr[-2000:]}")
    return elapsed, cpu, proc.stdout


def median_run(command: list[str], cwd: Path, repeat: int, fresh_env) -> tuple[tuple[float, float], str]:
    """((median wall, median CPU), the last run's stdout) of `repeat` processes."""
    walls, cpus, out = [], [], ""
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as cache:
            elapsed, cpu, out = timed(command, cwd, fresh_env(cache))
        walls.append(elapsed)
        cpus.append(cpu)
    return (statistics.median(walls), statistics.median(cpus)), out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=Path, default=default_examples())
    parser.add_argument("--forgather", default="/work/forgather-venv/bin/forgather")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if args.examples is None or not args.examples.is_dir():
        parser.error("no Forgather examples tree: pass --examples DIR (../shared/forgather/examples)")
    if not os.access(args.forgather, os.X_OK):
        parser.error(f"{args.forgather} is not an executable: pass --forgather (Forgather's CLI, Python >= 3.12)")
    bytecode = tempfile.mkdtemp(prefix="bench-pycache-")
    base_env = {**os.environ, "PYTHONWARNINGS": "ignore", "PYTHONPYCACHEPREFIX": bytecode}
    base_env.pop("PYTHONDONTWRITEBYTECODE", None)
    fgtui = [sys.executable, "-m", "fgtui.engine.cli"]

    def cold(cache: str) -> dict[str, str]:
        return {**base_env, "XDG_CACHE_HOME": cache, "FGTUI_TEMPLATE_CACHE": "0"}

    def usual(cache: str) -> dict[str, str]:
        return base_env

    pp_dir = args.examples / PP_PROJECT
    timed(fgtui + ["-t", PP_CONFIG, "pp"], pp_dir, base_env)  # leaves compiled templates on disk
    for argv, where in ((["ls", "-r"], args.examples), (["-t", PP_CONFIG, "pp"], pp_dir)):
        with tempfile.TemporaryDirectory() as cache:  # the bytecode of the modules cold runs import besides
            timed(fgtui + argv, where, cold(cache))
    timed([args.forgather, "ls", "-r"], args.examples, base_env)
    timed([args.forgather, "-t", PP_CONFIG, "pp"], pp_dir, base_env)
    rows = []
    theirs, their_ls = median_run([args.forgather, "ls", "-r"], args.examples, args.repeat, usual)
    ours, our_ls = median_run(fgtui + ["ls", "-r"], args.examples, args.repeat, cold)
    rows.append(("ls -r, cold", ours, theirs, 20))
    ours, checked_ls = median_run(fgtui + ["ls", "-r", "--check"], args.examples, args.repeat, cold)
    rows.append(("ls -r --check, cold", ours, theirs, None))
    with tempfile.TemporaryDirectory() as cache:
        listed = {**base_env, "XDG_CACHE_HOME": cache}
        timed(fgtui + ["ls", "-r", "--check"], args.examples, listed)
        ours, _ = median_run(fgtui + ["ls", "-r", "--check"], args.examples, args.repeat, lambda _: listed)
    rows.append(("ls -r --check, cached", ours, theirs, None))
    theirs, their_pp = median_run([args.forgather, "-t", PP_CONFIG, "pp"], pp_dir, args.repeat, usual)
    ours, our_pp = median_run(fgtui + ["-t", PP_CONFIG, "pp"], pp_dir, args.repeat, cold)
    rows.append(("pp, cold (compiles)", ours, theirs, 2))
    ours, _ = median_run(fgtui + ["-t", PP_CONFIG, "pp"], pp_dir, args.repeat, usual)
    rows.append(("pp, compiled on disk", ours, theirs, 2))

    sys.path.insert(0, str(REPO / "tests" / "compat"))
    from masking import mask

    same = mask(our_pp, str(args.examples.parent)) == mask(their_pp, str(args.examples.parent))
    listed_alike = config_lines(our_ls) == config_lines(their_ls)
    print(f"examples: {args.examples}  (median of {args.repeat} processes each; load {os.getloadavg()[0]:.1f})")
    print(
        "pp, cold: no compiled templates on disk, Jinja compiles every template (a first preview, "
        "or FGTUI_TEMPLATE_CACHE=0);\npp, compiled on disk: the templates' code kept by an earlier run "
        "(the usual case). Forgather keeps none: the same figure for it in both rows."
    )
    # The goals are on wall time. On a shared machine wall time includes waiting for a
    # core, which weighs most on the shortest processes; CPU time is the steadier figure.
    print(
        f"{'case':22} {'fgtui s':>8} {'Forgather s':>11} {'speed-up':>8} {'goal':>6} | CPU s {'fgtui':>6} {'Forgather':>9} {'ratio':>6}"
    )
    for name, ours, theirs, goal in rows:
        ratio = theirs[0] / ours[0]
        verdict = "" if goal is None or ratio >= goal else "  MISSED"
        print(
            f"{name:22} {ours[0]:8.3f} {theirs[0]:11.3f} {ratio:7.1f}x {'>=' + str(goal) + 'x' if goal else '':>6} | "
            f"      {ours[1]:6.3f} {theirs[1]:9.3f} {theirs[1] / ours[1]:5.1f}x{verdict}"
        )
    print(f"pp text identical to Forgather's (masked): {'yes' if same else 'NO'}")
    print(f"ls lists every config as Forgather does (failures aside): {'yes' if listed_alike else 'NO'}")
    print(f"ls and ls --check print the same: {'yes' if our_ls == checked_ls else 'NO'}")
    shutil.rmtree(bytecode, ignore_errors=True)
    met = all(goal is None or theirs[0] / ours[0] >= goal for _, ours, theirs, goal in rows)
    return 0 if same and listed_alike and our_ls == checked_ls and met else 1


def config_lines(listing: str) -> list[str]:
    """The config lines of an `ls` (both print `    NAME<pad> TITLE : DESCRIPTION`), failed ones
    left out; sorted, as the two order projects differently."""
    return sorted(line for line in listing.splitlines() if line.startswith("    ") and "PARSE ERROR" not in line)


if __name__ == "__main__":
    sys.exit(main())
