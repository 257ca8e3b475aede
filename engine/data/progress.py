"""Progress bars for long data steps: on for a terminal, off for logs and pipes."""
from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator


def interactive() -> bool:
    return sys.stderr.isatty()


@contextlib.contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """Yield `advance(n)`; draws a rich bar on stderr when it is a terminal."""
    if not interactive():
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=Console(stderr=True), transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


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
