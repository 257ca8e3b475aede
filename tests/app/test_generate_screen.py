"""The Generate screen: a run's newest checkpoint continues a prompt, streamed into the screen."""

from __future__ import annotations

from pathlib import Path

import torch
from textual.widgets import Input, Static, TextArea

import fgtui
from fgtui.app.app import Workbench
from fgtui.app.screens.generate import GenerateScreen
from fgtui.app.screens.monitor import RunMonitor
from fgtui.engine.runs.synthetic import write_run

from apphelpers import NOW, run_async, wait_for

CORPUS = Path(fgtui.__file__).parent / "examples" / "datasets" / "lovecraft" / "data" / "train"


def _output_dir_with_a_checkpoint(root: Path) -> Path:
    from fgtui.engine.data.tokenizer import train_bpe_tokenizer
    from fgtui.engine.models import CausalLMConfig, build_causal_lm
    from fgtui.engine.models.hf_io import save_pretrained

    tokenizer = train_bpe_tokenizer(
        [p.read_text() for p in sorted(CORPUS.glob("*.txt"))[:1]], vocab_size=260, show_progress=False
    )
    torch.manual_seed(0)
    config = CausalLMConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
    )
    checkpoint = root / "out" / "checkpoints" / "checkpoint-20"
    save_pretrained(build_causal_lm(config), checkpoint, tokenizer=tokenizer)
    (checkpoint / "manifest.json").write_text("{}")
    write_run(root / "out" / "runs" / "r", 20, eval_every=20)  # logs its checkpoint-20
    return root / "out"


def test_g_on_a_run_generates_from_its_newest_checkpoint(tmp_path):
    output_dir = _output_dir_with_a_checkpoint(tmp_path)

    async def scenario():
        app = Workbench(output_dir / "runs" / "r", now=NOW, poll=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, RunMonitor), "the monitor")
            await pilot.press("g")
            await wait_for(pilot, lambda: isinstance(app.screen, GenerateScreen), "the generate screen")
            screen = app.screen
            await wait_for(pilot, lambda: screen.loaded is not None, "the model")
            assert "checkpoint-20" in str(screen.query_one("#generate-model", Static).render())
            screen.query_one("#generate-max-tokens", Input).value = "12"
            prompt = screen.query_one("#generate-prompt", Input)
            assert prompt.value  # a real prompt to start from, not a placeholder
            prompt.value = ""
            await pilot.click("#generate-prompt")
            await pilot.press(*"The door")
            await pilot.press("enter")
            await wait_for(pilot, lambda: not screen.busy and screen.query_one(TextArea).text != "", "the text")
            text = screen.query_one("#generate-output", TextArea).text
            assert text.startswith("The door") and len(text) > len("The door")
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, RunMonitor), "back to the monitor")

    run_async(scenario())


def test_g_uses_the_runs_own_checkpoint_not_the_newest_in_the_output_dir(tmp_path):
    import os
    import shutil

    output_dir = _output_dir_with_a_checkpoint(tmp_path)
    # Another run in the same output dir saved later: its checkpoint is newer, but not r's model.
    shutil.copytree(output_dir / "checkpoints" / "checkpoint-20", output_dir / "checkpoints" / "checkpoint-40")
    later = (output_dir / "checkpoints" / "checkpoint-20").stat().st_mtime + 60
    os.utime(output_dir / "checkpoints" / "checkpoint-40", (later, later))
    write_run(output_dir / "runs" / "other", 40, eval_every=40, seed=3)
    live = write_run(output_dir / "runs" / "live", 30, eval_every=0, end_status=None)  # saved nothing yet

    async def scenario():
        app = Workbench(output_dir / "runs" / "r", now=NOW, poll=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, RunMonitor), "the monitor")
            await pilot.press("g")
            await wait_for(pilot, lambda: isinstance(app.screen, GenerateScreen), "the generate screen")
            screen = app.screen
            shown = screen.query_one("#generate-model", Static)
            await wait_for(pilot, lambda: screen.loaded is not None, "the model")
            assert screen.loaded[2].name == "checkpoint-20"
            assert "run r" in str(screen.query_one(".screen-title", Static).render())
            await pilot.press("escape")
            app.push_screen(GenerateScreen(run_dir=live))
            await pilot.pause()
            shown = app.screen.query_one("#generate-model", Static)
            await wait_for(pilot, lambda: "no checkpoint of its own" in str(shown.render()), "the error")

    run_async(scenario())


def test_no_checkpoint_is_said_in_place(tmp_path):
    run = write_run(tmp_path / "out" / "runs" / "r", 5)

    async def scenario():
        app = Workbench(run, now=NOW, poll=False)
        async with app.run_test(size=(120, 40)) as pilot:
            app.push_screen(GenerateScreen(tmp_path / "out"))
            await pilot.pause()
            shown = app.screen.query_one("#generate-model", Static)
            await wait_for(pilot, lambda: "no model in" in str(shown.render()), "the error")
            await pilot.press("enter")  # nothing loaded: a warning, no crash
            await pilot.pause(0.1)
            assert isinstance(app.screen, GenerateScreen)

    run_async(scenario())


def test_a_transformers_model_fgtuis_decoder_does_not_read_generates(tmp_path):
    from transformers import AutoModelForCausalLM, GPT2Config

    from fgtui.engine.data.tokenizer import train_bpe_tokenizer

    tokenizer = train_bpe_tokenizer(
        [p.read_text() for p in sorted(CORPUS.glob("*.txt"))[:1]], vocab_size=260, show_progress=False
    )
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=4, n_positions=128)
    model_dir = tmp_path / "gpt2"
    AutoModelForCausalLM.from_config(config).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    run = write_run(tmp_path / "out" / "runs" / "r", 5)

    async def scenario():
        app = Workbench(run, now=NOW, poll=False)
        async with app.run_test(size=(120, 40)) as pilot:
            app.push_screen(GenerateScreen(model_dir))
            await pilot.pause()
            screen = app.screen
            await wait_for(pilot, lambda: screen.loaded is not None, "the model")
            screen.query_one("#generate-max-tokens", Input).value = "8"
            screen.query_one("#generate-prompt", Input).value = "The door"
            screen.action_generate()
            await wait_for(pilot, lambda: not screen.busy and screen.query_one(TextArea).text != "", "the text")
            text = screen.query_one("#generate-output", TextArea).text
            assert text.startswith("The door") and len(text) > len("The door")

    run_async(scenario())
