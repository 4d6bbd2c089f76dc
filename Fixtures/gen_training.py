"""Training fixtures for ResNetTests and the optimizer tests: real PyTorch train steps.

Writes Fixtures/training/<model>/:
  initial.pth        torch.save of the starting state dict (torchvision keys, 10-class fc)
  input.bin          float32 (N, 3, H, W) batch;  meta.json: batch, height, width, labels, classes, cases
  eval_logits.bin    float32 (N, 10) eval-mode logits of the initial model (fc kept)
  features.bin       float32 (N, C) eval-mode pooled features (input of fc)
  head_init.bin(+.json)  the new fc (Linear(C, classes)) every .replace case starts from
  <case>/            one train-mode step (model.train(), frozen batch norms per frozen_bn):
    case.json        policy, frozen_bn, head, label_smoothing, loss, trainable names (state-dict
                     order), num_batches_tracked after the step per batch norm
    logits.bin       float32 (N, classes) train-mode logits
    grads.bin        every trainable parameter's .grad      (index: grads.bin.json)
    stats.bin        every running_mean / running_var after the step (index: stats.bin.json)
    head_init.bin    (.append only) the new fc.1 it starts from
    after_<opt>.bin  trainable parameters after one step of <opt> from the initial values with
                     these gradients (sgd, sgd_nesterov, adam, adamw), in some cases
Each .bin.json index is [{"name", "shape", "offset"}] (float32, offset in bytes).
"""
import json
import os
import sys

import torch
import torch.nn as nn
from torchvision.models.resnet import BasicBlock, Bottleneck

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_models import NarrowResNet, randomize_bn  # noqa: E402

MODELS = [
    # name, block, layers, widths, groups, width_per_group, batch, height, width, new classes
    ("basic", BasicBlock, [1, 1, 1, 1], [4, 8, 16, 32], 1, 64, 4, 40, 40, 5),
    ("bottleneck", Bottleneck, [1, 1, 1, 1], [4, 8, 8, 8], 1, 64, 4, 32, 32, 3),
    ("resnext", Bottleneck, [1, 1, 1, 1], [4, 8, 8, 8], 2, 64, 3, 36, 36, 4),
]

OPTIMIZERS = {
    "sgd": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-4),
    "sgd_nesterov": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=True),
    "adam": lambda ps: torch.optim.Adam(ps, lr=1e-3),
    "adamw": lambda ps: torch.optim.AdamW(ps, lr=1e-3, weight_decay=0.01),
}

POLICIES = {
    "all": lambda name: True,
    "last": lambda name: name.startswith(("layer4.", "fc.")),
    "fc": lambda name: name.startswith("fc."),
}


def write_tensors(path, named):
    entries, offset = [], 0
    with open(path, "wb") as f:
        for name, t in named:
            data = t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
            f.write(data)
            entries.append({"name": name, "shape": list(t.shape), "offset": offset})
            offset += len(data)
    with open(path + ".json", "w") as f:
        json.dump(entries, f, indent=0)


def write_f32(path, t):
    t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tofile(path)


def run_case(d, base, new_head, x, labels, policy, frozen_bn, head="replace", smoothing=0.0, optimizers=False):
    os.makedirs(d, exist_ok=True)
    model = NarrowResNet(base["block"], base["layers"], base["widths"], 10, groups=base["groups"],
                         width_per_group=base["wpg"])
    model.load_state_dict(base["state"])
    if head == "replace":
        model.fc = nn.Linear(model.fc.in_features, new_head[0].shape[0])
        with torch.no_grad():
            model.fc.weight.copy_(new_head[0]); model.fc.bias.copy_(new_head[1])
    else:
        extra = nn.Linear(model.fc.out_features, new_head[0].shape[0])
        with torch.no_grad():
            extra.weight.copy_(new_head[0]); extra.bias.copy_(new_head[1])
        model.fc = nn.Sequential(model.fc, extra)
        write_tensors(os.path.join(d, "head_init.bin"), [("fc.1.weight", new_head[0]), ("fc.1.bias", new_head[1])])
    trains = POLICIES[policy]
    for name, p in model.named_parameters():
        p.requires_grad_(trains(name) and not (head == "append" and name.startswith("fc.0.")))
    model.train()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d) and not m.weight.requires_grad and frozen_bn == "eval":
            m.eval()
    initial = {n: p.detach().clone() for n, p in model.named_parameters()}
    logits = model(x)
    loss = nn.CrossEntropyLoss(label_smoothing=smoothing)(logits, labels)
    loss.backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    for n, p in model.named_parameters():
        assert (p.grad is not None) == p.requires_grad, n
    write_f32(os.path.join(d, "logits.bin"), logits)
    write_tensors(os.path.join(d, "grads.bin"), [(n, p.grad) for n, p in trainable])
    sd = model.state_dict()
    write_tensors(os.path.join(d, "stats.bin"), [(k, v) for k, v in sd.items() if k.endswith(("running_mean", "running_var"))])
    meta = {
        "policy": policy, "frozen_bn": frozen_bn, "head": head, "label_smoothing": smoothing,
        "loss": loss.item(), "trainable": [n for n, _ in trainable],
        "num_batches_tracked": {k: int(v) for k, v in sd.items() if k.endswith("num_batches_tracked")},
        "optimizers": sorted(OPTIMIZERS) if optimizers else [],
    }
    with open(os.path.join(d, "case.json"), "w") as f:
        json.dump(meta, f, indent=1)
    if optimizers:
        for opt_name, make in OPTIMIZERS.items():
            params = [nn.Parameter(initial[n].clone()) for n, _ in trainable]
            for q, (_, p) in zip(params, trainable):
                q.grad = p.grad.detach().clone()
            make(params).step()
            write_tensors(os.path.join(d, f"after_{opt_name}.bin"), [(n, q) for q, (n, _) in zip(params, trainable)])


def main(fixtures_dir):
    torch.set_num_threads(2)
    root = os.path.join(fixtures_dir, "training")
    for seed, (name, block, layers, widths, groups, wpg, n, h, w, classes) in enumerate(MODELS):
        torch.manual_seed(777 + seed)
        gen = torch.Generator().manual_seed(999 + seed)
        model = NarrowResNet(block, layers, widths, 10, groups=groups, width_per_group=wpg)
        randomize_bn(model, gen, n, h, w)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = 0.1
        d = os.path.join(root, name)
        os.makedirs(d, exist_ok=True)
        state = {k: v.clone() for k, v in model.state_dict().items()}
        torch.save(state, os.path.join(d, "initial.pth"))
        x = torch.randn(n, 3, h, w, generator=gen)
        labels = torch.randint(0, classes, (n,), generator=gen)
        write_f32(os.path.join(d, "input.bin"), x)
        model.eval()
        with torch.no_grad():
            write_f32(os.path.join(d, "eval_logits.bin"), model(x))
            feats = torch.flatten(model.avgpool(model.layer4(model.layer3(model.layer2(model.layer1(
                model.maxpool(model.relu(model.bn1(model.conv1(x))))))))), 1)
            write_f32(os.path.join(d, "features.bin"), feats)
        fc = nn.Linear(model.fc.in_features, classes)
        head = (fc.weight.detach().clone(), fc.bias.detach().clone())
        write_tensors(os.path.join(d, "head_init.bin"), [("fc.weight", head[0]), ("fc.bias", head[1])])
        base = {"block": block, "layers": layers, "widths": widths, "groups": groups, "wpg": wpg, "state": state}
        cases = []

        def case(case_name, *args, **kw):
            cases.append(case_name)
            run_case(os.path.join(d, case_name), base, *args, **kw)

        case("all", head, x, labels, "all", "train", optimizers=(name != "resnext"))
        if name == "resnext":
            case("fc_bn_eval", head, x, labels, "fc", "eval")
            with open(os.path.join(d, "meta.json"), "w") as f:
                json.dump({"batch": n, "height": h, "width": w, "labels": labels.tolist(), "classes": classes,
                           "cases": cases}, f, indent=1)
            continue
        case("last_bn_eval", head, x, labels, "last", "eval", optimizers=(name == "bottleneck"))
        case("last_bn_train", head, x, labels, "last", "train")
        case("fc_bn_eval", head, x, labels, "fc", "eval", optimizers=True)
        case("fc_bn_train", head, x, labels, "fc", "train")
        if name == "basic":
            case("all_smoothing", head, x, labels, "all", "train", smoothing=0.1)
            ap = nn.Linear(10, classes)
            case("append_all", (ap.weight.detach().clone(), ap.bias.detach().clone()), x, labels, "all", "train", head="append")
        with open(os.path.join(d, "meta.json"), "w") as f:
            json.dump({"batch": n, "height": h, "width": w, "labels": labels.tolist(), "classes": classes,
                       "cases": cases}, f, indent=1)


def write_resnet34_check(out_root, batch=8):
    """A full-size fixture, too large for the repository: torchvision's resnet34 (randomised batch
    norms, new 5-class fc), one train step at 224x224, in float32 (case all) and float64 (case
    all64, gradients rounded to float32). Checked by TrainStepTests.testExternalFixture with
    GRAFT_TRAINING_FIXTURES=<out_root> GRAFT_TRAINING_CASE=r34/all (or r34/all64)
    GRAFT_TRAINING_GRAD_TOLERANCE=1 to print the errors. Float32 itself is the limit at this size:
    PyTorch's float32 gradients differ from its float64 ones by up to a few percent."""
    import torchvision
    torch.set_num_threads(2)
    torch.manual_seed(5)
    gen = torch.Generator().manual_seed(6)
    d = os.path.join(out_root, "r34")
    model = torchvision.models.resnet34()
    randomize_bn(model, gen, 4, 112, 112)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = 0.1
    os.makedirs(d, exist_ok=True)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    torch.save(state, os.path.join(d, "initial.pth"))
    x = torch.randn(batch, 3, 224, 224, generator=gen)
    labels = torch.randint(0, 5, (batch,), generator=gen)
    write_f32(os.path.join(d, "input.bin"), x)
    fc = nn.Linear(512, 5)
    write_tensors(os.path.join(d, "head_init.bin"), [("fc.weight", fc.weight), ("fc.bias", fc.bias)])
    for case_name, dtype in [("all", torch.float32), ("all64", torch.float64)]:
        m = torchvision.models.resnet34()
        m.load_state_dict(state)
        m.fc = nn.Linear(512, 5)
        with torch.no_grad():
            m.fc.weight.copy_(fc.weight); m.fc.bias.copy_(fc.bias)
        m = m.to(dtype).train()
        logits = m(x.to(dtype))
        loss = nn.CrossEntropyLoss()(logits, labels)
        loss.backward()
        o = os.path.join(d, case_name)
        os.makedirs(o, exist_ok=True)
        write_f32(os.path.join(o, "logits.bin"), logits)
        named = list(m.named_parameters())
        write_tensors(os.path.join(o, "grads.bin"), [(n, p.grad) for n, p in named])
        sd = m.state_dict()
        write_tensors(os.path.join(o, "stats.bin"), [(k, v) for k, v in sd.items() if k.endswith(("running_mean", "running_var"))])
        with open(os.path.join(o, "case.json"), "w") as f:
            json.dump({"policy": "all", "frozen_bn": "train", "head": "replace", "label_smoothing": 0.0,
                       "loss": loss.item(), "trainable": [n for n, _ in named],
                       "num_batches_tracked": {k: int(v) for k, v in sd.items() if k.endswith("num_batches_tracked")}}, f)
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump({"batch": batch, "height": 224, "width": 224, "labels": labels.tolist(), "classes": 5,
                   "cases": ["all", "all64"]}, f)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--resnet34":
        write_resnet34_check(sys.argv[2])
    else:
        main(os.path.dirname(os.path.abspath(__file__)))
