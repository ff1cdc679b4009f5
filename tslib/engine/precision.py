"""Mixed precision: which autocast dtype a device gets, and the context manager that applies it.

bf16 needs tensor cores that compute in bf16: NVIDIA compute capability 8.0 and newer (A100 8.0, L4 8.9, H100
9.0). ``torch.cuda.is_bf16_supported()`` is no test for that: it also answers True where bf16 is only emulated
(a T4, 7.5), where bf16 convolutions take slow fallbacks or fail. So the capability decides: bf16 from 8.0,
fp16 with the loss scaler below it.
"""

from __future__ import annotations

import contextlib

import torch

#: the first CUDA compute capability (major) with native bf16 (Ampere)
BF16_MIN_CAPABILITY = 8


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes in bf16 natively: a CUDA GPU of compute capability 8.0 or newer."""
    return device.type == "cuda" and torch.cuda.get_device_capability(device)[0] >= BF16_MIN_CAPABILITY


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for ``amp`` on ``device``, or None for full fp32.

    ``auto``: bf16 on GPUs of compute capability >= 8.0, fp16 (with the engine's ``GradScaler``) below, fp32 on
    CPU. bf16 on CPU is allowed when asked for (torch autocasts matmuls/convs on CPU); fp16 on CPU is rejected
    because it needs loss scaling and CPU fp16 kernels are slow or missing.
    """
    device = torch.device(device)
    if amp == "off":
        return None
    if amp == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if native_bf16(device) else torch.float16
    if amp == "bf16":
        if device.type == "cuda" and not native_bf16(device):
            major, minor = torch.cuda.get_device_capability(device)
            raise ValueError(f"--amp bf16 needs a GPU of compute capability {BF16_MIN_CAPABILITY}.0 or newer (this "
                             f"{torch.cuda.get_device_name(device)} is {major}.{minor}); use --amp fp16 or auto")
        return torch.bfloat16
    if amp == "fp16":
        if device.type == "cpu":
            raise ValueError("--amp fp16 needs a GPU; on CPU use --amp bf16 or off")
        return torch.float16
    raise ValueError(f"unknown amp mode {amp!r}; expected 'auto', 'bf16', 'fp16' or 'off'")


def autocast(device: torch.device, dtype: torch.dtype | None = None,
             amp: str = "auto") -> contextlib.AbstractContextManager:
    """Autocast to ``dtype`` (default: what ``amp`` resolves to on ``device``), or a no-op for full fp32."""
    dtype = dtype if dtype is not None else resolve_amp(amp, device)
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


def autocast_active(device: torch.device | str) -> bool:
    """Whether an autocast region is open for ``device``'s type here."""
    device_type = torch.device(device).type
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:  # torch < 2.4 takes no device type
        return torch.is_autocast_cpu_enabled() if device_type == "cpu" else torch.is_autocast_enabled()


def full_precision(device: torch.device | str) -> contextlib.AbstractContextManager:
    """Autocast switched off inside an autocast region: for what must be computed in fp32 whatever the forward
    pass around it uses (OOD scores against their thresholds, probabilities)."""
    return torch.autocast(torch.device(device).type, enabled=False)
