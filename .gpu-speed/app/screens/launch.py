"""Launch a config: a form from its dynamic args, a dry run, then a detached run.

The form is built from the config's declared options (`Project.dynamic_args`)
with the template's defaults filled in; values go through the same
`parse_values` and `launch_run` as `fgtui train`, so the UI and the command
line cannot disagree about what a run gets. The run starts in its own
session (engine.launch), so quitting the UI never stops it; with "submit to
SLURM" on, it is submitted with sbatch instead (`fgtui train --slurm`).
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Select, Static, Switch


class SpecsLoaded(Message):
    def __init__(self, specs: list | None, error: str | None) -> None:
        super().__init__()
        self.specs, self.error = specs, error


class LaunchDone(Message):
    def __init__(
        self,
        dry_run: bool,
        command: list[str] | None,
        run_dir: Path | None,
        error: str | None,
        script: str | None = None,
    ) -> None:
        super().__init__()
        self.dry_run, self.command, self.run_dir, self.error = dry_run, command, run_dir, error
        self.script = script  # a SLURM launch's batch script


# (label, widget id, default value, placeholder, Input type) of the SLURM fields.
SLURM_FIELDS = (
    ("nodes", "field-nodes", "1", "", "integer"),
    ("GPUs per node", "field-gpus-per-node", "1", "0 runs on CPUs", "integer"),
    ("time limit", "field-time", "", "e.g. 12:00:00 (partition default)", "text"),
    ("partition", "field-partition", "", "cluster default", "text"),
    ("account", "field-account", "", "your default", "text"),
)


def _slurm_options(values: dict[str, str]):
    from fgtui.engine.errors import FgError
    from fgtui.engine.launch.slurm import SlurmOptions

    try:
        nodes, gpus = int(values["field-nodes"] or 1), int(values["field-gpus-per-node"] or 0)
    except ValueError:
        raise FgError("nodes and GPUs per node must be whole numbers") from None
    return SlurmOptions(
        nodes=nodes,
        gpus_per_node=gpus,
        time=values["field-time"] or None,
        partition=values["field-partition"] or None,
        account=values["field-account"] or None,
    )


def _is_flag(spec) -> bool:
    return spec.action in ("store_true", "store_false") or spec.type == "bool"


def _default_text(spec) -> str:
    if not spec.has_default or spec.default is None:
        return ""
    value = spec.default
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


class LaunchScreen(Screen):
    """The launch form of one config."""

    BINDINGS = [
        Binding("escape", "app.back", "Back"),
        # Function keys: Input fields keep their own ctrl+ editing keys.
        Binding("f5", "dry_run", "Dry run", priority=True),
        Binding("f6", "launch", "Launch", priority=True),
    ]

    def __init__(self, project_dir: str | Path, config: str) -> None:
        super().__init__()
        self.project_dir = Path(project_dir)
        self.config = config
        self.specs: list = []

    def compose(self) -> ComposeResult:
        yield Static(f"Launch {self.config}", classes="screen-title")
        with VerticalScroll(id="launch-form"):
            with Horizontal(classes="launch-row"):
                yield Label("devices")
                yield Input(placeholder="all GPUs, or 0,1 or cpu", id="field-devices", select_on_focus=False)
            with Horizontal(classes="launch-row"):
                yield Label("run name")
                yield Input(placeholder="from the config", id="field-run-name", select_on_focus=False)
            with Horizontal(classes="launch-row"):
                yield Label("submit to SLURM")
                yield Switch(value=False, id="field-slurm")
            for label, field_id, value, placeholder, kind in SLURM_FIELDS:
                with Horizontal(classes="launch-row slurm-row"):
                    yield Label(label)
                    yield Input(value=value, placeholder=placeholder, id=field_id, type=kind, select_on_focus=False)
            yield Static("reading the config's options…", id="launch-options-note")
        yield Static("", id="launch-command")
        with Horizontal(classes="dialog-buttons"):
            yield Button("Dry run", id="dry-run")
            yield Button("Launch", id="launch", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        self.show_slurm_fields(False)
        # The first keys typed go into the first field, not nowhere.
        self.query_one("#field-devices", Input).focus()
        self.load_specs()

    def show_slurm_fields(self, shown: bool) -> None:
        for row in self.query(".slurm-row"):
            row.display = shown
        self.query_one("#field-devices", Input).disabled = shown  # SLURM gives the GPUs

    def on_switch_changed(self, event: Switch.Changed) -> None:
        if event.switch.id == "field-slurm":
            self.show_slurm_fields(event.value)

    @work(thread=True, exclusive=True, group="specs", exit_on_error=False)
    def load_specs(self) -> None:
        try:
            from fgtui.engine.project import Project

            specs = Project.open(self.project_dir).dynamic_args(self.config)
            self.post_message(SpecsLoaded(specs, None))
        except Exception as error:  # noqa: BLE001 - a broken config shows its error in place
            text = error.one_line() if hasattr(error, "one_line") else f"{type(error).__name__}: {error}"
            self.post_message(SpecsLoaded(None, text))

    async def on_specs_loaded(self, message: SpecsLoaded) -> None:
        note = self.query_one("#launch-options-note", Static)
        if message.error:
            note.update(f"[b red]cannot read the config:[/] {escape(message.error)}")
            return
        specs = message.specs or []
        rows = []
        for spec in specs:
            field_id = f"arg-{spec.dest.replace('.', '-')}"
            if _is_flag(spec):
                try:
                    value = bool(spec.default_value())
                except LookupError:
                    value = False
                widget: Any = Switch(value=value, id=field_id)
            elif spec.choices:
                options = [(str(c), str(c)) for c in spec.choices]
                default = _default_text(spec)
                widget = Select(options, value=default if default in dict(options) else Select.NULL, id=field_id)
            else:
                # An empty field shows what the option does (its type too), not just "int".
                # Tabbing in must not select the default: the next key would replace it.
                widget = Input(
                    value=_default_text(spec),
                    placeholder=f"{spec.type} — {spec.help or spec.dest}",
                    id=field_id,
                    select_on_focus=False,
                )
            widget.tooltip = spec.help_text()
            rows.append(Horizontal(Label(spec.long_name), widget, classes="launch-row"))
        # The fields are mounted before `specs` is set and the note says "options":
        # a dry run asked for in between reads the fields, and must find them all.
        await self.query_one("#launch-form", VerticalScroll).mount_all(rows)
        self.specs = specs
        note.update("[b]options[/]" if specs else "this config declares no options")

    def form_values(self) -> dict[str, Any]:
        """{dest: value} for every field the user set; blanks take the template default."""
        given: dict[str, Any] = {}
        for spec in self.specs:
            widget = self.query_one(f"#arg-{spec.dest.replace('.', '-')}")
            if isinstance(widget, Switch):
                given[spec.dest] = widget.value
            elif isinstance(widget, Select):
                given[spec.dest] = None if widget.value == Select.NULL else widget.value
            else:
                given[spec.dest] = widget.value.strip() or None
        return given

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "dry-run":
            self.action_dry_run()
        elif event.button.id == "launch":
            self.action_launch()

    def action_dry_run(self) -> None:
        self.start(dry_run=True)

    def action_launch(self) -> None:
        self.start(dry_run=False)

    def start(self, dry_run: bool) -> None:
        slurm = None
        if self.query_one("#field-slurm", Switch).value:
            slurm = {
                field_id: self.query_one(f"#{field_id}", Input).value.strip() for _, field_id, _, _, _ in SLURM_FIELDS
            }
        devices = None if slurm else self.query_one("#field-devices", Input).value.strip() or None
        run_name = self.query_one("#field-run-name", Input).value.strip() or None
        self.query_one("#launch-command", Static).update("rendering…" if dry_run else "launching…")
        self.launch_worker(self.form_values(), devices, run_name, dry_run, slurm)

    @work(thread=True, exclusive=True, group="launch", exit_on_error=False)
    def launch_worker(
        self,
        given: dict[str, Any],
        devices: str | None,
        run_name: str | None,
        dry_run: bool,
        slurm: dict[str, str] | None = None,
    ) -> None:
        from fgtui.engine.errors import FgError
        from fgtui.engine.launch.launcher import launch_run
        from fgtui.engine.project.dynamic_args import parse_values

        try:
            variables = parse_values(self.specs, given)
            launched = launch_run(
                self.config,
                variables=variables,
                devices=devices,
                dry_run=dry_run,
                run_name=run_name,
                project_dir=str(self.project_dir),
                slurm=_slurm_options(slurm) if slurm is not None else None,
            )
        except FgError as error:
            self.post_message(LaunchDone(dry_run, None, None, error.one_line()))
            return
        except Exception as error:  # noqa: BLE001 - shown in place; the UI keeps running
            self.post_message(LaunchDone(dry_run, None, None, f"{type(error).__name__}: {error}"))
            return
        self.post_message(LaunchDone(dry_run, launched.command, launched.run_dir, None, launched.sbatch_script))

    def on_launch_done(self, message: LaunchDone) -> None:
        shown = self.query_one("#launch-command", Static)
        if message.error:
            shown.update(f"[b red]{escape(message.error)}[/]")
            return
        command = escape(shlex.join(message.command or []))
        if message.dry_run:
            if message.script:
                # The directives fit the panel; `fgtui train --slurm --dry-run` prints the whole script.
                directives = [line for line in message.script.splitlines() if line.startswith("#SBATCH")]
                shown.update("[b]would submit[/] with sbatch:\n" + escape("\n".join(directives)))
            else:
                shown.update(f"[b]would run[/]\n{command}")
            return
        shown.update(f"[b]started[/] {escape(str(message.run_dir))}\n{command}")
        if message.run_dir is not None:
            self.app.pop_screen()
            self.app.open_run(message.run_dir)
