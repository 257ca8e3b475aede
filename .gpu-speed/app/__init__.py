"""The Textual workbench. Talks to training only through `fgtui.engine`."""
