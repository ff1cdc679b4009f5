"""``GenerateConfig``: everything a generator run depends on, saved in ``run.json`` and restored on resume."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...config import from_dict, setting
from ...engine.config import TrainConfig
from ..config import check_task_config

#: The diffusion samplers (``tslib.models.ddpm.SAMPLERS``, which the contract tests check against; named here too so
#: the CLI's --help needs no torch import).
SAMPLERS = ("ddim", "dpm")
LOSS_WEIGHTINGS = ("uniform", "min_snr")


@dataclass
class GenerateConfig:
    """Data, model and loss settings of a generator run; ``train`` holds the engine's (epochs, lr, ...)."""

    manifest: str = setting(help="DIR/manifest.csv from `prepare` (or DIR)")
    model: str = setting("vae", "generator: ae | vae | cvae | dcgan | projected_gan | ddpm")
    img_size: int = setting(64, "image size (64 default; 128 and the study's 150 work too)", min=16, max=512)
    latent_dim: int | None = setting(None, "latent size (default: the model's own, e.g. 128; dcgan 100)", min=1)
    width: int | None = setting(None, "channels of the first conv layer (default: the model's own, e.g. 32; dcgan "
                                "64)", min=1)
    beta: float = setting(1.0, "VAE: weight of the KL term", min=0.0)
    kl_warmup: float = setting(0.0, "VAE: epochs over which beta rises linearly from 0", min=0.0)
    upsample: str | None = setting(None, "ae/vae/cvae decoder, dcgan generator: transposed (the study's strided "
                                   "4x4 transposed convs) | resize (nearest 2x + 3x3 conv, no checkerboard); "
                                   "default: the model's own (resize for cvae and dcgan, transposed otherwise)",
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
    sampler: str = setting("ddim", "ddpm: ddim | dpm (DPM-Solver++)", choices=SAMPLERS)
    patch: int = setting(1, "ddpm: pixels per side folded into channels (2: a 64 px model at a 32 px model's "
                         "cost; Hoogeboom et al. 2023)", choices=(1, 2, 4))
    loss_weighting: str | None = setting(None, "ddpm: uniform | min_snr (min-SNR-gamma, Hang et al. 2023); default: "
                                         "the model's own", choices=LOSS_WEIGHTINGS)
    limit_per_class: int | None = setting(None, "train/val images per class (the test set is always complete)",
                                          min=1)
    weighted_sampler: bool = setting(True, "draw every class equally often")
    augment: bool = setting(True, "random horizontal flips of training images")
    decode_cache: bool | None = setting(None, "decode the train and val images once and keep them in memory at "
                                        "the run's scale (default: on where they fit in 35% of the available "
                                        "RAM; 25,000 images at 64 px take ~0.4 GB)", runtime=True)
    eval_samples: int = setting(256, "generated images for the FID printed at the end of training", min=2)
    # Generators' own engine defaults: small batches make the most of a few epochs on a few thousand images
    # (measured: cVAE agreement 0.63-0.70 after 5 epochs vs 0.14 with batch 64, lr 1e-3).
    # Generators' own engine defaults: small batches and a constant lr; the lr is the model's own (None: its
    # registered default, e.g. 3e-3 for the autoencoders, 1e-3 for ddpm), resolved here so run.json records it.
    train: TrainConfig = field(default_factory=lambda: TrainConfig(batch_size=16, lr=None, schedule="none"))

    def __post_init__(self) -> None:
        check_task_config(self, "generate")
        if self.upsample is not None and self.defaults.get("upsample") is None:
            raise ValueError(f"--upsample applies to {' | '.join(_with('upsample'))}, not {self.model}")

    @property
    def defaults(self) -> dict:
        """The training defaults the model registered beside its builder (:func:`tslib.models.model_defaults`)."""
        from ...models import model_defaults

        return model_defaults(self.model)

    @classmethod
    def from_dict(cls, data: dict) -> GenerateConfig:
        return from_dict(cls, data)

    @staticmethod
    def saved_defaults(data: dict) -> dict:
        """What runs saved before ``upsample`` and ``gan_loss`` existed were trained with: the study's transposed
        convolutions and the BCE loss (today's defaults differ, and must not change what an old run rebuilds)."""
        from ...models import model_defaults

        defaults = model_defaults(data.get("model", "vae"))
        if defaults.get("upsample") is not None:
            data.setdefault("upsample", "transposed")
        if data.get("model") == "dcgan":
            data.setdefault("gan_loss", "bce")
        return data

    @property
    def trainer(self) -> str:
        """How the model trains: "reconstruction" (autoencoders), "gan" or "diffusion"."""
        return self.defaults["trainer"]

    @property
    def is_conditional(self) -> bool:
        conditional = self.defaults.get("conditional", False)
        return bool(self.conditional) if conditional == "optional" else bool(conditional)

    @property
    def is_gan(self) -> bool:
        return self.trainer == "gan"

    @property
    def loss(self) -> str:
        """The GAN loss: ``gan_loss``, else the model's own."""
        return self.gan_loss or self.defaults["loss"]

    def model_kwargs(self, num_classes: int) -> dict:
        """Constructor arguments of the registered builder: this config's values, else the model's defaults."""
        defaults = self.defaults
        kw = {"img_size": self.img_size, "width": self.width or defaults["width"]}
        if self.trainer == "diffusion":
            kw |= {"cond_drop": self.cond_drop, "ema_decay": self.ema_decay, "steps": self.sample_steps,
                   "guidance": self.guidance, "sampler": self.sampler,
                   "loss_weighting": self.loss_weighting or defaults.get("loss_weighting", "uniform"),
                   "patch": self.patch}
        else:
            kw["latent_dim"] = self.latent_dim or defaults["latent_dim"]
        if self.is_conditional:
            kw["num_classes"] = num_classes
        if defaults.get("upsample") is not None:  # always recorded, so the saved spec rebuilds this decoder
            kw["upsample"] = self.upsample or defaults["upsample"]
        if defaults.get("pretrained"):  # e.g. the projected GAN's frozen ImageNet features (offline; not in the spec)
            kw["pretrained"] = True
        return kw


def _with(key: str) -> list[str]:
    """The generators whose defaults set ``key`` (for messages)."""
    from ...models import list_models, model_defaults

    return [m for m in list_models("generate") if model_defaults(m).get(key) is not None]
