"""Precision by GPU capability (mocked device properties): bf16 from compute capability 8.0, fp16 below."""

from __future__ import annotations

import pytest
import torch

from tslib.engine import resolve_amp
from tslib.engine.precision import native_bf16

GPUS = {"Tesla T4": (7, 5), "NVIDIA L4": (8, 9), "NVIDIA A100-SXM4-40GB": (8, 0), "NVIDIA H100 80GB HBM3": (9, 0)}


@pytest.fixture(params=list(GPUS))
def gpu(request, monkeypatch):
    name, capability = request.param, GPUS[request.param]
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    # what misled the old choice: torch answers True on a T4 too (bf16 emulated)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    return name, capability


def test_auto_is_bf16_from_ampere_and_fp16_below(gpu):
    name, (major, _) = gpu
    cuda = torch.device("cuda")
    want = torch.bfloat16 if major >= 8 else torch.float16
    assert resolve_amp("auto", cuda) is want
    assert native_bf16(cuda) is (major >= 8)
    assert resolve_amp("fp16", cuda) is torch.float16
    assert resolve_amp("off", cuda) is None


def test_bf16_is_refused_below_capability_8_with_one_line(gpu):
    name, (major, minor) = gpu
    cuda = torch.device("cuda")
    if major >= 8:
        assert resolve_amp("bf16", cuda) is torch.bfloat16
        return
    with pytest.raises(ValueError) as e:
        resolve_amp("bf16", cuda)
    message = str(e.value)
    assert "\n" not in message and f"{major}.{minor}" in message and name in message and "fp16" in message


def test_cpu_choices_are_unchanged():
    cpu = torch.device("cpu")
    assert resolve_amp("auto", cpu) is None and resolve_amp("bf16", cpu) is torch.bfloat16
    assert not native_bf16(cpu)
    with pytest.raises(ValueError, match="needs a GPU"):
        resolve_amp("fp16", cpu)


def test_cudnn_autotunes_unless_determinism_is_asked_for():
    from tslib.utils import seed_everything

    try:
        seed_everything(0)
        assert torch.backends.cudnn.benchmark and not torch.are_deterministic_algorithms_enabled()
        seed_everything(0, deterministic=True)
        assert not torch.backends.cudnn.benchmark and torch.are_deterministic_algorithms_enabled()
    finally:
        seed_everything(0)
