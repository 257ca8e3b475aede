"""Compatibility layers that let other tools' configs and Python files run on fgtui's engine."""
