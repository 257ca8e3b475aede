"""A Forgather training config's speed under fgtui and under Forgather itself (CPU).

    .venv/bin/python bench/compat_train_bench.py [--steps N] [--hidden H] [--repeats R] [--logging-steps L]
        [--forgather-python /work/forgather-venv/bin/python] [--device cpu|cuda]

Fills in tests/compat/forgather_fixture/train.yaml (a config written as Forgather's
templatelib renders one: TrainingScript, Trainer, Forgather's callbacks, an
InfiniteLRScheduler) with a wider model, then trains it twice per repeat, each in a
fresh process: `python -m fgtui.engine.train.entry` (fgtui, through the compatibility
layer) and the fixture's run_forgather.py under Forgather's interpreter. Both write
their logs; steps/s is read from them the same way, from the first logged step to
the last (start-up and the first step's warm-up excluded), and the best repeat counts.
Prints steps/s for each, the ratio fgtui / Forgather and each side's torch. On CPU
two torch builds differ by more than the tools do: to compare under one, run this bench
with an interpreter that sees Forgather's venv's packages but not Forgather itself (a
Python 3.12 venv whose one .pth line names that venv's site-packages and one names a
folder holding an `fgtui` link to this checkout; .pth lines are not searched for
Forgather's editable-install hook, so fgtui's compatibility layer serves the config). Forgather's environment must
import `datasets` (the FORGATHER_PYTHONPATH variable is prepended to its PYTHONPATH).
With --device cuda the config's DistributedEnvironment takes the accelerator
(no_accelerator: False) in both runs. The model is transformers' Llama, so Forgather's
own model code (its modelsrc, written for transformers 5.0-5.1) is not involved.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "compat" / "forgather_fixture"


def config_text(out: Path, steps: int, hidden: int, logging_steps: int, device: str = "cpu") -> str:
    text = (FIXTURE / "train.yaml").read_text()
    replacements = {
        "no_accelerator: True": f"no_accelerator: {device == 'cpu'}",
        "DATA_MODULE": str(FIXTURE / "tiny_data.py"),
        "OUTPUT_DIR": str(out),
        "MAX_STEPS": str(steps),
        "num_train_epochs: 5": f"num_train_epochs: {steps}",
        "logging_steps: 2": f"logging_steps: {logging_steps}",
        'save_strategy: "steps"': 'save_strategy: "no"',
        'eval_strategy: "steps"': 'eval_strategy: "no"',
        "hidden_size: 32": f"hidden_size: {hidden}",
        "intermediate_size: 64": f"intermediate_size: {hidden * 2}",
    }
    for old, new in replacements.items():
        if old not in text:
            raise SystemExit(f"fixture changed: {old!r} not found")
        text = text.replace(old, new)
    return text


def steps_per_second(points: list[tuple[int, float]]) -> float:
    """(step, wall time) pairs, one per logged step: steps/s from the second point to the last."""
    points = sorted(points)[1:]
    return (points[-1][0] - points[0][0]) / (points[-1][1] - points[0][1])


def run_fgtui(workdir: Path, steps: int, hidden: int, logging_steps: int, device: str) -> float:
    run_dir = workdir / "fgtui_run"
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(config_text(workdir / "fgtui_out", steps, hidden, logging_steps, device))
    env = {k: v for k, v in os.environ.items() if k != "FGTUI_RUN_DIR"}
    _run([sys.executable, "-m", "fgtui.engine.train.entry", str(run_dir)], env, workdir)
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return steps_per_second([(r["step"], r["time"]) for r in records if r["type"] == "train"])


def run_forgather(workdir: Path, steps: int, hidden: int, logging_steps: int, python: str, device: str) -> float:
    workdir.mkdir(parents=True)
    config = workdir / "forgather.yaml"
    config.write_text(config_text(workdir / "forgather_out", steps, hidden, logging_steps, device))
    env = dict(os.environ)
    extra = os.environ.get("FORGATHER_PYTHONPATH")
    if extra:
        env["PYTHONPATH"] = extra + os.pathsep + env.get("PYTHONPATH", "")
    _run([python, str(FIXTURE / "run_forgather.py"), str(config)], env, workdir)
    [log] = glob.glob(str(workdir / "forgather_out" / "runs" / "*" / "trainer_logs.json"))
    entries = json.loads(Path(log).read_text())
    return steps_per_second([(e["global_step"], e["timestamp"]) for e in entries if "loss" in e])


def _run(command: list[str], env: dict[str, str], cwd: Path) -> None:
    """Runs one training process; when it fails, its last lines say why (the device is seen
    only through what a call prints)."""
    done = subprocess.run(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode:
        tail = "\n".join(done.stderr.splitlines()[-25:])
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}:\n{tail}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--logging-steps", type=int, default=10)
    parser.add_argument("--forgather-python", default="/work/forgather-venv/bin/python")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = parser.parse_args()
    if not os.path.exists(args.forgather_python):
        raise SystemExit(f"no Forgather interpreter at {args.forgather_python} (--forgather-python)")
    fgtui, forgather = [], []
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            fgtui.append(run_fgtui(Path(tmp) / "a", args.steps, args.hidden, args.logging_steps, args.device))
            forgather.append(
                run_forgather(
                    Path(tmp) / "b", args.steps, args.hidden, args.logging_steps, args.forgather_python, args.device
                )
            )
            print(
                f"repeat {repeat + 1}: fgtui {fgtui[-1]:.2f} steps/s, Forgather {forgather[-1]:.2f} steps/s "
                f"({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    best_ours, best_theirs = max(fgtui), max(forgather)
    print(
        f"\nconfig: tests/compat/forgather_fixture/train.yaml, Llama hidden {args.hidden}, 2 layers, "
        f"batch 8 x 41 tokens, {args.steps} steps logged every {args.logging_steps}, {_device_name(args.device)}"
    )
    print(f"torch: fgtui {_torch_version(sys.executable)}, Forgather {_torch_version(args.forgather_python)}")
    print(f"{'':10} {'steps/s (best of ' + str(args.repeats) + ')':>24}")
    print(f"{'fgtui':10} {best_ours:24.2f}")
    print(f"{'Forgather':10} {best_theirs:24.2f}")
    print(f"ratio fgtui / Forgather: {best_ours / best_theirs:.2f}")
    return 0


def _torch_version(python: str) -> str:
    done = subprocess.run([python, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True)
    return done.stdout.strip() or "?"


def _device_name(device: str) -> str:
    if device == "cpu":
        return f"CPU ({os.cpu_count()} cores)"
    import torch

    return torch.cuda.get_device_name(0)


if __name__ == "__main__":
    sys.exit(main())
