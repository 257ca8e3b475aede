"""Browse the tree, open a config in the editor, watch the preview follow the text."""

from __future__ import annotations

from textual.widgets import Tree, TextArea

from fgtui.app.app import Workbench
from fgtui.app.screens.browse import BrowseScreen
from fgtui.app.screens.editor import EditorScreen
from fgtui.app.widgets.codeview import CodeView

from apphelpers import NOW, run_async, wait_for


def _labels(tree: Tree) -> list[str]:
    out = []

    def walk(node):
        for child in node.children:
            out.append(str(child.label))
            walk(child)

    walk(tree.root)
    return out


async def _open_browse(pilot, app):
    screen = app.screen
    assert isinstance(screen, BrowseScreen)
    tree = screen.query_one(Tree)
    await wait_for(pilot, lambda: len(tree.root.children) > 0, "the project tree")
    return screen, tree


def test_tree_shows_projects_configs_default_and_parse_errors(workspace):
    async def scenario():
        app = Workbench(workspace, now=NOW, poll=False)
        async with app.run_test(size=(120, 40)) as pilot:
            screen, tree = await _open_browse(pilot, app)
            labels = _labels(tree)
            assert labels[0].startswith("tiny")
            assert any(l.startswith("default.yaml *") for l in labels)
            assert any("broken.yaml" in l and "PARSE ERROR" in l for l in labels)
            # Highlight the broken config: its details say why, in place.
            broken = next(n for n in tree.root.children[0].children if "broken" in str(n.label))
            tree.move_cursor(broken)
            await wait_for(
                pilot,
                lambda: "no_such_template" in str(screen.query_one("#details").render()),
                "details of the broken config",
            )

    run_async(scenario())


def test_editor_preview_follows_typing_and_survives_errors(workspace):
    async def scenario():
        app = Workbench(workspace, now=NOW, poll=False)
        async with app.run_test(size=(120, 40)) as pilot:
            screen, tree = await _open_browse(pilot, app)
            default = next(n for n in tree.root.children[0].children if "default" in str(n.label))
            tree.move_cursor(default)
            await pilot.press("p")
            editor_screen = app.screen
            assert isinstance(editor_screen, EditorScreen)
            await wait_for(pilot, lambda: editor_screen.last is not None, "the first preview")
            preview = editor_screen.query_one("#preview-yaml", CodeView)
            assert preview.text.strip()
            editor = editor_screen.query_one("#template-editor", TextArea)
            # A broken line: the error shows, the last good preview stays.
            good = preview.text
            editor.insert("{{ undefined_thing.attr }}\n", (0, 0))
            await wait_for(
                pilot, lambda: editor_screen.query_one("#preview-error").has_class("-shown"), "the error to show"
            )
            assert preview.text == good
            assert editor_screen.error_line == 1
            await pilot.press("ctrl+z")
            await wait_for(
                pilot,
                lambda: not editor_screen.query_one("#preview-error").has_class("-shown"),
                "the error to clear after undo",
            )
            # A new top-level key appears in the preprocessed YAML.
            editor.insert("marker_key_42: 1\n", (editor.document.line_count - 1, 0))
            await wait_for(pilot, lambda: "marker_key_42" in preview.text, "the preview to update")
            await pilot.press("ctrl+s")
            assert "marker_key_42" in editor_screen.path.read_text()
            # Hidden tabs fill when opened.
            tabs = editor_screen.query_one("#preview-tabs")
            tabs.active = "tab-targets"
            await wait_for(
                pilot, lambda: "main" in str(editor_screen.query_one("#preview-targets").render()), "the targets tab"
            )
            tabs.active = "tab-code"
            code = editor_screen.query_one("#preview-code", CodeView)
            await wait_for(pilot, lambda: "def " in code.text, "the generated code")

    run_async(scenario())


def test_editor_shows_the_projects_and_the_renders_warnings(workspace):
    project = workspace / "tiny"
    templates = project / "templates"
    (templates / "twice_base.yaml").write_text("[body]\n-- include 'part'\n#---- part ----\nfrom: base\n")
    (templates / "configs" / "twice.yaml").write_text("-- extends 'twice_base.yaml'\n#---- part ----\nfrom: leaf\n")
    meta = project / "meta.yaml"
    meta.write_text(meta.read_text() + 'searchpath: ["templates"]\n')

    async def scenario():
        app = Workbench(workspace, now=NOW, poll=False)
        async with app.run_test(size=(160, 40)) as pilot:
            screen, tree = await _open_browse(pilot, app)
            twice = next(n for n in tree.root.children[0].children if "twice" in str(n.label))
            tree.move_cursor(twice)
            await pilot.press("p")
            editor_screen = app.screen
            assert isinstance(editor_screen, EditorScreen)
            await wait_for(pilot, lambda: editor_screen.last is not None, "the first preview")
            warnings = editor_screen.query_one("#preview-warnings")
            assert warnings.has_class("-shown") and warnings.display
            text = str(warnings.render())
            assert "'searchpath' is not read" in text  # meta.yaml's
            assert "inline template 'part' is defined in" in text and "twice.yaml:2" in text  # the render's
            assert editor_screen.query_one("#preview-yaml", CodeView).text.strip() == "from: base"
            # Renaming the config's own definition ends the clash: the render's warning goes.
            editor = editor_screen.query_one("#template-editor", TextArea)
            editor.load_text("-- extends 'twice_base.yaml'\n#---- other ----\nfrom: leaf\n")
            await wait_for(pilot, lambda: "inline template" not in str(warnings.render()), "the warning to clear")
            assert "'searchpath' is not read" in str(warnings.render())

    run_async(scenario())
