"""VGG fixtures: tiny torchvision VGGs (vgg11/13/16/19, plain and _bn) and what real PyTorch
computes with them. Fixtures/vgg/README.md describes every file; in short, Fixtures/vgg/:

  manifest.json       every tiny model: which torchvision variant it stands for (cfg letter,
                      batch_norm), its tiny cfg, classes, hidden width, and where its files are
  torchvision_keys.json  state_dict keys and shapes (no values) of torchvision's real
                      vgg11/13/16/19 and _bn (1000 classes), in state_dict order
  models/             eval logits (gen_models.py's format, one weights.bin per model, inputs
                      shared by every model): models/inputs/<case>.bin, models/<model>/...
  predict/            image-file path (gen_predict.py's format): <model>.pth, class_indices.json,
                      expected.json at two eval transforms (256/224: a 7x7 last map, and
                      293/256: an 8x8 one, overlapping adaptive-pool bins)
  training/<model>/   train steps (gen_training.py's format) plus a few whole optimizer steps

The models are torchvision's own classes, `VGG(make_layers(cfg, batch_norm=bn), num_classes=N,
init_weights=True, dropout=0.5)`, with torchvision's cfg A/B/D/E (same convs per stage, same
five 'M's) at tiny widths (64->4, 128->6, 256->8, 512->8) and the classifier rebuilt with the
same structure at hidden width 16 (Linear(8*7*7, 16), ReLU, Dropout, Linear(16, 16), ReLU,
Dropout, Linear(16, N)), so the keys are torchvision's: features.K.*, classifier.0/.3/.6.*.
After init_weights the Linear layers are reset to nn.Linear's default init and every bias
(conv and linear) made random, so the logits are not ~1e-6 and biases matter; batch norms get
running statistics from three train-mode passes (num_batches_tracked 3) then random affine
parameters and perturbed statistics (gen_models.randomize_bn's recipe), momentum 0.1 after.

Dropout: every training fixture sets every nn.Dropout's p to 0 (Graft's tests switch its
dropout off too); eval fixtures are in model.eval() where dropout is the identity anyway.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
from PIL import Image, ImageOps
from torchvision import transforms
from torchvision.models.vgg import VGG, cfgs, make_layers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_training import write_tensors, write_f32  # noqa: E402

WIDTHS = {64: 4, 128: 6, 256: 8, 512: 8}
HIDDEN = 16
VARIANT = {"A": "vgg11", "B": "vgg13", "D": "vgg16", "E": "vgg19"}


def tiny_cfg(letter):
    return [v if v == "M" else WIDTHS[v] for v in cfgs[letter]]


def make_vgg(letter, bn, classes, seed):
    """torchvision's VGG at tiny widths, deterministic from `seed` (weights and statistics)."""
    torch.manual_seed(seed)
    cfg = tiny_cfg(letter)
    model = VGG(make_layers(cfg, batch_norm=bn), num_classes=classes, init_weights=True, dropout=0.5)
    c = [v for v in cfg if v != "M"][-1]
    model.classifier = nn.Sequential(
        nn.Linear(c * 7 * 7, HIDDEN), nn.ReLU(True), nn.Dropout(p=0.5),
        nn.Linear(HIDDEN, HIDDEN), nn.ReLU(True), nn.Dropout(p=0.5),
        nn.Linear(HIDDEN, classes))
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Linear):
                m.reset_parameters()
                m.bias.copy_(torch.randn(m.out_features, generator=gen) * 0.1)
            elif isinstance(m, nn.Conv2d):
                m.bias.copy_(torch.randn(m.out_channels, generator=gen) * 0.1)
    if bn:
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = None  # cumulative average over the passes below
                m.reset_running_stats()
        model.train()
        with torch.no_grad():
            for _ in range(3):
                model(torch.randn(8, 3, 32, 32, generator=gen) * 1.5 + 0.2)
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    k = m.num_features
                    m.weight.copy_(torch.rand(k, generator=gen) * 1.0 + 0.5)
                    m.bias.copy_(torch.randn(k, generator=gen) * 0.2)
                    m.running_mean.add_(torch.randn(k, generator=gen) * 0.05)
                    m.running_var.mul_(torch.rand(k, generator=gen) * 0.4 + 0.8)
                    m.momentum = 0.1
    model.eval()
    return model, gen


def last_map(h, w):
    for _ in range(5):
        h, w = h // 2, w // 2
    return h, w


# --------------------------------------------------------------------------------------
# Eval logits (models/)

EVAL_MODELS = [
    # name, cfg letter, batch_norm, classes
    ("tiny_vgg11", "A", False, 5),
    ("tiny_vgg11_bn", "A", True, 5),
    ("tiny_vgg13", "B", False, 7),
    ("tiny_vgg13_bn", "B", True, 4),
    ("tiny_vgg16", "D", False, 6),
    ("tiny_vgg16_bn", "D", True, 3),
    ("tiny_vgg19", "E", False, 4),
    ("tiny_vgg19_bn", "E", True, 6),
]
INPUTS = [
    # case, batch, height, width, models (None: every model)
    ("32x32", 2, 32, 32, None),      # last map 1x1: the adaptive pool replicates it to 7x7
    ("64x48", 1, 64, 48, None),      # 2x1 -> 7x7 (non-square, an odd map floored by a pool)
]
# A last map bigger than 7x7 (overlapping bins) comes with the image-file path (predict/, crop
# 256: 8x8) and the training part (tiny_vgg16_bn at 256x32: 8x1, eval_logits.bin and train steps).


def write_weights(d, model):
    entries, offset = [], 0
    with open(os.path.join(d, "weights.bin"), "wb") as f:
        for key, t in model.state_dict().items():
            t = t.detach().contiguous()
            if t.dtype == torch.int64:
                data, dtype = t.numpy().astype("<i8").tobytes(), "int64"
            else:
                data, dtype = t.to(torch.float32).numpy().astype("<f4").tobytes(), "float32"
            f.write(data)
            entries.append({"name": key, "dtype": dtype, "shape": list(t.shape), "offset": offset})
            offset += len(data)
    with open(os.path.join(d, "weights.json"), "w") as f:
        json.dump(entries, f, indent=1)
    return offset


def write_eval(root, manifest):
    out = os.path.join(root, "models")
    os.makedirs(os.path.join(out, "inputs"), exist_ok=True)
    gen = torch.Generator().manual_seed(2024)
    inputs, index = {}, {}
    for case, n, h, w, _ in INPUTS:
        inputs[case] = torch.randn(n, 3, h, w, generator=gen)
        write_f32(os.path.join(out, "inputs", case + ".bin"), inputs[case])
        index[case] = {"file": f"inputs/{case}.bin", "batch": n, "height": h, "width": w,
                       "last_map": list(last_map(h, w))}
    with open(os.path.join(out, "inputs.json"), "w") as f:
        json.dump(index, f, indent=1)
    for seed, (name, letter, bn, classes) in enumerate(EVAL_MODELS):
        model, _ = make_vgg(letter, bn, classes, 3000 + 10 * seed)
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        size = write_weights(d, model)
        cases = {}
        for case, n, h, w, only in INPUTS:
            if only is not None and name not in only:
                continue
            x = inputs[case]
            with torch.inference_mode():
                logits = model(x)
                probs = torch.softmax(logits, dim=1)
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    logits_bf16 = model(x).float()
            write_f32(os.path.join(d, f"logits_{case}.bin"), logits)
            write_f32(os.path.join(d, f"probs_{case}.bin"), probs)
            write_f32(os.path.join(d, f"logits_bf16_{case}.bin"), logits_bf16)
            cases[case] = {"batch": n, "height": h, "width": w, "input": f"inputs/{case}.bin",
                           "max_abs_logit": float(logits.abs().max()),
                           "bf16_max_abs_diff": float((logits_bf16 - logits).abs().max())}
        meta = {"variant": VARIANT[letter] + ("_bn" if bn else ""), "cfg_letter": letter, "batch_norm": bn,
                "cfg": tiny_cfg(letter), "hidden": HIDDEN, "classes": classes, "cases": cases}
        with open(os.path.join(d, "meta.json"), "w") as f:
            json.dump(meta, f, indent=1)
        manifest[name] = dict(meta, files=f"models/{name}/", weight_bytes=size)
        manifest[name].pop("cases")
        manifest[name]["eval_cases"] = list(cases)
        print(f"{name}: {size} weight bytes, cases {list(cases)}")


# --------------------------------------------------------------------------------------
# Image-file path (predict/)

PREDICT_MODELS = [("tiny_vgg11_bn", "A", True, 5)]
IMAGES = ["jpeg_420.jpg", "jpeg_exif6.jpg", "jpeg_grey.jpg", "png_rgba.png", "png_tall.png", "jpeg_wide.jpg"]
NAMES = ["daisy", "dandelion", "roses", "sunflowers", "tulips"]
TRANSFORMS = [("256_224", 256, 224), ("293_256", 293, 256)]  # resize, crop: last map 7x7, 8x8


def write_predict(root, fixtures_dir, manifest):
    out = os.path.join(root, "predict")
    os.makedirs(out, exist_ok=True)
    src = os.path.join(fixtures_dir, "images", "src")
    with open(os.path.join(out, "class_indices.json"), "w") as f:
        f.write(json.dumps({str(i): n for i, n in enumerate(NAMES)}, indent=4))
    expected = {}
    for seed, (name, letter, bn, classes) in enumerate(PREDICT_MODELS):
        model, _ = make_vgg(letter, bn, classes, 5000 + 10 * seed)
        torch.save(model.state_dict(), os.path.join(out, name + ".pth"))
        expected[name] = {}
        for tname, resize, crop in TRANSFORMS:
            tf = transforms.Compose([transforms.Resize(resize), transforms.CenterCrop(crop), transforms.ToTensor(),
                                     transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
            expected[name][tname] = {}
            for image in IMAGES:
                x = tf(ImageOps.exif_transpose(Image.open(os.path.join(src, image))).convert("RGB")).unsqueeze(0)
                with torch.no_grad():
                    logits = model(x)[0]
                expected[name][tname][image] = {"logits": logits.tolist(), "probs": torch.softmax(logits, 0).tolist()}
        manifest[name + " (predict)"] = {"variant": VARIANT[letter] + ("_bn" if bn else ""), "cfg_letter": letter,
                                         "batch_norm": bn, "cfg": tiny_cfg(letter), "hidden": HIDDEN,
                                         "classes": classes, "files": f"predict/{name}.pth"}
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump({"transforms": {t: {"resize": r, "crop": c} for t, r, c in TRANSFORMS}, "models": expected}, f, indent=1)


# --------------------------------------------------------------------------------------
# Training (training/)

TRAIN_MODELS = [
    # name, cfg letter, batch_norm, batch, height, width, new classes
    ("tiny_vgg11", "A", False, 4, 32, 32, 5),
    ("tiny_vgg11_bn", "A", True, 2, 64, 48, 3),
    ("tiny_vgg16_bn", "D", True, 1, 256, 32, 4),
]

OPTIMIZERS = {
    "sgd": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-4),
    "sgd_nesterov": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=True),
    "adam": lambda ps: torch.optim.Adam(ps, lr=1e-3),
    "adamw": lambda ps: torch.optim.AdamW(ps, lr=1e-3, weight_decay=0.01),
}
STEP_OPTIMIZERS = {  # the few-whole-steps runs (steps_<opt>*): description, constructor
    "sgd": ("torch.optim.SGD(lr=0.01, momentum=0.9, weight_decay=1e-4)",
            lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9, weight_decay=1e-4)),
    "adam": ("torch.optim.Adam(lr=1e-3)", lambda ps: torch.optim.Adam(ps, lr=1e-3)),
}
STEPS = 3

POLICIES = {
    "all": lambda name: True,
    "last": lambda name: name.startswith("classifier."),
    "fc": lambda name: name.startswith("classifier.6."),
}


def no_dropout(model):
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0


def build(base, new_head, head):
    model = VGG(make_layers(base["cfg"], batch_norm=base["bn"]), num_classes=10, init_weights=False, dropout=0.5)
    c = [v for v in base["cfg"] if v != "M"][-1]
    model.classifier = nn.Sequential(
        nn.Linear(c * 7 * 7, HIDDEN), nn.ReLU(True), nn.Dropout(p=0.5),
        nn.Linear(HIDDEN, HIDDEN), nn.ReLU(True), nn.Dropout(p=0.5),
        nn.Linear(HIDDEN, 10))
    model.load_state_dict(base["state"])
    if head == "replace":
        model.classifier[6] = nn.Linear(HIDDEN, new_head[0].shape[0])
        with torch.no_grad():
            model.classifier[6].weight.copy_(new_head[0]); model.classifier[6].bias.copy_(new_head[1])
    else:
        old = model.classifier[6]
        extra = nn.Linear(old.out_features, new_head[0].shape[0])
        with torch.no_grad():
            extra.weight.copy_(new_head[0]); extra.bias.copy_(new_head[1])
        model.classifier[6] = nn.Sequential(old, extra)
    no_dropout(model)
    return model


def prepare(model, policy, frozen_bn, head):
    trains = POLICIES[policy]
    for name, p in model.named_parameters():
        p.requires_grad_(trains(name) and not (head == "append" and name.startswith("classifier.6.0.")))
    model.train()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d) and not m.weight.requires_grad and frozen_bn == "eval":
            m.eval()


def run_case(d, base, new_head, x, labels, policy, frozen_bn, head="replace", smoothing=0.0, optimizers=False,
             steps=False):
    os.makedirs(d, exist_ok=True)
    model = build(base, new_head, head)
    if head == "append":
        write_tensors(os.path.join(d, "head_init.bin"),
                      [("classifier.6.1.weight", new_head[0]), ("classifier.6.1.bias", new_head[1])])
    prepare(model, policy, frozen_bn, head)
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
    stats = [(k, v) for k, v in sd.items() if k.endswith(("running_mean", "running_var"))]
    write_tensors(os.path.join(d, "stats.bin"), stats)
    meta = {
        "policy": policy, "frozen_bn": frozen_bn, "head": head, "label_smoothing": smoothing,
        "loss": loss.item(), "trainable": [n for n, _ in trainable],
        "num_batches_tracked": {k: int(v) for k, v in sd.items() if k.endswith("num_batches_tracked")},
        "optimizers": sorted(OPTIMIZERS) if optimizers else [],
        "steps": sorted(STEP_OPTIMIZERS) if steps else [],
        "dropout_p": 0.0,
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
    if steps:
        for opt_name, (spec, make) in STEP_OPTIMIZERS.items():
            m = build(base, new_head, head)
            prepare(m, policy, frozen_bn, head)
            opt = make([p for p in m.parameters() if p.requires_grad])
            losses, all_logits = [], []
            for _ in range(STEPS):
                opt.zero_grad()
                out = m(x)
                step_loss = nn.CrossEntropyLoss(label_smoothing=smoothing)(out, labels)
                step_loss.backward()
                opt.step()
                losses.append(step_loss.item())
                all_logits.append(out.detach())
            write_f32(os.path.join(d, f"steps_{opt_name}_logits.bin"), torch.stack(all_logits))
            write_tensors(os.path.join(d, f"steps_{opt_name}_params.bin"),
                          [(n, p) for n, p in m.named_parameters() if p.requires_grad])
            msd = m.state_dict()
            write_tensors(os.path.join(d, f"steps_{opt_name}_stats.bin"),
                          [(k, v) for k, v in msd.items() if k.endswith(("running_mean", "running_var"))])
            with open(os.path.join(d, f"steps_{opt_name}.json"), "w") as f:
                json.dump({"optimizer": spec, "steps": STEPS, "losses": losses,
                           "num_batches_tracked": {k: int(v) for k, v in msd.items() if k.endswith("num_batches_tracked")}},
                          f, indent=1)


def write_training(root, manifest):
    for seed, (name, letter, bn, n, h, w, classes) in enumerate(TRAIN_MODELS):
        model, gen = make_vgg(letter, bn, 10, 7000 + 10 * seed)
        d = os.path.join(root, "training", name)
        os.makedirs(d, exist_ok=True)
        state = {k: v.clone() for k, v in model.state_dict().items()}
        torch.save(state, os.path.join(d, "initial.pth"))
        x = torch.randn(n, 3, h, w, generator=gen)
        labels = torch.randint(0, classes, (n,), generator=gen)
        write_f32(os.path.join(d, "input.bin"), x)
        model.eval()
        with torch.no_grad():
            write_f32(os.path.join(d, "eval_logits.bin"), model(x))
            feats = torch.flatten(model.avgpool(model.features(x)), 1)
            write_f32(os.path.join(d, "pooled.bin"), feats)
            feats = model.classifier[4](model.classifier[3](model.classifier[1](model.classifier[0](feats))))
            write_f32(os.path.join(d, "features.bin"), feats)
        fc = nn.Linear(HIDDEN, classes)
        head = (fc.weight.detach().clone(), fc.bias.detach().clone())
        write_tensors(os.path.join(d, "head_init.bin"), [("classifier.6.weight", head[0]), ("classifier.6.bias", head[1])])
        base = {"cfg": tiny_cfg(letter), "bn": bn, "state": state}
        cases = []

        def case(case_name, *args, **kw):
            cases.append(case_name)
            run_case(os.path.join(d, case_name), base, *args, **kw)

        ap = nn.Linear(10, classes)
        append_head = (ap.weight.detach().clone(), ap.bias.detach().clone())
        if name == "tiny_vgg16_bn":  # the overlapping-bins input: the whole model, and the head alone
            case("all", head, x, labels, "all", "train")
            case("fc_bn_eval", head, x, labels, "fc", "eval", steps=True)
        elif bn:
            case("all", head, x, labels, "all", "train", steps=True)
            case("last_bn_eval", head, x, labels, "last", "eval", steps=True)
            case("last_bn_train", head, x, labels, "last", "train")
            case("fc_bn_eval", head, x, labels, "fc", "eval", optimizers=True)
            case("fc_bn_train", head, x, labels, "fc", "train")
            case("append_fc_bn_eval", append_head, x, labels, "fc", "eval", head="append", steps=True)
        else:  # no batch norm: frozen_bn has nothing to act on ("train" recorded)
            case("all", head, x, labels, "all", "train", steps=True)
            case("last", head, x, labels, "last", "train")
            case("fc", head, x, labels, "fc", "train", optimizers=True, steps=True)
            case("fc_smoothing", head, x, labels, "fc", "train", smoothing=0.1, steps=True)
            case("append_all", append_head, x, labels, "all", "train", head="append")
            case("append_fc", append_head, x, labels, "fc", "train", head="append")
        with open(os.path.join(d, "meta.json"), "w") as f:
            json.dump({"batch": n, "height": h, "width": w, "labels": labels.tolist(), "classes": classes,
                       "cases": cases, "variant": VARIANT[letter] + ("_bn" if bn else ""), "cfg_letter": letter,
                       "batch_norm": bn, "cfg": tiny_cfg(letter), "hidden": HIDDEN, "initial_classes": 10,
                       "dropout_p": 0.0, "last_map": list(last_map(h, w))}, f, indent=1)
        manifest[name + " (training)"] = {"variant": VARIANT[letter] + ("_bn" if bn else ""), "cfg_letter": letter,
                                          "batch_norm": bn, "cfg": tiny_cfg(letter), "hidden": HIDDEN, "classes": 10,
                                          "new_classes": classes, "files": f"training/{name}/"}
        print(f"training {name}: {cases}")


def write_torchvision_keys(root):
    import torchvision.models as tvm
    table = {}
    with torch.device("meta"):
        for base in ("vgg11", "vgg13", "vgg16", "vgg19"):
            for name in (base, base + "_bn"):
                sd = getattr(tvm, name)().state_dict()
                table[name] = [[k, list(v.shape)] for k, v in sd.items()]
    with open(os.path.join(root, "torchvision_keys.json"), "w") as f:
        json.dump(table, f, separators=(",", ":"))


def main(fixtures_dir):
    torch.set_num_threads(2)
    root = os.path.join(fixtures_dir, "vgg")
    os.makedirs(root, exist_ok=True)
    manifest = {}
    write_torchvision_keys(root)
    write_eval(root, manifest)
    write_predict(root, fixtures_dir, manifest)
    write_training(root, manifest)
    with open(os.path.join(root, "manifest.json"), "w") as f:
        json.dump({"torch": torch.__version__, "torchvision": __import__("torchvision").__version__,
                   "widths": {str(k): v for k, v in WIDTHS.items()}, "hidden": HIDDEN, "models": manifest}, f, indent=1)


if __name__ == "__main__":
    main(os.path.dirname(os.path.abspath(__file__)))
