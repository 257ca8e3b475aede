"""Mirrors Forgather's `forgather.ml.dataset` package (names: see ../names.py)."""
