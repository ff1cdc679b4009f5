"""DistributedDataParallel against the hand-made gradient averaging it replaced: step time, 2 processes.

    python benchmarks/ddp.py [--procs 2] [--model cnn] [--img-size 96] [--batch-size 32] [--steps 20]

Starts ``--procs`` processes with torchrun (gloo on CPU; nccl on GPUs, one per process) that train the same
model on the same global batch two ways, alternating blocks of steps so that both see the same machine state:
``manual``, the landed version (plain backward, then one flat all-reduce of every gradient, copied back), and
``ddp``, ``torch.nn.parallel.DistributedDataParallel`` (bucketed all-reduce overlapped with the backward pass) as
the engine now uses it. Prints the mean step time of each and ``ddp_vs_manual: X`` (manual time / DDP time).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def average_gradients(params) -> None:
    """The landed hand-made averaging (tslib before DDP), kept here as the baseline."""
    import torch
    import torch.distributed as dist

    grads = [p.grad for p in params if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def worker(args: argparse.Namespace) -> None:
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel as DDP

    from tslib.models import create_model

    cuda = torch.cuda.is_available() and args.device != "cpu"
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device("cuda", local) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if cuda else "gloo")
    world = dist.get_world_size()
    torch.manual_seed(0)
    model = create_model(args.model, 7).to(device)
    ddp = DDP(model, device_ids=[local] if cuda else None, broadcast_buffers=False, gradient_as_bucket_view=True)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    per = args.batch_size // world
    x = torch.randn(per, 3, args.img_size, args.img_size, device=device)
    y = torch.randint(0, 7, (per,), device=device)
    params = [p for p in model.parameters() if p.requires_grad]

    def step(kind: str) -> None:
        opt.zero_grad(set_to_none=True)
        net = ddp if kind == "ddp" else model
        F.cross_entropy(net(x), y).backward()
        if kind == "manual":
            average_gradients(params)
        opt.step()

    times: dict[str, list[float]] = {"manual": [], "ddp": []}
    for kind in times:  # warm-up: DDP builds its buckets on the first steps
        for _ in range(3):
            step(kind)
    block = 5
    for _ in range(max(1, args.steps // block)):
        for kind in times:
            if cuda:
                torch.cuda.synchronize()
            dist.barrier()
            t0 = time.perf_counter()
            for _ in range(block):
                step(kind)
            if cuda:
                torch.cuda.synchronize()
            times[kind].append((time.perf_counter() - t0) / block)
    if dist.get_rank() == 0:
        Path(args.result).write_text(json.dumps({k: sum(v) / len(v) for k, v in times.items()}))
    dist.destroy_process_group()


def run(procs: int = 2, model: str = "cnn", img_size: int = 96, batch_size: int = 32, steps: int = 20,
        device: str = "auto") -> dict:
    """Launch the workers; returns {"manual": s/step, "ddp": s/step, "ddp_vs_manual": ratio, ...}."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={procs}", "--standalone",
               __file__, "--worker", "--result", str(result), "--model", model, "--img-size", str(img_size),
               "--batch-size", str(batch_size), "--steps", str(steps), "--device", device]
        threads = max(1, (os.cpu_count() or 2) // procs)
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        out = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if out.returncode != 0:
            raise RuntimeError(f"torchrun failed:\n{out.stderr[-3000:]}")
        times = json.loads(result.read_text())
    return {**times, "ddp_vs_manual": times["manual"] / times["ddp"], "procs": procs, "model": model,
            "img_size": img_size, "batch_size": batch_size, "threads": threads}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--model", default="cnn")
    p.add_argument("--img-size", type=int, default=96)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--device", default="auto")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    r = run(args.procs, args.model, args.img_size, args.batch_size, args.steps, args.device)
    print(f"{r['procs']} processes x {r['threads']} threads, {r['model']} at {r['img_size']} px, global batch "
          f"{r['batch_size']}: manual {1000 * r['manual']:.1f} ms/step, DDP {1000 * r['ddp']:.1f} ms/step")
    print(f"ddp_vs_manual: {r['ddp_vs_manual']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
