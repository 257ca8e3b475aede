"""bench/gpu_telemetry.py: nvidia-smi's samples read into the clock line the benches print."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import gpu_telemetry  # noqa: E402

# As an H200 printed them at 1.1B (power-capped), then an idle sample, an N/A and a cut line.
SAMPLES = """\
1680, 1980, 694.99, 700.00, 0x0000000000000004
1650, 1980, 689.01, 700.00, 0x0000000000000004
1635, 1980, 692.13, 700.00, 0x0000000000000004
1980, 1980, 120.50, 700.00, 0x0000000000000000
[N/A], 1980, 690.00, 700.00, 0x0000000000000004
1650, 19
"""


def test_samples_give_median_clock_and_power_and_the_capped_share():
    figures = gpu_telemetry.parse_samples(SAMPLES)
    assert figures["samples"] == 4
    assert figures["sm_clock_mhz"] == 1665.0
    assert figures["max_sm_clock_mhz"] == 1980.0
    assert figures["power_limit_w"] == 700.0
    assert figures["power_capped"] == 0.75 and figures["thermal_capped"] == 0.0
    line = gpu_telemetry.describe(figures)
    assert line == "gpu: SM clock 1665 of 1980 MHz, 691 of 700 W (power-capped 75% of samples)"


def test_heat_is_told_apart_from_power_and_a_free_card_names_no_limit():
    hot = gpu_telemetry.parse_samples("1400, 1980, 500, 700, 0x0000000000000040\n")
    assert hot["thermal_capped"] == 1.0 and hot["power_capped"] == 0.0
    assert gpu_telemetry.describe(hot).endswith("(heat-capped 100% of samples)")
    free = gpu_telemetry.parse_samples("1980, 1980, 300, 700, 0x0000000000000000\n")
    assert gpu_telemetry.describe(free) == "gpu: SM clock 1980 of 1980 MHz, 300 of 700 W"


def test_no_samples_is_said_with_the_reason(monkeypatch):
    assert gpu_telemetry.parse_samples("[N/A], [N/A], [N/A], [N/A], [N/A]\n") is None
    monkeypatch.setattr(gpu_telemetry.shutil, "which", lambda name: None)
    sampler = gpu_telemetry.ClockSampler()
    sampler.start()
    assert sampler.stop() is None
    assert gpu_telemetry.describe(None, sampler.missing) == "gpu: no clock samples (nvidia-smi not found)"
