"""The paths the doctor exercises: training in each precision for each task, the loss scaler with two D steps,
the device augmentation, compilation, the feature cache, TTA, OOD scores, Grad-CAM, sliding-window segmentation,
export, and an interrupted run resumed; each on tiny procedural data written on first use."""

from __future__ import annotations

from pathlib import Path

import torch

from .core import Doctor


def _data(doc: Doctor, what: str) -> str:
    """The tiny procedural data a path needs, written on first use: ``manifest`` (landscape photos, prepared),
    ``landcover`` (aerial maps, tiled) or ``ood`` (images that are not landscapes)."""
    from ..data.workspace import write_procedural

    if what not in doc.state:
        out = doc.out / "data"
        if what == "manifest":
            from ..data.prepare import prepare

            write_procedural(out / "photos", per_class=8, size=64, seed=0, difficulty="easy")
            doc.state[what] = str(prepare(out / "prep", intel=out / "photos" / "intel",
                                          landscape=out / "photos" / "landscape", progress=False).manifest)
        elif what == "landcover":
            from ..data.aerial import write_aerial
            from ..data.landcover import prepare_landcover

            root = write_aerial(out / "landcover", n_images=3, height=1024, width=1280, seed=0, difficulty="easy")
            prepare_landcover(root, progress=False)
            doc.state[what] = str(root)
        else:
            from ..data.not_landscapes import write_not_landscapes

            write_not_landscapes(out / "not_landscapes", per_kind=2, size=64, kinds=("noise", "documents"))
            doc.state[what] = str(out / "not_landscapes")
    return doc.state[what]


def _engine(device: torch.device, **kw):
    from ..engine import TrainConfig

    base = dict(epochs=2, batch_size=8, num_workers=0, progress=False, device=str(device), seed=0)
    return TrainConfig(**{**base, **kw})


def _classify(doc: Doctor, name: str, **kw) -> str:
    from ..tasks.classify import ClassifyConfig, train_classifier

    engine = {k: kw.pop(k) for k in list(kw) if k in ("amp", "compile", "epochs")}
    cfg = ClassifyConfig(manifest=_data(doc, "manifest"), **{"model": "cnn", "img_size": 48, **kw},
                         train=_engine(doc.device, **engine))
    run = doc.out / "runs" / name
    metrics = train_classifier(cfg, run)
    doc.state.setdefault("classify_run", run)
    return f"test accuracy {metrics['test']['accuracy']:.2f}"


def _generate(doc: Doctor, name: str, **kw) -> str:
    from ..tasks.generate import GenerateConfig, train_generator

    amp = kw.pop("amp", "auto")
    cfg = GenerateConfig(manifest=_data(doc, "manifest"), **{"model": "vae", "img_size": 32, "width": 16,
                                                                     **kw},
                         train=_engine(doc.device, epochs=1, amp=amp))
    metrics = train_generator(cfg, doc.out / "runs" / name)
    return ", ".join(f"{k} {v:.3g}" for k, v in metrics["test"].items() if k in ("recon_mse", "fid"))


def _segment(doc: Doctor, name: str, amp: str) -> str:
    from ..tasks.segment import SegmentConfig, train_segmenter

    cfg = SegmentConfig(landcover=_data(doc, "landcover"), img_size=64, depth=2, width=8, limit_tiles=8,
                        train=_engine(doc.device, epochs=1, amp=amp, batch_size=4))
    run = doc.out / "runs" / name
    metrics = train_segmenter(cfg, run)
    doc.state.setdefault("segment_run", run)
    return f"test mIoU {metrics['test']['miou']:.2f}"


def _need_classify(doc: Doctor) -> Path:
    run = doc.state.get("classify_run")
    if run is None:
        _classify(doc, "classify-auto")
        run = doc.state["classify_run"]
    return run


def _tta(doc: Doctor) -> str:
    from ..tasks.classify import evaluate_run

    m = evaluate_run(_need_classify(doc), splits=["test"], tta=True, device=str(doc.device))
    return f"accuracy {m['test']['accuracy']:.2f} -> {m['test_tta']['accuracy']:.2f} with flip TTA"


def _ood(doc: Doctor) -> str:
    from ..tasks.classify import evaluate_run

    ood = evaluate_run(_need_classify(doc), splits=[], ood=_data(doc, "ood"), device=str(doc.device))["ood"]
    return f"{ood['score']} AUROC {ood['auroc']:.2f} on {ood['n_ood']} non-landscapes"


def _gradcam(doc: Doctor) -> str:
    from ..tasks.classify import load_run
    from ..tasks.classify.explain import explain_images

    model, info = load_run(_need_classify(doc), str(doc.device))
    shown = explain_images(model, info, torch.rand(2, 3, 48, 48))
    return f"{len(shown['heats'])} heat maps"


def _sliding(doc: Doctor) -> str:
    from ..tasks.segment import load_segmenter
    from ..tasks.segment.maps import segment_file

    run = doc.state.get("segment_run")
    if run is None:
        _segment(doc, "segment-auto", "auto")
        run = doc.state["segment_run"]
    model, info = load_segmenter(run, str(doc.device))
    ortho = sorted((Path(_data(doc, "landcover")) / "images").glob("*.tif"))[0]
    result = segment_file(model, ortho, doc.out / "maps", info["classes"], info["colours"], window=256,
                          device=str(doc.device))
    return f"{result['width']}x{result['height']} px in windows of 256"


def _export(doc: Doctor) -> str:
    from ..export import export_run
    from ..tasks.classify import predict

    run = _need_classify(doc)
    written = export_run(run, doc.out / "model.onnx")
    files = sorted((Path(_data(doc, "ood")) / "noise").glob("*.png"))
    on_device = [r["class"] for r in predict(run, files, device=str(doc.device))]
    on_cpu = [r["class"] for r in predict(run, files, device="cpu")]  # the device's run, loaded on a CPU
    if on_cpu != on_device:
        raise AssertionError(f"the run predicts {on_device} on {doc.device} but {on_cpu} on the CPU")
    return f"ONNX max diff {max(written['max_diff'].values()):.1e}; same classes on the CPU"


def _interrupted(doc: Doctor) -> str:
    from ..errors import TrainingInterrupted
    from ..tasks.classify import ClassifyConfig, train_classifier

    cfg = ClassifyConfig(manifest=_data(doc, "manifest"), model="cnn", img_size=48,
                         train=_engine(doc.device, epochs=2))
    run = doc.out / "runs" / "interrupted"

    def cut(info: dict) -> None:
        if info["epoch"] == 1:
            raise KeyboardInterrupt

    try:
        train_classifier(cfg, run, callbacks=[cut])
        raise AssertionError("the interruption was not seen")
    except TrainingInterrupted:
        pass
    train_classifier(cfg, run, resume=True)
    epochs = len((run / "history.csv").read_text().splitlines()) - 1
    if epochs != 2:
        raise AssertionError(f"the resumed run has {epochs} epochs, not 2")
    return "stopped after epoch 1, resumed to epoch 2"


def run_paths(doc: Doctor, only: list[str] | None = None) -> None:
    """Every path in order (the skips say what this device lacks); ``only``: the paths whose name contains one of
    these words."""
    from ..engine.precision import native_bf16

    cuda = doc.device.type == "cuda"
    no_cuda = None if cuda else "needs a CUDA GPU"
    no_bf16 = None if (not cuda or native_bf16(doc.device)) else "bf16 needs compute capability 8.0 (this GPU: fp16)"
    doc.only = only
    doc.run("classify: fp16 autocast + GradScaler", lambda: _classify(doc, "classify-fp16", amp="fp16",
                                                                     gpu_augment=False), no_cuda)
    doc.run("classify: bf16 autocast", lambda: _classify(doc, "classify-bf16", amp="bf16", gpu_augment=False),
            no_bf16)
    doc.run("generate: fp16 autocast + GradScaler", lambda: _generate(doc, "vae-fp16", amp="fp16"), no_cuda)
    doc.run("generate: bf16 autocast", lambda: _generate(doc, "vae-bf16", amp="bf16"), no_bf16)
    doc.run("segment: fp16 autocast + GradScaler", lambda: _segment(doc, "segment-fp16", "fp16"), no_cuda)
    doc.run("segment: bf16 autocast", lambda: _segment(doc, "segment-bf16", "bf16"), no_bf16)
    doc.run("GradScaler, DCGAN --d-steps 2", lambda: _generate(doc, "dcgan-d2", model="dcgan", conditional=True,
                                                               d_steps=2, amp="fp16"), no_cuda)
    doc.run("--gpu-augment (device augmentation)", lambda: _classify(doc, "classify-gpuaug", gpu_augment=True))
    doc.run("--compile", lambda: _classify(doc, "classify-compile", compile=True, epochs=1))
    doc.run("feature cache (frozen Lite0)", lambda: _classify(doc, "lite0-cache", model="efficientnet_lite0",
                                                              pretrained=True, freeze=True, feature_cache=True,
                                                              img_size=64))
    doc.run("evaluate --tta", lambda: _tta(doc))
    doc.run("evaluate --ood", lambda: _ood(doc))
    doc.run("Grad-CAM", lambda: _gradcam(doc))
    doc.run("sliding-window segmentation", lambda: _sliding(doc))
    doc.run("export, then the run on a CPU", lambda: _export(doc))
    doc.run("interrupted run resumed", lambda: _interrupted(doc))


