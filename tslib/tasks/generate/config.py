"""``GenerateConfig``: everything a generator run depends on, saved in ``run.json`` and restored on resume."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...config import check_task_config, from_dict, setting
from ...engine.config import TrainConfig

#: Defaults per model where the model families differ (pytorch/examples' DCGAN uses a 100-d latent, width 64).
MODEL_DEFAULTS = {"ae": (128, 32), "vae": (128, 32), "cvae": (128, 32), "dcgan": (100, 64)}


@dataclass
class GenerateConfig:
    """Data, model and loss settings of a generator run; ``train`` holds the engine's (epochs, lr, ...)."""

    manifest: str = setting(help="DIR/manifest.csv from `prepare` (or DIR)")
    model: str = setting("vae", "generator: ae | vae | cvae | dcgan")
    img_size: int = setting(64, "image size (64 default; 128 and the study's 150 work too)", min=16, max=512)
    latent_dim: int | None = setting(None, "latent size (default 128; dcgan 100)", min=1)
    width: int | None = setting(None, "channels of the first conv layer (default 32; dcgan 64)", min=1)
    beta: float = setting(1.0, "VAE: weight of the KL term", min=0.0)
    kl_warmup: float = setting(0.0, "VAE: epochs over which beta rises linearly from 0", min=0.0)
    conditional: bool = setting(False, "dcgan: class-conditional (cvae always is)")
    gan_lr: float = setting(2e-4, "dcgan: Adam lr of both networks (betas 0.5/0.999)", min=0.0)
    real_label: float = setting(0.9, "dcgan: one-sided label smoothing of real images", min=0.5, max=1.0)
    limit_per_class: int | None = setting(None, "train/val images per class (the test set is always complete)",
                                          min=1)
    weighted_sampler: bool = setting(True, "draw every class equally often")
    augment: bool = setting(True, "random horizontal flips of training images")
    eval_samples: int = setting(256, "generated images for the FID printed at the end of training", min=2)
    # Generators' own engine defaults: small batches and a constant, higher lr make the most of a few epochs on
    # a few thousand images (measured: cVAE agreement 0.63-0.70 after 5 epochs vs 0.14 with batch 64, lr 1e-3).
    train: TrainConfig = field(default_factory=lambda: TrainConfig(batch_size=16, lr=3e-3, schedule="none"))

    def __post_init__(self) -> None:
        check_task_config(self, "generate")

    @classmethod
    def from_dict(cls, data: dict) -> GenerateConfig:
        return from_dict(cls, data)

    @property
    def is_conditional(self) -> bool:
        return self.model == "cvae" or (self.model == "dcgan" and self.conditional)

    @property
    def is_gan(self) -> bool:
        return self.model == "dcgan"

    def model_kwargs(self, num_classes: int) -> dict:
        """Constructor arguments of the registered builder."""
        latent, width = MODEL_DEFAULTS[self.model]
        kw = {"img_size": self.img_size, "latent_dim": self.latent_dim or latent, "width": self.width or width}
        if self.is_conditional:
            kw["num_classes"] = num_classes
        return kw
