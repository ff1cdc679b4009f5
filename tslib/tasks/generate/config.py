"""``GenerateConfig``: everything a generator run depends on, saved in ``run.json`` and restored on resume."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...config import from_dict, setting
from ...engine.config import TrainConfig
from ..config import check_task_config

#: Defaults per model where the model families differ (pytorch/examples' DCGAN uses a 100-d latent, width 64).
MODEL_DEFAULTS = {"ae": (128, 32), "vae": (128, 32), "cvae": (128, 32), "dcgan": (100, 64),
                  "projected_gan": (100, 32), "ddpm": (None, 32)}
#: Models trained by denoising (DiffusionTask); they have no latent code and sample with ``--steps/--guidance``.
DIFFUSION = ("ddpm",)
#: The adversarial models (trained by GANTask) and their loss when ``--gan-loss`` is not given: hinge for both (the
#: projected GAN paper's; for the DCGAN measured with resize-convs in the cpu profile, see docs/results.md).
GAN_LOSS_DEFAULTS = {"dcgan": "hinge", "projected_gan": "hinge"}
#: The decoder (DCGAN: generator) when ``--upsample`` is not given; ae and vae keep the study's transposed convs,
#: the cvae resizes (measured, 64 px: agreement 0.23 -> 0.34 on easy, 0.19 -> 0.27 on realistic procedural data),
#: and so does the DCGAN (with hinge: no tiled pattern; CNN-judge agreement 0.12 -> 0.42 easy, 0.14 -> 0.25
#: realistic).
AE_UPSAMPLE = {"ae": "transposed", "vae": "transposed", "cvae": "resize", "dcgan": "resize"}


@dataclass
class GenerateConfig:
    """Data, model and loss settings of a generator run; ``train`` holds the engine's (epochs, lr, ...)."""

    manifest: str = setting(help="DIR/manifest.csv from `prepare` (or DIR)")
    model: str = setting("vae", "generator: ae | vae | cvae | dcgan | projected_gan | ddpm")
    img_size: int = setting(64, "image size (64 default; 128 and the study's 150 work too)", min=16, max=512)
    latent_dim: int | None = setting(None, "latent size (default 128; dcgan 100)", min=1)
    width: int | None = setting(None, "channels of the first conv layer (default 32; dcgan 64)", min=1)
    beta: float = setting(1.0, "VAE: weight of the KL term", min=0.0)
    kl_warmup: float = setting(0.0, "VAE: epochs over which beta rises linearly from 0", min=0.0)
    upsample: str | None = setting(None, "ae/vae/cvae decoder, dcgan generator: transposed (the study's strided "
                                   "4x4 transposed convs) | resize (nearest 2x + 3x3 conv, no checkerboard); "
                                   "default resize for cvae and dcgan, transposed otherwise",
                                   choices=("transposed", "resize"))
    conditional: bool = setting(False, "dcgan: class-conditional (cvae and projected_gan always are)")
    gan_lr: float = setting(2e-4, "dcgan/projected_gan: Adam lr of the generator (betas 0.5/0.999)", min=0.0)
    real_label: float = setting(0.9, "dcgan/projected_gan: one-sided label smoothing of real images (bce loss)",
                                min=0.5, max=1.0)
    gan_loss: str | None = setting(None, "dcgan/projected_gan: bce (non-saturating, one-sided smoothing) | "
                                   "hinge (default)", choices=("bce", "hinge"))
    d_steps: int = setting(1, "dcgan/projected_gan: discriminator updates per generator update (same batch)",
                           min=1, max=10)
    d_lr_ratio: float = setting(1.0, "dcgan/projected_gan: discriminator lr = gan_lr x this (TTUR)", min=0.01,
                                max=100.0)
    cond_drop: float = setting(0.1, "ddpm: share of training labels replaced by the null class (classifier-free "
                               "guidance)", min=0.0, max=0.9)
    ema_decay: float = setting(0.999, "ddpm: decay of the weights' moving average that samples", min=0.0,
                               max=0.99999)
    sample_steps: int = setting(50, "ddpm: denoising steps when sampling (generate --steps overrides)", min=1,
                                max=1000)
    guidance: float = setting(2.0, "ddpm: classifier-free guidance weight when sampling (1 = plain conditional; "
                              "generate --guidance overrides)", min=0.0, max=50.0)
    sampler: str = setting("ddim", "ddpm: ddim | dpm (DPM-Solver++)", choices=("ddim", "dpm"))
    limit_per_class: int | None = setting(None, "train/val images per class (the test set is always complete)",
                                          min=1)
    weighted_sampler: bool = setting(True, "draw every class equally often")
    augment: bool = setting(True, "random horizontal flips of training images")
    decode_cache: bool | None = setting(None, "decode the train and val images once and keep them in memory at "
                                        "the run's scale (default: on where they fit in 35% of the available "
                                        "RAM; 25,000 images at 64 px take ~0.4 GB)", runtime=True)
    eval_samples: int = setting(256, "generated images for the FID printed at the end of training", min=2)
    # Generators' own engine defaults: small batches and a constant, higher lr make the most of a few epochs on
    # a few thousand images (measured: cVAE agreement 0.63-0.70 after 5 epochs vs 0.14 with batch 64, lr 1e-3).
    train: TrainConfig = field(default_factory=lambda: TrainConfig(batch_size=16, lr=3e-3, schedule="none"))

    def __post_init__(self) -> None:
        check_task_config(self, "generate")
        if self.upsample is not None and self.model not in AE_UPSAMPLE:
            raise ValueError(f"--upsample applies to {' | '.join(AE_UPSAMPLE)}, not {self.model}")

    @classmethod
    def from_dict(cls, data: dict) -> GenerateConfig:
        return from_dict(cls, data)

    @staticmethod
    def saved_defaults(data: dict) -> dict:
        """What runs saved before ``upsample`` and ``gan_loss`` existed were trained with: the study's transposed
        convolutions and the BCE loss (today's defaults differ, and must not change what an old run rebuilds)."""
        if data.get("model", "vae") in AE_UPSAMPLE:
            data.setdefault("upsample", "transposed")
        if data.get("model") == "dcgan":
            data.setdefault("gan_loss", "bce")
        return data

    @property
    def is_conditional(self) -> bool:
        return self.model in ("cvae", "projected_gan", *DIFFUSION) or (self.model == "dcgan" and self.conditional)

    @property
    def is_gan(self) -> bool:
        return self.model in GAN_LOSS_DEFAULTS

    def model_kwargs(self, num_classes: int) -> dict:
        """Constructor arguments of the registered builder."""
        latent, width = MODEL_DEFAULTS[self.model]
        kw = {"img_size": self.img_size, "width": self.width or width}
        if self.model in DIFFUSION:
            kw |= {"cond_drop": self.cond_drop, "ema_decay": self.ema_decay, "steps": self.sample_steps,
                   "guidance": self.guidance, "sampler": self.sampler}
        else:
            kw["latent_dim"] = self.latent_dim or latent
        if self.is_conditional:
            kw["num_classes"] = num_classes
        if self.model in AE_UPSAMPLE:  # always recorded, so the saved spec rebuilds this decoder
            kw["upsample"] = self.upsample or AE_UPSAMPLE[self.model]
        if self.model == "projected_gan":  # the frozen features' ImageNet weights (offline; never in the spec)
            kw["pretrained"] = True
        return kw
