"""Shared model-test data."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def one_mask() -> tuple[torch.Tensor, torch.Tensor]:
    """A 32x32 image and a 3-class mask (a "building" rectangle, a "road" band) for overfitting checks."""
    torch.manual_seed(0)
    x = torch.rand(1, 3, 32, 32)
    y = torch.zeros(1, 32, 32, dtype=torch.long)
    y[:, 8:20, 4:28] = 1
    y[:, 24:, :] = 2
    return x, y
