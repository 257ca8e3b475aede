"""The template editor: Textual's TextArea without a screen layout per new line.

TextArea sets `virtual_size` (a layout reactive) whenever the document's
line count or widest line changes, so every Enter re-lays out and repaints
the whole editor screen (previews, tabs, footer). The document's size only
matters to this widget's scrollbars; a layout is needed only when one of
them appears or disappears, which `_scroll_update` detects and requests.
"""

from __future__ import annotations

from textual.geometry import Size
from textual.widgets import TextArea


class TemplateEditor(TextArea):
    """A code editor whose growth repaints itself, not the screen."""

    def _refresh_size(self) -> None:
        if self.soft_wrap:
            size = Size(0, self.wrapped_document.height)
        else:
            width, height = self.document.get_size(self.indent_width)
            # +1 column so the cursor can rest after the end of the longest line.
            size = Size(width + self.gutter_width + 1, height)
        if size != self.virtual_size:
            self.set_reactive(TextArea.virtual_size, size)
            self._scroll_update(size)
            self.refresh()
