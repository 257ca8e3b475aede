"""The SM clock and power a GPU held while a bench ran, sampled from nvidia-smi.

MFU is counted against the data sheet's peak, which assumes the top boost clock.
Under sustained training an H200 hits its 700 W cap and drops its SM clock well
below that (measured: about 1650 of 1980 MHz at 1.1B, with nvidia-smi giving
"SW power cap" as the reason), so the same code scores differently on a card that
runs cooler or is capped higher. Printing the clock the card actually held beside
each figure shows how much of a gap is the card's and how much is the code's.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess

FIELDS = ("clocks.sm", "clocks.max.sm", "power.draw", "power.limit", "clocks_event_reasons.active")
# nvidia-smi's clocks_event_reasons bits (nvml's nvmlClocksEventReasons).
POWER_BITS = 0x4 | 0x80  # SW power cap, HW power brake
THERMAL_BITS = 0x20 | 0x40  # SW thermal slowdown, HW thermal slowdown


def parse_samples(text: str) -> dict | None:
    """Median SM clock and power, the card's top SM clock and power limit, and the share of
    samples that were power- or heat-limited, from `--format=csv,noheader,nounits` lines;
    None without a complete line."""
    rows = []
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.split(",")]
        if len(cells) != len(FIELDS):
            continue
        try:
            clock, top, power, limit = (float(cell) for cell in cells[:4])
            reasons = int(cells[4], 16)
        except ValueError:  # "[N/A]" or a line cut off when the sampler was stopped
            continue
        rows.append((clock, top, power, limit, reasons))
    if not rows:
        return None
    return {
        "sm_clock_mhz": statistics.median(r[0] for r in rows),
        "max_sm_clock_mhz": max(r[1] for r in rows),
        "power_w": statistics.median(r[2] for r in rows),
        "power_limit_w": max(r[3] for r in rows),
        "power_capped": sum(1 for r in rows if r[4] & POWER_BITS) / len(rows),
        "thermal_capped": sum(1 for r in rows if r[4] & THERMAL_BITS) / len(rows),
        "samples": len(rows),
    }


def describe(telemetry: dict | None, missing: str | None = None) -> str:
    """One line for a bench's output: what the card held, and why when it was held back."""
    if not telemetry:
        return f"gpu: no clock samples ({missing})" if missing else "gpu: no clock samples"
    line = (
        f"gpu: SM clock {telemetry['sm_clock_mhz']:.0f} of {telemetry['max_sm_clock_mhz']:.0f} MHz,"
        f" {telemetry['power_w']:.0f} of {telemetry['power_limit_w']:.0f} W"
    )
    limits = [
        f"{name} {share:.0%} of samples"
        for name, share in (("power-capped", telemetry["power_capped"]), ("heat-capped", telemetry["thermal_capped"]))
        if share
    ]
    return line + (" (" + ", ".join(limits) + ")" if limits else "")


class ClockSampler:
    """nvidia-smi sampling this process's current CUDA device every `period_ms` between
    start() and stop(); stop() returns parse_samples' figures, or None with `missing`
    saying why there are none."""

    def __init__(self, period_ms: int = 250) -> None:
        self.period_ms = period_ms
        self.proc: subprocess.Popen | None = None
        self.missing: str | None = None

    def start(self) -> None:
        import torch

        exe = shutil.which("nvidia-smi")
        if exe is None:
            self.missing = "nvidia-smi not found"
            return
        # By uuid: nvidia-smi's indices ignore CUDA_VISIBLE_DEVICES.
        uuid = getattr(torch.cuda.get_device_properties(torch.cuda.current_device()), "uuid", None)
        if uuid is None:
            self.missing = "this torch gives no device uuid"
            return
        self.proc = subprocess.Popen(
            [
                exe,
                f"--id=GPU-{uuid}",
                "--query-gpu=" + ",".join(FIELDS),
                "--format=csv,noheader,nounits",
                f"-lms={self.period_ms}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def stop(self) -> dict | None:
        if self.proc is None:
            return None
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=10)
        self.proc = None
        figures = parse_samples(out)
        if figures is None:
            self.missing = "nvidia-smi printed no samples"
        return figures
