"""fgtui previews every Forgather example config as Forgather renders it.

The goldens (tests/compat/goldens) are Forgather's own `pp`, `targets` and
`graph` output, made by make_goldens.py from the example projects copied
into tests/compat/fixtures/forgather (MIT-licensed Forgather files), so
these tests need neither Forgather nor ../shared. `pp` and `targets` must
match byte for byte once the clock, host, paths and versions are masked;
`graph` by meaning (the two print graphs in different YAML styles, see
forgather_graph.py). Where Forgather fails, fgtui must refuse too.
"""

from __future__ import annotations

import pytest

from tests.compat.compare import FIXTURE_ROOT, cases, golden_index, verdict
from tests.compat.forgather_graph import canonical_graph
from tests.compat.masking import mask


@pytest.fixture(autouse=True)
def _isolated_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    # The goldens print the user's config dir as <HOME>/.config/forgather.
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)


@pytest.mark.parametrize("project, config, command", cases(), ids=lambda v: str(v))
def test_fgtui_previews_as_forgather_renders(project, config, command):
    why = verdict(FIXTURE_ROOT, project, config, command)
    assert why is None, why


def test_the_goldens_cover_every_example_project():
    index = golden_index()
    projects = {
        path.parent.relative_to(FIXTURE_ROOT).as_posix() for path in (FIXTURE_ROOT / "examples").rglob("meta.yaml")
    }
    assert projects == set(index)
    assert sum(len(configs) for configs in index.values()) >= 40


def test_masking_hides_only_what_differs_between_renders():
    text = (
        "# 2026-12-02T19:24:55+00:00\n# Project Dir: /x/root/examples/p\n# Hostname: box1\n"
        "# Versions:\n#     python: 3.12.1\n#     torch: 2.9.0\nname: run_2026-12-02T19-24-55\n"
    )
    masked = mask(text, "/x/root", home="/home/u", host="box1")
    assert masked == (
        "# <TIME>+00:00\n# Project Dir: <ROOT>/examples/p\n# Hostname: <HOST>\n"
        "# Versions:\n#     <VERSIONS>\nname: run_<TIME>\n"
    )


def test_graph_comparison_reads_both_styles_alike():
    forgather = ".define: &x !singleton:named_list@x\n    - 'a'\n    - 1e-05\n\nmain: \n    - *x\n    - !lambda:f\n        k: True\n"
    fgtui = "main:\n- &x !list:@x\n  - a\n  - 1.0e-05\n- !partial:f\n  k: true\n"
    assert canonical_graph(forgather) == canonical_graph(fgtui)
    assert canonical_graph(forgather) != canonical_graph(fgtui.replace("k: true", "k: false"))
