"""LR range test fixtures (finetune --find-lr): fastai's lr_find arithmetic, re-implemented here
from fastai/callback/schedule.py (LRFinder, valley, minimum, steep, lr_find) and
fastai/learner.py (Recorder, AvgSmoothLoss) on real torch tensors, so that torch's float32
arithmetic (lerp, division, log, argmin) is what Graft is compared with.

Writes Fixtures/lr_find/expected.json:
  schedules  the rate of every step (fastai's SchedExp at train_iter / num_it, in double) for a few
             (start, end, num_it).
  curves     raw loss sequences, awkward ones included (flat, rising at once, NaN or inf in the
             middle, NaN first, too short to keep any record), fed step by step through the
             LRFinder/Recorder loop: the recorded rates, the smoothed losses (float32), where the
             test stopped (stop_div: smoothed > 4 x best; or num_it steps), and lr_find's
             suggestions (valley, minimum, steep) on the kept records ([num_it//10 : -5], cut at
             the first NaN), or which of them fastai fails on (an empty or one-record list).
  steps      a few range-test steps of a tiny ResNet (Fixtures/training/basic: its initial.pth,
             head_init.bin, input and labels; every parameter trains, batch norm in train mode)
             with Adam and with SGD at the test's rising rates: each step's loss and smoothed loss.
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


# --- fastai's arithmetic, as its code has it -------------------------------------------------

def sched_exp(start, end, pos):
    return start * (end / start) ** pos


class AvgSmoothLoss:
    def __init__(self, beta=0.98):
        self.beta = beta
        self.count, self.val = 0, torch.tensor(0.)

    def accumulate(self, loss):
        self.count += 1
        self.val = torch.lerp(loss.mean(), self.val, self.beta)

    @property
    def value(self):
        return self.val / (1 - self.beta ** self.count)


def range_test(step, start_lr=1e-7, end_lr=10, num_it=100, stop_div=True):
    """LRFinder + Recorder: `step(i, lr)` trains one batch at `lr` and returns its loss tensor.
    Returns the recorded lrs, raw and smoothed losses, and why it stopped."""
    if num_it < 6:
        num_it = 6
    smooth = AvgSmoothLoss()
    best_loss = float("inf")
    lrs, raw, losses = [], [], []
    train_iter = 0
    while True:
        lr = sched_exp(start_lr, end_lr, train_iter / num_it)   # before_batch
        loss = step(train_iter, lr)
        train_iter += 1                                         # TrainEvalCallback.after_batch
        smooth.accumulate(loss)                                 # Recorder.after_batch
        lrs.append(lr)
        raw.append(loss.item())
        smooth_loss = smooth.value
        losses.append(smooth_loss)
        if smooth_loss < best_loss:                             # LRFinder.after_batch
            best_loss = smooth_loss
        if smooth_loss > 4 * best_loss and stop_div:
            return lrs, raw, losses, "diverged"
        if train_iter >= num_it:
            return lrs, raw, losses, "steps"


def valley(lrs, losses, num_it):
    n = len(losses)
    max_start, max_end = 0, 0
    lds = [1] * n
    for i in range(1, n):
        for j in range(0, i):
            if (losses[i] < losses[j]) and (lds[i] < lds[j] + 1):
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    idx = max_start + int(sections) + int(sections / 2)
    return float(lrs[idx]), (float(lrs[idx]), losses[idx])


def minimum(lrs, losses, num_it):
    lr_min = lrs[losses.argmin()].item()
    loss_idx = losses[min(range(len(lrs)), key=lambda i: abs(lrs[i] - lr_min))]
    return lr_min / 10, (lr_min, loss_idx)


def steep(lrs, losses, num_it):
    grads = (losses[1:] - losses[:-1]) / (lrs[1:].log() - lrs[:-1].log())
    lr_steep = lrs[grads.argmin()].item()
    loss_idx = losses[min(range(len(lrs)), key=lambda i: abs(lrs[i] - lr_steep))]
    return lr_steep, (lr_steep, loss_idx)


def suggest(rec_lrs, rec_losses, num_it):
    """lr_find's suggestion part: each function's (lr, (point lr, point loss)), or the error fastai raises."""
    lrs, losses = torch.tensor(rec_lrs[num_it // 10:-5]), torch.tensor([float(x) for x in rec_losses[num_it // 10:-5]])
    nan_idxs = torch.nonzero(torch.isnan(losses.view(-1)))
    if len(nan_idxs) > 0:
        drop_idx = min(nan_idxs)
        lrs = lrs[:drop_idx]
        losses = losses[:drop_idx]
    out = {"kept": len(lrs)}
    for f in (valley, minimum, steep):
        try:
            lr, (plr, ploss) = f(lrs, losses, num_it)
            out[f.__name__] = {"lr": float(lr), "point_lr": float(plr), "point_loss": float(ploss)}
        except (IndexError, RuntimeError) as e:   # an empty list: fastai fails
            out[f.__name__] = {"fastai_fails": type(e).__name__}
    return out


# --- the cases --------------------------------------------------------------------------------

def curves():
    g = torch.Generator().manual_seed(3)
    noise = torch.rand(100, generator=g, dtype=torch.float64).tolist()
    u = [2.3 - 1.6 / (1 + math.exp(-(i - 45) / 6)) + (0.02 * (i - 70) ** 2 if i > 70 else 0) + 0.05 * noise[i] for i in range(100)]
    cases = {
        "typical": (u, {}),
        "flat": ([2.302585] * 100, {}),
        "rising_at_once": ([1.0 + 0.7 * i for i in range(100)], {}),
        "nan_in_the_middle": ([2.3 - 0.01 * i if i != 50 else float("nan") for i in range(100)], {}),
        "inf_in_the_middle": ([2.3 - 0.01 * i if i != 40 else float("inf") for i in range(100)], {}),
        "nan_first": ([float("nan")] + [2.0 - 0.01 * i for i in range(1, 100)], {}),
        "noisy": ([1.0 + n for n in noise], {}),
        "short_decreasing": ([3.0, 2.5, 2.0, 1.5, 1.2, 1.0, 0.9], {"num_it": 7}),
        "six_steps": ([3.0, 2.5, 2.0, 1.5, 1.2, 1.0], {"num_it": 6}),
        "below_six": ([3.0, 2.9, 2.8, 2.7, 2.6, 2.5], {"num_it": 4}),
        "custom_range": (u[:50], {"start_lr": 1e-5, "end_lr": 1.0, "num_it": 50}),
        "no_stop_div": ([1.0 + 0.7 * i for i in range(30)], {"num_it": 30, "stop_div": False}),
    }
    out = {}
    for name, (raw, kw) in cases.items():
        lrs, raw_rec, smoothed, why = range_test(lambda i, lr: torch.tensor(raw[i], dtype=torch.float32), **kw)
        num_it = kw.get("num_it", 100)
        out[name] = {"settings": {"start": kw.get("start_lr", 1e-7), "end": kw.get("end_lr", 10.0), "steps": num_it,
                                  "stop_div": kw.get("stop_div", True)},
                     "raw": [float(torch.tensor(x, dtype=torch.float32)) for x in raw],
                     "lrs": lrs, "smoothed": [s.item() for s in smoothed], "stop": why,
                     "suggestions": suggest(lrs, smoothed, num_it)}
    return out


def steps(fixtures_dir):
    from gen_models import NarrowResNet
    from torchvision.models.resnet import BasicBlock
    d = os.path.join(fixtures_dir, "training", "basic")
    meta = json.load(open(os.path.join(d, "meta.json")))
    n, h, w, classes = meta["batch"], meta["height"], meta["width"], meta["classes"]
    x = torch.from_numpy(__import__("numpy").fromfile(os.path.join(d, "input.bin"), dtype="<f4").reshape(n, 3, h, w).copy())
    labels = torch.tensor(meta["labels"])
    state = torch.load(os.path.join(d, "initial.pth"))
    head = json.load(open(os.path.join(d, "head_init.bin.json")))
    blob = __import__("numpy").fromfile(os.path.join(d, "head_init.bin"), dtype="<f4")
    tensors = {e["name"]: torch.from_numpy(blob[e["offset"] // 4: e["offset"] // 4 + math.prod(e["shape"])].reshape(e["shape"]).copy())
               for e in head}
    out = {}
    for opt_name, make, start, end, num_it in [("adam", lambda ps: torch.optim.Adam(ps, lr=1e-3), 1e-4, 1.0, 8),
                                              ("sgd", lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9), 1e-3, 10.0, 8)]:
        model = NarrowResNet(BasicBlock, [1, 1, 1, 1], [4, 8, 16, 32], 10)
        model.load_state_dict(state)
        model.fc = nn.Linear(model.fc.in_features, classes)
        with torch.no_grad():
            model.fc.weight.copy_(tensors["fc.weight"]); model.fc.bias.copy_(tensors["fc.bias"])
        model.train()
        opt = make(list(model.parameters()))

        def step(i, lr):
            for group in opt.param_groups:
                group["lr"] = lr
            opt.zero_grad()
            loss = nn.CrossEntropyLoss()(model(x), labels)
            loss.backward()
            opt.step()
            return loss.detach()

        lrs, raw, smoothed, why = range_test(step, start_lr=start, end_lr=end, num_it=num_it)
        out[opt_name] = {"start": start, "end": end, "steps": num_it, "lrs": lrs, "losses": raw,
                         "smoothed": [s.item() for s in smoothed], "stop": why}
    return out


def main(fixtures_dir):
    torch.set_num_threads(2)
    out_dir = os.path.join(fixtures_dir, "lr_find")
    os.makedirs(out_dir, exist_ok=True)
    schedules = []
    for start, end, num_it in [(1e-7, 10.0, 100), (1e-5, 1.0, 50), (1e-3, 3.0, 6)]:
        schedules.append({"start": start, "end": end, "steps": num_it,
                          "lrs": [sched_exp(start, end, i / num_it) for i in range(num_it)]})
    result = {"schedules": schedules, "curves": curves(), "steps": steps(fixtures_dir)}
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(finite(result), f, indent=1, allow_nan=False)


def finite(x):
    """Non-finite floats as the strings Swift's JSONDecoder reads (convertFromString)."""
    if isinstance(x, float) and not math.isfinite(x):
        return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [finite(v) for v in x]
    return x


if __name__ == "__main__":
    main(HERE)
