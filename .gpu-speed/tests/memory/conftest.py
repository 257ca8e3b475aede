"""Fixtures for memory-feature tests; helpers live in memory_helpers.py."""

from __future__ import annotations

import pytest

from memory_helpers import tiny_llama


@pytest.fixture
def model():
    return tiny_llama()
