"""``ClassifyConfig``: everything a classification run depends on, saved in ``run.json`` and restored on resume."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...config import from_dict, setting
from ...engine.config import TrainConfig
from ..config import check_task_config


@dataclass
class ClassifyConfig:
    """Data, model and head settings of a classification run; ``train`` holds the engine's (epochs, lr, ...)."""

    manifest: str = setting(help="DIR/manifest.csv from `prepare` (or DIR)")
    model: str = setting("cnn", "classifier name (tslib.models.list_models('classify'))")
    pretrained: bool = setting(False, "ImageNet weights (opt-in; never downloaded otherwise)")
    freeze: bool = setting(False, "freeze the backbone and train the MLP head (the study's set-up)")
    weights_path: str | None = setting(None, "local weights file for --pretrained (offline)", flags=("--weights",))
    unfreeze_after: int | None = setting(None, "after N head epochs, fine-tune the last backbone stages", min=1)
    unfreeze_stages: int = setting(2, "backbone stages to fine-tune", min=1)
    finetune_lr_scale: float = setting(0.1, "backbone lr = lr x this while fine-tuning", min=0.0)
    img_size: int | None = setting(None, "input size (default: the model's own)", min=16)
    hidden: int = setting(256, "MLP head hidden units (0: linear probe)", min=0)
    dropout: float = setting(0.3, "head dropout", min=0.0, max=0.99)
    label_smoothing: float = setting(0.0, "cross-entropy label smoothing", min=0.0, max=0.99)
    limit_per_class: int | None = setting(None, "train/val images per class (the test set is always complete)",
                                          min=1)
    weighted_sampler: bool = setting(True, "draw every class equally often")
    augment: bool = setting(True, "the study's augmentation on training images")
    feature_cache: bool | None = setting(None, "frozen backbone: cache its features (default on)",
                                         flags=("--feature-cache", "--cache"))
    cache_views: int = setting(1, "cached views per image (1 clean + K-1 augmented)", min=1)
    decode_cache: bool = setting(False, "decode every image once and keep it in memory at the input scale "
                                        "(faster epochs; ~1.6 GB per 20,000 images at 150 px)", runtime=True)
    gpu_augment: bool | None = setting(None, "decode once, keep the images on the device and augment whole "
                                       "batches there (default: on with a GPU; decodes as --decode-cache does)",
                                       runtime=True)
    tta: bool = setting(False, "also evaluate with flip test-time augmentation", runtime=True)
    calibrate: bool = setting(True, "fit a temperature on val after training (--no-calibrate: raw softmax)",
                              runtime=True)
    ood_score: str = setting("knn", "what marks a photo uncertain: msp | energy | knn | mahalanobis",
                             choices=("msp", "energy", "knn", "mahalanobis"), runtime=True)
    false_rejection: float = setting(0.05, "share of val photos the uncertainty threshold may reject",
                                     min=0.0, max=0.5, runtime=True)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        check_task_config(self, "classify")
        if self.unfreeze_after is not None and self.unfreeze_after >= self.train.epochs:
            raise ValueError(f"unfreeze-after ({self.unfreeze_after}) must be below epochs ({self.train.epochs}): "
                             "it is the number of head-only epochs before fine-tuning")

    @classmethod
    def from_dict(cls, data: dict) -> ClassifyConfig:
        """From a nested dict (``run.json``) or flat keywords: ``from_dict({"manifest": m, "epochs": 3})``."""
        return from_dict(cls, data)

    @classmethod
    def from_run(cls, run_dir) -> ClassifyConfig:
        """The config a run folder was trained with."""
        from ...engine.runs import load_config

        return load_config(run_dir, cls)

    @property
    def frozen_phase(self) -> bool:
        """The backbone is frozen at first: for the whole run (``freeze``) or until ``unfreeze_after``."""
        return self.freeze or bool(self.unfreeze_after)

    @property
    def use_cache(self) -> bool:
        return self.frozen_phase if self.feature_cache is None else self.feature_cache and self.frozen_phase
