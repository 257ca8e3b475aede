"""fgtui and Forgather side by side on Forgather's own examples, in one run.

    .venv/bin/python bench/compat_bench.py [--examples ../shared/forgather/examples]
        [--forgather /work/forgather-venv/bin/forgather] [--repeat 5]

Every figure is the wall time of a whole process, start-up and imports
included, the median of --repeat runs:

* `ls -r` over the examples tree, Forgather as it always runs (it keeps no
  cache) against fgtui three ways: all cold (an empty listing cache and no
  compiled templates on disk, FGTUI_TEMPLATE_CACHE=0: every config rendered,
  every template compiled), with compiled templates on disk but no listing
  cache (every config rendered), and with the listing cache of an earlier
  run (nothing rendered). Goal: fgtui >= 20x faster.
* one `pp` process on a training config (the tiny_experiments default, which
  extends Forgather's training script chain): fgtui as usual (compiled
  templates cached on disk) and cold, against Forgather. Goal: >= 2x faster.

It also checks that the two `pp` outputs are the same text once the clock,
paths and versions are masked (tests/compat/masking.py).
"""

from __future__ import annotations

import argparse
import os
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


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(command)} failed in {cwd}:\n{proc.stderr[-2000:]}")
    return elapsed, proc.stdout


def median_run(command: list[str], cwd: Path, repeat: int, fresh_env) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as cache:
            elapsed, out = timed(command, cwd, fresh_env(cache))
        times.append(elapsed)
    return statistics.median(times), out


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
    base_env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    fgtui = [sys.executable, "-m", "fgtui.engine.cli"]

    def cold(cache: str) -> dict[str, str]:
        return {**base_env, "XDG_CACHE_HOME": cache, "FGTUI_TEMPLATE_CACHE": "0"}

    def usual(cache: str) -> dict[str, str]:
        return base_env

    pp_dir = args.examples / PP_PROJECT
    timed(fgtui + ["-t", PP_CONFIG, "pp"], pp_dir, base_env)  # leaves compiled templates on disk
    rows = []
    theirs, _ = median_run([args.forgather, "ls", "-r"], args.examples, args.repeat, usual)
    ours, _ = median_run(fgtui + ["ls", "-r"], args.examples, args.repeat, cold)
    rows.append(("ls -r, all cold", ours, theirs, 20))

    warm_templates = tempfile.mkdtemp(prefix="fgtui-templates-")
    with tempfile.TemporaryDirectory() as cache:
        timed(
            fgtui + ["ls", "-r"],
            args.examples,
            {**base_env, "FGTUI_CACHE_DIR": warm_templates, "XDG_CACHE_HOME": cache},
        )

    def no_listing(cache: str) -> dict[str, str]:  # compiled templates from the run above
        return {**base_env, "XDG_CACHE_HOME": cache, "FGTUI_CACHE_DIR": warm_templates}

    ours, _ = median_run(fgtui + ["ls", "-r"], args.examples, args.repeat, no_listing)
    rows.append(("ls -r, no listing cache", ours, theirs, 20))
    with tempfile.TemporaryDirectory() as cache:
        listed = {**base_env, "XDG_CACHE_HOME": cache}
        timed(fgtui + ["ls", "-r"], args.examples, listed)
        ours, _ = median_run(fgtui + ["ls", "-r"], args.examples, args.repeat, lambda _: listed)
    rows.append(("ls -r, listing cached", ours, theirs, 20))
    shutil.rmtree(warm_templates, ignore_errors=True)
    ours, our_pp = median_run(fgtui + ["-t", PP_CONFIG, "pp"], pp_dir, args.repeat, usual)
    theirs, their_pp = median_run([args.forgather, "-t", PP_CONFIG, "pp"], pp_dir, args.repeat, usual)
    rows.append(("one pp process", ours, theirs, 2))
    ours, _ = median_run(fgtui + ["-t", PP_CONFIG, "pp"], pp_dir, args.repeat, cold)
    rows.append(("one pp process, cold", ours, theirs, 2))

    sys.path.insert(0, str(REPO / "tests" / "compat"))
    from masking import mask

    same = mask(our_pp, str(args.examples.parent)) == mask(their_pp, str(args.examples.parent))
    print(f"examples: {args.examples}  (median of {args.repeat} processes each)")
    print(f"{'case':24} {'fgtui s':>9} {'Forgather s':>12} {'speed-up':>9} {'goal':>6}")
    for name, ours, theirs, goal in rows:
        ratio = theirs / ours
        print(
            f"{name:24} {ours:9.3f} {theirs:12.3f} {ratio:8.1f}x {'>=' + str(goal) + 'x':>6}"
            f"{'' if ratio >= goal else '  MISSED'}"
        )
    print(f"pp text identical to Forgather's (masked): {'yes' if same else 'NO'}")
    return 0 if same and all(t / o >= g for _, o, t, g in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
