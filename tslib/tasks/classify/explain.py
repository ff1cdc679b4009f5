"""Where a classifier looked: class activation maps (Grad-CAM, Grad-CAM++) through ``pytorch_grad_cam``.

The target layer is chosen in one place, :func:`cam_target_layer`, from the ``Classifier``'s own ``stages``: the
last stage whose output is still a spatial map (for every registered backbone, the last conv block before global
pooling), so a new architecture needs no entry here as long as it names its stages.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import Tensor, nn
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as F

from ...data.fastaug import transforms_for
from ...data.imageio import ImageReadError, load_rgb
from ...data.transforms import denormalize
from ...errors import check_out_dir
from ...utils import resolve_device
from ...viz.heatmap import overlay

#: ``--cam`` names. Both weight the target layer's channels by the class score's gradients; Grad-CAM++ weights
#: positive gradients per location, which separates several instances of a class better. Gradient-free methods
#: (EigenCAM) are left out: their maps do not depend on the class, so they cannot say why *this* class.
METHODS: dict[str, type] = {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus}
PROBE_SIZE = 64  #: side of the input that finds which stages still output a spatial map (cheap, any backbone)


def _method(name: str) -> type:
    if name not in METHODS:
        raise ValueError(f"unknown CAM method {name!r}; valid: {', '.join(METHODS)}")
    return METHODS[name]


def cam_target_layer(model: nn.Module) -> nn.Module:
    """The module whose activations the CAM weights: the output module of the last backbone stage whose
    output is 4-D ``[N, C, H, W]`` (checked with forward hooks on a small probe input)."""
    stages, backbone = getattr(model, "stages", None), getattr(model, "backbone", None)
    if not stages or backbone is None:
        raise ValueError(f"cannot explain a {type(model).__name__}: Grad-CAM needs a tslib Classifier whose "
                         "backbone names its stages")
    layers = [backbone.get_submodule(stage[-1]) for stage in stages]  # a stage's last module gives its output
    shapes: dict[int, tuple[int, ...]] = {}
    hooks = [m.register_forward_hook(lambda _m, _i, out, k=k: shapes.__setitem__(k, tuple(out.shape)))
             for k, m in enumerate(layers)]
    was_training, p = model.training, next(model.parameters())
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, PROBE_SIZE, PROBE_SIZE, device=p.device, dtype=p.dtype))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    for k in reversed(range(len(layers))):
        if len(shapes.get(k, ())) == 4:
            return layers[k]
    raise ValueError(f"cannot explain {getattr(model, 'name', '') or type(model).__name__}: no backbone stage "
                     "outputs a spatial [N, C, H, W] map")


def explain(model: nn.Module, x: Tensor, targets: Sequence[int] | Tensor | None = None,
            method: str = "gradcam") -> Tensor:
    """Heat maps ``[N, H, W]`` in [0, 1] at the input's resolution for preprocessed images ``x`` ``[N, 3, H, W]``,
    of class ``targets`` (default: each image's predicted class). Works on frozen backbones and in no-grad code;
    leaves the model's mode, ``requires_grad`` flags and ``.grad`` as they were."""
    cam_cls = _method(method)
    if x.ndim != 4:
        raise ValueError(f"explain takes a batch [N, 3, H, W], got shape {tuple(x.shape)}")
    targets, n_classes = None if targets is None else [int(t) for t in targets], getattr(model, "num_classes", -1)
    if targets is not None:
        if len(targets) != len(x) or any(t < 0 or (n_classes > 0 and t >= n_classes) for t in targets):
            raise ValueError(f"targets must be {len(x)} class indices in 0..{n_classes - 1}, got {targets}")
    layer = cam_target_layer(model)
    params = list(model.parameters())
    state = [(p.requires_grad, p.grad) for p in params]
    was_training = model.training
    try:
        # Gradients flow from the input, not the weights: a frozen backbone still explains, no weight gradient
        # is computed (cheaper), and grad-cam's model.zero_grad() cannot wipe a training step's gradients.
        for p in params:
            p.requires_grad_(False)
        with torch.inference_mode(False), torch.enable_grad():
            x = x.detach().clone().to(params[0].device).requires_grad_(True)
            cam = cam_cls(model=model, target_layers=[layer])  # puts the model in eval mode (BatchNorm stats)
            try:
                maps = cam(input_tensor=x, targets=None if targets is None else
                           [ClassifierOutputTarget(t) for t in targets])
            finally:
                cam.activations_and_grads.release()
    finally:
        for p, (flag, grad) in zip(params, state):
            p.requires_grad_(flag)
            p.grad = grad
        model.train(was_training)  # after the flags: a Classifier keeps frozen parts in eval mode
    heats = torch.from_numpy(np.asarray(maps, dtype=np.float32)).clamp_(0, 1)
    # grad-cam divides by (max + 1e-7): maps of tiny activations (e.g. an untrained V2) would peak below 1
    peak = heats.amax((1, 2), keepdim=True)
    return torch.where(peak > 0, heats / peak.clamp_min(1e-12), heats)


def explain_inputs(model: nn.Module, x: Tensor, info: dict, targets: Sequence[int] | None = None,
                   method: str = "gradcam", batch_size: int = 16) -> dict:
    """Preprocessed images ``x`` -> ``{"images"`` (what the model saw, uint8 ``[N, H, W, 3]``), ``"heats"``,
    ``"probs"`` ``[N, C]``, ``"classes"}``, the layout :func:`tslib.viz.classify.plot_explanations` takes."""
    prep, device = info["preprocessing"], next(model.parameters()).device
    if len(x) == 0:
        return {"images": np.zeros((0, *x.shape[-2:], 3), np.uint8), "heats": torch.zeros(0, *x.shape[-2:]),
                "probs": torch.zeros(0, len(info["classes"])), "classes": list(info["classes"])}
    was_training = model.training
    with torch.no_grad():
        logits = torch.cat([model.eval()(b.to(device)).float().cpu() for b in x.split(batch_size)])
    model.train(was_training)
    cal = info.get("calibration")  # the run's fitted temperature, so probabilities match predict's
    probs = (logits / float(cal.get("temperature", 1.0) if isinstance(cal, dict) else 1.0)).softmax(1)
    pick = probs.argmax(1).tolist() if targets is None else [int(t) for t in targets]
    heats = torch.cat([explain(model, b, pick[i:i + batch_size], method)
                       for i, b in zip(range(0, len(x), batch_size), x.split(batch_size))])
    seen = denormalize(x.float().cpu(), prep["mean"], prep["std"]).mul(255).round().byte()
    return {"images": seen.permute(0, 2, 3, 1).numpy(), "heats": heats, "probs": probs,
            "classes": list(info["classes"])}


def explain_images(model: nn.Module, info: dict, images: Tensor, targets: Sequence[int] | None = None,
                   method: str = "gradcam") -> dict:
    """:func:`explain_inputs` for [0, 1] image tensors ``[N, 3, H, W]`` (e.g. generated samples), preprocessed
    as the run's classifier sees them."""
    from ..generate.judges import classifier_inputs  # the one home of this preprocessing

    return explain_inputs(model, classifier_inputs(images.float(), info["preprocessing"]), info, targets, method)


def most_confident_mistakes(probs: Tensor, labels: Tensor, n: int) -> Tensor:
    """Indices of the ``n`` wrong predictions with the highest confidence, most confident first (labels < 0,
    i.e. unlabelled, never count as mistakes)."""
    conf, pred = probs.max(1)
    wrong = (pred != labels) & (labels >= 0)
    order = conf.argsort(descending=True, stable=True)
    return order[wrong[order]][:n]


def _card(image: np.ndarray, heat: Tensor, text: str, height: int = 320) -> Image.Image:
    """Image | overlay, enlarged to at least ``height`` pixels, under a line of text."""
    pair = np.concatenate([image, np.full((image.shape[0], 4, 3), 255, np.uint8), overlay(image, heat)], 1)
    scale = max(1.0, height / pair.shape[0])
    body = Image.fromarray(pair).resize((round(pair.shape[1] * scale), round(pair.shape[0] * scale)),
                                        Image.Resampling.BICUBIC)
    font = ImageFont.load_default(size=16)
    card = Image.new("RGB", (body.width, body.height + 26), "white")
    card.paste(body, (0, 26))
    ImageDraw.Draw(card).text((4, 4), text, fill="black", font=font)
    return card


def write_explanations(model: nn.Module, info: dict, results: Sequence[dict], out_dir: str | Path,
                       method: str = "gradcam", batch_size: int = 16, device: str = "cpu") -> list[Path]:
    """One ``<out_dir>/<stem>_<method>.png`` per readable ``predict`` result (entries with ``"error"`` are skipped):
    the image as the model saw it beside its heat map for the predicted class, under the class and probability.
    Inputs sharing a stem get ``<stem>-1``, ``<stem>-2``... The model moves to ``device``. Returns the paths."""
    _method(method)
    out = check_out_dir(out_dir)
    model = model.to(resolve_device(device))
    tf, classes = transforms_for(info["preprocessing"]), list(info["classes"])
    todo = [r for r in results if "error" not in r]
    counts, seen = Counter(Path(r["path"]).stem for r in todo), Counter()
    written: list[Path] = []
    out.mkdir(parents=True, exist_ok=True)
    for i in range(0, len(todo), batch_size):  # read batch by batch: memory stays flat for any number of images
        chunk, x = [], []
        for r in todo[i:i + batch_size]:
            try:
                x.append(tf(tv_tensors.Image(F.pil_to_tensor(load_rgb(r["path"])))))
                chunk.append(r)
            except ImageReadError:  # gone or changed since predict read it: nothing to explain
                continue
        if not chunk:
            continue
        targets = [classes.index(r["class"]) if r.get("class") in classes else None for r in chunk]
        ex = explain_inputs(model, torch.stack(x), info, None if None in targets else targets, method, batch_size)
        for r, image, heat, p in zip(chunk, ex["images"], ex["heats"], ex["probs"]):
            stem = Path(r["path"]).stem
            if counts[stem] > 1:
                seen[stem] += 1
                stem = f"{stem}-{seen[stem]}"
            label = r.get("class") or classes[int(p.argmax())]
            text = f"{label} {float(r.get('prob', p.max())):.1%}" + (" (uncertain)" if r.get("uncertain") else "")
            path = out / f"{stem}_{method}.png"
            _card(image, heat, f"{text} | {method}").save(path)
            written.append(path)
    return written
