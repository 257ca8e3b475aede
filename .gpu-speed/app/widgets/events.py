"""Run events (checkpoints, evals, errors with tracebacks) and eval samples."""

from __future__ import annotations

from typing import Any

from rich.text import Text

_EVENT_STYLES = {
    "error": "bold red",
    "warning": "yellow",
    "checkpoint": "green",
    "end": "bold",
    "start": "bold",
    "stop_requested": "yellow",
    "resumed": "cyan",
    "save_requested": "green",
}

# The trainer logs every control request as one `stop_requested` event; a
# plain save stops nothing, so each action is shown under its own label.
_REQUEST_LABELS = {
    "save": "save_requested",
    "save_stop": "stop_requested",
    "stop": "stop_requested",
    "abort": "abort_requested",
}
_REQUEST_WORDS = {"save": "save", "save_stop": "save and stop", "stop": "stop", "abort": "abort"}


def describe_event(record: dict[str, Any]) -> Text:
    """One event as styled text; an error carries its traceback, with the
    exception line (the last one) highlighted as the part people read first."""
    name = str(record.get("event", record.get("type", "?")))
    action = str(record.get("action"))
    if name == "stop_requested":
        name = _REQUEST_LABELS.get(action, name)
    step = record.get("step", 0)
    text = Text(f"step {step:>7}  ", style="dim")
    text.append(f"{name:<15}", style=_EVENT_STYLES.get(name, "yellow" if name.endswith("_requested") else ""))
    if record.get("type") == "eval":
        text.append(f"eval_loss {record.get('eval_loss')}")
    elif name == "start":
        text.append(
            f"{record.get('run_name')} on {record.get('device')} × {record.get('world_size')}, "
            f"{record.get('n_params')} parameters, max_steps {record.get('max_steps')}"
        )
    elif name in ("checkpoint", "resumed"):
        text.append(str(record.get("path")))
        if record.get("best"):
            text.append("  (best)", style="bold green")
    elif record.get("event") == "stop_requested":
        text.append(f"{_REQUEST_WORDS.get(action, action)} asked from {record.get('source')}")
    elif name == "end":
        text.append(f"{record.get('status')} (exit code {record.get('exit_code')})")
    elif name in ("error", "warning"):
        text.append(str(record.get("message", "")), style=_EVENT_STYLES[name])
        traceback = str(record.get("traceback") or "").rstrip()
        if traceback:
            lines = traceback.splitlines()
            for line in lines[:-1]:
                text.append("\n    " + line, style="dim")
            text.append("\n    " + lines[-1], style="bold red reverse")
    return text


def describe_sample(record: dict[str, Any]) -> Text:
    text = Text(f"step {record.get('step', 0)}\n", style="bold")
    text.append(str(record.get("prompt", "")), style="bold cyan")
    text.append(str(record.get("text", "")))
    return text
