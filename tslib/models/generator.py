"""The contract of every model of task ``generate`` (``tests/models/test_model_contracts.py`` checks it for each one
registered): what the generation task, its sampling, its judges and the CLI may rely on, written once.

- ``forward(z, labels=None, **options)`` has one meaning for every generator: latents (from :meth:`prior`) to
  images in [0, 1], ``[N, 3, H, W]`` (it is :meth:`decode`);
- ``conditional`` / ``num_classes``: whether ``labels`` (class indices) are needed, and how many classes;
- ``sampler_options``: the keyword options ``decode``/``sample`` take beyond latents and labels (diffusion:
  ``steps``, ``guidance``, ``sampler``; none for one-pass generators), checked by :meth:`check_options`;
- ``can_encode`` and ``encode(x, labels)``: images to latents, for the autoencoders (reconstruction,
  interpolation between images, the latent explorer); their training pass is ``reconstruct(x, labels)``;
- ``trained_against``: the frozen networks whose features the model was optimised against (the projected GAN's
  Lite0), so a judge in that feature space is not independent of it; empty for the others.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Generator(nn.Module):
    """Base of the generators: latents in, images in [0, 1] out."""

    #: keyword options of ``decode`` and ``sample`` beyond latents and labels
    sampler_options: tuple[str, ...] = ()
    #: the frozen networks the model was trained against (a judge in their feature space is not independent)
    trained_against: tuple[str, ...] = ()
    #: whether :meth:`encode` maps images to latents
    can_encode: bool = False
    num_classes: int = 0

    @property
    def conditional(self) -> bool:
        return self.num_classes > 0

    def prior(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """``n`` latents a sample starts from (``temperature`` scales their spread)."""
        raise NotImplementedError

    def decode(self, z: Tensor, labels: Tensor | None = None, **options) -> Tensor:
        """Images in [0, 1] from latents ``z`` (and class ``labels`` when :attr:`conditional`)."""
        raise NotImplementedError

    def encode(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """Latents of images in [0, 1] (autoencoders only: :attr:`can_encode`)."""
        raise NotImplementedError(f"{type(self).__name__} has no encoder: it cannot reconstruct or encode images")

    def forward(self, z: Tensor, labels: Tensor | None = None, **options) -> Tensor:
        return self.decode(z, labels, **options)

    def check_options(self, options: dict) -> dict:
        """The sampling options given (None values dropped), or one clear error for an option this model does not
        take (a diffusion model also checks their ranges)."""
        options = {k: v for k, v in options.items() if v is not None}
        unknown = sorted(set(options) - set(self.sampler_options))
        if unknown:
            flags = ", ".join("--" + k for k in unknown)
            allowed = self.sampler_options
            what = f"takes only {', '.join('--' + k for k in allowed)}" if allowed else "samples in one pass"
            raise ValueError(f"{flags} does not apply to this {type(self).__name__} generator ({what}); "
                             "the diffusion model (ddpm) takes --steps, --guidance and --sampler")
        return options

    @torch.no_grad()
    def sample(self, n: int, labels: Tensor | None = None, temperature: float = 1.0,
               generator: torch.Generator | None = None, **options) -> Tensor:
        """``n`` new images in [0, 1]."""
        return self.decode(self.prior(n, temperature, generator), labels, **options)
