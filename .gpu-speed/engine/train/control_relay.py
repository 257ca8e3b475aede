"""Requests to stop or save, from the control socket, signals or callbacks, agreed by all ranks.

Rank 0 serves the job's control socket (engine/launch/control_protocol.py) when the launcher
set `FGTUI_CONTROL_SOCKET`, otherwise takes requests left as a file in the run
directory (how SLURM jobs are reached); any rank may receive SIGTERM (a SLURM preemption, say).
Once per optimizer step every rank contributes its most urgent pending request and
an all-reduce(MAX) makes them agree, so a command acts at the next step everywhere.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any, Callable

from fgtui.engine.launch.control_protocol import ControlServer, clear_request_file, take_request_file

ACTIONS = ("save", "stop", "save_stop", "abort")
# Higher wins when several are pending: aborting beats stopping beats saving.
PRIORITY = {name: i + 1 for i, name in enumerate(ACTIONS)}


class ControlRelay:
    """Collects requests on this rank and turns them into one agreed action per step."""

    def __init__(
        self, dist: Any, device: Any, *, rank: int, status: Callable[[], dict], run_dir: str | os.PathLike | None = None
    ) -> None:
        self.dist, self.device, self.rank = dist, device, rank
        self._lock = threading.Lock()
        self._pending: list[tuple[str, str]] = []
        self.server = None
        socket_path = os.environ.get("FGTUI_CONTROL_SOCKET")
        if rank == 0 and socket_path:
            self.server = ControlServer(socket_path, on_action=self.request, status=status)
            self.server.start()
        # Without a socket (a SLURM job, whose login node cannot reach one) rank 0 reads
        # requests left in the run directory; a socket-served run never pays that per step.
        self.request_dir = run_dir if rank == 0 and not socket_path else None
        if self.request_dir is not None:
            clear_request_file(self.request_dir)
        self._previous_sigterm = None
        if threading.current_thread() is threading.main_thread():
            self._previous_sigterm = signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        self.request("save_stop", "SIGTERM")

    def request(self, action: str, source: str) -> None:
        if action not in PRIORITY:
            raise ValueError(f"unknown control action {action!r}")
        with self._lock:
            self._pending.append((action, source))

    def take(self) -> tuple[str, str] | None:
        """The action every rank applies now, with who asked for it; clears the queue."""
        if self.request_dir is not None:
            action = take_request_file(self.request_dir)
            if action is not None:
                self.request(action, "request file")
        with self._lock:
            pending, self._pending = self._pending, []
        local = max(pending, key=lambda item: PRIORITY[item[0]], default=None)
        if not self.dist.is_distributed:
            return local
        import torch

        code = torch.tensor([PRIORITY[local[0]] if local else 0], device=self.device)
        torch.distributed.all_reduce(code, op=torch.distributed.ReduceOp.MAX)
        value = int(code.item())
        if value == 0:
            return None
        action = ACTIONS[value - 1]
        source = local[1] if local and local[0] == action else "rank relay"
        return action, source

    def close(self) -> None:
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None
        if self.server is not None:
            self.server.stop()
            self.server = None
