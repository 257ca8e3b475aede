"""The Forgather-style fixture config, filled in for one test (a module: tests/ is not a package)."""
from __future__ import annotations

from pathlib import Path

FIXTURE = Path(__file__).parent / "forgather_fixture"


def fixture_config(tmp: Path, *, max_steps: int = 8, replace: dict[str, str] | None = None) -> Path:
    """Write the fixture config for output dir `tmp/out`; `replace` edits its text."""
    text = (FIXTURE / "train.yaml").read_text()
    text = text.replace("DATA_MODULE", str(FIXTURE / "tiny_data.py")).replace("OUTPUT_DIR", str(tmp / "out"))
    text = text.replace("MAX_STEPS", str(max_steps))
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp / "train.yaml"
    path.write_text(text)
    return path
