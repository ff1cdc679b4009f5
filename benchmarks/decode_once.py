"""Decode once, and the fused EMA: the two fixes of notebook 05's per-epoch cost, each a ratio measured in one run.

    python benchmarks/decode_once.py [--quick] [--device auto] [--photo-size 600x450] [--manifest PREP]

- ``generator_decode_cache_speedup``: training images/s of a generator's loader (``run_datasets`` +
  ``run_loader`` of ``train --task generate``, 64 px, batch 16, 2 workers: a Colab runtime's 2 vCPUs) with the
  decode cache over without it, on JPEGs of ``--photo-size`` (a stand-in for the Landscape Recognition set's
  larger photos; ``--manifest`` takes your own prepared data). The loader alone, because that is what bounds a GPU
  step; an engine epoch of the VAE on ``--device`` is timed too (on a CPU the model, not the decoding, bounds it).
- ``ema_update_speedup``: the diffusion EMA update of notebook 05's model (64 px, width 32) per tensor
  (``AveragedModel(avg_fn=...)``, before) over the fused foreach update (``multi_avg_fn``, now), and
  ``ddpm_step_ratio``: a whole training step (loss, backward, AdamW, EMA) before over now.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _photos(root: Path, per_class: int, size: tuple[int, int]) -> Path:
    """The procedural dataset with every image re-encoded as a ``size`` JPEG, then prepared."""
    from PIL import Image

    from tslib.data.prepare import prepare
    from tslib.data.workspace import write_procedural

    paths = write_procedural(root / "photos", per_class=per_class)
    for path in (root / "photos").rglob("*.jp*g"):
        with Image.open(path) as im:
            im.convert("RGB").resize(size, Image.BILINEAR).save(path, quality=90)
    prepare(root / "prep", intel=paths["intel"], landscape=paths["landscape"], progress=False)
    return root / "prep" / "manifest.csv"


def _loader_rate(cfg, epochs: int) -> tuple[float, float]:
    """(images/s over ``epochs`` epochs after the first, seconds spent building the datasets)."""
    from tslib.tasks.generate.data import run_datasets, run_loader

    t = time.perf_counter()
    data = run_datasets(cfg)
    setup = time.perf_counter() - t
    loader = run_loader(data["train"], cfg, "cpu", train=True)
    for _ in loader:  # the first epoch: worker start-up, page cache
        pass
    t, n = time.perf_counter(), 0
    for _ in range(epochs):
        for batch in loader:
            n += len(batch["image"])
    return n / (time.perf_counter() - t), setup


def run_decode(quick: bool = False, manifest: Path | None = None, photo_size: tuple[int, int] = (600, 450),
               device: str = "cpu") -> dict:
    from tslib.engine import TrainConfig
    from tslib.tasks.generate import GenerateConfig, train_generator

    with tempfile.TemporaryDirectory() as tmp:
        out = {"photo_size": None if manifest else photo_size, "rows": {}}  # None: the user's own photos
        manifest = manifest or _photos(Path(tmp), 20 if quick else 60, photo_size)
        for cache in (False, True):
            cfg = GenerateConfig(manifest=str(manifest), model="vae", img_size=64, decode_cache=cache,
                                 train=TrainConfig(epochs=2, batch_size=16, num_workers=2, progress=False,
                                                   device=device))
            rate, setup = _loader_rate(cfg, 1 if quick else 3)
            run = Path(tmp) / f"vae-{cache}"
            train_generator(cfg, run)
            with open(run / "history.csv") as f:
                epoch_s = float(list(csv.DictReader(f))[-1]["seconds"])  # the second epoch
            out["rows"][cache] = {"images_per_s": rate, "setup_s": setup, "epoch_s": epoch_s}
        out["n_train"] = sum(1 for line in Path(manifest).read_text().splitlines()[1:] if ",train," in line)
    out["speedup"] = out["rows"][True]["images_per_s"] / out["rows"][False]["images_per_s"]
    out["epoch_ratio"] = out["rows"][False]["epoch_s"] / out["rows"][True]["epoch_s"]
    return out


def _per_tensor_ema(model):
    from torch.optim.swa_utils import AveragedModel

    def avg(averaged, current, n):  # the landed update, one tensor at a time
        d = torch.clamp((1 + n.float()) / (10 + n.float()), max=0.999).to(averaged.dtype)
        return averaged + (current - averaged) * (1 - d)

    return AveragedModel(model.unet, avg_fn=avg, use_buffers=True)


def run_ema(quick: bool = False, device: str = "cpu", size: int = 64, width: int = 32) -> dict:
    from tslib.models import create_model

    dev = torch.device(device)
    torch.manual_seed(0)
    model = create_model("ddpm", 6, task="generate", img_size=size, width=width).to(dev)
    old = _per_tensor_ema(model).to(dev)
    opt = torch.optim.AdamW(model.unet.parameters(), lr=1e-3)
    x, y = torch.rand(16, 3, size, size, device=dev), torch.arange(16, device=dev) % 6
    reps = 5 if quick else 20

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def timed(fn, n):
        fn()
        sync()
        t = time.perf_counter()
        for _ in range(n):
            fn()
        sync()
        return (time.perf_counter() - t) / n

    def step(ema_update):
        def go():
            loss = model.loss(x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            ema_update()
        return go

    update_old = timed(lambda: old.update_parameters(model.unet), reps * 5)
    update_new = timed(model.update_ema, reps * 5)
    step_old = timed(step(lambda: old.update_parameters(model.unet)), reps)
    step_new = timed(step(model.update_ema), reps)
    tensors = sum(1 for _ in model.unet.parameters()) + sum(1 for _ in model.unet.buffers())
    return {"device": str(dev), "tensors": tensors, "update_ms": (1000 * update_old, 1000 * update_new),
            "step_ms": (1000 * step_old, 1000 * step_new), "speedup": update_old / update_new,
            "step_ratio": step_old / step_new}


def report(decode: dict | None, ema: dict | None, indent: str = "") -> None:
    if decode:
        for cache, r in decode["rows"].items():
            print(f"{indent}{'decode cache' if cache else 'no cache    '}  loader {r['images_per_s']:7.0f} img/s, "
                  f"datasets built in {r['setup_s']:5.1f} s, VAE epoch {r['epoch_s']:5.2f} s")
        size = "x".join(map(str, decode["photo_size"])) + " px" if decode["photo_size"] else "your"
        print(f"{indent}{decode['n_train']} training photos ({size}) at 64 px: loader {decode['speedup']:.1f}x, "
              f"engine epoch {decode['epoch_ratio']:.2f}x")
    if ema:
        (uo, un), (so, sn) = ema["update_ms"], ema["step_ms"]
        print(f"{indent}EMA of {ema['tensors']} tensors ({ema['device']}): per tensor {uo:.2f} ms, foreach {un:.2f} ms "
              f"({ema['speedup']:.1f}x); training step {so:.1f} -> {sn:.1f} ms ({ema['step_ratio']:.2f}x)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--photo-size", default="600x450", help="WIDTHxHEIGHT of the stand-in photos")
    ap.add_argument("--manifest", type=Path, default=None, help="your own prepared data instead")
    args = ap.parse_args(argv)
    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    w, h = (int(v) for v in args.photo_size.lower().split("x"))
    decode, ema = run_decode(args.quick, args.manifest, (w, h), device), run_ema(args.quick, device)
    report(decode, ema)
    print(f"generator_decode_cache_speedup: {decode['speedup']:.2f}")
    print(f"ema_update_speedup: {ema['speedup']:.2f}")
    print(f"ddpm_step_ratio: {ema['step_ratio']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
