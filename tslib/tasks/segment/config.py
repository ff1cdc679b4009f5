"""``SegmentConfig``: everything a segmentation run depends on, saved in ``run.json`` and restored on resume."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...config import from_dict, setting
from ...data.masks import parse_class_names
from ...engine.config import TrainConfig
from ..config import check_task_config


@dataclass
class SegmentConfig:
    """Data (Landcover.ai tiles, or a folder of images and masks), model and loss settings; ``train`` holds the
    engine's."""

    landcover: str | None = setting(None, "Landcover.ai folder after `prepare-landcover` (output/ + lists)")
    images: str | None = setting(None, "your own data: a folder of images ...")
    masks: str | None = setting(None, "... and a folder of masks matched by file stem")
    palette: str | None = setting(None, "JSON palette for colour-coded masks ({class: '#RRGGBB'}, order = index)")
    classes: str | None = setting(None, "your own index masks: class names in index order, e.g. "
                                        "building,land,road (optionally name:#RRGGBB each)")
    ignore_index: int | None = setting(None, "mask value to ignore in loss and metrics (e.g. 255)", min=0, max=255)
    model: str = setting("unet", "segmenter (tslib.models.list_models('segment'))")
    img_size: int = setting(256, "training crop in pixels (at native scale; evaluation sees whole tiles)", min=32,
                            max=2048)
    tile: int = setting(512, "your own data: images larger than this are cut into tiles of this size", min=32,
                        max=8192)
    pretrained: bool = setting(False, "ImageNet weights for the encoder (smp_unet, fpn, deeplabv3plus)")
    encoder: str = setting("efficientnet_lite0", "ImageNet Lite encoder of smp_unet, fpn and deeplabv3plus",
                           choices=("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"))
    depth: int = setting(4, "UNet down/up steps", min=1, max=7)
    width: int = setting(32, "UNet channels at the first level (the study: 64)", min=4)
    dice_weight: float = setting(0.0, "weight of the soft Dice loss added to cross-entropy", min=0.0)
    class_weights: bool = setting(False, "median-frequency class weights in the cross-entropy")
    limit_tiles: int | None = setting(None, "train/val tiles at most (the test split is always complete)", min=1)
    augment: bool = setting(True, "flips, 90-degree rotations, random crops with scale jitter, colour jitter")
    decode_cache: bool | None = setting(None, "decode the train and val tiles once and keep them in memory "
                                        "(default: on where they fit in 35% of the available RAM; a 512 px tile "
                                        "takes 1 MB)", runtime=True)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(batch_size=8, lr=1e-3))

    def __post_init__(self) -> None:
        check_task_config(self, "segment")
        if bool(self.landcover) == bool(self.images or self.masks):
            raise ValueError("give --landcover DIR, or --images DIR with --masks DIR (one data source)")
        if (self.images is None) != (self.masks is None):
            raise ValueError("--images and --masks go together")
        from ...models.registry import accepted_kwargs  # here, not at import: the CLI's --help stays fast

        if self.encoder != "efficientnet_lite0" and not accepted_kwargs(self.model, encoder=self.encoder):
            raise ValueError(f"--encoder is for the smp segmenters; {self.model} has its own fixed encoder")
        if self.classes is not None:
            if self.landcover or self.palette:
                raise ValueError("--classes names the values of your own index masks; Landcover.ai and --palette "
                                 "already name their classes")
            parse_class_names(self.classes)  # a malformed list is refused before anything is read

    @classmethod
    def from_dict(cls, data: dict) -> SegmentConfig:
        return from_dict(cls, data)
