"""The preview's read-only code view: diffing, repaint bookkeeping, highlighting."""

from __future__ import annotations

from textual.app import App

from fgtui.app.widgets.codeview import CodeView, changed_span

from apphelpers import run_async


def test_changed_span_finds_the_edited_rows():
    assert changed_span(["a", "b", "c"], ["a", "b", "c"]) == (3, 3, 3)
    assert changed_span(["a", "b", "c"], ["a", "X", "c"]) == (1, 2, 2)
    assert changed_span(["a", "c"], ["a", "b", "c"]) == (1, 1, 2)  # an inserted row
    assert changed_span(["a", "b", "c"], ["a", "c"]) == (1, 2, 1)  # a deleted row
    assert changed_span([], ["x"]) == (0, 0, 1)


class _ViewApp(App):
    def compose(self):
        yield CodeView("yaml", id="view")


def test_set_text_skips_unchanged_text_and_keeps_unchanged_rows():
    async def scenario():
        app = _ViewApp()
        async with app.run_test(size=(60, 10)) as pilot:
            view = app.query_one(CodeView)
            text = "".join(f"key_{i}: {i}\n" for i in range(30))
            assert view.set_text(text)
            await pilot.pause()
            assert view.virtual_size.height == 30
            assert "key_0" in "".join(seg.text for seg in view.render_line(0))
            assert not view.set_text(text)
            cached = dict(view._strips)
            assert cached, "visible rows are rendered and kept"
            view.set_text(text.replace("key_3: 3", "key_3: 33"))
            await pilot.pause()
            kept = [key for key in cached if key in view._strips]
            assert len(kept) == len(cached) - 1  # only the edited row was drawn again
            assert "33" in "".join(seg.text for seg in view.render_line(3))
            # Highlighting: a YAML key and its value are not drawn in one style.
            styles = {str(seg.style) for seg in view.render_line(3) if seg.text.strip()}
            assert len(styles) > 1

    run_async(scenario())
