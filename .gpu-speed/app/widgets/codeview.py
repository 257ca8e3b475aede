"""A read-only, syntax-highlighted text view that repaints only what changed.

The editor's previews (preprocessed YAML, graph, generated code) change a
few lines per keystroke. A read-only `TextArea` rebuilds its document,
recompiles its tree-sitter query and triggers a screen-wide layout on every
`load_text`, which cost far more than the render behind it. This view keeps
one highlighted line per row, diffs the new text against the old one to find
the rows that changed, repaints just those, and asks for a layout only when
its scrollbars appear or disappear.
"""

from __future__ import annotations

from rich.segment import Segment
from textual.content import Content
from textual.geometry import Region, Size
from textual.highlight import highlight
from textual.scroll_view import ScrollView
from textual.strip import Strip


def changed_span(old: list, new: list) -> tuple[int, int, int]:
    """(first changed row, end of the change in `old`, end of the change in `new`).

    Rows before the first index and after the ends are equal in both lists.
    """
    limit = min(len(old), len(new))
    start = 0
    while start < limit and old[start] == new[start]:
        start += 1
    old_end, new_end = len(old), len(new)
    while old_end > start and new_end > start and old[old_end - 1] == new[new_end - 1]:
        old_end -= 1
        new_end -= 1
    return start, old_end, new_end


class CodeView(ScrollView, can_focus=True):
    """Highlighted text for reading, e.g. `CodeView("yaml")`; update with `set_text`."""

    DEFAULT_CSS = """
    CodeView {
        background: $surface;
        color: $foreground;
    }
    CodeView:focus {
        background-tint: $foreground 3%;
    }
    """

    def __init__(self, language: str, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.language = language
        self.text = ""
        self._lines: list[Content] = []
        # Keyed by the row's Content (text + spans), so unchanged rows that
        # merely moved up or down keep their rendered strip.
        self._strips: dict[tuple, Strip] = {}
        # Resolving the widget's style walks the DOM; once per style change is enough.
        self._styles: tuple | None = None

    def set_text(self, text: str) -> bool:
        """Show `text`; returns False (and does nothing) when it is already shown."""
        if text == self.text:
            return False
        self.text = text
        lines = highlight(text, language=self.language).split("\n", allow_blank=True) if text else []
        if lines and not lines[-1].plain and text.endswith("\n"):
            lines.pop()  # the empty row after a final newline is not a line of the file
        old_keys = [self._key(line) for line in self._lines]
        new_keys = [self._key(line) for line in lines]
        start, old_end, new_end = changed_span(old_keys, new_keys)
        self._lines = lines
        live = set(new_keys)
        self._strips = {key: strip for key, strip in self._strips.items() if key in live}
        width = max((line.cell_length for line in lines), default=0)
        size = Size(width, len(lines))
        if size != self.virtual_size:
            # Setting virtual_size the ordinary way lays out the whole screen;
            # only a scrollbar appearing or vanishing needs that, and
            # _scroll_update asks for it in exactly that case.
            self.set_reactive(ScrollView.virtual_size, size)
            self._scroll_update(size)
        if old_end - start == new_end - start:
            top = start - round(self.scroll_offset.y)
            self.refresh(Region(0, top, self.size.width, new_end - start))
        else:  # rows shifted: everything below the change moved
            top = max(0, start - round(self.scroll_offset.y))
            self.refresh(Region(0, top, self.size.width, max(0, self.size.height - top)))
        return True

    @staticmethod
    def _key(line: Content) -> tuple:
        return (line.plain, tuple(line.spans))

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row = scroll_y + y
        width = self.size.width
        if self._styles is None:
            self._styles = (self.rich_style, self.visual_style)
        style, base = self._styles
        if row >= len(self._lines):
            return Strip.blank(width, style)
        line = self._lines[row]
        key = self._key(line)
        strip = self._strips.get(key)
        if strip is None:
            segments = [
                Segment(text, (base + part).rich_style)
                for text, part in line.render(end="", parse_style=self.app.stylesheet.parse_style)
            ]
            strip = Strip(segments)
            self._strips[key] = strip
        return strip.crop_extend(scroll_x, scroll_x + width, style).apply_offsets(scroll_x, row)

    def notify_style_update(self) -> None:
        """A theme or style change invalidates every rendered row."""
        super().notify_style_update()
        self._strips.clear()
        self._styles = None
