"""Shared test setup: GPU tests skip without CUDA; torch stays on one thread
per process so parallel test runs on small CI machines do not thrash."""

from __future__ import annotations

import os
import signal
import tempfile

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# Without a GPU, Triton kernels (the Adafactor step) run in Triton's interpreter,
# so CPU-only CI checks them too. Set before any kernel module is imported.
if "TRITON_INTERPRET" not in os.environ:
    import importlib.util

    import torch

    if importlib.util.find_spec("triton") is not None and not torch.cuda.is_available():
        os.environ["TRITON_INTERPRET"] = "1"


# Tests stop `fgtui serve` and `fgtui --run` children with SIGINT. A test run
# started in the background of a non-interactive shell (`pytest ... &` in a
# script) has SIGINT ignored, and children inherit that, so they would never
# hear it; give this process Python's usual Ctrl-C handling, which children
# do not inherit, so they start with the default.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Jobs launched by tests register in a private runtime dir, and processed
# datasets cache in a private cache dir, so a test run never shows up in the
# user's `fgtui control list` or fills their cache. mkdtemp makes it 0700, as
# the job registry requires, and short enough for Unix socket paths.
# Each pytest-xdist worker gets a job registry of its own as well: workers
# inherit the controller's environment, and a test that lists jobs must not
# see the jobs another worker's tests launched.
_PRIVATE_DIRS = []
for _name, _prefix in (("FGTUI_RUNTIME_DIR", "fgtui-test-run-"), ("FGTUI_CACHE_DIR", "fgtui-test-cache-")):
    _per_worker = _name == "FGTUI_RUNTIME_DIR" and "PYTEST_XDIST_WORKER" in os.environ
    if _name not in os.environ or _per_worker:
        os.environ[_name] = tempfile.mkdtemp(prefix=_prefix)
        _PRIVATE_DIRS.append(os.environ[_name])


def pytest_unconfigure(config):
    import shutil

    for path in _PRIVATE_DIRS:
        shutil.rmtree(path, ignore_errors=True)


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    if any(item.get_closest_marker("gpu") for item in items) and not _cuda_available():
        skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
        for item in items:
            if item.get_closest_marker("gpu"):
                item.add_marker(skip_gpu)
