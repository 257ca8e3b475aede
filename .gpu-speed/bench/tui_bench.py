"""Workbench timings against the issue's budgets. Prints figures; asserts nothing.

    python bench/tui_bench.py [--records 1000000] [--only first_frame,big_log,ingest,preview]

  first_frame  process start → first frame of the browse screen (budget 0.6 s), in a child
               process so the import cost is counted; median of 5 per size in --sizes
  big_log      opening a run whose metrics.jsonl has N records → first loss plot (budget 2 s),
               and → the full log loaded
  ingest       1,000 records/s appended to a live run while keys are pressed: key → frame
               (budget 100 ms), median and worst
  preview      keystroke in the editor → preprocessed YAML refreshed, on the examples
               (budget 50 ms); edits 0.1 s apart, as typed, not pasted
Every figure is wall time; the machine may be shared, so `preview`, `ingest` and `first_frame`
also print the CPU time this process spent, which load on other cores does not inflate.
Run against another checkout (a baseline) with PYTHONPATH=/dir/holding/that/fgtui.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def write_big_log(path: Path, records: int) -> None:
    """A schema-conforming log of `records` train records, written fast (no json.dumps per line)."""
    from fgtui.engine.runs.synthetic import T0

    path.parent.mkdir(parents=True, exist_ok=True)
    start = {
        "type": "event",
        "event": "start",
        "time": T0,
        "step": 0,
        "config": "config.yaml",
        "world_size": 1,
        "max_steps": records,
        "run_name": "big",
        "job_id": "j",
        "device": "cpu",
        "n_params": 1,
    }
    with open(path, "w") as handle:
        handle.write(json.dumps(start) + "\n")
        lines = []
        for step in range(1, records + 1):
            loss = 2.0 + 8.0 / (1.0 + step * 1e-4) + (step * 7919 % 1000) * 1e-4
            lines.append(
                f'{{"type": "train", "time": {T0 + step * 0.1:.3f}, "step": {step}, "epoch": {step / records:.6f}, '
                f'"tokens": {step * 4096}, "loss": {loss:.5f}, "lr": 0.0003, "grad_norm": 1.0, '
                f'"tokens_per_s": 40000.0, "mfu": 0.4, "peak_mem_gib": 12.0, "step_time_s": 0.1}}\n'
            )
            if len(lines) == 100_000:
                handle.write("".join(lines))
                lines = []
        handle.write("".join(lines))


def bench_first_frame(sizes: list[tuple[int, int]], repeats: int = 5) -> None:
    """Median of `repeats` fresh processes per terminal size (the machine may be shared)."""
    for width, height in sizes:
        code = (
            "import time, asyncio; t0 = time.perf_counter()\n"
            "from fgtui.app.app import Workbench\n"
            "t_import = time.perf_counter() - t0\n"
            "async def main():\n"
            f"    app = Workbench({str(ROOT / 'examples')!r})\n"
            f"    async with app.run_test(size=({width}, {height})) as pilot:\n"
            "        import os\n"
            "        since_spawn = time.time() - float(os.environ['FGTUI_BENCH_SPAWNED'])\n"
            "        print(f'{t_import:.3f} {time.perf_counter() - t0:.3f} {time.process_time():.3f} {since_spawn:.3f}')\n"
            "asyncio.run(main())\n"
        )
        runs = []
        for _ in range(repeats):
            env = {**os.environ, "FGTUI_BENCH_SPAWNED": repr(time.time())}
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
            runs.append(tuple(map(float, out.stdout.split())))
        imported, frame, cpu, spawned = (statistics.median(r[i] for r in runs) for i in range(4))
        print(
            f"first_frame {width}x{height} (median of {repeats}): import app {imported:.3f} s, first frame "
            f"{frame:.3f} s after import start, {spawned:.3f} s after the process was spawned (budget 0.6 s); "
            f"CPU to first frame {cpu:.3f} s"
        )


async def _big_log(run_dir: Path) -> tuple[float, float]:
    from fgtui.app.app import Workbench
    from fgtui.app.widgets.plot import MetricPlot

    app = Workbench(run_dir, poll=False)
    start = time.perf_counter()
    first = full = None
    async with app.run_test(size=(120, 40)) as pilot:
        while full is None and time.perf_counter() - start < 120:
            await pilot.pause(0.01)
            screen = app.screen
            plots = screen.query(MetricPlot)
            if first is None and plots and plots.first().series:
                plots.first().render_line(0)  # the plot is drawn, not just given data
                first = time.perf_counter() - start
            if getattr(screen, "tail", None) is not None:
                full = time.perf_counter() - start
    return first or float("nan"), full or float("nan")


def bench_big_log(records: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "runs" / "big"
        started = time.perf_counter()
        write_big_log(run_dir / "metrics.jsonl", records)
        size = (run_dir / "metrics.jsonl").stat().st_size
        print(f"big_log: wrote {records} records ({size / 2**20:.0f} MiB) in {time.perf_counter() - started:.1f} s")
        first, full = asyncio.run(_big_log(run_dir))
        print(f"big_log: first loss plot {first:.2f} s (budget 2 s), whole log loaded {full:.2f} s")


async def _ingest(run_dir: Path, seconds: float, rate: int) -> tuple[list[float], list[float]]:
    from fgtui.app.app import Workbench

    # The trainer is another process; so is this writer, so it does not share our GIL.
    writer_code = (
        "import json, random, sys, time\n"
        "from fgtui.engine.runs.synthetic import train_record\n"
        f"rng, step, per_tick = random.Random(0), 1000, {rate} // 10\n"
        f"handle = open({str(run_dir / 'metrics.jsonl')!r}, 'a')\n"
        "while True:\n"
        "    tick = time.perf_counter()\n"
        "    for _ in range(per_tick):\n"
        "        step += 1\n"
        "        handle.write(json.dumps(train_record(step, rng, max_steps=10**6)) + '\\n')\n"
        "    handle.flush()\n"
        "    time.sleep(max(0.0, 0.1 - (time.perf_counter() - tick)))\n"
    )
    app = Workbench(run_dir)
    latencies: list[float] = []
    cpu: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        while getattr(app.screen, "tail", None) is None:
            await pilot.pause(0.02)
        # What Pilot itself costs (press, then wait until the app is idle), with a
        # key bound to nothing and no writer: the part of the figure that is the harness.
        floor = []
        for _ in range(10):
            before = time.perf_counter()
            await pilot.press("z")
            await pilot.pause()
            floor.append(time.perf_counter() - before)
            await asyncio.sleep(0.05)
        print(f"ingest: harness floor (unbound key, no writer) median {1000 * statistics.median(floor):.1f} ms")
        writer = subprocess.Popen([sys.executable, "-c", writer_code])
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            before, before_cpu = time.perf_counter(), time.process_time()
            await pilot.press("y")
            await pilot.pause()
            latencies.append(time.perf_counter() - before)
            cpu.append(time.process_time() - before_cpu)
            await asyncio.sleep(0.05)
        writer.terminate()
        writer.wait()
        rows = len(app.screen.series)
    print(f"ingest: {rows} records on screen at the end")
    return latencies, cpu


def bench_ingest(seconds: float, rate: int) -> None:
    from fgtui.engine.runs.synthetic import write_run

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = write_run(
            Path(tmp) / "runs" / "live",
            1000,
            end_status=None,
            job={
                "job_id": "j",
                "pid": os.getpid(),
                "pgid": os.getpgid(0),
                "socket": "",
                "host": os.uname().nodename,
                "started": time.time(),
            },
        )
        latencies, cpu = asyncio.run(_ingest(run_dir, seconds, rate))
    ms = sorted(1000 * x for x in latencies)
    print(
        f"ingest: key → frame at {rate:,} records/s: median {statistics.median(ms):.1f} ms, "
        f"p95 {ms[int(0.95 * (len(ms) - 1))]:.1f} ms, worst {ms[-1]:.1f} ms over {len(ms)} keys "
        f"(budget 100 ms); CPU per key median {1000 * statistics.median(cpu):.1f} ms"
    )


async def _preview(project: Path, config: str, rounds: int) -> tuple[list[float], list[float]]:
    from textual.widgets import TextArea

    from fgtui.app.app import Workbench
    from fgtui.app.screens.editor import EditorScreen

    app = Workbench(project)
    timings: list[float] = []
    cpu: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        screen = EditorScreen(project, config)
        app.push_screen(screen)
        while screen.last is None:
            await pilot.pause(0.01)
        editor = screen.query_one("#template-editor", TextArea)
        for i in range(rounds):
            wanted = screen.generation + 1
            start, start_cpu = time.perf_counter(), time.process_time()
            editor.insert(f"# edit {i}\n", (0, 0))
            while screen.last is None or screen.last.generation < wanted:
                await asyncio.sleep(0.001)
            timings.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
            await pilot.pause(0.1)  # keystrokes, not a paste: let the UI settle between them
    return timings, cpu


def bench_preview(rounds: int) -> None:
    project = ROOT / "examples" / "template_project"
    timings, cpu = asyncio.run(_preview(project, "default.yaml", rounds))
    ms = sorted(1000 * t for t in timings)
    print(
        f"preview: keystroke → preview on examples/template_project: median {statistics.median(ms):.1f} ms, "
        f"worst {ms[-1]:.1f} ms over {len(ms)} edits (budget 50 ms); "
        f"CPU per edit median {1000 * statistics.median(cpu):.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--ingest-seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=1000, help="records/s appended during `ingest`")
    parser.add_argument("--only", default="first_frame,big_log,ingest,preview")
    parser.add_argument("--sizes", default="80x24,120x40", help="terminal sizes for first_frame")
    args = parser.parse_args()
    chosen = set(args.only.split(","))
    if "first_frame" in chosen:
        bench_first_frame([tuple(int(n) for n in size.split("x")) for size in args.sizes.split(",")])
    if "preview" in chosen:
        bench_preview(20)
    if "ingest" in chosen:
        bench_ingest(args.ingest_seconds, args.rate)
    if "big_log" in chosen:
        bench_big_log(args.records)


if __name__ == "__main__":
    main()
