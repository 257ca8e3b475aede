"""Checkpoints: `<output_dir>/checkpoints/checkpoint-<step>/`, written so a kill never leaves a bad one.

A checkpoint is written into `.tmp-checkpoint-<step>/`, its `manifest.json` last,
then renamed into place; only after that is the `latest` pointer replaced. A process
killed mid-save leaves a `.tmp-*` directory (removed at the next start) and the
previous checkpoint still `latest`.

Contents: the model (safetensors; a transformers model is saved with its own
`save_pretrained`, so `from_pretrained` loads the directory), `optimizer.pt`,
`scheduler.pt`, `scaler.pt` (fp16 only), `trainer_state.json` (progress and data
position), `rng_state_rank<r>.pt` per rank, and `manifest.json` (parameter shapes,
so resuming into another model is refused with the differences).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fgtui.engine.errors import FgError
from fgtui.engine.weight_files import check_safetensors, torch_load
from fgtui.engine.train.state import TrainerState, capture_rng_state, restore_rng_state

CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
MANIFEST = "manifest.json"
LATEST = "latest"


def unwrap(model: Any) -> Any:
    """The user's model inside DDP or similar wrappers."""
    while hasattr(model, "module") and not hasattr(model, "save_pretrained"):
        model = model.module
    return model


def _fsync_tree(directory: Path) -> None:
    for path in directory.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())


def save_model(model: Any, directory: Path, tokenizer: Any = None) -> None:
    """Weights as safetensors; transformers-loadable whenever the model can be."""
    model = unwrap(model)
    if hasattr(model, "save_pretrained"):
        model.save_pretrained(directory, safe_serialization=True)
        _ship_model_code(model, directory)
    elif type(model).__module__.startswith("fgtui.engine.models"):
        from fgtui.engine.models.hf_io import save_pretrained

        save_pretrained(model, directory, tokenizer)
        tokenizer = None
    else:
        from safetensors.torch import save_model as save_safetensors

        save_safetensors(model, str(directory / "model.safetensors"))
    if tokenizer is not None and hasattr(tokenizer, "save_pretrained"):
        tokenizer.save_pretrained(directory)


def _ship_model_code(model: Any, directory: Path) -> None:
    """Copy the code a saved config's auto_map names (and the files it imports relatively)
    from the directory the model's class was loaded from, when `save_pretrained` did not:
    transformers copies it only for a class it imported itself, and a class a config
    imported by path (Forgather's generated model, under transformers >= 5.2, which then
    builds from it) is not one. Without the code the checkpoint does not load."""
    auto_map = getattr(getattr(model, "config", None), "auto_map", None)
    source = getattr(sys.modules.get(type(model).__module__), "__file__", None)
    if not isinstance(auto_map, dict) or not source:
        return
    from transformers.dynamic_module_utils import get_relative_import_files

    from fgtui.engine.models.transformers_lm import auto_map_modules

    home = Path(source).parent
    for module in auto_map_modules(auto_map):
        module_file = home / (module.replace(".", "/") + ".py")
        if "--" in module or not module_file.is_file() or (directory / module_file.name).exists():
            continue
        for path in [str(module_file), *get_relative_import_files(str(module_file))]:
            target = directory / Path(path).relative_to(home)
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)


def param_shapes(model: Any) -> dict[str, list[int]]:
    return {name: list(t.shape) for name, t in unwrap(model).state_dict().items()}


def save_checkpoint(
    checkpoints_dir: str | os.PathLike,
    state: TrainerState,
    *,
    model: Any,
    optimizer: Any,
    scheduler: Any = None,
    scaler: Any = None,
    tokenizer: Any = None,
    rank: int = 0,
    barrier: Callable[[], None] = lambda: None,
    eval_loss: float | None = None,
    sharding: Any = None,
    run_dir: str | os.PathLike | None = None,
) -> Path:
    """Write checkpoint-<global_step> atomically and point `latest` at it. Every rank calls this.

    `sharding` (a `dist_checkpoint.DistributedCheckpointer`) gathers a model spread over
    ranks (FSDP2, TP, pipeline) so the saved weights are the whole, loadable model.
    `run_dir` is recorded in the manifest: the run a checkpoint belongs to, since runs
    share an output dir's checkpoints."""
    import torch

    root = Path(checkpoints_dir)
    name = f"checkpoint-{state.global_step}"
    tmp = root / f".tmp-{name}"
    final = root / name
    if rank == 0:
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
    barrier()
    torch.save(capture_rng_state(), tmp / f"rng_state_rank{rank}.pt")
    if sharding is not None:
        whole = sharding.gather_model()  # collective; the whole model on rank 0, None elsewhere
        sharding.save_optimizer(optimizer, tmp)
    if rank == 0:
        if sharding is None:
            save_model(model, tmp, tokenizer)
            torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        else:
            save_model(whole, tmp, tokenizer)
        if scheduler is not None:
            torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        if scaler is not None:
            torch.save(scaler.state_dict(), tmp / "scaler.pt")
        (tmp / "trainer_state.json").write_text(json.dumps(state.to_dict(), indent=1))
    barrier()
    if rank == 0:
        shapes = param_shapes(sharding.skeleton if sharding is not None else model)
        manifest = {"step": state.global_step, "eval_loss": eval_loss, "params": shapes}
        if run_dir is not None:
            manifest["run"] = Path(run_dir).name
            manifest["run_dir"] = str(run_dir)
        (tmp / MANIFEST).write_text(json.dumps(manifest))
        _fsync_tree(tmp)
        if final.exists():
            # Saving a step twice (a resumed run re-saving, say): move the old one aside first.
            trash = root / f".tmp-old-{name}"
            shutil.rmtree(trash, ignore_errors=True)
            final.rename(trash)
            tmp.rename(final)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            tmp.rename(final)
        _write_pointer(root, name)
    barrier()
    return final


def _write_pointer(root: Path, name: str) -> None:
    tmp = root / f".{LATEST}.tmp"
    tmp.write_text(name + "\n")
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, root / LATEST)


def is_complete(path: Path) -> bool:
    return (path / MANIFEST).is_file()


def list_checkpoints(checkpoints_dir: str | os.PathLike) -> list[Path]:
    """Complete checkpoints, oldest step first."""
    root = Path(checkpoints_dir)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := CHECKPOINT_RE.match(p.name)) and is_complete(p)]
    return [p for _, p in sorted(found)]


def latest_checkpoint(checkpoints_dir: str | os.PathLike) -> Path | None:
    """The checkpoint `latest` names; without a pointer, the highest complete step."""
    root = Path(checkpoints_dir)
    pointer = root / LATEST
    if pointer.is_file():
        target = root / pointer.read_text().strip()
        if is_complete(target):
            return target
    complete = list_checkpoints(root)
    return complete[-1] if complete else None


def checkpoint_run(path: Path) -> str | None:
    """The name of the run that saved a checkpoint (None for ones saved before runs were recorded)."""
    try:
        return json.loads((path / MANIFEST).read_text()).get("run")
    except (OSError, ValueError, AttributeError):
        return None


def run_checkpoints(checkpoints_dir: str | os.PathLike, run: str) -> list[Path]:
    """The complete checkpoints run `run` saved (by its manifests), oldest step first."""
    return [path for path in list_checkpoints(checkpoints_dir) if checkpoint_run(path) == run]


def resolve_checkpoint(checkpoints_dir: str | os.PathLike, spec: str | bool) -> Path:
    """What `resume_from_checkpoint` names: `True` or "latest" -> the newest save in the output
    dir, whichever run made it; a run's name -> that run's own newest; else a checkpoint name
    or path."""
    root = Path(checkpoints_dir)
    if spec is True or spec == "latest":
        found = latest_checkpoint(root)
        if found is None:
            raise FgError(f"no checkpoint to resume from in {root}", hint="train without resume_from_checkpoint first")
        return found
    path = Path(str(spec))
    for candidate in (path, root / path):
        if candidate.is_dir():
            if not is_complete(candidate):
                raise FgError(
                    f"checkpoint {candidate} is incomplete (no {MANIFEST})",
                    hint="it was being written when its run died; pick another",
                )
            return candidate
    if (root.parent / "runs" / str(spec)).is_dir():
        own = run_checkpoints(root, str(spec))
        if not own:
            raise FgError(
                f"run {spec} has no complete checkpoint left in {root}",
                hint="resume from latest, or from a checkpoint name",
            )
        return own[-1]
    raise FgError(
        f"checkpoint {spec!r} not found",
        hint=f"give latest, a run's name (runs in {root.parent / 'runs'}), or a checkpoint in {root}",
    )


def check_compatible(path: Path, model: Any) -> None:
    """Refuse a checkpoint of another model (naming the differences), or a damaged one."""
    try:
        saved = json.loads((path / MANIFEST).read_text())["params"]
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise FgError(
            f"{path / MANIFEST}: cannot be read ({error})", hint="the checkpoint is damaged; resume from another one"
        ) from None
    current = param_shapes(model)
    problems = [f"{k}: missing from this model" for k in saved if k not in current]
    problems += [f"{k}: not in the checkpoint" for k in current if k not in saved]
    problems += [
        f"{k}: shape {saved[k]} in the checkpoint, {current[k]} here"
        for k in saved
        if k in current and saved[k] != current[k]
    ]
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise FgError(
            f"checkpoint {path} was saved from a different model: {shown}",
            hint="resume with the config that wrote it, or start without resuming",
        )


def load_model_weights(path: Path, model: Any) -> None:
    """Load every *.safetensors in `path` into `model`.

    Missing keys are fine when they are buffers (derived state such as RoPE
    frequencies, which savers drop and the model rebuilds) or parameters tied to a
    present one (a tied lm_head); a missing parameter of its own is an error.
    """
    from safetensors.torch import load_file

    model = unwrap(model)
    weights: dict[str, Any] = {}
    for file in sorted(path.glob("*.safetensors")):
        check_safetensors(file)
        weights.update(load_file(str(file)))
    result = model.load_state_dict(weights, strict=False)
    state = model.state_dict()
    by_storage: dict[int, set[str]] = {}
    for key, tensor in state.items():
        by_storage.setdefault(tensor.data_ptr(), set()).add(key)
    params = {name for name, _ in model.named_parameters(remove_duplicate=False)}
    really_missing = [
        k
        for k in result.missing_keys
        if k in params and not (by_storage[state[k].data_ptr()] - set(result.missing_keys))
    ]
    if really_missing or result.unexpected_keys:
        raise FgError(
            f"checkpoint {path} does not match the model: missing {really_missing[:5]},"
            f" unexpected {list(result.unexpected_keys)[:5]}"
        )


def load_checkpoint(
    path: Path,
    *,
    model: Any,
    optimizer: Any,
    scheduler: Any = None,
    scaler: Any = None,
    rank: int = 0,
    sharding: Any = None,
) -> TrainerState:
    """Restore everything `save_checkpoint` wrote into live objects; returns the progress.
    `sharding`: as for `save_checkpoint` (each rank loads its part)."""

    if sharding is not None:
        check_compatible(path, sharding.skeleton)
        sharding.load_model(path)
        sharding.load_optimizer(optimizer, path)
    else:
        check_compatible(path, model)
        load_model_weights(path, model)
        optimizer.load_state_dict(torch_load(path / "optimizer.pt", weights_only=True))
    if scheduler is not None and (path / "scheduler.pt").is_file():
        scheduler.load_state_dict(torch_load(path / "scheduler.pt", weights_only=False))
    if scaler is not None and (path / "scaler.pt").is_file():
        scaler.load_state_dict(torch_load(path / "scaler.pt", weights_only=True))
    rng_file = path / f"rng_state_rank{rank}.pt"
    if rng_file.is_file():
        restore_rng_state(torch_load(rng_file, weights_only=False))
    try:
        return TrainerState.from_dict(json.loads((path / "trainer_state.json").read_text()))
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise FgError(
            f"{path / 'trainer_state.json'}: cannot be read ({error})",
            hint="the checkpoint is damaged; resume from another one",
        ) from None


def rotate_checkpoints(
    checkpoints_dir: str | os.PathLike, save_total_limit: int | None, keep_best_n: int = 0
) -> list[Path]:
    """Delete old checkpoints beyond the newest `save_total_limit`, sparing the `keep_best_n`
    lowest eval losses and the latest. Returns what was deleted."""
    if not save_total_limit or save_total_limit < 1:
        return []
    complete = list_checkpoints(checkpoints_dir)
    keep = set(complete[-save_total_limit:])
    latest = latest_checkpoint(checkpoints_dir)
    if latest is not None:
        keep.add(latest)
    if keep_best_n > 0:
        scored = []
        for path in complete:
            loss = json.loads((path / MANIFEST).read_text()).get("eval_loss")
            if loss is not None:
                scored.append((loss, path))
        keep.update(p for _, p in sorted(scored, key=lambda item: item[0])[:keep_best_n])
    deleted = [p for p in complete if p not in keep]
    for path in deleted:
        delete_checkpoint(path)
    return deleted


def delete_checkpoint(path: Path) -> None:
    """Remove a checkpoint so that no reader ever sees half of one: it leaves the
    `checkpoint-N` namespace first (one rename), loses its completeness marker next, and
    only then its files. A kill at any point leaves a `.deleting-*` directory that no
    listing shows and the next start removes."""
    doomed = path.with_name(f".deleting-{path.name}-{os.getpid()}")
    try:
        path.rename(doomed)
    except FileNotFoundError:
        return
    (doomed / MANIFEST).unlink(missing_ok=True)
    shutil.rmtree(doomed, ignore_errors=True)


def remove_partial(checkpoints_dir: str | os.PathLike) -> None:
    """Remove leftovers of saves and deletions that were killed (`.tmp-*`, `.deleting-*`).
    Only the holder of the output dir's lock calls this (engine/launch/output_lock.py), so
    no other run's save in progress can be among them."""
    root = Path(checkpoints_dir)
    if root.is_dir():
        for path in [*root.glob(".tmp-*"), *root.glob(".deleting-*")]:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)


def find_model_dir(given: str | os.PathLike) -> Path:
    """The model directory a user means by `given`: itself when it holds config.json and weights, else
    the newest complete checkpoint in it, in its `checkpoints/`, or in a project's
    `output_models/*/checkpoints` (as `fgtui generate` and `fgtui convert` take it)."""
    path = Path(given).expanduser()
    if not path.is_dir():
        raise FgError(f"{given} is not a directory", hint="give a model, checkpoint or output directory")
    from fgtui.engine.runs.forgather_checkpoints import forgather_model_dir, has_weights  # Forgather's layout

    if (view := forgather_model_dir(path)) is not None:
        return view
    if (path / "config.json").is_file() and has_weights(path):
        return path
    # The directory itself, an output dir, or a project (its output_models/<model>/checkpoints).
    found = [
        latest
        for checkpoints in (path, path / "checkpoints", *path.glob("output_models/*/checkpoints"))
        if checkpoints.is_dir() and (latest := latest_checkpoint(checkpoints)) is not None
    ]
    if found:
        return max(found, key=lambda checkpoint: checkpoint.stat().st_mtime)
    # An output dir holds config.json (Forgather writes it, and the model code, before
    # training) long before any weights: its checkpoints came first above; with none, the
    # loader says what is missing.
    if (path / "config.json").is_file():
        return path
    raise FgError(
        f"no model in {given}: neither a config.json nor a complete checkpoint",
        hint="train first (fgtui --run ...), or give the directory save_pretrained wrote",
    )
