"""Helpers: write a small template tree, render it, load it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from fgtui.engine.config import TemplateEnvironment, load_graph, load_rendered


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


class Tree:
    """A template directory under tmp_path with an environment over it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._env: TemplateEnvironment | None = None

    def write(self, files: dict[str, str]) -> "Tree":
        write_tree(self.root, files)
        return self

    @property
    def env(self) -> TemplateEnvironment:
        if self._env is None:
            self._env = TemplateEnvironment([str(self.root)])
        return self._env

    def render(self, name: str, variables: dict | None = None) -> str:
        return self.env.render(name, variables).text

    def graph(self, name: str, variables: dict | None = None):
        return load_rendered(self.env.render(name, variables))


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path / "templates")


def load(text: str):
    return load_graph(textwrap.dedent(text).lstrip("\n"), "test.yaml")
