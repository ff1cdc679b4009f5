"""Data-parallel training under torchrun (gloo on CPU): the sharded order, gradient averaging that reproduces the
single-process run, resume across processes, and run files written once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tslib.distributed import ShardedSampler

# A toy regression trained by the real engine: no BatchNorm, no dropout, no augmentation, plain SGD, so one
# process over a batch of 8 and two processes over 4 each must compute the same mean gradient.
SCRIPT = r'''
import sys, torch
from torch import nn
from tslib import distributed
from tslib.data.loaders import make_loader
from tslib.engine import TrainConfig, fit
from tslib.engine.loop import SupervisedTask

class Data(torch.utils.data.Dataset):
    def __init__(self, n, seed):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 4, generator=g)
        self.y = self.x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1 * torch.randn(n, generator=g)
    def __len__(self):
        return len(self.y)
    def __getitem__(self, i):
        return {"x": self.x[i], "y": self.y[i]}

class Task(SupervisedTask):
    def loss(self, model, batch):
        return nn.functional.mse_loss(model(batch["x"]).squeeze(1), batch["y"]), {}
    @torch.no_grad()
    def evaluate(self, model, loader, device):
        losses = [self.loss(model, b)[0].item() for b in loader]
        return {"val_loss": sum(losses) / len(losses)}

run, epochs, resume = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
distributed.setup(torch.device("cpu"))
torch.manual_seed(0)
model = nn.Linear(4, 1)
cfg = TrainConfig(epochs=epochs, batch_size=8, lr=0.05, optimizer="sgd", momentum=0.9, schedule="none",
                  grad_clip=None, weight_decay=0.0, device="cpu", num_workers=0, progress=False)
train = make_loader(Data(40, 1), 8, train=True, seed=0)
val = make_loader(Data(16, 2), 8)
fit(model, Task(), train, val, cfg, run, resume=resume)
if distributed.is_main():
    torch.save(model.state_dict(), f"{run}/final.pt")
'''


# Two networks with two optimizers, as a GAN: the model names them in parallel_networks, so each gets its own DDP
# and the model's methods call through it. "b" runs twice before one backward (D on real and on fake) and its
# second loss also flows into "a" (G's step through D). No BatchNorm or random draws: 1 and 2 processes agree.
TWO_NETS = SCRIPT.split("run, epochs, resume")[0] + r'''
from tslib.engine.optim import Optimization

class Pair(nn.Module):
    parallel_networks = ("a", "b")
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 1)
    def score(self, x):
        return self.b(x).squeeze(1)

class PairTask(Task):
    monitor = None
    def configure_optimizers(self, model, config, steps, groups=None):
        return Optimization({n: torch.optim.SGD(getattr(model, n).parameters(), lr=0.05) for n in ("b", "a")})
    def training_step(self, model, batch, ctx):
        x, y = batch["x"], batch["y"]
        h = model.a(x)
        loss_b = ((model.score(x) - y) ** 2).mean() + ((model.score(h.detach()) + y) ** 2).mean()
        ctx.step("b", loss_b)
        loss_a = ((model.score(h) - 2 * y) ** 2).mean()
        ctx.step("a", loss_a)
        return {"loss_a": loss_a.detach(), "loss_b": loss_b.detach()}
    @torch.no_grad()
    def evaluate(self, model, loader, device):
        return {"val_loss": 0.0}

run, epochs, resume = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
distributed.setup(torch.device("cpu"))
torch.manual_seed(0)
model = Pair()
cfg = TrainConfig(epochs=epochs, batch_size=8, lr=0.05, schedule="none", grad_clip=None, weight_decay=0.0,
                  device="cpu", num_workers=0, progress=False)
fit(model, PairTask(), make_loader(Data(40, 1), 8, train=True, seed=0), make_loader(Data(16, 2), 8), cfg, run)
assert "a" not in model.__dict__ and set(model.state_dict()) == {"a.weight", "a.bias", "b.weight", "b.bias"}
if distributed.is_main():
    torch.save(model.state_dict(), f"{run}/final.pt")
'''


# The frozen-backbone feature cache and validation, sharded across processes: each computes every N-th sample.
SHARDED = r'''
import json, sys, torch
from pathlib import Path
from torch import nn
from tslib import distributed
from tslib.data.loaders import make_loader
from tslib.tasks.classify.features import cached_features
from tslib.tasks.classify.task import ClassificationTask
from tslib.tasks.segment.task import SegmentationTask

class Data(torch.utils.data.Dataset):
    def __init__(self, n):
        g = torch.Generator().manual_seed(3)
        self.x, self.y = torch.randn(n, 3, generator=g), torch.randint(0, 3, (n,), generator=g)
        self.m = torch.randint(0, 3, (n, 4, 4), generator=g)
    def __len__(self):
        return len(self.y)
    def __getitem__(self, i):
        return {"image": self.x[i], "label": self.y[i], "mask": self.m[i]}

class Seg(nn.Module):  # per-pixel logits from a 3-vector: enough to fill a confusion matrix
    def forward(self, x):
        return x[:, :, None, None].expand(-1, -1, 4, 4)

run, cpu = Path(sys.argv[1]), torch.device("cpu")
run.mkdir(parents=True, exist_ok=True)
distributed.setup(cpu)
torch.manual_seed(0)
backbone, head = nn.Linear(3, 5), nn.Linear(3, 3)
feats = cached_features(run / "f.pt", backbone, lambda view: make_loader(Data(11), 4), 1, cpu, False)
val = distributed.shard_loader(make_loader(Data(11), 4))
out = {"shard": len(val.dataset), "features": feats.features.tolist(), "labels": feats.labels.tolist(),
       "classify": ClassificationTask().evaluate(head, val, cpu),
       "segment": SegmentationTask(["a", "b", "c"]).evaluate(Seg(), val, cpu)}
if distributed.is_main():
    (run / "out.json").write_text(json.dumps(out))
'''


def _run(tmp_path: Path, run: Path, epochs: int, procs: int, resume: bool = False, script: str = SCRIPT) -> None:
    script_path = tmp_path / "toy.py"
    script_path.write_text(script)
    script = script_path
    launcher = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={procs}", "--standalone"]
    cmd = (launcher if procs > 1 else [sys.executable]) + [str(script), str(run), str(epochs), str(int(resume))]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]


def test_sharded_sampler_splits_each_global_batch():
    base = list(range(10))
    shards = [list(ShardedSampler(base, 4, r, 2)) for r in range(2)]
    assert [len(s) for s in shards] == [len(ShardedSampler(base, 4, r, 2)) for r in range(2)] == [6, 6]
    # global batch k = rank 0's k-th slice + rank 1's k-th slice = the single-process batch (the last one padded)
    merged = [x for k in range(3) for s in shards for x in s[2 * k:2 * k + 2]]
    assert merged == base + [0, 1]
    with pytest.raises(ValueError, match="global batch: it must divide by the 3 processes"):
        ShardedSampler(base, 8, 0, 3)


@pytest.mark.slow
def test_two_processes_match_one_and_resume(tmp_path):
    _run(tmp_path, tmp_path / "one", 4, 1)
    _run(tmp_path, tmp_path / "two", 4, 2)
    one, two = (torch.load(tmp_path / r / "final.pt") for r in ("one", "two"))
    for k in one:
        torch.testing.assert_close(two[k], one[k], atol=1e-5, rtol=1e-5)
    rows = (tmp_path / "two" / "history.csv").read_text().strip().splitlines()
    assert len(rows) == 5 and [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3", "4"]  # written once
    assert not list((tmp_path / "two").glob(".*.tmp"))
    # interrupted after 2 epochs, resumed to 4 by two processes: the same weights as the uninterrupted run
    _run(tmp_path, tmp_path / "resumed", 2, 2)
    _run(tmp_path, tmp_path / "resumed", 4, 2, resume=True)
    resumed = torch.load(tmp_path / "resumed" / "final.pt")
    for k in one:
        torch.testing.assert_close(resumed[k], one[k], atol=1e-5, rtol=1e-5)
    history = (tmp_path / "resumed" / "history.csv").read_text().strip().splitlines()
    assert [r.split(",")[0] for r in history[1:]] == ["1", "2", "3", "4"]


@pytest.mark.slow
def test_networks_of_a_two_optimizer_task_each_get_ddp(tmp_path):
    _run(tmp_path, tmp_path / "one", 3, 1, script=TWO_NETS)
    _run(tmp_path, tmp_path / "two", 3, 2, script=TWO_NETS)
    one, two = (torch.load(tmp_path / r / "final.pt") for r in ("one", "two"))
    for k in one:
        torch.testing.assert_close(two[k], one[k], atol=1e-5, rtol=1e-5)


def test_sync_batchnorm_round_trip_keeps_tensors_and_classes():
    from torch import nn

    from tslib.engine.parallel import check_sync_bn, convert_sync_batchnorm, revert_sync_batchnorm

    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Sequential(nn.Flatten(), nn.BatchNorm1d(4)))
    weight, stats = model[1].weight, model[2][1].running_mean
    kinds = convert_sync_batchnorm(model)
    assert isinstance(model[1], nn.SyncBatchNorm) and isinstance(model[2][1], nn.SyncBatchNorm)
    assert model[1].weight is weight  # the optimizer's parameters stay the same objects
    revert_sync_batchnorm(model, kinds)
    assert type(model[1]) is nn.BatchNorm2d and type(model[2][1]) is nn.BatchNorm1d
    assert model[1].weight is weight and model[2][1].running_mean is stats
    with pytest.raises(ValueError, match="this is one process"):  # one process: refused, never ignored
        check_sync_bn(torch.device("cpu"))


def test_sync_bn_is_refused_where_it_cannot_act(tmp_path, capsys, monkeypatch):
    """`train --sync-bn` in one process (or on CPU processes) is one line before any data is read."""
    import tslib.distributed as dist
    from tslib.cli import main
    from tslib.engine.parallel import check_sync_bn

    argv = ["train", "--manifest", str(tmp_path / "none"), "--sync-bn", "--out", str(tmp_path / "run")]
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert "--sync-bn" in err and "one process" in err and len(err.strip().splitlines()) == 1
    monkeypatch.setattr(dist, "world_size", lambda: 2)
    with pytest.raises(ValueError, match="--sync-bn needs GPUs"):
        check_sync_bn(torch.device("cpu"))


@pytest.mark.slow
def test_feature_cache_and_validation_are_sharded_and_exact(tmp_path):
    """11 samples over 2 processes (6 + 5): the gathered features, the cache file and the validation metrics
    (summed counts, one confusion matrix) equal the single-process ones."""
    _run(tmp_path, tmp_path / "one", 0, 1, script=SHARDED)
    _run(tmp_path, tmp_path / "two", 0, 2, script=SHARDED)
    one, two = (json.loads((tmp_path / r / "out.json").read_text()) for r in ("one", "two"))
    torch.testing.assert_close(torch.tensor(two["features"]), torch.tensor(one["features"]))
    assert two["labels"] == one["labels"] and len(one["labels"]) == 11
    assert (one["shard"], two["shard"]) == (11, 6)  # rank 0 of two validated samples 0, 2, ..., 10
    for task in ("classify", "segment"):
        assert two[task].keys() == one[task].keys()
        for k in one[task]:
            assert two[task][k] == pytest.approx(one[task][k], rel=1e-6), (task, k)
    cached = [torch.load(tmp_path / r / "f.pt") for r in ("one", "two")]
    torch.testing.assert_close(cached[1]["features"], cached[0]["features"])


@pytest.mark.slow
def test_torchrun_cli_trains_each_task_once(tmp_path, intel_root):
    from tslib.cli import main

    assert main(["prepare", "--intel", str(intel_root), "--out", str(tmp_path / "prep"), "--quiet"]) == 0
    base = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone", "-m", "tslib",
            "train", "--manifest", str(tmp_path / "prep" / "manifest.csv"), "--img-size", "32", "--epochs", "2",
            "--batch-size", "8", "--workers", "0", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ddpm = ["--task", "generate", "--model", "ddpm", "--width", "8", "--sample-steps", "2", "--eval-samples", "8"]
    for name, extra in (("cnn", ["--model", "cnn", "--weighted-sampler"]),
                        ("vae", ["--task", "generate", "--model", "vae"]), ("ddpm", ddpm)):
        out = subprocess.run(base + extra + ["--out", str(tmp_path / name)], capture_output=True, text=True,
                             env=env, timeout=240)
        assert out.returncode == 0, out.stderr[-3000:]
        assert out.stdout.count("metrics written to") == 1  # rank 0 prints, once
        metrics = json.loads((tmp_path / name / "metrics.json").read_text())
        assert "test" in metrics
    odd = subprocess.run(base + ["--model", "cnn", "--batch-size", "7", "--out", str(tmp_path / "odd")],
                         capture_output=True, text=True, env=env, timeout=240)
    assert odd.returncode != 0 and "must divide by the 2 processes" in odd.stderr
