"""Mirrors Forgather's `forgather.ml` package (names: see ../names.py)."""
