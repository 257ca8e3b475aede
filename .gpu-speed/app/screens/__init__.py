"""Screens of the workbench, imported lazily by the app so the first frame is quick."""
