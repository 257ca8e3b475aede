"""What may differ between two renders of one config, replaced by fixed words.

Goldens are stored masked and fgtui's output is masked the same way before
the two are compared: the clock, the host, the versions installed, and the
absolute locations of the example tree, the home directory and the current
directory. Everything else must match byte for byte.
"""

from __future__ import annotations

import os
import platform
import re

# ISO-like times as the templates print them: isotime/utcisotime (":" separated)
# and filetime/utcfiletime ("-" separated). A "+00:00" suffix is not masked.
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d([:-])\d\d\1\d\d(\.\d+)?")
# `# Versions:` followed by one `#     name: version` line per package.
_VERSION_LINES = re.compile(r"(# Versions:\n)(#     [^\n]*: [^\n]*\n)+")
# `{{ versions }}` printed as a mapping.
_VERSION_MAP = re.compile(r"versions: \{'python': [^}\n]*\}")


def mask(text: str, root: str, home: str | None = None, host: str | None = None) -> str:
    """`text` with run-specific values replaced; `root` is the tree the examples live in."""
    home = home if home is not None else os.path.expanduser("~")
    host = host if host is not None else platform.node()
    text = _VERSION_LINES.sub(r"\1#     <VERSIONS>\n", text)
    text = _VERSION_MAP.sub("versions: <VERSIONS>", text)
    for path, word in sorted(
        ((os.path.realpath(root), "<ROOT>"), (os.path.abspath(root), "<ROOT>"), (home, "<HOME>")),
        key=lambda item: -len(item[0]),
    ):
        if path and path != "/":
            text = text.replace(path, word)
    if host:
        text = re.sub(rf"(?<![\w.-]){re.escape(host)}(?![\w.-])", "<HOST>", text)
    return _TIME.sub("<TIME>", text)
