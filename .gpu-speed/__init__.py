"""fgtui: a terminal workbench for configuration-driven LLM training."""

__version__ = "0.1.0"
