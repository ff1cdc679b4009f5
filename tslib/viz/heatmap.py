"""A class-activation heat map blended over its image (the explanations' figures and the ``explain`` command's
PNGs)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from pytorch_grad_cam.utils.image import show_cam_on_image
from torch import Tensor


def overlay(image: np.ndarray | Image.Image, heat: Tensor | np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """The heat map in the jet colour map blended over ``image`` (uint8 HWC); the map is resized to the image."""
    img = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image)
    heat = torch.as_tensor(heat, dtype=torch.float32)
    if tuple(heat.shape) != img.shape[:2]:
        heat = torch.nn.functional.interpolate(heat[None, None], img.shape[:2], mode="bilinear")[0, 0]
    return show_cam_on_image(img.astype(np.float32) / 255, heat.clamp(0, 1).numpy(), use_rgb=True,
                             image_weight=1 - alpha)
