"""The common ``Classifier`` wrapper: backbone (image -> pooled features) + head (features -> logits)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from torch import Tensor, nn

from ..imagenet import IMAGENET_MEAN, IMAGENET_STD  # noqa: F401  (re-exported: models' default stats)
from .registry import register_model


def make_data_config(
    input_size: int,
    resize_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    interpolation: str = "bilinear",
) -> dict[str, Any]:
    """The preprocessing a model expects: resize shorter side, center crop, normalise."""
    if interpolation not in ("bilinear", "bicubic"):
        raise ValueError(f"interpolation must be 'bilinear' or 'bicubic', got {interpolation!r}")
    return {
        "input_size": int(input_size),
        "resize_size": int(resize_size),
        "mean": tuple(float(m) for m in mean),
        "std": tuple(float(s) for s in std),
        "interpolation": interpolation,
    }


class Classifier(nn.Module):
    """``forward(x) = head(backbone(x))`` with freezing helpers for transfer learning.

    ``stages`` names the backbone's sequential stages, first to last, each as a tuple of
    submodule paths inside ``backbone`` (names rather than module references so that
    deepcopy/pickling cannot leave them pointing at stale modules).
    """

    def __init__(
        self,
        backbone: nn.Module,
        head: nn.Module,
        feature_dim: int,
        data_config: dict[str, Any],
        stages: Sequence[Sequence[str]],
        name: str = "",
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.feature_dim = int(feature_dim)
        self.data_config = dict(data_config)
        self.stages: list[tuple[str, ...]] = [tuple(s) for s in stages]
        self.name = name
        for stage in self.stages:  # fail at construction, not at the first unfreeze_last()
            for path in stage:
                backbone.get_submodule(path)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.backbone(x))

    @property
    def num_classes(self) -> int:
        return int(getattr(self.head, "num_classes", -1))

    @property
    def backbone_frozen(self) -> bool:
        """True when no backbone parameter is trainable."""
        return not any(p.requires_grad for p in self.backbone.parameters())

    def freeze_backbone(self) -> Classifier:
        """Stop gradients into the backbone and keep it in eval mode (see ``train``)."""
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        return self.train(self.training)

    def unfreeze_last(self, n_stages: int) -> list[nn.Parameter]:
        """Make the last ``n_stages`` backbone stages trainable; return their parameters.

        The caller typically puts the returned parameters in their own optimizer group with a
        lower learning rate than the head (discriminative fine-tuning).
        """
        if not 1 <= n_stages <= len(self.stages):
            raise ValueError(f"n_stages must be in 1..{len(self.stages)} for {self.name or 'this model'}")
        params: list[nn.Parameter] = []
        for stage in self.stages[-n_stages:]:
            for path in stage:
                for p in self.backbone.get_submodule(path).parameters():
                    p.requires_grad_(True)
                    params.append(p)
        self.train(self.training)  # re-enable train mode for the stages that became trainable
        return params

    def train(self, mode: bool = True) -> Classifier:
        """Like ``nn.Module.train`` but fully frozen backbone parts stay in eval mode.

        Why: frozen BatchNorm layers would otherwise keep updating their running statistics
        in train mode, silently drifting away from the pretrained ones even though no weight
        is learned; and dropout / stochastic depth inside a frozen backbone would make its
        features random, which breaks caching features once and reusing them every epoch.
        """
        super().train(mode)
        if mode and self.backbone_frozen:
            self.backbone.eval()
        elif mode:
            for module in self.backbone.modules():
                params = list(module.parameters())
                # A subtree with no trainable parameter is treated as frozen as a whole;
                # parameter-free subtrees (pooling, flatten) are left to their parent.
                if params and not any(p.requires_grad for p in params):
                    module.eval()
        return self


def register_classifier(name: str) -> Callable[[Callable[..., Classifier]], Callable[..., Classifier]]:
    """Register a classifier builder ``f(num_classes, pretrained, hidden, dropout, weights_path, **kw)`` under the
    ``classify`` task; the registered builder also takes ``freeze`` (train the head on a frozen backbone)."""

    def deco(fn: Callable[..., Classifier]) -> Callable[..., Classifier]:
        @functools.wraps(fn)
        def build(num_classes: int, *args: Any, freeze: bool = False, **kwargs: Any) -> Classifier:
            if not isinstance(num_classes, int) or num_classes < 1:
                raise ValueError(f"num_classes must be an integer >= 1, got {num_classes!r}")
            model = fn(num_classes, *args, **kwargs)
            return model.freeze_backbone() if freeze else model

        register_model(name, task="classify")(build)
        return fn

    return deco
