"""Template language timings: warm re-render per keystroke, and `fgtui pp` cold.

    .venv/bin/python bench/config_bench.py [--repeats N]

Builds a 5-level inheritance tree with ~200 nodes in a temporary directory,
then prints:
  - warm re-render of an edited leaf (what the TUI does per keystroke), target <= 20 ms
  - the same plus YAML load to a graph
  - `python -m fgtui.engine.cli pp` as a whole process, target <= 0.4 s: with
    no compiled templates on disk (FGTUI_TEMPLATE_CACHE=0, every template
    compiled) and with those an earlier run left (the usual case)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LEVELS = 5
SECTIONS = 10
BASE_NODES_PER_SECTION = 15  # + the section node + one per level = 20 per section


def write_tree(root: Path) -> Path:
    """base.yaml (level 0) ... level4.yaml; each level overrides every section with super()."""
    templates = root / "templates"
    (templates / "configs").mkdir(parents=True)
    base = ["-- set ns = namespace()", "[meta]", "-- set ns.width = 64", "-- set ns.lr = 1.0e-3"]
    for s in range(SECTIONS):
        base.append(f"[section{s}]")
        base.append(f"section{s}: !singleton:dict@section{s}")
        for n in range(BASE_NODES_PER_SECTION):
            base.append(f"    node{n}: !singleton:dict {{width: {{{{ ns.width }}}}, index: {n}}}  ## node")
    (templates / "level0.yaml").write_text("\n".join(base) + "\n")
    for level in range(1, LEVELS):
        lines = [
            f"-- extends 'level{level - 1}.yaml'",
            "[meta]",
            "    == super()",
            f"    -- set ns.width = ns.width + {level}",
        ]
        for s in range(SECTIONS):
            lines += [f"[section{s}]", "    == super()", f"    level{level}: !factory:list [{{{{ ns.lr }}}}, {level}]"]
        name = f"level{level}.yaml" if level < LEVELS - 1 else "configs/leaf.yaml"
        (templates / name).write_text("\n".join(lines) + "\n")
    return templates / "configs" / "leaf.yaml"


def time_warm(leaf: Path, repeats: int) -> tuple[list[float], list[float], list[float], int]:
    from fgtui.engine.config import TemplateEnvironment, load_rendered

    env = TemplateEnvironment([str(leaf.parent.parent)])
    text = leaf.read_text()
    env.render_string(text, name=str(leaf))  # warm: parents compiled and cached
    render_ms, load_ms, render_cpu_ms = [], [], []
    nodes = 0
    for i in range(repeats):
        edited = text.replace("ns.width + 4", f"ns.width + {i % 7}")  # a keystroke in the leaf
        start, cpu = time.perf_counter(), time.process_time()
        rendered = env.render_string(edited, name=str(leaf))
        middle, cpu_middle = time.perf_counter(), time.process_time()
        graph = load_rendered(rendered)
        end = time.perf_counter()
        render_ms.append((middle - start) * 1000)
        render_cpu_ms.append((cpu_middle - cpu) * 1000)
        load_ms.append((end - start) * 1000)
        nodes = sum(1 for _ in graph.nodes())
    return render_ms, load_ms, render_cpu_ms, nodes


def time_cold_pp(leaf: Path, repeats: int, keep_code: bool) -> tuple[list[float], list[float]]:
    """Wall seconds, and CPU seconds of the child (less disturbed by a busy machine)."""
    import resource

    env = dict(
        os.environ,
        FGTUI_CACHE_DIR=str(leaf.parent.parent.parent / "cache"),
        FGTUI_TEMPLATE_CACHE="1" if keep_code else "0",
    )
    if keep_code:  # one run leaves the compiled templates on disk
        subprocess.run(
            [sys.executable, "-m", "fgtui.engine.cli", "-t", str(leaf), "pp"],
            check=True,
            stdout=subprocess.DEVNULL,
            env=env,
        )
    wall, cpu = [], []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "fgtui.engine.cli", "-t", str(leaf), "pp"],
            check=True,
            stdout=subprocess.DEVNULL,
            env=env,
        )
        wall.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall, cpu


def time_bare_python(repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["FGTUI_CACHE_DIR"] = str(Path(tmp) / "cache")  # compiled templates stay in tmp
        leaf = write_tree(Path(tmp))
        render_ms, load_ms, render_cpu_ms, nodes = time_warm(leaf, args.repeats)
        print(f"config: {LEVELS}-level inheritance, {nodes} nodes")
        print(
            f"warm re-render after a leaf edit: median {statistics.median(render_ms):.1f} ms, "
            f"min {min(render_ms):.1f} ms, CPU median {statistics.median(render_cpu_ms):.1f} ms "
            f"(target <= 20 ms)"
        )
        print(
            f"warm re-render + load graph:      median {statistics.median(load_ms):.1f} ms, min {min(load_ms):.1f} ms"
        )
        bare = time_bare_python(max(3, args.repeats // 10))
        for keep_code, label in ((False, "every template compiled"), (True, "compiled templates on disk")):
            cold, cold_cpu = time_cold_pp(leaf, max(3, args.repeats // 10), keep_code)
            print(
                f"`fgtui pp` process, {label + ':':27s} median {statistics.median(cold):.3f} s, "
                f"min {min(cold):.3f} s, CPU median {statistics.median(cold_cpu):.3f} s, "
                f"min {min(cold_cpu):.3f} s (target <= 0.4 s)"
            )
        print(f"bare python process: min {min(bare):.3f} s")


if __name__ == "__main__":
    main()
