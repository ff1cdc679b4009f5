"""Landscape classification: its task, config, training, evaluation, feature cache and prediction."""

from .config import ClassifyConfig
from .data import preprocessing
from .evaluate import evaluate_run, load_run
from .features import cached_features, extract_features, link_cache
from .metrics import classification_metrics, evaluate_loader, predict_probs, softmax_probs
from .predict import collect_images, predict, predict_images
from .task import ClassificationTask
from .train import train_classifier

__all__ = [
    "ClassificationTask",
    "ClassifyConfig",
    "cached_features",
    "classification_metrics",
    "collect_images",
    "evaluate_loader",
    "evaluate_run",
    "extract_features",
    "link_cache",
    "load_run",
    "predict",
    "predict_images",
    "predict_probs",
    "preprocessing",
    "softmax_probs",
    "train_classifier",
]

from .. import TaskSpec  # noqa: E402
from . import cli as _cli  # noqa: E402

SPEC = TaskSpec(
    name="classify",
    help="landscape classification (7 classes)",
    config_cls=ClassifyConfig,
    train=train_classifier,
    evaluate=evaluate_run,
    format_metrics=_cli.format_metrics,
    add_commands=_cli.add_commands,
)
