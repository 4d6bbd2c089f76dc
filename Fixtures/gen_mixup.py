"""MixUp / CutMix and weight-EMA fixtures (`finetune --mixup-alpha`, `--cutmix-alpha`,
`--ema-decay`), from real torchvision (transforms.v2.MixUp, CutMix), torch and timm's formula:

  mix         batches of 4 images (3 x 6 x 9, H != W) with labels: torchvision's own MixUp and
              CutMix on them (seeded torch generator), with the lambda (and CutMix's point
              r_x, r_y) their make_params drew, redrawn from the same seed: the box, the corrected
              lambda, the mixed images and the mixed one-hot targets
  loss        F.cross_entropy with probability targets (the mixed ones), with and without class
              weights and label smoothing: the loss and its gradient at the logits
  ema_arith   timm ModelEmaV2's update, decay * e + (1 - decay) * m, on float32 tensors
  train       Fixtures/training/basic's model (new 5-class fc from its head_init.bin), --train fc with
              batch norms in train mode (running statistics move), 3 steps of SGD and of Adam
              on mixed batches of its input (mixup lambda 0.3, cutmix box, mixup lambda 0.8),
              cross entropy with the mixed targets, label smoothing 0.1 and class weights; after
              each optimizer step timm's EMA (decay 0.9) of every floating-point state-dict
              tensor (num_batches_tracked copied, as ModelEmaV3 does for integer buffers): per step
              the loss and fc's gradients, at the end fc, the running statistics and their EMA

Writes Fixtures/mixup/expected.json and tensors.bin (+ .json index, float32).
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.transforms import v2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_models import NarrowResNet  # noqa: E402
from gen_training import MODELS, write_tensors  # noqa: E402

CLASSES = 5
WEIGHTS = [1.0, 2.0, 0.5, 1.5, 1.0]
EMA_DECAY = 0.9


def bits(t):
    return t.detach().to(torch.float32).flatten().tolist()


def mix_cases(tensors):
    g = torch.Generator().manual_seed(31)
    x = torch.randn(4, 3, 6, 9, generator=g)
    labels = torch.tensor([1, 4, 4, 0])
    tensors.append(("mix/input", x))
    cases = []
    for kind, alpha, seed in [("mixup", 0.2, 1), ("mixup", 1.0, 2), ("cutmix", 1.0, 3), ("cutmix", 0.5, 4), ("cutmix", 1.0, 11)]:
        t = (v2.MixUp if kind == "mixup" else v2.CutMix)(alpha=alpha, num_classes=CLASSES)
        torch.manual_seed(seed)
        out, target = t(x, labels)
        # The same draws again: lambda, then (CutMix) r_x, r_y, as make_params takes them.
        torch.manual_seed(seed)
        lam = float(t._dist.sample(()))
        case = {"kind": kind, "alpha": alpha, "lambda": lam}
        if kind == "cutmix":
            rx, ry = int(torch.randint(9, size=(1,))), int(torch.randint(6, size=(1,)))
            torch.manual_seed(seed)
            params = t.make_params([x])
            case.update({"x": rx, "y": ry, "box": list(params["box"]), "lambda_adjusted": params["lam_adjusted"]})
        name = f"mix/{len(cases)}"
        tensors.append((name + "/images", out))
        tensors.append((name + "/targets", target))
        case["name"] = name
        cases.append(case)
    return {"labels": labels.tolist(), "shape": list(x.shape), "cases": cases}


def loss_cases():
    g = torch.Generator().manual_seed(32)
    out = []
    for weighted in (False, True):
        for smoothing in (0.0, 0.1):
            logits = (torch.randn(4, CLASSES, generator=g) * 2).requires_grad_()
            lam = 0.37
            onehot = F.one_hot(torch.tensor([2, 0, 4, 4]), CLASSES).float()
            target = onehot.roll(1, 0).mul_(1.0 - lam).add_(onehot.mul(lam))
            w = torch.tensor(WEIGHTS) if weighted else None
            loss = F.cross_entropy(logits, target, weight=w, label_smoothing=smoothing)
            loss.backward()
            out.append({"weights": WEIGHTS if weighted else None, "smoothing": smoothing, "logits": bits(logits),
                        "targets": bits(target), "loss": loss.item(), "grad": bits(logits.grad)})
    return out


def ema_arith():
    g = torch.Generator().manual_seed(33)
    e = torch.randn(64, generator=g)
    m = torch.randn(64, generator=g)
    out = []
    for decay in (0.9, 0.999, 0.9998):
        r = decay * e + (1. - decay) * m   # timm ModelEmaV2.update's update_fn
        out.append({"decay": decay, "ema": bits(e), "model": bits(m), "result": bits(r)})
    return out


def mix_batch(x, labels, step):
    """The fixed draws of the training steps (given, not drawn: the drawing is Graft's own)."""
    onehot = F.one_hot(labels, CLASSES).float()
    if step["kind"] == "mixup":
        lam = step["lambda"]
        images = x.roll(1, 0).mul_(1.0 - lam).add_(x.mul(lam))
    else:
        x1, y1, x2, y2 = step["box"]
        images = x.clone()
        images[..., y1:y2, x1:x2] = x.roll(1, 0)[..., y1:y2, x1:x2]
        lam = float(1.0 - (x2 - x1) * (y2 - y1) / (x.shape[-1] * x.shape[-2]))
        step["lambda_adjusted"] = lam
    return images, onehot.roll(1, 0).mul_(1.0 - lam).add_(onehot.mul(lam))


def train_cases(fixtures_dir, tensors):
    name, block, layers, widths, groups, wpg, n, h, w, classes = MODELS[0]
    d = os.path.join(fixtures_dir, "training", name)
    state = torch.load(os.path.join(d, "initial.pth"))
    with open(os.path.join(d, "meta.json")) as f:
        meta = json.load(f)
    x = torch.from_numpy(__import__("numpy").fromfile(os.path.join(d, "input.bin"), dtype="<f4")).reshape(n, 3, h, w)
    labels = torch.tensor(meta["labels"])
    with open(os.path.join(d, "head_init.bin.json")) as f:
        index = json.load(f)
    raw = torch.from_numpy(__import__("numpy").fromfile(os.path.join(d, "head_init.bin"), dtype="<f4"))
    head = {e["name"]: raw[e["offset"] // 4:e["offset"] // 4 + math.prod(e["shape"])].reshape(e["shape"]) for e in index}
    steps = [{"kind": "mixup", "lambda": 0.3}, {"kind": "cutmix", "box": [7, 12, 31, 29]}, {"kind": "mixup", "lambda": 0.8}]
    optimizers = {
        "sgd": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-4),
        "adam": lambda ps: torch.optim.Adam(ps, lr=1e-2),
    }
    out = {"model": name, "decay": EMA_DECAY, "smoothing": 0.1, "weights": WEIGHTS, "steps": steps, "optimizers": {}}
    for opt_name, make in optimizers.items():
        model = NarrowResNet(block, layers, widths, 10, groups=groups, width_per_group=wpg)
        model.load_state_dict(state)
        model.fc = nn.Linear(model.fc.in_features, classes)
        with torch.no_grad():
            model.fc.weight.copy_(head["fc.weight"]); model.fc.bias.copy_(head["fc.bias"])
        for pname, p in model.named_parameters():
            p.requires_grad_(pname.startswith("fc."))
        model.train()   # --frozen-bn train: the frozen trunk's batch norms use batch statistics
        ema = {k: v.detach().clone() for k, v in model.state_dict().items()}
        opt = make([p for p in model.parameters() if p.requires_grad])
        record = {"losses": []}
        for k, step in enumerate(steps):
            images, target = mix_batch(x, labels, step)
            opt.zero_grad()
            loss = F.cross_entropy(model(images), target, weight=torch.tensor(WEIGHTS), label_smoothing=0.1)
            loss.backward()
            record["losses"].append(loss.item())
            tensors.append((f"train/{opt_name}/{k}/fc.weight.grad", model.fc.weight.grad))
            tensors.append((f"train/{opt_name}/{k}/fc.bias.grad", model.fc.bias.grad))
            opt.step()
            with torch.no_grad():   # timm ModelEmaV2.update (integer buffers copied, as ModelEmaV3)
                for key, v in model.state_dict().items():
                    ema[key] = EMA_DECAY * ema[key] + (1. - EMA_DECAY) * v if v.is_floating_point() else v.clone()
        sd = model.state_dict()
        for key, v in sd.items():
            if v.is_floating_point() and (key.startswith("fc.") or key.endswith(("running_mean", "running_var"))):
                tensors.append((f"train/{opt_name}/model/{key}", v))
                tensors.append((f"train/{opt_name}/ema/{key}", ema[key]))
        out["optimizers"][opt_name] = record
    return out


def main(fixtures_dir):
    torch.set_num_threads(2)
    out = os.path.join(fixtures_dir, "mixup")
    os.makedirs(out, exist_ok=True)
    tensors = []
    result = {"mix": mix_cases(tensors), "loss": loss_cases(), "ema_arith": ema_arith(),
              "train": train_cases(fixtures_dir, tensors)}
    write_tensors(os.path.join(out, "tensors.bin"), tensors)
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main(os.path.dirname(os.path.abspath(__file__)))
