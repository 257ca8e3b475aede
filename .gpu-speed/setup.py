"""Packaging glue: the repository root is the `fgtui` package.

pyproject.toml maps `fgtui` onto "."; this lists the sub-packages under that
prefix so new folders in engine/ and app/ need no edit here.
"""

from setuptools import find_packages, setup

subpackages = find_packages(where=".", include=["engine", "engine.*", "app", "app.*"])
setup(packages=["fgtui"] + [f"fgtui.{name}" for name in subpackages])
