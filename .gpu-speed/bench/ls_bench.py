"""Time `fgtui ls -r` as a whole process over a generated tree of configs.

    .venv/bin/python bench/ls_bench.py [--projects 5] [--configs 10] [--repeat 7]

The tree is one workspace (`fgtui ws create -l base`) holding PROJECTS
projects of CONFIGS configs each. Every config extends its project's
`project.yaml`, which extends templatelib's `config_type.yaml` (with its
`inc/formatting.jinja` macros), the chain real projects have. Each run is a
fresh `python -m fgtui.engine.cli ls -r` process, so the figure includes
interpreter start-up and imports; the target is <= 0.5 s for 50 configs.
Four cases are reported: plain `ls -r`, which reads names without rendering
(project/quick_listing.py) and keeps nothing; `--check --no-cache` (every
config rendered and parsed) with no compiled templates kept on disk
(FGTUI_TEMPLATE_CACHE=0: every template compiled, as on the very first run)
and with the compiled templates left by earlier runs; and `--check` with a
fresh listing cache (nothing rendered).
It also checks that the listing imported no ML library and shows no
PARSE ERROR.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_TEMPLATE = """\
-- extends 'config_type.yaml'

[config_metadata]
    == super()
    -- set ns.config_name = "Project {index}"
    -- set ns.config_description = "Shared settings"
    -- set ns.lr = lr | default(3.0e-4)
    -- set ns.steps = steps | default(1000)

[main_body]
settings: &settings !dict:@settings
    lr: {{{{ ns.lr }}}}
    steps: {{{{ ns.steps }}}}

[dynamic_args]
    == super()
    lr:
        names: "--lr"
        type: float
        default: {{{{ ns.lr }}}}
    steps:
        names: "--steps"
        type: int
        default: {{{{ ns.steps }}}}

[main_output]
main: *settings
"""

CONFIG = """\
-- extends 'project.yaml'

[config_metadata]
    == super()
    -- set ns.config_name = "Config {index}"
    -- set ns.config_description = "Learning rate {lr}"
    -- set ns.lr = lr | default({lr})
"""


CASES = {
    "quick": "ls -r: names read without rendering, nothing cached",
    "compile": "--check --no-cache, every template compiled (no compiled templates on disk)",
    "code": "--check --no-cache, compiled templates from earlier runs",
    "listing": "--check, listing cache fresh",
}
ARGV = {
    "quick": ["ls", "-r"],
    "compile": ["ls", "-r", "--check", "--no-cache"],
    "code": ["ls", "-r", "--check", "--no-cache"],
    "listing": ["ls", "-r", "--check"],
}


def make_tree(root: Path, projects: int, configs: int) -> Path:
    from fgtui.engine.project.scaffold import create_workspace

    workspace, _ = create_workspace(root, "Bench", "ls benchmark")
    for p in range(projects):
        project = workspace / f"project_{p}"
        (project / "templates/configs").mkdir(parents=True)
        (project / "meta.yaml").write_text(
            f'-- extends "meta_defaults.yaml"\n[configs]\nname: "Project {p}"\n'
            f'description: "bench"\ndefault_config: "c_0.yaml"\n'
        )
        (project / "templates/project.yaml").write_text(PROJECT_TEMPLATE.format(index=p))
        for c in range(configs):
            (project / f"templates/configs/c_{c}.yaml").write_text(CONFIG.format(index=c, lr=f"{(c + 1) * 1e-4:.1e}"))
    return workspace


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(workspace: Path, case: str) -> tuple[float, float, str]:
    argv = ARGV[case]
    code = (
        f"import sys; sys.argv = ['fgtui', *{argv!r}]; "
        "from fgtui.engine import cli; rc = cli.main(sys.argv[1:]); "
        "heavy = sorted(m for m in ('torch', 'transformers', 'datasets', 'textual', 'numpy') "
        "if m in sys.modules); print('ML-IMPORTS', heavy, file=sys.stderr); sys.exit(rc)"
    )
    start, cpu = time.perf_counter(), _child_cpu()
    env = dict(
        os.environ,
        XDG_CACHE_HOME=str(workspace.parent / "cache"),
        FGTUI_CACHE_DIR=str(workspace.parent / "cache" / "fgtui"),
    )
    env["FGTUI_TEMPLATE_CACHE"] = "0" if case in ("compile", "quick") else "1"
    result = subprocess.run([sys.executable, "-c", code], cwd=workspace, env=env, capture_output=True, text=True)
    elapsed, cpu = time.perf_counter() - start, _child_cpu() - cpu
    if result.returncode != 0:
        raise SystemExit(f"ls -r failed: {result.stderr}")
    if "ML-IMPORTS []" not in result.stderr:
        raise SystemExit(f"ls imported ML libraries: {result.stderr}")
    return elapsed, cpu, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=5)
    parser.add_argument("--configs", type=int, default=10, help="configs per project")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workspace = make_tree(Path(tmp), args.projects, args.configs)
        total = args.projects * args.configs
        results = {}
        run_once(workspace, "code")  # leaves compiled templates on disk for the "code" case
        run_once(workspace, "listing")  # and a listing cache for the "listing" case
        for case in CASES:
            runs = [run_once(workspace, case) for _ in range(args.repeat)]
            for _, _, output in runs:
                listed = sum(1 for line in output.splitlines() if line.startswith("    "))
                assert listed == total, f"listed {listed} of {total} configs"
                assert "PARSE ERROR" not in output, output
            results[case] = ([r[0] for r in runs], [r[1] for r in runs])
        # Start-up alone, to separate it from the listing itself.
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import fgtui.engine.cli"], check=True)
        startup = time.perf_counter() - start
    print(
        f"fgtui ls -r: {args.projects} projects x {args.configs} configs = {total} configs, "
        f"{args.repeat} runs (cpus={os.cpu_count()})"
    )
    # On a shared machine wall time includes waiting for a core; the CPU
    # time of the process is the steadier figure.
    for case, label in CASES.items():
        times, cpus = results[case]
        print(f"  {label}:")
        print(
            f"    wall per process: min {min(times):.3f} s, median {statistics.median(times):.3f} s "
            f"(target <= 0.5 s);  CPU: min {min(cpus):.3f} s, median {statistics.median(cpus):.3f} s"
        )
    print(f"  load average {os.getloadavg()[0]:.1f}")
    print(f"  interpreter + CLI import alone: {startup:.3f} s")


if __name__ == "__main__":
    main()
