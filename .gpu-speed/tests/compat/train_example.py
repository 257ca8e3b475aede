"""Train one of Forgather's example training configs for a few steps on CPU, in a fresh
process (each config imports its own generated model code):

    python train_example.py PROJECT CONFIG WORKDIR --steps N [--set NAME=VALUE ...]
                            [--resume-after CONFIG] [--with-forgather]

PROJECT is relative to Forgather's examples/. WORKDIR receives a copy of Forgather's tree
with the stand-ins of compat_helpers (the Hub is unreachable here). The config is built
as `fgtui train` builds it (fgtui's template language and Forgather layer), its step
budget set to N and any trainer argument given with --set (both tools take them the
same way: on the built trainer's arguments, before training), and its main trained.
With --resume-after, CONFIG (of the same project) first trains N steps and saves a
checkpoint, and the config, which resumes from the latest checkpoint, then trains to 2N.
With --with-forgather, Forgather itself (installed in the running Python) builds and
trains it instead: that is how forgather_fixture/example_losses.json was recorded.

The last line printed is a JSON object: {"ok": true, "step": N, "losses": {step: loss}}
or {"ok": false, "error": "Type: message"}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

FINETUNE = "tutorials/hp_lovecraft_project/lovecraft_reference/finetune_lovecraft"
EXAMPLES = [
    "tiny_experiments",
    "tutorials/tiny_llama",
    "tutorials/hp_lovecraft_project",
    "models",
    "datasets",
    "tokenizers/tiny_stories_bpe",
]


def base_model(directory: Path) -> Path:
    """A small Llama with the stand-in tokenizer: what a fine-tuning project starts from
    (its default, ~/models/<name>, is a downloaded model)."""
    import tiny_data
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = tiny_data.tokenizer()
    tokenizer.model_max_length = 4096
    tokenizer.add_special_tokens({"bos_token": "<s>"})  # the fine-tune's block tokenizer starts blocks with it
    tokenizer.save_pretrained(directory)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=4096,
    )
    LlamaForCausalLM(config).save_pretrained(directory)
    return directory


def prepare(project: str, workdir: Path, train_rows: int, save: bool) -> tuple[Path, dict]:
    """The tree, the Hub stand-ins, and the options the config is rendered with."""
    import tarfile

    from compat_helpers import forgather_tree, hub_stand_in

    os.chdir(workdir)
    os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HOME=str(workdir / "hf"))
    os.environ.pop("FGTUI_RUN_DIR", None)
    tree = forgather_tree(workdir, EXAMPLES)
    hub_stand_in(workdir, "roneneldan/TinyStories", train=train_rows, validation=16)
    pp_kwargs = {"save_strategy": "steps" if save else "no"}
    if project == FINETUNE:
        # The tutorial's first step: unpack the texts its dataset project reads.
        tutorial = tree / "examples" / "tutorials" / "hp_lovecraft_project"
        with tarfile.open(tutorial / "hp_lovecraft.tgz") as archive:
            archive.extractall(tutorial, filter="data")
        pp_kwargs["model_id_or_path"] = str(base_model(workdir / "models" / "base"))
    return tree, pp_kwargs


def with_fgtui(project_dir: Path, config: str, pp_kwargs: dict, settings: dict) -> dict:
    from fgtui.engine.compat.forgather.project import from_project

    script = from_project(project_dir, config, pp_kwargs=pp_kwargs)
    trainer = script.trainer
    for name, value in settings.items():
        setattr(trainer.forgather_args, name, value)
        if hasattr(trainer.args, name):
            setattr(trainer.args, name, value)
    code = script.train()
    stream = trainer.runtime.run_dir / "metrics.jsonl"
    records = [json.loads(line) for line in stream.read_text().splitlines()] if stream.exists() else []
    losses = {r["step"]: r["loss"] for r in records if r.get("type") == "train"}
    return {"ok": code == 0, "step": trainer.state.global_step, "losses": losses}


def with_forgather(project_dir: Path, config: str, pp_kwargs: dict, settings: dict) -> dict:
    import torch.distributed as dist
    from forgather.project import Project

    # One CPU process: Forgather's backend auto-choice would ask a CUDA build for NCCL.
    if not dist.is_initialized():
        dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    script = Project(config, str(project_dir), **pp_kwargs)()
    for name, value in settings.items():
        setattr(script.trainer.args, name, value)
    script.run()
    [log] = Path(script.trainer.args.logging_dir).glob("trainer_logs.json")
    entries = json.loads(log.read_text())
    losses = {e["global_step"]: e["loss"] for e in entries if "loss" in e and "train_runtime" not in e}
    return {"ok": True, "step": script.trainer.state.global_step, "losses": losses}


def main(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("project")
    parser.add_argument("config")
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--train-rows", type=int, default=700)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--resume-after", metavar="CONFIG")
    parser.add_argument("--with-forgather", action="store_true")
    options = parser.parse_args(argv)
    settings = {"max_steps": options.steps}
    for item in options.set:
        name, _, value = item.partition("=")
        settings[name] = json.loads(value)
    tree, pp_kwargs = prepare(options.project, options.workdir, options.train_rows, bool(options.resume_after))
    run = with_forgather if options.with_forgather else with_fgtui
    project_dir = tree / "examples" / options.project
    if options.resume_after:
        first = run(project_dir, options.resume_after, pp_kwargs, {**settings, "save_steps": options.steps})
        if not first["ok"]:
            return first
        settings["max_steps"] = 2 * options.steps
    return run(project_dir, options.config, pp_kwargs, settings)


if __name__ == "__main__":
    try:
        result = main(sys.argv[1:])
    except BaseException as error:  # the caller reads the failure from the last line
        traceback.print_exc()
        result = {"ok": False, "error": f"{type(error).__name__}: {error}"[:2000]}
    print(json.dumps(result), flush=True)
