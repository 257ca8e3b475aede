"""Helpers shared by the workbench tests (a module, since tests/ is not a package)."""

from __future__ import annotations

import asyncio

from fgtui.engine.runs.synthetic import T0

NOW = T0 + 3600.0  # the clock every app test sees


def run_async(coro):
    """Run a Pilot scenario; the suite avoids a pytest-asyncio dependency."""
    return asyncio.run(coro)


async def wait_for(pilot, condition, what: str, tries: int = 750) -> None:
    """Let the app work until `condition()` holds (workers finish in threads)."""
    for _ in range(tries):
        await pilot.pause(0.02)
        if condition():
            return
    raise AssertionError(f"timed out waiting for {what}")
