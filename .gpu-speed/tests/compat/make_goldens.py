"""Render every Forgather example config with Forgather itself into golden files.

    /work/forgather-venv/bin/python tests/compat/make_goldens.py [--source ../shared/forgather]

Run it with a Python that has Forgather installed (Forgather needs Python >= 3.12;
fgtui's tests never import it). It

1. copies what the example projects need to render (every template file
   under examples/ -- meta.yaml, templates, workspaces -- Forgather's
   templatelib/, its root forgather_workspace/ and its LICENSE) from `--source` into tests/compat/fixtures/forgather/, and
2. runs Forgather's own CLI (`forgather -t CONFIG pp|targets|graph`, in the
   project directory, as a user would) on every config of every project there,
   writing the masked outputs under tests/compat/goldens/ and, for each
   config and command, whether Forgather succeeded, to goldens/index.json.

Re-run it when the examples or Forgather change; commit fixtures and goldens together.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from masking import mask  # noqa: E402 - this script runs outside the fgtui package

FIXTURE_ROOT = HERE / "fixtures" / "forgather"
GOLDEN_DIR = HERE / "goldens"
COMMANDS = ("pp", "targets", "graph")
# Template files only: the examples' data, notebooks and archives are not read by a preview.
_TEMPLATE_SUFFIXES = (".yaml", ".yml", ".jinja", ".j2", ".jinja2")


def copy_fixtures(source: Path, target: Path) -> None:
    """The files Forgather reads to render the examples, and nothing else (no data, notebooks)."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    shutil.copy2(source / "LICENSE", target / "LICENSE")
    shutil.copytree(source / "templatelib", target / "templatelib")
    shutil.copytree(source / "forgather_workspace", target / "forgather_workspace")
    for dirpath, dirnames, filenames in os.walk(source / "examples"):
        dirnames[:] = [name for name in dirnames if not name.startswith(".")]
        here = Path(dirpath)
        rel = here.relative_to(source)
        for name in filenames:
            if name.endswith(_TEMPLATE_SUFFIXES):
                (target / rel).mkdir(parents=True, exist_ok=True)
                shutil.copy2(here / name, target / rel / name)
    for dirpath, dirnames, filenames in os.walk(target):
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644)


def find_configs(root: Path) -> list[tuple[Path, str]]:
    """(project dir, config name) for every config of every project, as `forgather ls -r` lists them."""
    from forgather.meta_config import MetaConfig

    found = []
    for dirpath, dirnames, filenames in os.walk(root / "examples"):
        dirnames.sort()
        if "meta.yaml" not in filenames:
            continue
        cwd = os.getcwd()
        os.chdir(dirpath)  # find_templates walks paths relative to the working directory
        try:
            meta = MetaConfig(dirpath)
            names = sorted(name for name, _ in meta.find_templates(meta.config_prefix))
        except Exception as error:  # a project Forgather cannot open: recorded with no configs
            print(f"skip {dirpath}: {error}", file=sys.stderr)
            names = []
        finally:
            os.chdir(cwd)
        found += [(Path(dirpath), name) for name in names]
    return found


def run_forgather(forgather: str, project: Path, config: str, command: str) -> tuple[int, str, str]:
    proc = subprocess.run(
        [forgather, "-t", config, command],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    return proc.returncode, proc.stdout, proc.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    repo = HERE.parents[1]
    near = [base / "shared" / "forgather" for base in (repo.parent, repo.parent.parent)]
    parser.add_argument(
        "--source",
        type=Path,
        default=next((p for p in near if p.is_dir()), near[0]),
        help="Forgather's repository (default: ../shared/forgather)",
    )
    parser.add_argument("--forgather", default=str(Path(sys.executable).with_name("forgather")))
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    if not (args.source / "examples").is_dir():
        parser.error(f"{args.source} has no examples/ (pass --source, Forgather's repository)")
    copy_fixtures(args.source.resolve(), FIXTURE_ROOT)
    if GOLDEN_DIR.exists():
        shutil.rmtree(GOLDEN_DIR)
    configs = find_configs(FIXTURE_ROOT)
    jobs = [(project, config, command) for project, config in configs for command in COMMANDS]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda job: run_forgather(args.forgather, *job), jobs))
    index: dict[str, dict[str, dict[str, str]]] = {}
    for (project, config, command), (code, out, err) in zip(jobs, results):
        rel = project.relative_to(FIXTURE_ROOT).as_posix()
        entry = index.setdefault(rel, {}).setdefault(config, {})
        if code != 0:
            last = [line for line in err.strip().splitlines() if line.strip()]
            entry[command] = "error: " + mask(last[-1] if last else f"exit {code}", str(FIXTURE_ROOT))
            continue
        entry[command] = "ok"
        suffix = {"pp": ".pp.yaml", "targets": ".targets.txt", "graph": ".graph.yaml"}[command]
        path = GOLDEN_DIR / rel / (config + suffix)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(mask(out, str(FIXTURE_ROOT)), encoding="utf-8")
    (GOLDEN_DIR / "index.json").write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
    total = sum(len(v) for v in index.values())
    ok = {c: sum(1 for p in index.values() for e in p.values() if e.get(c) == "ok") for c in COMMANDS}
    print(f"{total} configs in {len(index)} projects; Forgather succeeded: {ok}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
