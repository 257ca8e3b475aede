"""Forgather's Python API, as far as Forgather's configs and templatelib name it, on fgtui's engine.

`names.PROVIDED` lists every provided name and the fgtui object behind it. The
modules here mirror Forgather's layout and hold the adapters: each takes
Forgather's signature and hands over to fgtui's own Trainer, log stream,
checkpoints, control relay and memory switches. `resolve.translate` maps config
specs; `importer` maps `import forgather...` in project files. Neither applies
when the real Forgather is installed.

Importing this package imports neither torch nor any other ML library.
"""
