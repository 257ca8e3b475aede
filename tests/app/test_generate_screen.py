"""The Generate screen: a run's newest checkpoint continues a prompt, streamed into the screen."""

from __future__ import annotations

from pathlib import Path

import torch
from textual.widgets import Input, Static, TextArea

from fgtui.app.app import Workbench
from fgtui.app.screens.generate import GenerateScreen
from fgtui.app.screens.monitor import RunMonitor
from fgtui.engine.runs.synthetic import write_run

from apphelpers import NOW, run_async, wait_for
from model_dirs import save_gpt2, small_tokenizer, save_shipped_model


def _output_dir_with_a_checkpoint(root: Path) -> Path:
    from fgtui.engine.models import CausalLMConfig, build_causal_lm
    from fgtui.engine.models.hf_io import save_pretrained

    tokenizer = small_tokenizer(stories=1, vocab_size=260)
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
    model_dir = save_gpt2(tmp_path / "gpt2", small_tokenizer(stories=1, vocab_size=260))
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


# A model whose code ships in its directory (auto_map, as Forgather writes it). Importing the
# file leaves a mark, so the test sees whether the screen ran it.
SHIPPED_MODEL_SOURCE = """
import pathlib

import torch
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutputWithPast

pathlib.Path({mark!r}).write_text("imported")


class ShippedConfig(PretrainedConfig):
    model_type = "fgtui-test-shipped"

    def __init__(self, vocab_size=64, hidden_size=16, **kwargs):
        self.vocab_size, self.hidden_size = vocab_size, hidden_size
        super().__init__(**kwargs)


class ShippedLM(PreTrainedModel):
    config_class = ShippedConfig

    def __init__(self, config):
        super().__init__(config)
        self.embed = torch.nn.Embedding(config.vocab_size, config.hidden_size)
        self.head = torch.nn.Linear(config.hidden_size, config.vocab_size)
        self.post_init()

    def forward(self, input_ids, attention_mask=None, position_ids=None, past_key_values=None,
                use_cache=None, return_dict=None, **kwargs):
        total = past_key_values if past_key_values is not None else 0.0
        sums = total + self.embed(input_ids).cumsum(dim=1)
        return CausalLMOutputWithPast(logits=self.head(torch.tanh(sums)), past_key_values=sums[:, -1:])
"""


def _shipped_code_model(root: Path) -> tuple[Path, Path]:
    """(model dir, the file its code writes when imported)."""
    directory, mark = root / "shipped", root / "imported.mark"
    source = SHIPPED_MODEL_SOURCE.format(mark=str(mark))
    tokenizer = small_tokenizer(stories=1, vocab_size=260)
    save_shipped_model(directory, "shipped_lm.py", source, "ShippedConfig", "ShippedLM", tokenizer)
    mark.unlink()  # made by building the directory here, not by the screen
    return directory, mark


def _footer_keys(screen) -> set[str]:
    return {binding.description for _, binding, enabled, _ in screen.active_bindings.values() if binding.show}


def test_shipped_model_code_runs_only_once_allowed_for_the_session(tmp_path):
    from fgtui.app.screens.dialogs import ConfirmScreen

    model_dir, mark = _shipped_code_model(tmp_path)
    code = str((model_dir / "shipped_lm.py").resolve())
    run = write_run(tmp_path / "out" / "runs" / "r", 5)

    async def scenario():
        app = Workbench(run, now=NOW, poll=False)
        async with app.run_test(size=(120, 40)) as pilot:
            app.push_screen(GenerateScreen(model_dir))
            await pilot.pause()
            screen = app.screen
            shown = screen.query_one("#generate-model", Static)
            await wait_for(pilot, lambda: screen.needs_consent is not None, "the question")
            assert code in str(shown.render()) and "ctrl+t" in str(shown.render())
            assert screen.loaded is None and not mark.exists()
            assert "Allow model code" in _footer_keys(screen)
            # Saying no (escape) runs nothing.
            await pilot.press("ctrl+t")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm")
            assert code in app.screen.question
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is screen, "back without running it")
            await pilot.pause(0.2)
            assert screen.loaded is None and not mark.exists()
            # Saying yes imports it and the model generates.
            await pilot.press("ctrl+t")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm")
            await pilot.press("y")
            await wait_for(pilot, lambda: screen.loaded is not None, "the model")
            assert mark.exists() and "Allow model code" not in _footer_keys(screen)
            screen.query_one("#generate-max-tokens", Input).value = "6"
            screen.query_one("#generate-prompt", Input).value = "The door"
            screen.action_generate()
            await wait_for(pilot, lambda: not screen.busy and screen.query_one(TextArea).text != "", "the text")
            assert screen.query_one(TextArea).text.startswith("The door")
            # Remembered for this model while the workbench lives: no second question.
            await pilot.press("escape")
            app.push_screen(GenerateScreen(model_dir))
            await pilot.pause()
            again = app.screen
            await wait_for(pilot, lambda: again.loaded is not None, "the model, without asking")
            assert again.needs_consent is None

        # A new workbench asks again.
        fresh = Workbench(run, now=NOW, poll=False)
        async with fresh.run_test(size=(120, 40)) as pilot:
            fresh.push_screen(GenerateScreen(model_dir))
            await pilot.pause()
            screen = fresh.screen
            await wait_for(pilot, lambda: screen.needs_consent is not None, "the question again")
            assert screen.loaded is None

    run_async(scenario())
