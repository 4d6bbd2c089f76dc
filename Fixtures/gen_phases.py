"""Fixtures/phases/: `--head-epochs` with `--lr-slice` / `--lr-backbone` as real PyTorch runs it.

From Fixtures/training/basic (initial.pth, input.bin, head_init.bin: a narrow ResNet, the new
5-class fc), whole optimizer steps (zero_grad(set_to_none), forward in train mode, cross
entropy, backward, Adam step) on the same batch:
  phase 1, 2 steps: only fc.* requires grad; the frozen batch norms in eval mode (--frozen-bn eval)
  phase 2, 2 steps: every parameter requires grad, every batch norm in train mode
with one torch.optim.Adam whose param groups are the layer groups (stem + layer1, layer2, layer3,
layer4, fc): torch skips a parameter whose grad is None, so the trunk's Adam state starts at
phase 2 while fc's goes on, as fastai's freeze/unfreeze leaves it. Cases:
  slice/     fastai's slice(1e-4, 1e-2): group k at 1e-4 * 100^(k/4)
  backbone/  the trunk at 1e-3, fc at 1e-2
Each writes case.json (losses per step, rates per group) and params.bin / stats.bin (index
.bin.json, gen_training's format): every parameter and running statistic after the 4 steps.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_training import MODELS, write_tensors  # noqa: E402
from gen_models import NarrowResNet  # noqa: E402

HEAD_LR = 1e-2
GROUP_OF = {"layer1": 0, "layer2": 1, "layer3": 2, "layer4": 3, "fc": 4}


def group(name):
    return GROUP_OF.get(name.split(".")[0], 0)  # conv1, bn1: the stem joins layer1


def run(d, base, head, x, labels, rates):
    os.makedirs(d, exist_ok=True)
    torch.manual_seed(0)
    _, block, layers, widths, groups, wpg, *_ = MODELS[0]
    model = NarrowResNet(block, layers, widths, 10, groups=groups, width_per_group=wpg)
    model.load_state_dict(base)
    model.fc = nn.Linear(model.fc.in_features, head[0].shape[0])
    with torch.no_grad():
        model.fc.weight.copy_(head[0]); model.fc.bias.copy_(head[1])
    named = list(model.named_parameters())
    param_groups = [{"params": [p for n, p in named if group(n) == k], "lr": rates[k]} for k in range(5)]
    opt = torch.optim.Adam(param_groups, lr=HEAD_LR)
    losses = []
    for step in range(4):
        head_only = step < 2
        for n, p in named:
            p.requires_grad_(not head_only or n.startswith("fc."))
        model.train()
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d) and not m.weight.requires_grad:
                m.eval()
        opt.zero_grad(set_to_none=True)
        loss = nn.CrossEntropyLoss()(model(x), labels)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    sd = model.state_dict()
    write_tensors(os.path.join(d, "params.bin"), named)
    write_tensors(os.path.join(d, "stats.bin"), [(k, v) for k, v in sd.items() if k.endswith(("running_mean", "running_var"))])
    with open(os.path.join(d, "case.json"), "w") as f:
        json.dump({"losses": losses, "rates": rates, "head_lr": HEAD_LR,
                   "num_batches_tracked": {k: int(v) for k, v in sd.items() if k.endswith("num_batches_tracked")}}, f, indent=1)


def main(fixtures_dir):
    torch.set_num_threads(2)
    src = os.path.join(fixtures_dir, "training", "basic")
    with open(os.path.join(src, "meta.json")) as f:
        meta = json.load(f)
    base = torch.load(os.path.join(src, "initial.pth"), weights_only=True)
    x = torch.from_numpy(np.fromfile(os.path.join(src, "input.bin"), dtype="<f4").reshape(meta["batch"], 3, meta["height"], meta["width"]))
    labels = torch.tensor(meta["labels"])
    with open(os.path.join(src, "head_init.bin.json")) as f:
        index = {e["name"]: e for e in json.load(f)}
    raw = np.fromfile(os.path.join(src, "head_init.bin"), dtype="<f4")

    def tensor(key):
        e = index[key]
        n = int(np.prod(e["shape"]))
        return torch.from_numpy(raw[e["offset"] // 4:e["offset"] // 4 + n].copy()).reshape(e["shape"])

    head = (tensor("fc.weight"), tensor("fc.bias"))
    root = os.path.join(fixtures_dir, "phases")
    low = 1e-4
    run(os.path.join(root, "slice"), base, head, x, labels, [low * (HEAD_LR / low) ** (k / 4) for k in range(5)])
    run(os.path.join(root, "backbone"), base, head, x, labels, [1e-3] * 4 + [HEAD_LR])


if __name__ == "__main__":
    main(os.path.dirname(os.path.abspath(__file__)))
