"""The globals and filters templates see, and the sandbox around them."""

from __future__ import annotations

import os
import re
import string
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fgtui.engine.config import TemplateEnvironment
from fgtui.engine.errors import FgError


@pytest.fixture
def render(tmp_path):
    counter = iter(range(10_000))

    def run(source: str, **variables) -> str:
        name = f"t{next(counter)}.yaml"
        (tmp_path / name).write_text(source)
        return TemplateEnvironment([str(tmp_path)]).render(name, variables).text.strip()

    return run


def test_path_helpers(render):
    out = render(
        "{{ joinpath('a', 'b') }} {{ normpath('a/./b/../c') }} {{ dirname('/x/y.txt') }} "
        "{{ basename('/x/y.txt') }} {{ splitext('y.tar.gz')[1] }} {{ relpath('/a/b', '/a') }}"
    )
    assert out == "a/b a/c /x y.txt .gz b"


def test_abspath_getcwd_and_home(render):
    assert render("{{ abspath('rel') }}") == os.path.abspath("rel")
    assert render("{{ getcwd() }}") == os.getcwd()
    assert render("{{ user_home_dir() }}") == os.path.expanduser("~")


def test_getenv_with_default(render, monkeypatch):
    monkeypatch.setenv("FGTUI_TEST_VALUE", "42")
    assert render("{{ getenv('FGTUI_TEST_VALUE') }} {{ getenv('FGTUI_NOT_SET', 'dflt') }}") == "42 dflt"


def test_time_helpers_have_their_formats(render):
    iso, file = render("{{ isotime() }} {{ filetime() }}").split()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", iso)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d", file)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", render("{{ utcisotime() }}"))
    assert render("{{ now().year > 2000 and utcnow().year > 2000 }}") == "True"


def test_platform_dirs(render):
    import platformdirs

    assert render("{{ user_cache_dir('fgtui') }}") == platformdirs.user_cache_dir("fgtui")
    assert render("{{ site_config_dir('fgtui') }}") == platformdirs.site_config_dir("fgtui")


@pytest.mark.parametrize(
    "expr, expected",
    [
        ("{'a': [1, 2]} | toyaml", "{a: [1, 2]}"),
        ("None | toyaml", "null"),
        ("True | toyaml", "True"),
        ("3 | toyaml", "3"),
        ("1e-5 | toyaml", "1.0e-05"),
        ("'plain' | toyaml", "plain"),
        ("'needs: quotes' | toyaml", "'needs: quotes'"),
        ("missing | toyaml(7)", "7"),
    ],
)
def test_toyaml(render, expr, expected):
    assert render("{{ " + expr + " }}") == expected


def test_toyaml_of_undefined_without_default_is_an_error(render):
    with pytest.raises(FgError, match="undefined"):
        render("v: {{ missing | toyaml }}")


def test_joinpath_names_an_undefined_argument(render):
    with pytest.raises(FgError, match="nope"):
        render("{{ joinpath('a', nope) }}")


def test_raise_and_assert(render):
    with pytest.raises(FgError, match="template check failed: bad lr") as info:
        render("a: 1\n{{ raise('bad lr') }}\n")
    assert info.value.location.line == 2
    with pytest.raises(FgError, match="too big"):
        render("{{ assert(1 > 2, 'too big') }}")
    assert render("x{{ assert(2 > 1, 'fine') }}") == "x"


def test_modname_and_repr(render):
    assert render("{{ modname_from_path('/a/b/mod.py') }} {{ repr('x') }}") == "mod 'x'"


def test_sandbox_refuses_unsafe_attributes(render):
    with pytest.raises(FgError, match="not allowed|unsafe|undefined"):
        render("{{ ''.__class__.__mro__[1].__subclasses__() }}")


def test_rendering_imports_no_ml_library(tmp_path):
    (tmp_path / "x.yaml").write_text("model: !singleton:torch.nn:Linear [2, 2]\nv: {{ joinpath('a', 'b') }}\n")
    code = (
        "import sys\n"
        "from fgtui.engine.config import TemplateEnvironment, load_rendered, generate_code, graph_to_yaml\n"
        f"env = TemplateEnvironment([{str(tmp_path)!r}])\n"
        "g = load_rendered(env.render('x.yaml'))\n"
        "generate_code(g, 'model'); graph_to_yaml(g)\n"
        "bad = [m for m in ('torch', 'transformers', 'datasets', 'numpy', 'textual') if m in sys.modules]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# Config values in practice: printable ASCII text, numbers, nesting.
_PRINTABLE = st.text(alphabet=string.printable.translate({ord(c): None for c in "\r\x0b\x0c"}), max_size=40)


def _values(text):
    return st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | text,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
        max_leaves=12,
    )


@settings(max_examples=300, deadline=None)
@given(_values(_PRINTABLE.filter(bool)))
def test_toyaml_writes_what_the_pure_python_emitter_writes(value):
    """toyaml uses libyaml's emitter for speed; on ordinary values its text is PyYAML's own."""
    import yaml

    from fgtui.engine.config.jinja_globals import toyaml

    reference = yaml.dump(
        value, Dumper=yaml.SafeDumper, default_flow_style=True, allow_unicode=True, width=float("inf")
    ).strip()
    reference = reference[:-3].strip() if reference.endswith("...") else reference
    if value is None or isinstance(value, (bool, int)):
        return  # written by str(), not by YAML
    assert toyaml(value) == reference


@settings(max_examples=300, deadline=None)
@given(_values(st.text(max_size=20)))
def test_toyaml_reads_back_as_the_same_value(value):
    """Any value, however odd its text (empty keys, astral characters), loads back unchanged."""
    import math

    import yaml

    from fgtui.engine.config.jinja_globals import toyaml

    def same(a, b) -> bool:
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
            return math.isnan(b)
        if isinstance(a, list):
            return isinstance(b, list) and len(a) == len(b) and all(map(same, a, b))
        if isinstance(a, dict):
            return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        return a == b and type(a) is type(b)

    assert same(yaml.safe_load(toyaml(value)), value)
