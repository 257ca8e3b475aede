"""Mirrors Forgather's `forgather.ml.optim` package (names: see ../names.py)."""
