"""DCGAN (Radford et al.; the pytorch/examples shapes), optionally class-conditional (task ``generate``).

Generator: z -> (8w, g, g) -> four 2x upsampling steps with BatchNorm + ReLU -> tanh, each a strided 4x4 transposed
conv (``upsample="transposed"``, the paper's) or nearest 2x + 3x3 conv (``"resize"``: no checkerboard, Odena et al.
2016); discriminator: four strided convs with LeakyReLU and spectral norm (the stabiliser in place of BatchNorm) ->
one logit, with a projection term for the class when conditional. ``g = ceil(size / 16)``: 64 px runs at 64, 150 px
at 160 and is cropped. Images outside the model are in [0, 1] like every generator here; the networks see [-1, 1].
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from .generator import Generator as GeneratorContract
from .registry import register_model
from .shapes import center_crop, pad_to, round_up

STRIDE = 16
UPSAMPLE = ("transposed", "resize")


def _up(cin: int, cout: int, upsample: str, bias: bool = False) -> list[nn.Module]:
    """One 2x upsampling conv: the DCGAN's transposed 4x4/stride 2, or nearest resize then a 3x3 conv."""
    if upsample == "resize":
        return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, 1, 1, bias=bias)]
    return [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=bias)]


class Generator(nn.Module):
    def __init__(self, latent_dim: int, width: int, grid: int, num_classes: int = 0,
                 upsample: str = "transposed") -> None:
        super().__init__()
        self.embed = nn.Embedding(num_classes, latent_dim) if num_classes else None
        self.width, self.grid = width, grid
        self.project = nn.Sequential(nn.Linear(latent_dim, 8 * width * grid * grid, bias=False))
        chans = [8 * width, 4 * width, 2 * width, width]
        layers: list[nn.Module] = [nn.BatchNorm2d(8 * width), nn.ReLU(True)]
        for cin, cout in zip(chans, chans[1:]):
            layers += [*_up(cin, cout, upsample), nn.BatchNorm2d(cout), nn.ReLU(True)]
        layers += [*_up(width, 3, upsample, bias=True), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.embed is not None:
            z = z * self.embed(labels)  # multiplicative conditioning keeps the latent's scale
        return self.net(self.project(z).view(len(z), 8 * self.width, self.grid, self.grid))


class Discriminator(nn.Module):
    def __init__(self, width: int, grid: int, num_classes: int = 0) -> None:
        super().__init__()
        chans = [3, width, 2 * width, 4 * width, 8 * width]
        layers: list[nn.Module] = []
        for cin, cout in zip(chans, chans[1:]):
            layers += [spectral_norm(nn.Conv2d(cin, cout, 4, 2, 1)), nn.LeakyReLU(0.2, True)]
        self.features = nn.Sequential(*layers, nn.Flatten(1))
        dim = 8 * width * grid * grid
        self.out = spectral_norm(nn.Linear(dim, 1))
        self.embed = spectral_norm(nn.Embedding(num_classes, dim)) if num_classes else None

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        h = self.features(x)
        logit = self.out(h).squeeze(1)
        if self.embed is not None:  # projection discriminator: <embed(y), h>
            logit = logit + (self.embed(labels) * h).sum(1)
        return logit


class LatentGAN(GeneratorContract):
    """What every GAN here shares: a Gaussian latent of ``latent_dim`` (``prior``) under the generator contract
    (:class:`tslib.models.generator.Generator`); ``decode(z, labels)`` runs the generator network,
    ``discriminate`` the discriminator."""

    latent_dim: int
    #: Trained by separate optimizers: under torchrun each gets its own DistributedDataParallel (engine/parallel.py).
    parallel_networks = ("generator", "discriminator")

    def prior(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        device = next(self.parameters()).device
        return temperature * torch.randn(n, self.latent_dim, generator=generator).to(device)


class DCGAN(LatentGAN):
    """Generator and discriminator in one module (one ``model.pt``); ``sample`` and ``decode`` use the generator."""

    variational = False

    def __init__(self, img_size: int = 64, latent_dim: int = 100, width: int = 64, num_classes: int = 0,
                 upsample: str = "transposed") -> None:
        super().__init__()
        if img_size < 16 or latent_dim < 1 or width < 1:
            raise ValueError(f"bad sizes: img_size={img_size} (>= 16), latent_dim={latent_dim}, width={width}")
        if upsample not in UPSAMPLE:
            raise ValueError(f"unknown DCGAN upsample {upsample!r}; valid: {', '.join(UPSAMPLE)}")
        self.img_size, self.latent_dim, self.num_classes = int(img_size), int(latent_dim), int(num_classes)
        self.grid = round_up(img_size, STRIDE) // STRIDE
        self.generator = Generator(latent_dim, width, self.grid, num_classes, upsample)
        self.discriminator = Discriminator(width, self.grid, num_classes)
        self.apply(_dcgan_init)

    @property
    def conditional(self) -> bool:
        return self.num_classes > 0

    def decode(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """Images in [0, 1] from latent codes."""
        self._check_labels(labels)
        x = self.generator(z, labels)
        return center_crop((x + 1) / 2, self.img_size, self.img_size)

    def discriminate(self, images: Tensor, labels: Tensor | None = None) -> Tensor:
        """Realness logits of images in [0, 1]."""
        self._check_labels(labels)
        size = self.grid * STRIDE
        return self.discriminator(pad_to(images * 2 - 1, size, size), labels)

    def _check_labels(self, labels: Tensor | None) -> None:
        if self.conditional and labels is None:
            raise ValueError("this DCGAN is class-conditional: pass labels (class indices)")



def _dcgan_init(m: nn.Module) -> None:
    """N(0, 0.02) weights and N(1, 0.02) BatchNorm scales, as in the DCGAN paper."""
    if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
        weight = getattr(m, "parametrizations", None)
        target = m.parametrizations.weight.original if weight is not None else m.weight
        nn.init.normal_(target, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


# pytorch/examples' DCGAN: a 100-d latent, width 64, Adam 2e-4; here resize-convs and the hinge loss by default (no
# tiled pattern; CNN-judge agreement 0.12 -> 0.42 on easy, 0.14 -> 0.25 on realistic procedural data)
@register_model("dcgan", task="generate", defaults={"trainer": "gan", "conditional": "optional", "latent_dim": 100,
                                                    "width": 64, "upsample": "resize", "loss": "hinge", "lr": 2e-4})
def dcgan(img_size: int = 64, latent_dim: int = 100, width: int = 64, num_classes: int = 0,
          upsample: str = "transposed") -> DCGAN:
    """DCGAN; ``num_classes > 0`` makes it class-conditional; ``upsample="resize"`` avoids the checkerboard."""
    return DCGAN(img_size, latent_dim, width, num_classes, upsample)
