"""Forgather's rules that previews and builds follow: meta.yaml keys, the signature check."""

from __future__ import annotations

import dataclasses
import fractions
import functools
import sys
from pathlib import Path

import pytest

from fgtui.engine.config.signatures import checkable_signature
from fgtui.engine.errors import FgError
from fgtui.engine.project import Project


def _project(root: Path, meta: str, configs: dict[str, str]) -> Path:
    (root / "forgather_workspace").mkdir(parents=True)
    project = root / "proj"
    (project / "templates" / "configs").mkdir(parents=True)
    (project / "meta.yaml").write_text(meta)
    for name, text in configs.items():
        (project / "templates" / "configs" / name).write_text(text)
    return project


def test_searchpath_is_not_read_and_is_warned_about(tmp_path):
    # Forgather reads `searchdir`; `searchpath` is ignored there (its projects_overview example).
    project = _project(
        tmp_path, 'searchpath: ["joinpath(project_dir, \'templates\')"]\nname: "P"\n', {"a.yaml": "main: 1\n"}
    )
    opened = Project.open(project)
    assert opened.configs() == ["a.yaml"]
    assert opened.meta.missing_searchdirs == []
    assert any("'searchpath' is not read" in w and "searchdir" in w for w in opened.meta.warnings)


def test_searchdir_is_read(tmp_path):
    project = _project(tmp_path, f'searchdir: ["{tmp_path}/proj/other"]\nname: "P"\n', {})
    (project / "other" / "configs").mkdir(parents=True)
    (project / "other" / "configs" / "b.yaml").write_text("main: 2\n")
    assert Project.open(project).configs() == ["b.yaml"]


def test_a_relative_searchdir_is_under_the_working_directory_with_a_warning(tmp_path, monkeypatch):
    # Forgather passes each entry through os.path.abspath: `forgather -p proj ls` run
    # from elsewhere searches that directory's `tmpl/`, not the project's.
    project = _project(tmp_path, 'searchdir: ["tmpl"]\nname: "P"\n', {})
    for where, config in ((project, "in_project.yaml"), (tmp_path / "elsewhere", "elsewhere.yaml")):
        (where / "tmpl" / "configs").mkdir(parents=True)
        (where / "tmpl" / "configs" / config).write_text("main: 1\n")
    monkeypatch.chdir(tmp_path / "elsewhere")
    opened = Project.open(project)
    assert opened.configs() == ["elsewhere.yaml"]
    assert opened.meta.relative_to_cwd == str(tmp_path / "elsewhere")
    assert any("'tmpl' is relative" in w and "joinpath(project_dir, 'tmpl')" in w for w in opened.meta.warnings)
    monkeypatch.chdir(project)
    assert Project.open(project).configs() == ["in_project.yaml"]


def test_an_absolute_searchdir_gives_no_relative_warning(tmp_path):
    project = _project(tmp_path, f'searchdir: ["{tmp_path}/proj/templates"]\nname: "P"\n', {"a.yaml": "main: 1\n"})
    opened = Project.open(project)
    assert opened.configs() == ["a.yaml"] and opened.meta.relative_to_cwd is None
    assert not any("relative" in w for w in opened.meta.warnings)


def test_searchdir_that_is_not_a_list_is_refused_naming_meta_yaml(tmp_path):
    project = _project(tmp_path, "searchdir: {a: 1}\n", {})
    with pytest.raises(FgError) as info:
        Project.open(project)
    assert "searchdir" in info.value.message and info.value.location.file.endswith("meta.yaml")


@dataclasses.dataclass
class _Args:
    logging_dir: str = ""


def _plain(a, b=1):
    return a


def _any_keywords(a, **kwargs):
    return a


class _Model:
    @classmethod
    def from_config(cls, config):
        return cls()


@pytest.mark.parametrize(
    "function, checked",
    [
        (_plain, True),
        (_Args, True),
        (fractions.Fraction, True),
        (_any_keywords, False),  # may consume or forward any keyword
        (_Model.from_config, False),  # a classmethod: AutoModel.from_config(config, **kw) is refused by a naive check
        (functools.wraps(_plain)(lambda *a, **k: None), False),  # wrapped
        (functools.partial(_plain, 1), False),
        (dict, False),
        (len, False),
        (sys.getsizeof, False),  # implemented in C
    ],
)
def test_only_calls_that_would_certainly_fail_are_checked(function, checked):
    assert (checkable_signature(function) is not None) == checked


def test_installed_versions_agree_with_importlib_metadata():
    from importlib.metadata import version

    from fgtui.engine.project.meta import _installed_versions

    found = _installed_versions(("PyYAML", "Jinja2", "no-such-package-here"))
    assert found == {"PyYAML": version("PyYAML"), "Jinja2": version("Jinja2")}
