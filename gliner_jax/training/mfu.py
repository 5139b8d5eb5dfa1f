"""Peak FLOP/s per device for model FLOPs utilisation (MFU): accelerators by device kind, CPUs by /proc/cpuinfo.

Example:
  >>> accelerator_peak_flops("TPU v5 lite")
  197000000000000.0
  >>> step_flops, step_seconds = 3.2e12, 0.25  # a step's model FLOPs (gliner_jax.model.flops) and its time
  >>> mfu = step_flops / step_seconds / (peak_flops_per_device() * jax.device_count())
"""

from __future__ import annotations

import logging
import math
import os
import re

import jax

logger = logging.getLogger(__name__)

FALLBACK_PEAK_FLOPS = 1e11  # order of magnitude of a few CPU cores in fp32, where nothing better is known

# Dense bf16 peak FLOP/s of one chip (TPU) or one GPU, from each vendor's spec sheet; matched with
# re.fullmatch on the lower-cased `device_kind`, first match wins (so "PCIe" / "NVL" come before
# their SXM family, and "tpu v5" cannot match "tpu v5 lite").
PEAK_BF16_FLOPS: tuple[tuple[str, float], ...] = (
  (r"tpu v4", 275e12),  # Google Cloud TPU v4 (vendor spec sheet)
  (r"tpu v5 ?lite|tpu v5e", 197e12),  # Google Cloud TPU v5e (vendor spec sheet)
  (r"tpu v5p?", 459e12),  # Google Cloud TPU v5p, whose device_kind is "TPU v5" (vendor spec sheet)
  (r"tpu v6 ?lite|tpu v6e", 918e12),  # Google Cloud TPU v6e / Trillium (vendor spec sheet)
  (r"nvidia a100\b.*", 312e12),  # NVIDIA A100, SXM and PCIe alike (vendor spec sheet)
  (r"nvidia h100\b.*pcie.*", 756e12),  # NVIDIA H100 PCIe (vendor spec sheet)
  (r"nvidia h[12]00\b.*nvl.*", 835e12),  # NVIDIA H100 NVL / H200 NVL: 1,671 with sparsity (vendor spec sheet)
  (r"nvidia h100\b.*", 989e12),  # NVIDIA H100 SXM (vendor spec sheet)
  (r"nvidia h200\b.*", 989e12),  # NVIDIA H200 SXM (vendor spec sheet)
)

_warned: set[str] = set()


def accelerator_peak_flops(device_kind: str) -> float | None:
  """Dense bf16 peak FLOP/s of one device of this `jax.Device.device_kind`; None if it is not in the table.

  >>> accelerator_peak_flops("TPU v5"), accelerator_peak_flops("NVIDIA H100 PCIe")
  (459000000000000.0, 756000000000000.0)
  """
  kind = " ".join(device_kind.lower().split())
  for pattern, peak in PEAK_BF16_FLOPS:
    if re.fullmatch(pattern, kind):
      return peak
  return None


def cpu_peak_flops(cpuinfo: str | None = None, cores: int | None = None) -> float:
  r"""fp32 peak FLOP/s of the CPU cores this process may use: cores x clock x SIMD FLOP per cycle.

  FLOP per cycle per core assumes two FMA units: 64 with AVX-512, 32 with AVX2+FMA, 8 otherwise.
  An estimate from /proc/cpuinfo (base clock, no turbo); FALLBACK_PEAK_FLOPS where it cannot be read.

  >>> cpu_peak_flops("flags : avx2 fma avx512f\ncpu MHz : 2600.0\n", cores=2)
  332800000000.0
  """
  if cpuinfo is None:
    try:
      with open("/proc/cpuinfo") as f:
        cpuinfo = f.read()
    except OSError:
      return FALLBACK_PEAK_FLOPS
  flag_line = re.search(r"^flags\s*:(.*)$", cpuinfo, re.M)
  flags = set(flag_line.group(1).split()) if flag_line else set()
  mhz = re.search(r"^cpu MHz\s*:\s*([0-9.]+)", cpuinfo, re.M)
  if mhz is None:
    return FALLBACK_PEAK_FLOPS
  per_cycle = 64 if "avx512f" in flags else 32 if {"avx2", "fma"} <= flags else 8
  if cores is None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
  return cores * float(mhz.group(1)) * 1e6 * per_cycle


def peak_flops_per_device() -> float:
  """Peak dense FLOP/s of one device, for MFU: bf16 from PEAK_BF16_FLOPS, `cpu_peak_flops` on CPU.

  An accelerator missing from the table gives NaN (MFU then reads NaN, never a made-up number) and
  a warning naming its device kind, once per kind.

  >>> peak_flops_per_device()  # on a v5p chip  # doctest: +SKIP
  459000000000000.0
  >>> peak_flops_per_device() > 0  # any device, CPUs included
  True
  """
  device = jax.devices()[0]
  if device.platform == "cpu":
    return cpu_peak_flops() / len(jax.devices())  # forced host devices share the same cores
  peak = accelerator_peak_flops(device.device_kind)
  if peak is not None:
    return peak
  if device.device_kind not in _warned:
    _warned.add(device.device_kind)
    logger.warning(
      "no peak FLOP/s known for %s device kind %r: MFU is logged as NaN (add it to "
      "gliner_jax.training.mfu.PEAK_BF16_FLOPS)",
      device.platform,
      device.device_kind,
    )
  return math.nan
