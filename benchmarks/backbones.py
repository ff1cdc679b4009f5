"""Frozen ImageNet backbones + MLP head on cached features, side by side: accuracy against wall time per backbone.

    python benchmarks/backbones.py --manifest DIR/manifest.csv [DIR2/manifest.csv ...] --out DIR \
        [--backbones efficientnet_lite0,efficientnet_lite1,efficientnet_lite2,efficientnet_v2_s] [--views 1,2,4]
        [--tta] [--finetune 1] [--epochs 10] [--limit-per-class 60] [--workers 0] [--device cpu]

Every run goes through the public API (``ClassifyConfig`` + ``train_classifier``): pretrained backbone, frozen,
each at its own resolution and normalisation, its features cached once (``--views K``: the clean view and K-1
augmented ones), the head trained for ``--epochs`` on them, then the usual end of a run (temperature and OOD
thresholds on val, val and test evaluated; ``--tta`` adds flip TTA). Per backbone and views it prints one
markdown row: val and test accuracy, feature-extraction seconds and images/s (decode + augmentation + backbone),
head-training seconds, total seconds, and the total against the first backbone's (a ratio measured in one run).
``--finetune N`` also fine-tunes the last ``--finetune-stages`` stages for N epochs after the head epochs (the
head phase reuses the cached features) and prints what it adds: accuracy and seconds.

Several ``--manifest`` (e.g. the same images split with other seeds) average accuracies and times over them: on a
sample of 126 real photos a test split holds 19, and one split says little. EfficientNetV2-S is measured for wall
time only unless its ImageNet weights are in ``$TSLIB_WEIGHTS_DIR`` or the torch hub cache (nothing is downloaded);
without them its head trains on random features and its accuracy is not shown.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from unittest import mock

LITE = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
BACKBONES = (*LITE, "efficientnet_v2_s")


def v2s_weights() -> Path | None:
    """The V2-S ImageNet file where ``pretrained=True`` would find it without a download, else None."""
    import torch
    from torchvision.models import EfficientNet_V2_S_Weights

    from tslib.models.weights import local_weights_file

    name = os.path.basename(EfficientNet_V2_S_Weights.IMAGENET1K_V1.url)
    hub = Path(torch.hub.get_dir()) / "checkpoints" / name
    return local_weights_file(name) or (hub if hub.is_file() else None)


def history_seconds(run: Path) -> float:
    """Seconds of the epochs in a run folder's history.csv (training and validation of each epoch)."""
    with open(run / "history.csv") as fh:
        return sum(float(r["seconds"]) for r in csv.DictReader(fh))


def train(manifest: str, backbone: str, views: int, epochs: int, run: Path, args, pretrained: bool,
          finetune: int = 0) -> dict:
    """One run; times the feature cache by wrapping the function ``train_classifier`` calls to build it."""
    from tslib.engine import TrainConfig
    from tslib.tasks.classify import ClassifyConfig, train_classifier
    from tslib.tasks.classify import train as train_module

    extract = {"s": 0.0, "rows": 0}
    real = train_module.cached_features

    def timed(*a, **kw):
        t = time.perf_counter()
        out = real(*a, **kw)
        extract["s"] += time.perf_counter() - t
        extract["rows"] += len(out)
        return out

    engine = TrainConfig(epochs=epochs + finetune, batch_size=args.batch_size, lr=args.lr,
                         num_workers=args.workers, device=args.device, seed=args.seed, progress=False)
    cfg = ClassifyConfig(manifest=manifest, model=backbone, pretrained=pretrained, freeze=True, feature_cache=True,
                         cache_views=views, limit_per_class=args.limit_per_class, tta=args.tta,
                         unfreeze_after=epochs if finetune else None, unfreeze_stages=args.finetune_stages,
                         finetune_lr_scale=args.finetune_lr_scale, train=engine)
    t = time.perf_counter()
    with mock.patch.object(train_module, "cached_features", timed):
        metrics = train_classifier(cfg, run)
    total = time.perf_counter() - t
    ft = run / "finetune"
    return {"total_s": total, "extract_s": extract["s"], "rows": extract["rows"],
            "head_s": history_seconds(run), "finetune_s": history_seconds(ft) if finetune else 0.0,
            "val": metrics["val"]["accuracy"], "test": metrics["test"]["accuracy"],
            "test_tta": metrics.get("test_tta", {}).get("accuracy")}


def clean_features(manifest: str, backbone: str, args) -> tuple:
    """Backbone features of every labelled image of ``manifest`` (all splits), eval transform, and their labels."""
    import torch
    from torch.utils.data import ConcatDataset, DataLoader

    from tslib.data.datasets import LandscapeDataset
    from tslib.data.fastaug import transforms_for
    from tslib.models import create_model
    from tslib.tasks.classify import extract_features, preprocessing

    model = create_model(backbone, 2, pretrained=True)
    tf = transforms_for(preprocessing(model), train=False)
    classes = LandscapeDataset(manifest, "train").classes
    data = ConcatDataset([LandscapeDataset(manifest, s, tf, classes=classes) for s in ("train", "val", "test")])
    loader = DataLoader(data, batch_size=args.batch_size, num_workers=args.workers)
    with torch.inference_mode():
        return extract_features(model.backbone, loader, args.device, progress=False)


def fit_logistic(x, y, classes: int, l2: float) -> tuple:
    """Weights and bias of a multinomial logistic regression, full-batch LBFGS."""
    import torch
    import torch.nn.functional as F

    w = torch.zeros(x.shape[1], classes, requires_grad=True)
    b = torch.zeros(classes, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(x @ w + b, y) + l2 / 2 * w.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach(), b.detach()


def probe_cv(x, y, folds: int, repeats: int = 10, l2: float = 1e-2) -> list[float]:
    """Accuracy of an L2-regularised logistic regression on standardised features, stratified ``folds``-fold
    cross-validation repeated ``repeats`` times (every image is a test image once per repeat): on a small sample
    this compares backbones with far less noise than one 19-image test split."""
    import torch

    accs = []
    for rep in range(repeats):
        g = torch.Generator().manual_seed(rep)
        fold = torch.empty_like(y)
        for c in y.unique():  # stratified: each class dealt round-robin into the folds, in a random order
            idx = (y == c).nonzero().squeeze(1)
            fold[idx[torch.randperm(len(idx), generator=g)]] = torch.arange(len(idx)) % folds
        correct = 0
        for f in range(folds):
            tr, te = fold != f, fold == f
            mu, sd = x[tr].mean(0), x[tr].std(0) + 1e-6
            xtr, xte = (x[tr] - mu) / sd, (x[te] - mu) / sd
            w, b = fit_logistic(xtr, y[tr], int(y.max()) + 1, l2)
            with torch.no_grad():
                correct += int(((xte @ w + b).argmax(1) == y[te]).sum())
        accs.append(correct / len(y))
    return accs


def mean(rs: list[dict], key: str) -> float | None:
    vals = [r[key] for r in rs if r[key] is not None]
    return statistics.fmean(vals) if vals else None


def pct(x: float | None, rs: list[dict] | None = None, key: str = "") -> str:
    """A percentage, with the spread over manifests when there are several."""
    if x is None:
        return "-"
    spread = f" ± {100 * statistics.stdev([r[key] for r in rs]):.1f}" if rs and len(rs) > 1 else ""
    return f"{100 * x:.1f}{spread}"


HEADER = ("| backbone | px | views | head epochs | val acc % | test acc % | test acc % TTA | features s | images/s | "
          "head s | total s | total vs first |\n|---|---|---|---|---|---|---|---|---|---|---|---|")


def row(backbone: str, px: int, views: int, epochs: int, rs: list[dict], first_total: float, shown: bool) -> str:
    acc = [pct(mean(rs, k), rs, k) if shown else "n/a (random weights)" for k in ("val", "test")]
    tta = pct(mean(rs, "test_tta"), rs, "test_tta") if shown else "-"
    ext = mean(rs, "extract_s")
    return (f"| {backbone} | {px} | {views} | {epochs} | {acc[0]} | {acc[1]} | {tta} | {ext:.1f} | "
            f"{mean(rs, 'rows') / ext:.1f} | {mean(rs, 'head_s'):.1f} | {mean(rs, 'total_s'):.1f} | "
            f"{mean(rs, 'total_s') / first_total:.2f}x |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", nargs="+", required=True, help="manifest.csv files (several: averaged)")
    ap.add_argument("--out", type=Path, required=True, help="run folders go here (a second call starts afresh)")
    ap.add_argument("--backbones", default=",".join(BACKBONES))
    ap.add_argument("--views", default="1,2,4", help="cached views per training image, comma-separated")
    ap.add_argument("--tta", action="store_true", help="also evaluate the test split with flip TTA")
    ap.add_argument("--finetune", type=int, default=0, metavar="N",
                    help="also fine-tune for N epochs after the head epochs (0: no)")
    ap.add_argument("--finetune-stages", type=int, default=1, help="last backbone stages fine-tuned")
    ap.add_argument("--finetune-lr-scale", type=float, default=0.1, help="backbone lr = lr x this while fine-tuning")
    ap.add_argument("--epochs", default="10", help="head epochs on the cached features, comma-separated (later "
                    "values reuse the first's features: their features s and total s include its extraction)")
    ap.add_argument("--limit-per-class", type=int, default=None, help="train/val images per class")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--workers", type=int, default=0, help="loader workers (0: the most repeatable on a shared CPU)")
    ap.add_argument("--probe", type=int, default=0, metavar="K",
                    help="also K-fold cross-validate a linear probe on every image of the first manifest (0: no)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    backbones = [b.strip() for b in args.backbones.split(",") if b.strip()]
    unknown = sorted(set(backbones) - set(BACKBONES))
    if unknown:
        ap.error(f"unknown backbone(s) {', '.join(unknown)}; choose from {', '.join(BACKBONES)}")
    views = [int(v) for v in args.views.split(",")]
    epoch_list = [int(e) for e in args.epochs.split(",")]
    os.environ.setdefault("TSLIB_FSYNC", "0")  # checkpoints skip fsync: durability is not what this measures
    import torch

    from tslib.models import create_model
    from tslib.tasks.classify import link_cache

    v2s = v2s_weights() if "efficientnet_v2_s" in backbones else None
    print(f"{len(args.manifest)} manifest(s): {', '.join(args.manifest)}; limit "
          f"{args.limit_per_class or 'none'} per class, batch {args.batch_size}, lr {args.lr:g}, device "
          f"{args.device}, {torch.get_num_threads()} torch thread(s), {args.workers} loader workers; "
          f"{os.cpu_count()} CPU cores (shared with other jobs: times are rough)")
    if "efficientnet_v2_s" in backbones:
        missing = "not found in $TSLIB_WEIGHTS_DIR or the torch hub cache: wall time only (random weights)"
        print(f"efficientnet_v2_s ImageNet weights: {v2s or missing}")
    print(HEADER, flush=True)
    first_total, tuned = None, []
    for backbone in backbones:
        shown = backbone in LITE or v2s is not None
        px = create_model(backbone, 2).data_config["input_size"]
        for k in views:
            firsts: list[dict] = []
            for e in epoch_list:
                rs, fts = [], []
                for i, manifest in enumerate(args.manifest):
                    run = args.out / f"{backbone}-v{k}-e{e}-m{i}"
                    for folder in (run, run.with_name(run.name + "-ft")):
                        shutil.rmtree(folder, ignore_errors=True)  # this script's own run folders: measure afresh
                    if firsts:  # the same features as the first epochs value's run: reuse them, count their time
                        link_cache(args.out / f"{backbone}-v{k}-e{epoch_list[0]}-m{i}", run)
                    r = train(manifest, backbone, k, e, run, args, pretrained=shown)
                    if firsts:
                        first = firsts[i]
                        r |= {"extract_s": first["extract_s"], "rows": first["rows"],
                              "total_s": r["total_s"] - r["extract_s"] + first["extract_s"]}
                    rs.append(r)
                    if args.finetune and shown and (k, e) == (views[-1], epoch_list[-1]):
                        link_cache(run, run.with_name(run.name + "-ft"))  # the head phase reuses the features
                        fts.append(train(manifest, backbone, k, e, run.with_name(run.name + "-ft"), args, True,
                                         args.finetune))
                firsts = firsts or rs
                first_total = first_total or mean(rs, "total_s")
                print(row(backbone, px, k, e, rs, first_total, shown), flush=True)
                if fts:
                    tuned.append((backbone, k, e, rs, fts))
    probes = [b for b in backbones if b in LITE or v2s is not None] if args.probe else []
    if probes:
        print(f"\nlinear probe on the clean features of all {args.manifest[0]} images, {args.probe}-fold "
              "cross-validation x 10 repeats:\n| backbone | probe acc % | features s |\n|---|---|---|")
    for backbone in probes:
        t = time.perf_counter()
        x, y = clean_features(args.manifest[0], backbone, args)
        accs, ext = probe_cv(x, y, args.probe), time.perf_counter() - t
        print(f"| {backbone} | {100 * statistics.fmean(accs):.1f} ± {100 * statistics.stdev(accs):.1f} | "
              f"{ext:.1f} |", flush=True)
    if tuned:
        print(f"\nfine-tuning the last {args.finetune_stages} stage(s) for {args.finetune} epoch(s) after the head "
              f"epochs (backbone lr x {args.finetune_lr_scale:g}), against the head alone:\n"
              "| backbone | views | head epochs | val acc % | test acc % | test acc % TTA | test gain (points) | "
              "added s |\n|---|---|---|---|---|---|---|---|")
        for backbone, k, e, rs, fts in tuned:
            gain = 100 * (mean(fts, "test") - mean(rs, "test"))
            print(f"| {backbone} | {k} | {e} | {pct(mean(fts, 'val'), fts, 'val')} | "
                  f"{pct(mean(fts, 'test'), fts, 'test')} | {pct(mean(fts, 'test_tta'), fts, 'test_tta')} | "
                  f"{gain:+.1f} | {mean(fts, 'finetune_s'):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
