"""The job-control protocol: the socket a job's rank 0 serves, and the request file.

Both sides import this module, the trainer (engine/train/control_relay.py) and the
client (engine/launch/control.py); it depends on nothing else of fgtui's.

The socket is created 0600 inside the 0700 runtime directory, and the server also
checks the peer's uid (SO_PEERCRED) so that even a permissive filesystem cannot
let another user in. Protocol: one JSON line each way,

    -> {"action": "status" | "save" | "stop" | "save_stop" | "abort"}
    <- {"ok": true, ...} or {"ok": false, "error": "..."}

Actions other than status are queued for the trainer, which applies them at its
next optimizer step on every rank.

A SLURM job's socket is on its compute node, out of the login node's reach, so
its requests travel as a file in the run directory (shared by both):
`write_request_file` puts the action there and rank 0 takes it at the next step.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
from pathlib import Path
from typing import Any, Callable

from fgtui.engine.errors import FgError

ACTIONS = ("save", "stop", "save_stop", "abort")
MAX_REQUEST = 4096


class ControlServer:
    """Serves one job's control socket from a daemon thread."""

    def __init__(
        self, path: str | os.PathLike, *, on_action: Callable[[str, str], None], status: Callable[[], dict[str, Any]]
    ) -> None:
        self.path = Path(path)
        self.on_action = on_action
        self.status = status
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    def start(self) -> None:
        self.path.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # umask makes bind create the file 0600 from the start: no window in which
        # a chmod has not happened yet.
        old_mask = os.umask(0o177)
        try:
            sock.bind(str(self.path))
        finally:
            os.umask(old_mask)
        os.chmod(self.path, 0o600)
        sock.listen(8)
        sock.settimeout(0.5)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name="fgtui-control", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with conn:
                try:
                    self._handle(conn)
                except (OSError, ValueError):
                    continue

    def _handle(self, conn: socket.socket) -> None:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _, uid, _ = struct.unpack("3i", creds)
        if uid != os.getuid():
            send_line(conn, {"ok": False, "error": "permission denied"})
            return
        conn.settimeout(5)
        request = json.loads(read_line(conn))
        action = request.get("action") if isinstance(request, dict) else None
        if action == "status":
            send_line(conn, {"ok": True, "status": self.status()})
        elif action in ACTIONS:
            self.on_action(action, "control socket")
            send_line(conn, {"ok": True, "queued": action})
        else:
            send_line(conn, {"ok": False, "error": f"unknown action {action!r}"})

    def stop(self) -> None:
        self._stopped.set()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.path.unlink(missing_ok=True)


def read_line(conn: socket.socket) -> bytes:
    data = b""
    while b"\n" not in data and len(data) < MAX_REQUEST:
        chunk = conn.recv(1024)
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0]


def send_line(conn: socket.socket, reply: dict[str, Any]) -> None:
    conn.sendall(json.dumps(reply, default=str).encode() + b"\n")


REQUEST_FILE = "control.request"


def write_request_file(run_dir: str | os.PathLike, action: str) -> Path:
    """Leave `action` for the run in its directory, replaced atomically (the trainer never
    reads half a request). A more urgent request already waiting stays (stop beats save)."""
    if action not in ACTIONS:
        raise FgError(f"unknown control action {action!r}", hint=f"one of {', '.join(ACTIONS)}")
    path = Path(run_dir) / REQUEST_FILE
    try:
        waiting = path.read_text().strip()
    except OSError:
        waiting = None
    if waiting in ACTIONS and ACTIONS.index(waiting) > ACTIONS.index(action):
        return path
    tmp = path.with_name(f".{REQUEST_FILE}.{os.getpid()}")
    tmp.write_text(action + "\n")
    os.replace(tmp, path)
    return path


def take_request_file(run_dir: str | os.PathLike) -> str | None:
    """The action waiting in the run directory, removed as it is taken; None when there is none.

    Renamed away before it is read, so a request written meanwhile waits for the next
    take instead of being deleted unread. Filesystem errors (a shared filesystem's hiccup)
    count as no request: training must not die of them.
    """
    # Plain strings, not Path objects: the trainer asks every step, and nearly always there
    # is nothing, so the cost is the one failed rename.
    path = os.path.join(run_dir, REQUEST_FILE)
    taking = os.path.join(run_dir, f".{REQUEST_FILE}.taking")
    try:
        os.replace(path, taking)
        with open(taking) as file:
            action = file.read().strip()
        os.unlink(taking)
    except OSError:
        return None
    return action if action in ACTIONS else None


def clear_request_file(run_dir: str | os.PathLike) -> None:
    """Forget a request left from an earlier attempt of the run (say, the save-and-stop of the
    time limit that preceded a requeue): a starting run has not been asked anything yet."""
    try:
        (Path(run_dir) / REQUEST_FILE).unlink(missing_ok=True)
    except OSError:
        pass
