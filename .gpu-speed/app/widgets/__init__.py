"""Widgets of the workbench: plots, the run status line, event and sample views."""
