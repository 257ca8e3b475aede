"""import_yaml: PyYAML whose reader gets an equal pattern that compiles cheaply."""

from __future__ import annotations

import re
import subprocess
import sys

from fgtui.engine.config.yaml_module import READER_PATTERN, SAME_CHARACTERS


def test_the_two_patterns_match_the_same_code_points():
    every = "".join(map(chr, range(0x110000)))
    theirs = [m.start() for m in re.finditer(READER_PATTERN, every)]
    ours = [m.start() for m in re.finditer(SAME_CHARACTERS, every)]
    assert ours == theirs
    # the surrogates, U+FFFE/U+FFFF and the C0/C1 controls but tab, LF, CR and NEL
    assert len(ours) == 2048 + 2 + 29 + 32


def test_a_fresh_process_reader_uses_the_cheap_pattern_and_refuses_what_yaml_refuses():
    # A fresh process: here PyYAML may be imported already. Fails when PyYAML's reader
    # pattern changes (then the saving is gone and READER_PATTERN needs updating).
    script = (
        "from fgtui.engine.config.yaml_module import import_yaml, SAME_CHARACTERS\n"
        "yaml = import_yaml()\n"
        "print(yaml.reader.Reader.NON_PRINTABLE.pattern == SAME_CHARACTERS)\n"
        "try:\n"
        "    yaml.safe_load('a: b\\x07')\n"
        "except yaml.reader.ReaderError as error:\n"
        "    print(error.character, error.position)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "7", "4"]
