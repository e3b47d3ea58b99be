"""Device, precision and memory-format choices, made once for the loop.

CPU: bf16 autocast where the processor has native bf16 (AVX-512 BF16 / AMX), channels_last for
oneDNN convolutions. CUDA: bf16 autocast where supported, else fp16 with a gradient scaler per
optimizer; channels_last for tensor cores.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from gankit.errors import GankitError


def resolve_device(name: str) -> torch.device:
    """ "auto" -> CUDA when present, else CPU; otherwise the named device (checked)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise GankitError(f"train.device: unknown device {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GankitError(f"train.device: {name} asked for but CUDA is not available")
    return device


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (oneDNN's check for AVX-512 BF16 or AMX)."""
    checker = getattr(torch.backends.mkldnn, "is_bf16_supported", None)
    if checker is not None:
        return bool(checker())
    try:
        with open("/proc/cpuinfo") as file:
            flags = file.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


@dataclass
class Precision:
    """The autocast dtype (None = fp32) and whether fp16 gradient scaling is needed."""

    device: torch.device
    dtype: torch.dtype | None

    @property
    def needs_scaler(self) -> bool:
        return self.dtype == torch.float16 and self.device.type == "cuda"

    def autocast(self) -> contextlib.AbstractContextManager:
        """The autocast context for forward passes (a no-op for fp32)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)


def resolve_precision(name: str, device: torch.device) -> Precision:
    """ "auto" picks bf16 where the hardware has it, else fp32 (CPU) or fp16 (CUDA)."""
    choices = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
    if name == "auto":
        if device.type == "cuda":
            name = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        else:
            name = "bf16" if cpu_has_bf16() else "fp32"
    if name not in choices:
        raise GankitError(f"train.precision: {name!r} is not one of auto, fp32, bf16, fp16")
    return Precision(device, choices[name])


@contextlib.contextmanager
def flush_denormals(enabled: bool = True) -> Iterator[None]:
    """Treat denormal floats as zero on CPU while training.

    GAN gradients are full of values below 1e-38 (small N(0, 0.02) weights, saturated units); x86
    cores handle those in microcode, which made a DCGAN step on this CPU 5-10x slower (measured in
    bench/speed.py). Flushing them changes nothing a network can notice.
    """
    applied = enabled and torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if applied:  # torch has no getter: restore its default
            torch.set_flush_denormal(False)


@functools.cache
def compile_available() -> bool:
    """Whether torch.compile's default backend works here (it needs a C++ compiler on CPU).

    Probed once on a tiny function, so that a machine without the toolchain trains eagerly with a
    warning instead of failing at the first step.
    """
    try:
        torch.compile(lambda x: x * 2 + 1, dynamic=False)(torch.ones(8))
    except Exception as error:  # noqa: BLE001 (any backend failure means: run eagerly)
        warnings.warn(
            f"torch.compile is not usable here ({type(error).__name__}); running eagerly",
            stacklevel=2,
        )
        return False
    return True
