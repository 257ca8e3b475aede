"""Try a run's model: type a prompt, watch the continuation arrive token by token.

Opened from a run (`g` in the monitor), the model is that run's own newest
checkpoint (`engine.runs.checkpoints`): the output directory is shared with
other runs, whose newer checkpoints are not this run's model. Opened on a
directory, it is the newest complete checkpoint there
(`engine.train.checkpoint.find_model_dir`, as `fgtui generate` finds it). It is
loaded once, in a worker thread, on the CPU: the run may still be training on
the GPU, and a second copy there could push it out of memory (`fgtui generate
--device cuda` is the way to use one). A model fgtui's decoder does not read is
run through transformers (`engine.models.transformers_lm`). When that model is Python
code shipped in the directory (config.json `auto_map`, as Forgather writes it), it is
not imported until the user allows it (ctrl+t, a confirm naming the .py files); the
permission holds for that directory until the workbench closes
(`Workbench.trusted_model_code`), never by default. Each prompt then streams through
`engine.models.generate.stream_tokens` in a worker, so the screen stays
responsive and Escape leaves at any time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, Static, TextArea


class ModelLoaded(Message):
    def __init__(self, loaded: tuple[Any, Any, Path] | None, error: str | None) -> None:
        super().__init__()
        self.loaded, self.error = loaded, error


class ModelCodeNeedsConsent(Message):
    """The model is code shipped in `directory` (`files`), not yet allowed this session."""

    def __init__(self, directory: Path, files: list[str]) -> None:
        super().__init__()
        self.directory, self.files = directory, files


class TextArrived(Message):
    def __init__(self, text: str, done: bool, error: str | None = None) -> None:
        super().__init__()
        self.text, self.done, self.error = text, done, error


class GenerateScreen(Screen):
    """A prompt box over a run's newest checkpoint, or a directory's."""

    BINDINGS = [
        Binding("escape", "app.back", "Back"),
        Binding("ctrl+r", "generate", "Generate again"),
        Binding("ctrl+t", "allow_model_code", "Allow model code"),
    ]

    def __init__(self, output_dir: str | Path | None = None, *, run_dir: str | Path | None = None) -> None:
        super().__init__()
        if (output_dir is None) == (run_dir is None):
            raise TypeError("GenerateScreen takes an output directory or a run directory")
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.output_dir = Path(output_dir) if output_dir is not None else self.run_dir.parent.parent
        self.loaded: tuple[Any, Any, Path] | None = None
        self.load_error: str | None = None
        self.needs_consent: tuple[Path, list[str]] | None = None  # shipped code not yet allowed
        self.busy = False

    def compose(self) -> ComposeResult:
        source = f"run {self.run_dir.name}" if self.run_dir is not None else str(self.output_dir)
        yield Static(f"Generate with the newest checkpoint of {source}", classes="screen-title")
        yield Static("loading the model…", id="generate-model")
        with Horizontal(classes="launch-row"):
            yield Label("prompt")
            yield Input(value="The old house on the hill", id="generate-prompt")
        with Horizontal(classes="launch-row"):
            yield Label("max new tokens")
            yield Input(value="100", id="generate-max-tokens", type="integer")
            yield Label("temperature")
            yield Input(value="0.8", id="generate-temperature", type="number")
        yield TextArea("", id="generate-output", read_only=True, soft_wrap=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#generate-prompt", Input).focus()
        self.load_model()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "allow_model_code":
            return self.needs_consent is not None  # in the footer only while it would do something
        return True

    @work(thread=True, exclusive=True, group="generate-load", exit_on_error=False)
    def load_model(self) -> None:
        try:
            from fgtui.engine.data.tokenizer import load_tokenizer
            from fgtui.engine.models.transformers_lm import (
                load_for_decoding,
                native_refusal,
                read_config_json,
                remote_code_files,
            )

            if self.run_dir is not None:
                from fgtui.engine.runs.checkpoints import newest_run_checkpoint

                directory = newest_run_checkpoint(self.run_dir)
            else:
                from fgtui.engine.train.checkpoint import find_model_dir

                directory = find_model_dir(self.output_dir)
            # Shipped model code (only read when fgtui's decoder does not load the config,
            # as `fgtui generate` does) runs once the user allowed this directory.
            auto_map = read_config_json(directory).get("auto_map")
            ships_code = bool(auto_map) and native_refusal(directory) is not None
            if ships_code and directory.resolve() not in self.app.trusted_model_code:
                self.post_message(ModelCodeNeedsConsent(directory, remote_code_files(directory, auto_map)))
                return
            model = load_for_decoding(directory, device="cpu", trust_remote_code=ships_code)
            loaded = (model, load_tokenizer(directory, trust_remote_code=ships_code), directory)
            self.post_message(ModelLoaded(loaded, None))
        except Exception as error:  # noqa: BLE001 - shown in place; the UI keeps running
            text = error.one_line() if hasattr(error, "one_line") else f"{type(error).__name__}: {error}"
            self.post_message(ModelLoaded(None, text))

    def on_model_loaded(self, message: ModelLoaded) -> None:
        shown = self.query_one("#generate-model", Static)
        if message.error:
            self.load_error = message.error
            shown.update(f"[b red]{escape(message.error)}[/]")
            return
        self.loaded = message.loaded
        model, _, directory = self.loaded
        count = sum(p.numel() for p in model.parameters())
        shown.update(
            f"[b]{escape(str(directory))}[/] — {count:,} parameters on "
            f"{next(model.parameters()).device}; Enter generates"
        )

    def on_model_code_needs_consent(self, message: ModelCodeNeedsConsent) -> None:
        self.needs_consent = (message.directory, message.files)
        self.load_error = f"{message.directory}: its model is Python code shipped with it; not run unless allowed"
        self.query_one("#generate-model", Static).update(
            f"[b]{escape(str(message.directory))}[/]: its model is Python code shipped with it "
            f"({escape(', '.join(message.files))}), not run unless you allow it: ctrl+t"
        )
        self.refresh_bindings()

    def action_allow_model_code(self) -> None:
        if self.needs_consent is None:
            self.notify("this model runs no shipped code waiting for your permission")
            return
        from fgtui.app.screens.dialogs import ConfirmScreen

        directory, files = self.needs_consent
        listed = "\n".join(f"  {escape(f)}" for f in files)
        question = (
            f"Import and run the Python code shipped with {escape(str(directory))}?\n\n{listed}\n\n"
            "It is arbitrary code, run with your permissions: read it first. "
            "Allowed for this model until the workbench closes."
        )

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            self.app.trusted_model_code.add(directory.resolve())
            self.needs_consent, self.load_error = None, None
            self.refresh_bindings()
            self.query_one("#generate-model", Static).update("loading the model…")
            self.load_model()

        self.app.push_screen(ConfirmScreen(question), answered)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_generate()

    def action_generate(self) -> None:
        if self.busy:
            self.notify("generating…", severity="warning")
            return
        if self.loaded is None:
            self.notify(self.load_error or "the model is still loading", severity="warning")
            return
        prompt = self.query_one("#generate-prompt", Input).value
        try:
            max_tokens = int(self.query_one("#generate-max-tokens", Input).value)
            temperature = float(self.query_one("#generate-temperature", Input).value)
        except ValueError:
            self.notify("max new tokens must be a whole number and temperature a number", severity="error")
            return
        if max_tokens < 1 or temperature < 0:
            self.notify("max new tokens must be ≥ 1 and temperature ≥ 0", severity="error")
            return
        self.busy = True
        self.query_one("#generate-output", TextArea).load_text(prompt)
        self.stream(prompt, max_tokens, temperature)

    @work(thread=True, exclusive=True, group="generate-run", exit_on_error=False)
    def stream(self, prompt: str, max_tokens: int, temperature: float) -> None:
        from textual.worker import get_current_worker

        from fgtui.engine.models.generate import ContinuationDecoder, stream_tokens

        model, tokenizer, _ = self.loaded
        worker = get_current_worker()
        try:
            ids = tokenizer(prompt, return_tensors="pt")["input_ids"].to(next(model.parameters()).device)
            decode = ContinuationDecoder(tokenizer, ids[0].tolist())
            eos = tokenizer.eos_token_id
            tokens: list[int] = []
            for token in stream_tokens(
                model,
                ids,
                max_tokens,
                temperature=temperature,
                top_k=50,
                stop_token_ids=[eos] if eos is not None else None,
            ):
                if worker.is_cancelled:
                    break
                tokens.append(token)
                self.post_message(TextArrived(prompt + decode(tokens), False))
            self.post_message(TextArrived(prompt + decode(tokens), True))
        except Exception as error:  # noqa: BLE001 - e.g. a prompt past the model's positions
            self.post_message(TextArrived("", True, f"{type(error).__name__}: {error}"))

    def on_text_arrived(self, message: TextArrived) -> None:
        if message.error:
            self.notify(message.error, severity="error")
        else:
            self.query_one("#generate-output", TextArea).load_text(message.text)
        if message.done:
            self.busy = False
