"""Looks: the `.tcss` files in themes/, combined with Textual's colour themes.

`themes/workbench.tcss` is the layout and the default look. Every other
`themes/NAME.tcss` is a look whose rules are all scoped under the App class
`-look-NAME`, so every look is loaded once at start-up and switching is a
class change on the App: no stylesheet reload, and a broken look file fails
at start-up, not in the middle of a session. A look may pair itself with a
Textual theme by a first-line comment `/* theme: NAME */`.

The chosen look and Textual theme are remembered in
`$XDG_CONFIG_HOME/fgtui/ui.json` (`~/.config/fgtui/ui.json`).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

THEMES_DIR = Path(__file__).resolve().parent.parent / "themes"
BASE_STYLESHEET = THEMES_DIR / "workbench.tcss"
DEFAULT_LOOK = "default"
_PAIRED_THEME = re.compile(r"/\*\s*theme:\s*([\w-]+)\s*\*/")


@dataclass(frozen=True)
class Look:
    """One selectable look: its name, file and the Textual theme it pairs with (if any)."""

    name: str
    path: Path
    theme: str | None = None

    @property
    def css_class(self) -> str:
        return f"-look-{self.name}"


def available_looks(themes_dir: Path = THEMES_DIR) -> list[Look]:
    """The default look first, then one per extra `.tcss` file, by name."""
    looks = [Look(DEFAULT_LOOK, themes_dir / BASE_STYLESHEET.name)]
    for path in sorted(themes_dir.glob("*.tcss")):
        if path.name == BASE_STYLESHEET.name:
            continue
        with open(path, encoding="utf-8") as handle:
            first = handle.readline()
        paired = _PAIRED_THEME.search(first)
        looks.append(Look(path.stem, path, paired.group(1) if paired else None))
    return looks


def stylesheets(themes_dir: Path = THEMES_DIR) -> list[Path]:
    """Every look's file, the base first: all are loaded, the App class picks one."""
    return [look.path for look in available_looks(themes_dir)]


def settings_path() -> Path:
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config_home / "fgtui" / "ui.json"


def load_settings() -> dict:
    """The remembered UI choices; {} when none were saved yet.

    Raises ValueError naming the file when it exists but is not a JSON object.
    """
    path = settings_path()
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(text)
    except ValueError as error:
        raise ValueError(f"{path}: not JSON ({error})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def save_settings(**changes: str) -> None:
    """Merge `changes` into the settings file, written atomically."""
    path = settings_path()
    try:
        data = load_settings()
    except ValueError:
        data = {}  # the broken file was reported at start-up; this write replaces it
    data.update(changes)
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(".tmp")
    scratch.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(scratch, path)
