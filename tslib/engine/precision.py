"""Mixed precision: which autocast dtype a device gets, and the context manager that applies it."""

from __future__ import annotations

import contextlib

import torch


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for ``amp`` on ``device``, or None for full fp32.

    bf16 on CPU is allowed (torch autocasts matmuls/convs on CPU); fp16 on CPU is rejected because
    it needs loss scaling and CPU fp16 kernels are slow or missing.
    """
    if amp == "off":
        return None
    if amp == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if amp == "bf16":
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ValueError(
                "amp='bf16' but this GPU has no bf16 support (pre-Ampere); use amp='fp16' or 'auto'"
            )
        return torch.bfloat16
    if amp == "fp16":
        if device.type == "cpu":
            raise ValueError("amp='fp16' needs a GPU; on CPU use amp='bf16' or amp='off'")
        return torch.float16
    raise ValueError(f"unknown amp mode {amp!r}; expected 'auto', 'bf16', 'fp16' or 'off'")


def autocast(device: torch.device, dtype: torch.dtype | None = None, amp: str = "auto") -> contextlib.AbstractContextManager:
    """Autocast to ``dtype`` (default: what ``amp`` resolves to on ``device``), or a no-op for full fp32."""
    dtype = dtype if dtype is not None else resolve_amp(amp, device)
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()
