"""A classifier that says how sure it is: temperature-scaled probabilities plus an out-of-distribution score.

After training, :func:`fit_trust` fits on the run's validation split a temperature (``run.json`` ``calibration``) and
every OOD score of :mod:`.ood` with its threshold for the configured false-rejection rate (``run.json`` ``ood``; the
scorers' buffers in ``ood.pt``). :func:`load_trusted` gives the :class:`TrustedClassifier` that ``predict``,
``evaluate``, the notebooks and ``export`` all use, so the probabilities a user sees are the same everywhere.
"""

from __future__ import annotations

import contextlib
import copy
import math
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from ...engine import runs
from ...engine.checkpoint import read_torch_file
from ...engine.inference import run_batches
from ...engine.precision import autocast_active, full_precision
from ...errors import CheckpointError, RunFolderError
from ...models import Classifier
from ...utils import atomic_save, resolve_device
from .. import load_run as load_task_run
from .calibration import REFIT, check_temperature, fit_temperature
from .ood import SCORES, OODScorer, choose_threshold, fit_scorer, scorer_from_state, scorer_state

OOD_FILE = "ood.pt"


class TrustedClassifier(nn.Module):
    """``forward(x) -> (probs, logits, score)``: ``probs = softmax(logits / temperature)``; ``score`` [N] is the OOD
    score (higher = more like the training photos; the calibrated max probability when there is no scorer)."""

    def __init__(self, model: Classifier, temperature: float = 1.0, scorer: OODScorer | None = None,
                 threshold: float | None = None) -> None:
        super().__init__()
        self.model, self.scorer = model, scorer
        self.register_buffer("temperature", torch.tensor(float(temperature)))
        #: below this score an image is ``uncertain``; None: never
        self.threshold = threshold

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        features = self.model.backbone(x)
        logits = self.model.head(features)
        # Probabilities and OOD scores in fp32 even inside an autocast region: their thresholds were fitted on
        # fp32 scores, and a Mahalanobis distance in bf16 loses the digits that decide "uncertain".
        with full_precision(x.device) if autocast_active(x.device) else contextlib.nullcontext():
            features, logits = features.float(), logits.float()
            probs = (logits / self.temperature).softmax(1)
            score = self.scorer(features, logits) if self.scorer is not None else probs.amax(1)
        return probs, logits, score

    @property
    def score_name(self) -> str:
        return self.scorer.kind if self.scorer is not None else "msp"


def features_and_logits(model: Classifier, loader: DataLoader, device: torch.device | str = "cpu",
                        progress: bool = False, desc: str = "scoring") -> tuple[Tensor, Tensor, Tensor | None]:
    """Backbone features [N, D], logits [N, C] and labels over ``loader`` (one pass)."""
    def both(x: Tensor) -> Tensor:
        f = model.backbone(x)
        return torch.cat([f.float(), model.head(f).float()], 1)

    out, labels = run_batches(model, loader, device, both, progress, desc)
    return out[:, : model.feature_dim], out[:, model.feature_dim :], labels


def fit_trust(run_dir: str | Path, model: Classifier, val_loader: DataLoader, train_loader: DataLoader | None,
              device: torch.device | str, calibrate: bool = True, score: str = "knn",
              false_rejection: float = 0.05, train_features: tuple[Tensor, Tensor] | None = None,
              seed: int = 0, progress: bool = False) -> dict:
    """Fit the temperature and OOD scores of a finished run on its val split; write ``ood.pt`` and the
    ``calibration``/``ood`` entries of ``run.json``; return those entries.

    ``train_features`` (clean-view backbone features and labels of the training images, e.g. from the feature
    cache) saves a pass over ``train_loader``."""
    run_dir = Path(run_dir)
    if score not in SCORES:
        raise ValueError(f"unknown OOD score {score!r}; valid: {', '.join(SCORES)}")
    val_f, val_logits, val_y = features_and_logits(model, val_loader, device, progress, "calibrating on val")
    if val_y is None:
        raise ValueError("the validation loader has no labels")
    temperature = fit_temperature(val_logits, val_y) if calibrate else 1.0
    if train_features is None:
        if train_loader is None:
            raise ValueError("fit_trust needs train_loader or train_features")
        train_f, _, train_y = features_and_logits(model, train_loader, device, progress, "OOD: training features")
    else:
        train_f, train_y = train_features
    num_classes = val_logits.shape[1]
    scorers, thresholds = {}, {}
    for kind in SCORES:
        scorers[kind] = fit_scorer(kind, train_f, train_y, num_classes, temperature, seed=seed)
        with torch.no_grad():
            thresholds[kind] = choose_threshold(scorers[kind](val_f, val_logits), false_rejection)
    atomic_save({"scorers": {k: scorer_state(s) for k, s in scorers.items()}}, run_dir / OOD_FILE)
    entries = {
        "calibration": {"temperature": temperature, "fitted_on": "val", "n": int(len(val_y)), "method":
                        "temperature scaling (LBFGS on the NLL)" if calibrate else "none (--no-calibrate)"},
        "ood": {"score": score, "threshold": thresholds[score], "false_rejection": false_rejection,
                "thresholds": thresholds, "n_train": int(len(train_y))},
    }
    runs.update_run_info(run_dir, **entries)
    return entries


def clean_train_loader(datasets: dict, make_loader) -> DataLoader:
    """The training images under the evaluation transform (no augmentation): what OOD scores compare against."""
    clean = copy.copy(datasets["train"])
    clean.transforms = datasets["val"].transforms
    return make_loader(clean)


def _checked_threshold(value: object, where: str) -> float:
    try:
        t = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        t = float("nan")
    if isinstance(value, bool) or not math.isfinite(t):
        raise RunFolderError(f"{where}: OOD threshold {value!r} is not a number; {REFIT}, or pass --no-reject")
    return t


def _read_scorers(run_dir: Path) -> dict:
    path = run_dir / OOD_FILE
    if not path.is_file():
        raise RunFolderError(f"{path} not found (run.json names an OOD score); {REFIT}, or pass --no-reject")
    saved = read_torch_file(path, what="OOD score file")
    if not isinstance(saved, dict) or not isinstance(saved.get("scorers"), dict):
        raise CheckpointError(f"{path} is not an OOD score file; {REFIT}")
    return saved["scorers"]


def load_scorers(run_dir: str | Path) -> dict[str, OODScorer]:
    """Every OOD scorer fitted for the run (``ood.pt``), by score name."""
    out = {}
    for kind, state in _read_scorers(Path(run_dir)).items():
        try:
            out[kind] = scorer_from_state(state)
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"{Path(run_dir) / OOD_FILE}: its {kind!r} score is damaged ({e}); {REFIT}") from e
    return out


def load_trusted(run_dir: str | Path, device: str | torch.device = "cpu", calibrate: bool = True,
                 reject: bool = True, score: str | None = None) -> tuple[TrustedClassifier, dict]:
    """The run's model with its fitted temperature (``calibrate``) and OOD score and threshold (``reject``; ``score``
    picks another fitted score than the run's own). Runs trained before calibration existed load with
    temperature 1 and no threshold (``evaluate --recalibrate`` fits them)."""
    run_dir, device = Path(run_dir), resolve_device(device)
    model, info = load_task_run(run_dir, "classify", str(device))
    where = str(run_dir / runs.RUN_FILE)
    cal = info.get("calibration")
    temperature = 1.0
    if calibrate and cal is not None:
        if not isinstance(cal, dict) or "temperature" not in cal:
            raise RunFolderError(f"{where}: 'calibration' has no temperature; {REFIT}, or pass --no-calibrate")
        temperature = check_temperature(cal["temperature"], where)
    scorer, threshold = None, None
    ood = info.get("ood")
    if reject and ood is not None:
        kind = score or (ood.get("score") if isinstance(ood, dict) else None)
        if kind not in SCORES:
            raise RunFolderError(f"{where}: unknown OOD score {kind!r}; valid: {', '.join(SCORES)}")
        threshold = _checked_threshold((ood.get("thresholds") or {}).get(kind, ood.get("threshold")), where)
        scorers = load_scorers(run_dir)
        if kind not in scorers:
            raise CheckpointError(f"{run_dir / OOD_FILE} has no {kind!r} score; {REFIT}")
        scorer = scorers[kind]
    elif score is not None and score not in SCORES:
        raise ValueError(f"unknown OOD score {score!r}; valid: {', '.join(SCORES)}")
    trusted = TrustedClassifier(model, temperature, scorer, threshold)
    return trusted.to(device).eval(), info
