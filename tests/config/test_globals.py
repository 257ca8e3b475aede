"""The globals and filters templates see, and the sandbox around them."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

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
    out = render("{{ joinpath('a', 'b') }} {{ normpath('a/./b/../c') }} {{ dirname('/x/y.txt') }} "
                 "{{ basename('/x/y.txt') }} {{ splitext('y.tar.gz')[1] }} {{ relpath('/a/b', '/a') }}")
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


@pytest.mark.parametrize("expr, expected", [
    ("{'a': [1, 2]} | toyaml", "{a: [1, 2]}"),
    ("None | toyaml", "null"),
    ("True | toyaml", "True"),
    ("3 | toyaml", "3"),
    ("1e-5 | toyaml", "1.0e-05"),
    ("'plain' | toyaml", "plain"),
    ("'needs: quotes' | toyaml", "'needs: quotes'"),
    ("missing | toyaml(7)", "7"),
])
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
