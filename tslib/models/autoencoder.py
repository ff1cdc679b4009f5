"""The study's convolutional autoencoder and VAE, and a class-conditional VAE (task ``generate``).

Encoder: 3 strided 4x4 convolutions with ReLU (3 -> w -> 2w -> 4w channels, size / 8); decoder: the mirror image
with 3 transposed convolutions and a sigmoid, so images live in [0, 1] (``upsample="resize"``: nearest 2x
upsampling + 3x3 convs instead, without the transposed convs' checkerboard). Any image size works: inputs are
padded to a multiple of 8 and outputs cropped back (150 px, the study's size, runs at 152 internally).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .generator import Generator
from .registry import register_model
from .shapes import center_crop, pad_to, round_up

STRIDE = 8  # three 2x downsamplings
UPSAMPLE = ("transposed", "resize")  # decoder variants, see _decoder


def _block(conv: nn.Module, channels: int, batchnorm: bool) -> list[nn.Module]:
    return [conv, nn.BatchNorm2d(channels), nn.ReLU(inplace=True)] if batchnorm else [conv, nn.ReLU(inplace=True)]


def _encoder(width: int, batchnorm: bool) -> nn.Sequential:
    chans = [3, width, 2 * width, 4 * width]
    layers: list[nn.Module] = []
    for cin, cout in zip(chans, chans[1:]):
        layers += _block(nn.Conv2d(cin, cout, 4, stride=2, padding=1), cout, batchnorm)
    return nn.Sequential(*layers, nn.Flatten(1))


def _decoder(width: int, batchnorm: bool, upsample: str = "transposed") -> nn.Sequential:
    """Code grid -> image, three 2x steps. ``transposed``: the study's strided 4x4 transposed convs (their
    uneven overlap paints a period-2 checkerboard); ``resize``: nearest-neighbour 2x upsampling then a 3x3 conv,
    which spreads every input pixel evenly, so a flat input stays flat (Odena et al., Distill 2016)."""
    chans = [4 * width, 2 * width, width]
    if upsample == "transposed":
        layers: list[nn.Module] = []
        for cin, cout in zip(chans, chans[1:]):
            layers += _block(nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1), cout, batchnorm)
        return nn.Sequential(*layers, nn.ConvTranspose2d(width, 3, 4, stride=2, padding=1), nn.Sigmoid())
    if upsample != "resize":
        raise ValueError(f"upsample must be one of {list(UPSAMPLE)}, got {upsample!r}")
    layers = []
    for cin, cout in zip(chans, chans[1:]):
        layers += [nn.Upsample(scale_factor=2, mode="nearest"),
                   *_block(nn.Conv2d(cin, cout, 3, padding=1), cout, batchnorm)]
    return nn.Sequential(*layers, nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(width, 3, 3, padding=1),
                         nn.Sigmoid())


class ConvAutoencoder(Generator):
    """Deterministic autoencoder: ``encode(x) -> z`` (``latent_dim``), ``decode(z) -> image``.

    Its latent space is not regularised, so :meth:`sample` draws from a Gaussian with the running mean and std of
    the training codes (kept as buffers, like BatchNorm statistics) rather than from N(0, I).
    """

    variational = False
    can_encode = True

    def __init__(self, img_size: int = 64, latent_dim: int = 128, width: int = 32, num_classes: int = 0,
                 batchnorm: bool = True, upsample: str = "transposed") -> None:
        super().__init__()
        if img_size < 16 or latent_dim < 1 or width < 1:
            raise ValueError(f"bad sizes: img_size={img_size} (>= 16), latent_dim={latent_dim}, width={width}")
        self.img_size, self.latent_dim, self.num_classes = int(img_size), int(latent_dim), int(num_classes)
        self.grid = round_up(img_size, STRIDE) // STRIDE
        flat = 4 * width * self.grid * self.grid
        self.width = width
        self.encoder = _encoder(width, batchnorm)
        self.embed = nn.Embedding(num_classes, 32) if num_classes else None
        cond = 32 if num_classes else 0
        self.to_latent = nn.Linear(flat + cond, self.head_dim())
        self.from_latent = nn.Sequential(nn.Linear(latent_dim + cond, flat), nn.ReLU(inplace=True))
        self.upsample = upsample
        self.decoder = _decoder(width, batchnorm, upsample)
        self.register_buffer("code_mean", torch.zeros(latent_dim))
        self.register_buffer("code_std", torch.ones(latent_dim))

    @property
    def parallel_networks(self) -> tuple[str, ...]:
        """Under torchrun each part is its own DistributedDataParallel (engine/parallel.py), so the training pass,
        :meth:`reconstruct`, syncs its gradients although ``forward`` decodes."""
        return ("encoder", "to_latent", "from_latent", "decoder") + (("embed",) if self.embed is not None else ())

    def head_dim(self) -> int:
        return self.latent_dim

    def _cond(self, h: Tensor, labels: Tensor | None) -> Tensor:
        if self.embed is None:
            return h
        if labels is None:
            raise ValueError("this model is class-conditional: pass labels (class indices)")
        return torch.cat([h, self.embed(labels)], 1)

    def _features(self, x: Tensor, labels: Tensor | None) -> Tensor:
        if x.shape[-2:] != (self.img_size, self.img_size):
            raise ValueError(f"expected {self.img_size}x{self.img_size} images, got {tuple(x.shape[-2:])}")
        size = self.grid * STRIDE
        return self._cond(self.encoder(pad_to(x, size, size)), labels)

    def encode(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """Latent code of images in [0, 1] (the mean, for a VAE)."""
        return self.to_latent(self._features(x, labels))[:, : self.latent_dim]

    def decode(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        h = self.from_latent(self._cond(z, labels)).view(len(z), 4 * self.width, self.grid, self.grid)
        return center_crop(self.decoder(h), self.img_size, self.img_size)

    def reconstruct(self, x: Tensor, labels: Tensor | None = None) -> dict[str, Tensor]:
        """The training pass: ``{"recon", "z"}`` of images in [0, 1] (and the running code statistics)."""
        z = self.encode(x, labels)
        if self.training:  # running code statistics for sampling
            with torch.no_grad():
                self.code_mean.lerp_(z.mean(0).float(), 0.05)
                self.code_std.lerp_(z.std(0).float().nan_to_num(1.0) if len(z) > 1 else self.code_std, 0.05)
        return {"recon": self.decode(z, labels), "z": z}

    def prior(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        eps = torch.randn(n, self.latent_dim, generator=generator).to(self.code_mean.device)
        return self.code_mean + temperature * eps * self.code_std


class ConvVAE(ConvAutoencoder):
    """The study's VAE: mean and log-variance heads, reparameterisation, prior N(0, I)."""

    variational = True

    def head_dim(self) -> int:
        return 2 * self.latent_dim  # mean and log-variance from one linear layer

    def reconstruct(self, x: Tensor, labels: Tensor | None = None) -> dict[str, Tensor]:
        """The training pass: ``{"recon", "mu", "logvar", "z"}`` (``z`` reparameterised in training, else ``mu``)."""
        mu, logvar = self.to_latent(self._features(x, labels)).float().chunk(2, dim=1)
        z = reparameterize(mu, logvar) if self.training else mu
        return {"recon": self.decode(z, labels), "mu": mu, "logvar": logvar, "z": z}

    def prior(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        return temperature * torch.randn(n, self.latent_dim, generator=generator).to(self.code_mean.device)


def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
    """z = mu + sigma * eps, eps ~ N(0, I) from the global RNG (seeded runs repeat exactly)."""
    return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)


def kl_divergence(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) summed over latent dims, mean over the batch."""
    return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)).mean()


# The generators' engine defaults: small batches and a constant, higher lr make the most of a few epochs on a few
# thousand images (measured: cVAE agreement 0.63-0.70 after 5 epochs vs 0.14 with batch 64, lr 1e-3).
AE_DEFAULTS = {"trainer": "reconstruction", "conditional": False, "latent_dim": 128, "width": 32,
               "upsample": "transposed", "lr": 3e-3}


@register_model("ae", task="generate", defaults=AE_DEFAULTS)
def ae(img_size: int = 64, latent_dim: int = 128, width: int = 32, upsample: str = "transposed") -> ConvAutoencoder:
    """The study's baseline convolutional autoencoder (``upsample="resize"``: the decoder without checkerboard)."""
    return ConvAutoencoder(img_size, latent_dim, width, upsample=upsample)


@register_model("vae", task="generate", defaults=AE_DEFAULTS)
def vae(img_size: int = 64, latent_dim: int = 128, width: int = 32, upsample: str = "transposed") -> ConvVAE:
    """The study's convolutional VAE (``upsample="resize"``: the decoder without checkerboard)."""
    return ConvVAE(img_size, latent_dim, width, upsample=upsample)


# the cvae resizes in its decoder (measured, 64 px: agreement 0.23 -> 0.34 on easy, 0.19 -> 0.27 on realistic data)
@register_model("cvae", task="generate", defaults={**AE_DEFAULTS, "conditional": True, "upsample": "resize"})
def cvae(num_classes: int, img_size: int = 64, latent_dim: int = 128, width: int = 32,
         upsample: str = "transposed") -> ConvVAE:
    """Class-conditional VAE: a label embedding joins the encoder's features and the decoder's input.

    The builder keeps ``upsample="transposed"`` so model files saved before the option existed rebuild as they
    were trained; new runs get their decoder from ``GenerateConfig`` (which records it in the spec)."""
    if num_classes < 1:
        raise ValueError(f"cvae needs num_classes >= 1, got {num_classes}")
    return ConvVAE(img_size, latent_dim, width, num_classes, upsample=upsample)
