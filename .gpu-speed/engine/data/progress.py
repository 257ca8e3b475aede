"""Progress bars for long data steps: on for a terminal, off for logs and pipes."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator


def interactive() -> bool:
    """Bars on a terminal; FGTUI_PROGRESS=1 asks for them in a pipe too (the
    workbench's dataset screen reads them from its child's stderr)."""
    import os

    return sys.stderr.isatty() or os.environ.get("FGTUI_PROGRESS") == "1"


@contextlib.contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """Yield `advance(n)`; draws a rich bar on stderr when it is a terminal."""
    if not interactive():
        yield lambda n: None
        return
    if not sys.stderr.isatty():
        yield _plain_lines(description, total)
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


def _plain_lines(description: str, total: int | None) -> Callable[[int], None]:
    """`advance(n)` writing "description: done/total" lines, at most twice a second."""
    import time

    state = {"done": 0, "shown": 0.0}

    def advance(n: int) -> None:
        state["done"] += n
        now = time.monotonic()
        if now - state["shown"] >= 0.5 or state["done"] == total:
            state["shown"] = now
            print(f"{description}: {state['done']}" + (f"/{total}" if total else ""), file=sys.stderr, flush=True)

    return advance


@contextlib.contextmanager
def datasets_bars(enabled: bool | None = None) -> Iterator[None]:
    """Turn the `datasets` tqdm bars on or off for a block, then restore them."""
    import datasets

    want = interactive() if enabled is None else enabled
    was_disabled = datasets.utils.are_progress_bars_disabled()
    if want:
        datasets.enable_progress_bars()
    else:
        datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_disabled:
            datasets.disable_progress_bars()
        else:
            datasets.enable_progress_bars()
