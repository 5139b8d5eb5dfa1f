"""MFU denominators: the bf16 peak of each accelerator by its real `device_kind`, the CPU estimate."""

from __future__ import annotations

import dataclasses
import logging
import math

import jax
import pytest

from gliner_jax.training import loop, mfu


@dataclasses.dataclass
class FakeDevice:
  device_kind: str
  platform: str = "gpu"


def on_device(monkeypatch, kind: str, platform: str = "gpu", count: int = 1):
  monkeypatch.setattr(jax, "devices", lambda *a, **k: [FakeDevice(kind, platform)] * count)


@pytest.mark.parametrize(
  "kind, platform, peak",
  [
    ("TPU v4", "tpu", 275e12),
    ("TPU v5 lite", "tpu", 197e12),  # v5e
    ("TPU v5", "tpu", 459e12),  # v5p
    ("TPU v5p", "tpu", 459e12),
    ("TPU v6 lite", "tpu", 918e12),  # v6e
    ("NVIDIA A100-SXM4-40GB", "gpu", 312e12),
    ("NVIDIA A100-SXM4-80GB", "gpu", 312e12),
    ("NVIDIA A100 80GB PCIe", "gpu", 312e12),
    ("NVIDIA A100-PCIE-40GB", "gpu", 312e12),
    ("NVIDIA H100 80GB HBM3", "gpu", 989e12),
    ("NVIDIA H100 PCIe", "gpu", 756e12),
    ("NVIDIA H100 NVL", "gpu", 835e12),
    ("NVIDIA H200", "gpu", 989e12),
  ],
)
def test_peak_by_real_device_kind(monkeypatch, kind, platform, peak):
  on_device(monkeypatch, kind, platform, count=4)
  assert mfu.accelerator_peak_flops(kind) == peak
  assert mfu.peak_flops_per_device() == peak  # per device: not divided by the device count
  assert loop.peak_flops_per_device is mfu.peak_flops_per_device  # what the training loop calls


def test_v5e_and_v5p_never_match_each_other():
  assert mfu.accelerator_peak_flops("TPU v5 lite") != mfu.accelerator_peak_flops("TPU v5")
  assert mfu.accelerator_peak_flops("tpu  V5  LITE") == 197e12  # case and spacing do not matter


@pytest.mark.parametrize(
  "kind", ["TPU v3", "TPU v7x", "NVIDIA A10", "NVIDIA A1000", "Tesla V100-SXM2-16GB", "NVIDIA GeForce RTX 4090"]
)
def test_unknown_accelerator_warns_once_and_gives_nan(monkeypatch, caplog, kind):
  monkeypatch.setattr(mfu, "_warned", set())
  on_device(monkeypatch, kind, "tpu" if kind.startswith("TPU") else "gpu")
  assert mfu.accelerator_peak_flops(kind) is None
  with caplog.at_level(logging.WARNING, logger=mfu.__name__):
    assert math.isnan(mfu.peak_flops_per_device())
    assert math.isnan(mfu.peak_flops_per_device())
  warnings = [r.getMessage() for r in caplog.records if r.name == mfu.__name__]
  assert len(warnings) == 1 and repr(kind) in warnings[0] and "PEAK_BF16_FLOPS" in warnings[0]


def test_cpu_devices_share_the_cpu_estimate(monkeypatch):
  on_device(monkeypatch, "cpu", "cpu", count=4)
  assert mfu.peak_flops_per_device() == pytest.approx(mfu.cpu_peak_flops() / 4)


@pytest.mark.parametrize(
  "flags, expected_per_cycle", [("avx avx2 fma avx512f avx512bw", 64), ("sse4_2 avx avx2 fma", 32), ("sse4_2", 8)]
)
def test_cpu_peak_is_cores_times_clock_times_simd_width(flags, expected_per_cycle):
  info = f"processor : 0\nflags\t\t: {flags}\ncpu MHz\t\t: 2500.000\n"
  assert mfu.cpu_peak_flops(info, cores=3) == 3 * 2.5e9 * expected_per_cycle
  assert mfu.cpu_peak_flops("processor : 0\n", cores=3) == mfu.FALLBACK_PEAK_FLOPS  # no clock
  assert mfu.cpu_peak_flops(cores=1) > 0 and mfu.cpu_peak_flops() >= mfu.cpu_peak_flops(cores=1)
