"""PyYAML, imported without its costliest line.

`import yaml` compiles, in its reader, the class of characters YAML may
contain: `[^...\\xA0-\\uD7FF\\uE000-\\uFFFD...]`. `re` compiles a negated
class by marking every code point of its ranges one at a time, ~63,000 of
them, which is ~58 M instructions: two thirds of PyYAML's import and 6% of
a cold `fgtui pp` (whose config options are read from the rendered YAML).
The complement, `[\\x00-\\x08...\\uD800-\\uDFFF\\uFFFE\\uFFFF]`, is the same
set of characters (tests/config/test_yaml_module.py checks every code
point) and compiles in a fraction of that; `re` looks patterns up in its
cache before compiling them, so putting the complement there under the
reader's pattern gives the reader an equal pattern at that price. Without
that cache (another Python) the reader compiles its own pattern, as always.
"""

from __future__ import annotations

import re
import sys

# yaml/reader.py's Reader.NON_PRINTABLE, character for character.
READER_PATTERN = "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
# The same characters, named by what is left out of [\x00-\U0010ffff].
SAME_CHARACTERS = "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]"


def import_yaml():
    """The `yaml` module (imported on first call)."""
    yaml = sys.modules.get("yaml")
    if yaml is not None:
        return yaml
    cache = getattr(re, "_cache", None)
    if isinstance(cache, dict):
        cache.setdefault((str, READER_PATTERN, 0), re.compile(SAME_CHARACTERS))
    import yaml

    return yaml
