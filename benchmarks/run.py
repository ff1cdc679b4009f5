"""Every benchmark in one run, each figure a ratio of settings measured side by side on this machine.

    python benchmarks/run.py [--quick] [--device auto]
                             [--only data,cache,steps,tiling,segment,sampling,generate,ddp,augment,decode]

--quick finishes in a few minutes on 2 CPU cores (smaller data and sizes, fewer models). ``sampling``: images/s
of every generator at 64 px and of the diffusion model against ``--steps``, sampler and guidance; ``generate``:
training steps/s of every generator at 32 and 64 px through the engine (about 2 minutes together in --quick).
The last two lines are ``data_path_speedup: X`` (the training loader against a naive per-image PIL loop) and
``feature_cache_speedup: Y`` (frozen-backbone head training per epoch after the first, cached features against
recomputing the backbone), then ``ddp_vs_manual: Z`` (2 torchrun processes: the hand-made gradient averaging's
step time over DistributedDataParallel's, benchmarks/ddp.py) and ``device_augment_speedup: W`` (the device
augmentation path's images/s over the CPU path's with 2 workers, benchmarks/device_augment.py), then
``generator_decode_cache_speedup``, ``ema_update_speedup`` and ``ddpm_step_ratio`` (benchmarks/decode_once.py:
a generator's loader with the decode cache over without, the fused diffusion EMA over the per-tensor one). Each
section is also a script of its own (``benchmarks/*.py --help``: steps is train_step.py, generate
gen_train_step.py, decode decode_once.py); results: docs/results.md (the "Benchmarks" section).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benchmark modules, from any folder

SECTIONS = ("data", "cache", "steps", "tiling", "segment", "sampling", "generate", "ddp", "augment", "decode")


def machine(device: str) -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    gpu = f", GPU {torch.cuda.get_device_name()}" if device.startswith("cuda") else ", no GPU used"
    return (f"{cpu}, {os.cpu_count()} CPU cores, {torch.get_num_threads()} torch threads{gpu}; "
            f"torch {torch.__version__}, Python {platform.python_version()}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a few minutes on 2 CPU cores")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda (training steps, segmentation, sampling)")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    args = ap.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        ap.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    import torch

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    print(f"machine: {machine(device)}")
    print(f"mode: {'quick' if args.quick else 'full'}", flush=True)
    start, last = time.perf_counter(), {}

    if "data" in only:
        import data_path

        print("\n## data path: training images/s (decode, augment, collate), batch 32")
        r = data_path.run(args.quick)
        base = r["rates"]["naive PIL loop"]
        for label, rate in r["rates"].items():
            print(f"  {label:40s} {rate:8.0f} img/s  {rate / base:5.2f}x")
        last["data_path_speedup"] = r["speedup"]
    if "cache" in only:
        import feature_cache

        print("\n## frozen-backbone head training: cached features vs recomputing the backbone")
        r = feature_cache.run(args.quick, device=device)
        re, ce = r["recompute"], r["cached"]
        print(f"  {r['model']}, img {r['img_size']}, {r['epochs']} epochs: recompute {re['epoch_s']:.2f} s/epoch "
              f"(test acc {re['test_acc']:.3f}), cached {ce['epoch_s']:.4f} s/epoch (test acc {ce['test_acc']:.3f}); "
              f"per epoch {r['epoch_speedup']:.0f}x, end to end incl. extraction {r['end_to_end']:.1f}x")
        last["feature_cache_speedup"] = r["epoch_speedup"]
    if "steps" in only:
        import train_step

        print(f"\n## training steps at the notebooks' sizes ({device}; in-memory batches, real engine and tasks)")
        train_step.run(args.quick, device)
    if "tiling" in only:
        import tiling

        print("\n## Landcover.ai tiling of one orthophoto")
        r = tiling.run(args.quick)
        print(f"  {r['size']} px, {r['tiles']} tiles: naive PIL loop {r['naive_s']:.1f} s, tslib {r['tslib_s']:.1f} s"
              f", {r['speedup']:.2f}x")
    if "segment" in only:
        import segment_memory

        print(f"\n## whole-image segmentation ({device}): speed and peak memory against size (striped TIFF input)")
        rows = segment_memory.run(args.quick, device=device)
        for r in rows:
            print(f"  {r['size']:6d} px  {r['mpx_per_s']:6.2f} Mpx/s  peak {r['peak_mib']:6.0f} MiB, of it "
                  f"{r['rest_mib']:5.0f} MiB added by segmenting (a whole decode would be {r['image_mib']:5.0f} MiB)")
        print(f"  peak memory {rows[-1]['peak_mib'] / rows[0]['peak_mib']:.2f}x for "
              f"{rows[-1]['mpx'] / rows[0]['mpx']:.0f}x the pixels; added by segmenting "
              f"{rows[-1]['rest_mib'] / rows[0]['rest_mib']:.2f}x")
    if "sampling" in only:
        import sampling

        print(f"\n## sampling ({device}; random weights): every generator at 64 px, then ddpm against its options")
        sampling.report(sampling.run(args.quick, device), indent="  ")
    if "generate" in only:
        import gen_train_step

        print(f"\n## generator training steps ({device}; batch {gen_train_step.BATCH}, real engine and tasks)")
        gen_train_step.run(args.quick, device)

    if "ddp" in only:
        import ddp

        print("\n## data parallel: DistributedDataParallel vs the landed hand-made gradient averaging (torchrun)")
        r = ddp.run(steps=10 if args.quick else 30, device=args.device)
        print(f"  {r['procs']} processes x {r['threads']} threads, {r['model']} at {r['img_size']} px, global batch "
              f"{r['batch_size']}: manual {1000 * r['manual']:.1f} ms/step, DDP {1000 * r['ddp']:.1f} ms/step")
        last["ddp_vs_manual"] = r["ddp_vs_manual"]

    if "augment" in only:
        import device_augment

        print(f"\n## device augmentation path vs the CPU path (2 workers), images/s ({device})")
        r = device_augment.run(args.quick, device=device)
        for row in r["rows"]:
            print(f"  {row['size']:4d} px: CPU path {row['cpu']:7.0f}, device path {row['device']:7.0f}, "
                  f"{row['ratio']:.2f}x")
        last["device_augment_speedup"] = r["speedup"]

    if "decode" in only:
        import decode_once

        print(f"\n## decode once: a generator's loader with the decode cache, and the fused diffusion EMA ({device})")
        decode, ema = decode_once.run_decode(args.quick, device=device), decode_once.run_ema(args.quick, device)
        decode_once.report(decode, ema, indent="  ")
        last["generator_decode_cache_speedup"] = decode["speedup"]
        last["ema_update_speedup"], last["ddpm_step_ratio"] = ema["speedup"], ema["step_ratio"]

    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    for key in ("data_path_speedup", "feature_cache_speedup", "ddp_vs_manual", "device_augment_speedup",
                "generator_decode_cache_speedup", "ema_update_speedup", "ddpm_step_ratio"):
        if key in last:
            print(f"{key}: {last[key]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
