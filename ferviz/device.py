"""Where to compute and in what precision: one answer for training, explaining and the report."""

from __future__ import annotations

from contextlib import AbstractContextManager

import torch

from ferviz.errors import OptionError

PRECISIONS = ("auto", "fp32", "bf16")


def resolve_device(name: str) -> torch.device:
    """auto: CUDA when available, else the CPU; asking for CUDA without one is an OptionError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise OptionError("--device cuda was asked for, but no CUDA device is available")
    return torch.device(name)


def native_bf16(device: torch.device) -> bool:
    """Whether `device` computes bf16 natively (a recent GPU; AVX512-BF16 or AMX on the CPU)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)


def resolve_precision(name: str, device: torch.device) -> str:
    """auto: bf16 mixed precision where the hardware computes bf16 natively, else fp32."""
    if name not in PRECISIONS:
        raise OptionError(f"precision must be one of {', '.join(PRECISIONS)}, got {name!r}")
    if name != "auto":
        return name
    return "bf16" if native_bf16(device) else "fp32"


def autocast(device: torch.device, precision: str) -> AbstractContextManager:
    """bf16 autocast on `device` when `precision` resolves to bf16 there; otherwise a no-op context.

    Autocast runs the convolutions and matrix products in bf16 and keeps weights, inputs and the
    gradients with respect to fp32 inputs in fp32.
    """
    bf16 = resolve_precision(precision, device) == "bf16"
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
