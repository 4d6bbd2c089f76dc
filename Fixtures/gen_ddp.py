"""Data-parallel fixtures for finetune under mpirun: real torch.distributed DDP runs.

Two processes (torch.multiprocessing, backend gloo on loopback) fine-tune Fixtures/predict/
basic.pth (a narrow resnet18-shaped net) on Fixtures/trainset with a new 3-class head, as
`mpirun -np 2 finetune ... --no-augment --image-size 40 --resize 40` does:
  - torch.nn.parallel.DistributedDataParallel (broadcast_buffers, default buckets) around the
    model; frozen batch norms in eval mode (--frozen-bn eval) unless the case says train;
  - torch.utils.data.DistributedSampler(shuffle=False) over each epoch's order: Graft's own
    seeded shuffle (SplitMix64 + Swift's Fisher-Yates, re-implemented below), so the sampler
    pads and strides exactly as it does for any dataset; the orders used are written to
    meta.json and the Swift test checks Graft's DistributedSampler.epochOrder gives the same;
  - the new fc starts from Graft's initialisation for the seed (re-implemented below, written
    to meta.json's head_init and checked by the test against Graft's);
  - --sync-bn: torch.nn.SyncBatchNorm's arithmetic (torch/nn/modules/_functions.py) with gloo
    collectives. torch's own SyncBatchNorm refuses CPU tensors and its batch_norm_stats /
    batch_norm_gather_stats_with_counts kernels exist only for CUDA, so `SyncBN` below is those
    steps written with CPU ops: all_gather of (mean, invstd, count), the kernels' Welford
    combination, running stats from the unbiased global variance; backward: local sum_dy and
    sum_dy_xmu (the weight and bias gradients), all_reduce of both, the input gradient.
Writes Fixtures/ddp/meta.json (files, orders, head init, options shared by the cases) and
Fixtures/ddp/<case>/{case.json, final.bin, final.bin.json}: rank 0's state dict after the run,
the tensors that changed (float32; num_batches_tracked in case.json) and each epoch's train loss (over both processes'
samples, padding included), val loss and val accuracy (rank 0's model on every val image).
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
from PIL import Image
from torchvision import transforms
from torchvision.models.resnet import BasicBlock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_models import NarrowResNet  # noqa: E402
from gen_training import write_tensors  # noqa: E402

M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
SEED = 3
BATCH = 8          # per process: 15 images each, steps of 8 and 7
WORLD = 2
CLASSES = ["daisy", "roses", "tulips"]
SIZE = 40          # layer4 sees 2x2: batch statistics over 16+ values per process
COMMON = ["--classes", "3", "--image-size", str(SIZE), "--resize", str(SIZE), "--no-augment", "--batch-size", str(BATCH),
          "--seed", str(SEED), "--workers", "1"]
SGD = ["--optimizer", "sgd", "--lr", "0.01", "--momentum", "0.9", "--weight-decay", "0.0001"]
ADAM = ["--optimizer", "adam", "--lr", "0.0001"]  # Adam normalises each element: small steps keep float noise small
# name: (policy, frozen_bn, sync_bn, optimizer args, epochs)
CASES = {
    "all_sgd": ("all", "eval", False, SGD, 1),
    "all_adam": ("all", "eval", False, ADAM, 2),
    "last_sgd": ("last", "eval", False, SGD, 2),
    "fc_adam": ("fc", "eval", False, ["--optimizer", "adam", "--lr", "0.01"], 2),
    "all_sgd_syncbn": ("all", "eval", True, SGD, 2),
    "last_adam_syncbn_bntrain": ("last", "train", True, ADAM, 1),
}


class SeededRandom:
    """Graft's Sources/Random/SeededRandom.swift (SplitMix64), bit for bit."""

    def __init__(self, seed, *stream):
        if stream:
            s = SeededRandom(seed ^ GOLDEN)
            for v in stream:
                s = SeededRandom(s.next() ^ ((v * 0xD6E8FEB86659FD93) & M64))
            seed = s.next()
        self.state = seed & M64

    def next(self):
        self.state = (self.state + GOLDEN) & M64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)

    def unit(self):
        return (self.next() >> 11) * 2.0 ** -53

    def below(self, upper):
        """Swift's RandomNumberGenerator.next(upperBound:) (Lemire's multiply-shift, rejecting)."""
        r = self.next()
        m = r * upper
        if (m & M64) < upper:
            t = ((1 << 64) - upper) % upper
            while (m & M64) < t:
                r = self.next()
                m = r * upper
        return m >> 64


def swift_shuffled(items, rng):
    """Swift's MutableCollection.shuffle(using:): Fisher-Yates from the front."""
    a = list(items)
    amount, i = len(a), 0
    while amount > 1:
        j = rng.below(amount)
        amount -= 1
        a[i], a[i + j] = a[i + j], a[i]
        i += 1
    return a


def epoch_order(count, epoch):
    return swift_shuffled(range(count), SeededRandom(SEED, 0x5A4F, epoch))


def graft_head(out_features, in_features):
    """ResNetModule's new fc for `seed`: SeededRandom(seed &+ golden), nn.Linear's U(-1/sqrt(in), 1/sqrt(in))."""
    rng = SeededRandom((SEED + GOLDEN) & M64)
    bound = 1 / math.sqrt(in_features)
    w = np.array([(rng.unit() * 2 - 1) * bound for _ in range(out_features * in_features)], dtype=np.float32)
    b = np.array([(rng.unit() * 2 - 1) * bound for _ in range(out_features)], dtype=np.float32)
    return torch.from_numpy(w).view(out_features, in_features), torch.from_numpy(b)


def samples(root):
    out = []
    for label, name in enumerate(CLASSES):
        folder = os.path.join(root, name)
        for f in sorted(os.listdir(folder)):
            if f in ("99_corrupt.jpg", "notes.txt"):
                continue
            out.append((f"{name}/{f}", label))
    return out


TRANSFORM = transforms.Compose([transforms.Resize(SIZE), transforms.CenterCrop(SIZE), transforms.ToTensor(),
                                transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])


def load(root, items):
    return torch.stack([TRANSFORM(Image.open(os.path.join(root, p)).convert("RGB")) for p, _ in items])


class SyncBNFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, eps, momentum):
        x = x.contiguous()
        c = x.shape[1]
        # Statistics and sums in float64, then float32 (as Graft does; on CUDA torch accumulates
        # in float32, whose rounding the conv1 gradient's cancellation magnifies past 1e-5).
        xd = x.double()
        mean = xd.mean(dim=(0, 2, 3))
        invstd = 1 / torch.sqrt(xd.var(dim=(0, 2, 3), unbiased=False) + eps)
        count = torch.full((1,), x.numel() // c, dtype=torch.float64)
        combined = torch.cat([mean, invstd, count])
        parts = [torch.empty_like(combined) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, combined)
        # batch_norm_reduce_statistics_kernel: Welford's combination over the processes.
        avg = torch.zeros(c, dtype=torch.float64)
        var_n = torch.zeros(c, dtype=torch.float64)
        n = 0.0
        for part in parts:
            m, istd, cnt = part[:c], part[c:2 * c], float(part[2 * c])
            v = (1 / istd) ** 2 - eps
            factor = 1.0 / (n + cnt)
            var_n += v * cnt + (avg - m) ** 2 * n * cnt * factor
            avg = n * factor * avg + cnt * factor * m
            n += cnt
        g_mean, g_invstd = avg.float(), (1 / torch.sqrt(var_n / n + eps)).float()
        with torch.no_grad():
            running_mean.mul_(1 - momentum).add_(momentum * g_mean)
            running_var.mul_(1 - momentum).add_(momentum * (var_n / (n - 1)).float())
        ctx.save_for_backward(x, weight, g_mean, g_invstd)
        ctx.total = n
        shape = (1, c, 1, 1)
        return (x - g_mean.view(shape)) * (g_invstd * weight).view(shape) + bias.view(shape)

    @staticmethod
    def backward(ctx, dy):
        x, weight, mean, invstd = ctx.saved_tensors
        c = x.shape[1]
        shape = (1, c, 1, 1)
        xmu = x - mean.view(shape)
        sum_dy = dy.double().sum(dim=(0, 2, 3))
        sum_dy_xmu = (dy.double() * xmu.double()).sum(dim=(0, 2, 3))
        grad_weight = sum_dy_xmu.float() * invstd if ctx.needs_input_grad[1] else None
        grad_bias = sum_dy.float() if ctx.needs_input_grad[2] else None
        grad_input = None
        if ctx.needs_input_grad[0]:
            combined = torch.cat([sum_dy, sum_dy_xmu])
            dist.all_reduce(combined)
            mean_dy, mean_dy_xmu = (combined[:c] / ctx.total).float(), (combined[c:] / ctx.total).float()
            grad_input = (dy - mean_dy.view(shape) - xmu * (invstd ** 2 * mean_dy_xmu).view(shape)) * (weight * invstd).view(shape)
        return grad_input, grad_weight, grad_bias, None, None, None, None


class SyncBN(nn.BatchNorm2d):
    """A BatchNorm2d that, in training mode, normalises with every process's batch (SyncBNFunction)."""

    def forward(self, x):
        if not self.training:
            return super().forward(x)
        self.num_batches_tracked.add_(1)
        return SyncBNFunction.apply(x, self.weight, self.bias, self.running_mean, self.running_var, self.eps, self.momentum)


def to_sync_bn(module):
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            s = SyncBN(child.num_features)
            s.load_state_dict(child.state_dict())
            setattr(module, name, s)
        else:
            to_sync_bn(child)


def trains(policy, name):
    return {"all": True, "last": name.startswith(("layer4.", "fc.")), "fc": name.startswith("fc.")}[policy]


def worker(rank, case, fixtures, port, out):
    policy, frozen_bn, sync_bn, opt_args, epochs = CASES[case]
    torch.set_num_threads(1)
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    state = torch.load(os.path.join(fixtures, "predict", "basic.pth"))
    model = NarrowResNet(BasicBlock, [2, 2, 2, 2], [8, 16, 32, 64], 5)
    model.load_state_dict(state)
    model.fc = nn.Linear(64, 3)
    w, b = graft_head(3, 64)
    with torch.no_grad():
        model.fc.weight.copy_(w); model.fc.bias.copy_(b)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    if sync_bn:
        to_sync_bn(model)
    for name, p in model.named_parameters():
        p.requires_grad_(trains(policy, name))

    def set_modes():
        model.train()
        if frozen_bn == "eval":
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d) and not m.weight.requires_grad:
                    m.eval()

    ddp = nn.parallel.DistributedDataParallel(model)
    params = [p for p in model.parameters() if p.requires_grad]
    kind = opt_args[opt_args.index("--optimizer") + 1]
    lr = float(opt_args[opt_args.index("--lr") + 1])
    if kind == "sgd":
        opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=1e-4)
    else:
        opt = torch.optim.Adam(params, lr=lr)
    train_root = os.path.join(fixtures, "trainset", "train")
    val_root = os.path.join(fixtures, "trainset", "val")
    train = samples(train_root)
    images = load(train_root, train)
    labels = torch.tensor([l for _, l in train])
    val = samples(val_root)
    val_x, val_y = load(val_root, val), torch.tensor([l for _, l in val])
    loss_fn = nn.CrossEntropyLoss()
    history = []
    for epoch in range(epochs):
        order = epoch_order(len(train), epoch)
        sampler = torch.utils.data.DistributedSampler(order, num_replicas=WORLD, rank=rank, shuffle=False)
        mine = [order[i] for i in sampler]   # the sampler's share of this epoch's order
        set_modes()
        loss_sum, seen = 0.0, 0
        for start in range(0, len(mine), BATCH):
            idx = mine[start:start + BATCH]
            opt.zero_grad()
            loss = loss_fn(ddp(images[idx]), labels[idx])
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx); seen += len(idx)
        totals = torch.tensor([loss_sum, float(seen)], dtype=torch.float64)
        dist.all_reduce(totals)
        model.eval()
        with torch.no_grad():
            logits = model(val_x)
            val_loss = nn.CrossEntropyLoss(reduction="sum")(logits, val_y).item() / len(val)
            val_acc = (logits.argmax(1) == val_y).double().mean().item()
        history.append({"train_loss": (totals[0] / totals[1]).item(), "val_loss": val_loss, "val_accuracy": val_acc})
    if rank == 0:
        d = os.path.join(out, case)
        os.makedirs(d, exist_ok=True)
        sd = model.state_dict()
        # Only what changed: the rest must still be basic.pth's (the test checks both).
        write_tensors(os.path.join(d, "final.bin"), [(k, v) for k, v in sd.items()
                                                     if not k.endswith("num_batches_tracked") and not torch.equal(v, initial[k])])
        args = COMMON + ["--train", policy, "--frozen-bn", frozen_bn, "--epochs", str(epochs)] + opt_args + (["--sync-bn"] if sync_bn else [])
        meta = {"args": args, "epochs": history,
                "num_batches_tracked": {k: int(v) for k, v in sd.items() if k.endswith("num_batches_tracked")}}
        with open(os.path.join(d, "case.json"), "w") as f:
            json.dump(meta, f, indent=1)
    dist.barrier()
    dist.destroy_process_group()


def main(fixtures_dir):
    out = os.path.join(fixtures_dir, "ddp")
    os.makedirs(out, exist_ok=True)
    train = samples(os.path.join(fixtures_dir, "trainset", "train"))
    w, b = graft_head(3, 64)
    meta = {"world_size": WORLD, "batch_size_per_process": BATCH, "seed": SEED,
            "weights": "predict/basic.pth", "data": "trainset",
            "train_files": [p for p, _ in train],
            "orders": [epoch_order(len(train), e) for e in range(2)],
            "head_init": {"fc.weight": w.flatten().tolist(), "fc.bias": b.tolist()},
            "cases": sorted(CASES)}
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    for i, case in enumerate(sorted(CASES)):
        print("  ddp case", case)
        mp.spawn(worker, args=(case, fixtures_dir, 29600 + i, out), nprocs=WORLD, join=True)


if __name__ == "__main__":
    main(os.path.dirname(os.path.abspath(__file__)))
