"""The "try it" line a finished --run / --follow prints names a command that runs."""

from __future__ import annotations

import json

from fgtui.engine.commands.headless import _generate_hint
from fgtui.engine.train.checkpoint import MANIFEST


def _checkpoint(output_dir, config):
    checkpoint = output_dir / "checkpoints" / "checkpoint-3"
    checkpoint.mkdir(parents=True)
    (checkpoint / "config.json").write_text(json.dumps(config))
    (checkpoint / "model.safetensors").write_bytes(b"")
    (checkpoint / MANIFEST).write_text("{}")
    return checkpoint


def test_a_model_of_shipped_code_is_tried_with_trust_remote_code(tmp_path):
    # Forgather's generated models: the run just trained that code, and generate refuses it without the flag.
    _checkpoint(tmp_path, {"model_type": "forgather-dynamic-causal-lm", "auto_map": {"AutoModel": "llama.Model"}})
    assert _generate_hint(tmp_path) == f'fgtui generate {tmp_path} "Once upon a time" --trust-remote-code'


def test_a_plain_model_is_tried_without_it(tmp_path):
    _checkpoint(tmp_path, {"model_type": "llama"})
    assert _generate_hint(tmp_path) == f'fgtui generate {tmp_path} "Once upon a time"'


def test_no_line_without_a_loadable_checkpoint(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    assert _generate_hint(tmp_path) is None
