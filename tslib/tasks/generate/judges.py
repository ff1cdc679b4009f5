"""The judges of a generator: trained classifiers (agreement per class, and FID/KID in their own feature space) and
which of them are independent of the generator.

A generator trained against a pretrained feature network (a projected GAN's discriminator looks through frozen
ImageNet EfficientNet-Lite0 features) can please any judge that looks through the same features without looking
right (Kynkäänniemi et al., 2023). Independence is decided from data: the generator module's optional
``trained_against`` attribute (registry names of the feature networks it trained against) and the architecture a
classifier run records in its ``run.json``. A judge is independent unless it shares such a backbone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from torchvision.transforms.v2 import functional as TF

from .metrics import agreement, class_histogram

#: The registry name of the network behind the Lite0 FID feature space (``metrics.Lite0Features``).
LITE0_ARCHITECTURE = "efficientnet_lite0"


def trained_against(model: nn.Module) -> list[str]:
    """Registry names of the pretrained feature networks ``model`` trained against (none for most generators)."""
    return [str(v) for v in model.trained_against]


def independence(architecture: str, against: Sequence[str]) -> tuple[bool, str]:
    """Whether a judge looking through ``architecture`` is independent of a generator trained against ``against``,
    and why, in one sentence."""
    if architecture in against:
        return False, (f"the generator trained against {architecture} features, the backbone this judge looks "
                       "through: it can please this judge without looking right")
    if not against:
        return True, "the generator trained against no pretrained feature network"
    return True, f"the generator trained against {', '.join(against)} features, this judge is a {architecture}"


def classifier_inputs(images: Tensor, prep: dict) -> Tensor:
    """[0, 1] images -> a classifier run's eval preprocessing (resize, centre crop, normalise)."""
    mode = TF.InterpolationMode(prep.get("interpolation", "bilinear"))
    x = TF.resize(images, [prep["resize_size"]], interpolation=mode, antialias=True)
    return TF.normalize(TF.center_crop(x, [prep["size"]]), prep["mean"], prep["std"])


@dataclass
class ClassifierJudge:
    """A trained classification run used as a judge: its model, run info and the classes it shares with the
    generator (by name: the two runs may order them differently)."""

    run: Path
    model: nn.Module
    info: dict
    shared: list[str]

    @classmethod
    def load(cls, run: str | Path, generator_classes: Sequence[str], device: torch.device) -> ClassifierJudge:
        """Load a classification run (one clear error when it is missing, not a classification run, or knows none
        of the generator's classes)."""
        from ..classify.evaluate import load_run

        model, info = load_run(run, str(device))
        shared = [c for c in generator_classes if c in info["classes"]]
        if not shared:
            raise ValueError(f"classifier run {run} knows none of the generator's classes "
                             f"({', '.join(generator_classes)}); give a classifier trained on the same data")
        return cls(Path(run), model.eval(), info, shared)

    @property
    def architecture(self) -> str:
        """The classifier's backbone, as its run.json names it (the registry name)."""
        return str(self.info.get("model", {}).get("name") or self.info["config"]["model"])

    @property
    def name(self) -> str:
        return self.run.name

    @property
    def feature_space(self) -> str:
        dim = getattr(self.model, "feature_dim", "?")
        return f"{self.architecture} classifier {self.name} ({dim}-d pooled features)"

    @torch.no_grad()
    def features_and_predictions(self, images: Tensor, batch_size: int = 64) -> tuple[Tensor, Tensor]:
        """Pooled backbone features (fp64, CPU) and predicted class indices of [0, 1] images, from one forward
        pass: the head takes the very features FID/KID measure."""
        device = next(self.model.parameters()).device
        prep = self.info["preprocessing"]
        feats, preds = [], []
        for batch in images.split(batch_size):
            f = self.model.backbone(classifier_inputs(batch.to(device), prep)).float()
            feats.append(f.double().cpu())
            preds.append(self.model.head(f).argmax(1).cpu())
        return torch.cat(feats), torch.cat(preds)

    def agreement(self, asked: Sequence[int], predicted: Tensor, generator_classes: Sequence[str]) -> dict:
        """Agreement over the shared classes; a prediction of a class the generator does not know is a miss."""
        names = self.info["classes"]
        keep = [generator_classes[int(a)] in self.shared for a in asked]
        asked_s = [self.shared.index(generator_classes[int(a)]) for a, k in zip(asked, keep) if k]
        pred_s = [self.shared.index(names[int(q)]) if names[int(q)] in self.shared else -1
                  for q, k in zip(predicted, keep) if k]
        return agreement(asked_s, pred_s, self.shared)

    def histogram(self, predicted: Tensor) -> dict[str, float]:
        return class_histogram(predicted.tolist(), self.info["classes"])


def load_judges(runs: str | Path | Sequence[str | Path], generator_classes: Sequence[str],
                device: torch.device) -> list[ClassifierJudge]:
    """One judge per classifier run; a path or a list of them, no run twice."""
    runs = [runs] if isinstance(runs, str | Path) else list(runs)
    if not runs:
        raise ValueError("evaluate-generator needs at least one classifier run (--classifier RUN)")
    seen: dict[Path, str] = {}
    for r in runs:
        key = Path(r).expanduser().resolve()
        if key in seen:
            raise ValueError(f"classifier run {r} is given twice (as {seen[key]} too); give each run once")
        seen[key] = str(r)
    return [ClassifierJudge.load(r, generator_classes, device) for r in runs]
