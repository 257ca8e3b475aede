"""Mirrors Forgather's `forgather.ml.trainer` package (names: see ../names.py)."""
