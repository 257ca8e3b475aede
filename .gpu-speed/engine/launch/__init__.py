"""Launching training: torchrun commands, detached processes, the job registry, job control."""
