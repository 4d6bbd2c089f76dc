"""MobileNet fixtures: tiny torchvision MobileNetV2 / V3-Large / V3-Small and what real PyTorch
computes with them. Fixtures/mobilenet/README.md describes every file; in short, Fixtures/mobilenet/:

  manifest.json       every tiny model: which torchvision variant it stands for, width_mult,
                      classes, batch-norm eps/momentum, and where its files are
  torchvision_keys.json  state_dict keys and shapes (no values) of torchvision's real
                      mobilenet_v2, mobilenet_v3_large, mobilenet_v3_small (1000 classes, width 1.0)
  models/             eval logits (gen_models.py's format, one weights.bin per model, inputs
                      shared by every model): models/inputs/<case>.bin, models/<model>/...
  predict/            image-file path (gen_predict.py's format): <model>.pth, class_indices.json,
                      expected.json at the 256/224 eval transform
  training/<model>/   train steps (gen_training.py's format) plus a few whole optimizer steps
                      (gen_vgg.py's steps_* files)

The models are torchvision's own, `mobilenet_v2(weights=None, width_mult=W, num_classes=N)`,
`mobilenet_v3_large(...)`, `mobilenet_v3_small(...)` at W = 0.1: the real block structure
(inverted residuals, depthwise convs, ReLU6 / ReLU / Hardswish, squeeze-excitation with
Hardsigmoid), so the keys are torchvision's. Values are made non-trivial as gen_vgg.py does, with
changes the README explains (a deep batch-normalized net needs them): every Linear reset to
nn.Linear's default init with random bias (N(0, 0.1)), every conv bias (only the SE's fc1/fc2 have
one) random N(0, 0.1); batch norms get random affine parameters (gen_vgg's, then +0.75 on the bias
of those an activation follows, x0.2 on residual blocks' projection batch norms, x0.2 on V2's last
one, some channels x4 in the V2 eval models), then running statistics from three train-mode passes
(momentum None, 96x96), then gen_vgg's perturbed statistics, and each model's own momentum back
(V2: eps 1e-5, momentum 0.1; V3: eps 1e-3, momentum 0.01).

Dropout: every training fixture sets every nn.Dropout's p to 0; eval fixtures are in model.eval().
"""
import copy
import json
import os
import sys

import torch
import torch.nn as nn
import torchvision
import torchvision.models as tvm
from PIL import Image, ImageOps
from torchvision import transforms

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_training import write_tensors, write_f32  # noqa: E402
from gen_vgg import IMAGES, NAMES, OPTIMIZERS, STEP_OPTIMIZERS, STEPS, write_weights  # noqa: E402

CONSTRUCTORS = {"mobilenet_v2": tvm.mobilenet_v2, "mobilenet_v3_large": tvm.mobilenet_v3_large,
                "mobilenet_v3_small": tvm.mobilenet_v3_small}
HEAD_INDEX = {"mobilenet_v2": 1, "mobilenet_v3_large": 3, "mobilenet_v3_small": 3}  # classifier[k] is the head
# (or, where the value is a string, the head's module path itself: gen_regnet.py's "fc"; see head_path)
# width_mult of every tiny model. 0.25 keeps more of the real channel pattern (see README) but
# writes about 17 MiB here (V2's last conv stays 1280 wide at any width_mult < 1); 0.1 writes 6.7.
WIDTH = 0.1
# Three train-mode passes (batch 8, square images of these sizes) give the running statistics.
CALIBRATION = (96, 96, 96)
V2_LAST_BN_SCALE = 0.2  # features.18's batch-norm weight and bias x this (see make_mobilenet)
# Conditioning (see make_mobilenet): added to the random bias of every batch norm that an
# activation follows, and the scale of each residual block's last (projection) batch norm.
BN_BIAS_SHIFT = 0.75
RESIDUAL_GAMMA = 0.2
# V2 eval models (models/): this fraction of the channels of every batch norm before a ReLU6 get
# their weight x this, so that some values pass 6 and ReLU6's upper clip is exercised (~1% of
# ReLU6 inputs). Not in the training models: there it made float32 steps 5x less reproducible.
RELU6_BOOST_FRACTION = 0.15
RELU6_BOOST = 4.0


def bn_of(model):
    return [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]


def projections(model):
    """Every inverted-residual block's last batch norm (after the linear 1x1 projection, no
    activation) and whether the block adds its input (torchvision's use_res_connect)."""
    out = []
    for block in model.features:
        if hasattr(block, "conv"):      # V2 InvertedResidual: conv = [..., Conv2d, BatchNorm2d]
            out.append((block.conv[-1], block.use_res_connect))
        elif hasattr(block, "block"):   # V3 InvertedResidual: block = [..., Conv2dNormActivation(conv, bn)]
            out.append((block.block[-1][1], block.use_res_connect))
    return out


def make_mobilenet(variant, classes, seed, width=WIDTH, relu6_clip=False, calibration=None):
    """torchvision's MobileNet at a tiny width, deterministic from `seed` (weights and statistics).
    relu6_clip (V2, eval models only): some channels reach ReLU6's upper clip. calibration: the
    batches of the three statistics passes (default: random 96x96 images)."""
    torch.manual_seed(seed)
    model = CONSTRUCTORS[variant](weights=None, width_mult=width, num_classes=classes)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Linear):
                m.reset_parameters()
                m.bias.copy_(torch.randn(m.out_features, generator=gen) * 0.1)
            elif isinstance(m, nn.Conv2d) and m.bias is not None:
                m.bias.copy_(torch.randn(m.out_channels, generator=gen) * 0.1)
    # Random affine parameters first, then the statistics, so that the running statistics are
    # those of the model they sit in (gen_vgg sets the affine parameters after the passes: over
    # MobileNet's dozens of batch norms in a row that mismatch compounds and eval logits blow
    # up, to |logit| ~130 at 96x80). The passes are at 96x96: at 64x64 the 3x3/5x5 depthwise
    # convs see mostly padding on the last maps, and larger eval inputs grew by x10 per block.
    #
    # Conditioning: a train-mode step through MobileNet's 32-52 batch norms in a row (batch
    # statistics over 8-24 values per channel on the last maps) amplifies float32 rounding block
    # by block; with gen_vgg's values torch's own float32 step was 4.5e-5 (logits) and 1.2e-2
    # (a gradient) away from the same step in float64, more than Graft's tests allow. Two changes
    # bring it to <1e-6 and <1.5e-5: every batch norm that an activation follows gets +0.75 on
    # its bias (the activations in a less chaotic regime; ReLU6/ReLU still cut 10-25% of their
    # inputs), and every residual block's projection batch norm has weight and bias x0.2 (small
    # residual branches, as with zero-init residual gammas).
    residual = {id(bn) for bn, res in projections(model) if res}
    project = {id(bn) for bn, _ in projections(model)}
    momentum = {}
    with torch.no_grad():
        for m in bn_of(model):
            k = m.num_features
            m.weight.copy_(torch.rand(k, generator=gen) * 1.0 + 0.5)
            m.bias.copy_(torch.randn(k, generator=gen) * 0.2)
            if id(m) not in project:
                m.bias.add_(BN_BIAS_SHIFT)
                if relu6_clip and variant == "mobilenet_v2":  # some channels over ReLU6's 6 (its upper clip)
                    m.weight.mul_(torch.where(torch.rand(k, generator=gen) < RELU6_BOOST_FRACTION,
                                              RELU6_BOOST, 1.0))
            if id(m) in residual:
                m.weight.mul_(RESIDUAL_GAMMA)
                m.bias.mul_(RESIDUAL_GAMMA)
            momentum[m] = m.momentum
            m.momentum = None  # cumulative average over the passes below
            m.reset_running_stats()
    model.train()
    with torch.no_grad():
        for i, size in enumerate(CALIBRATION):
            model(torch.randn(8, 3, size, size, generator=gen) * 1.5 + 0.2 if calibration is None else calibration[i])
        for m in bn_of(model):
            k = m.num_features
            m.running_mean.add_(torch.randn(k, generator=gen) * 0.05)
            m.running_var.mul_(torch.rand(k, generator=gen) * 0.4 + 0.8)
            m.momentum = momentum[m]  # the model's own (V2 0.1, V3 0.01)
        if variant == "mobilenet_v2":
            # V2's last conv (features.18) is 1280 wide at every width_mult < 1: 1280 ReLU6
            # features make the head's steps so large that SGD (lr 0.01, momentum 0.9) on it
            # diverges; its batch norm's weight and bias scaled down keep every run's loss falling.
            last = model.features[-1][1]
            last.weight.mul_(V2_LAST_BN_SCALE)
            last.bias.mul_(V2_LAST_BN_SCALE)
    model.eval()
    return model, gen


def last_map(h, w):
    """The last feature map: five stride-2 convs with 'same' padding, ceil(x / 2) each."""
    for _ in range(5):
        h, w = (h + 1) // 2, (w + 1) // 2
    return h, w


def pooled(model, x):
    """flatten(avgpool(features(x))): what the classifier reads (V2 pools functionally)."""
    return torch.flatten(nn.functional.adaptive_avg_pool2d(model.features(x), (1, 1)), 1)


def activation_summary(model, x):
    """How often each activation's input lies in a flat region (diagnostics, printed)."""
    flat = {nn.ReLU6: (0.0, 6.0), nn.ReLU: (0.0, None), nn.Hardswish: (-3.0, 3.0), nn.Hardsigmoid: (-3.0, 3.0)}
    counts, hooks = {}, []
    for m in model.modules():
        if type(m) in flat:
            lo, hi = flat[type(m)]

            def hook(mod, inp, out, lo=lo, hi=hi, kind=type(m).__name__):
                c = counts.setdefault(kind, [0, 0, 0])
                c[0] += int((inp[0] <= lo).sum()); c[1] += 0 if hi is None else int((inp[0] >= hi).sum())
                c[2] += inp[0].numel()
            hooks.append(m.register_forward_hook(hook))
    with torch.inference_mode():
        model(x)
    for h in hooks:
        h.remove()
    return ", ".join(f"{k} low {lo / n:.1%} high {hi / n:.1%}" for k, (lo, hi, n) in counts.items())


def describe(variant, model, width):
    bn = bn_of(model)[0]
    head = model.classifier[HEAD_INDEX[variant]]
    first = model.classifier[0] if variant != "mobilenet_v2" else head
    return {"variant": variant, "width_mult": width, "bn_eps": bn.eps, "bn_momentum": bn.momentum,
            "features": len(model.features), "pooled_channels": first.in_features,
            "last_channel": head.in_features, "head": f"classifier.{HEAD_INDEX[variant]}"}


# --------------------------------------------------------------------------------------
# Eval logits (models/)

EVAL_MODELS = [
    # name, variant, classes
    ("tiny_mobilenet_v2", "mobilenet_v2", 5),
    ("tiny_mobilenet_v3_large", "mobilenet_v3_large", 7),
    ("tiny_mobilenet_v3_small", "mobilenet_v3_small", 4),
]
INPUTS = [
    # case, batch, height, width
    ("32x32", 2, 32, 32),  # last map 1x1
    ("64x48", 1, 64, 48),  # 2x2 (48 -> 24 -> 12 -> 6 -> 3 -> 2: an odd map, ceil by a padded stride-2 conv)
    ("96x80", 2, 96, 80),  # 3x3 (80 -> 40 -> 20 -> 10 -> 5 -> 3)
]


def write_eval(root, manifest):
    out = os.path.join(root, "models")
    os.makedirs(os.path.join(out, "inputs"), exist_ok=True)
    gen = torch.Generator().manual_seed(2025)
    inputs, index = {}, {}
    for case, n, h, w in INPUTS:
        inputs[case] = torch.randn(n, 3, h, w, generator=gen)
        write_f32(os.path.join(out, "inputs", case + ".bin"), inputs[case])
        index[case] = {"file": f"inputs/{case}.bin", "batch": n, "height": h, "width": w,
                       "last_map": list(last_map(h, w))}
    with open(os.path.join(out, "inputs.json"), "w") as f:
        json.dump(index, f, indent=1)
    for seed, (name, variant, classes) in enumerate(EVAL_MODELS):
        model, _ = make_mobilenet(variant, classes, 3000 + 10 * seed, relu6_clip=True)
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        size = write_weights(d, model)
        model64 = copy.deepcopy(model).double()
        cases = {}
        for case, n, h, w in INPUTS:
            x = inputs[case]
            with torch.inference_mode():
                assert tuple(model.features(x).shape[2:]) == last_map(h, w), (name, case)
                logits = model(x)
                probs = torch.softmax(logits, dim=1)
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    logits_bf16 = model(x).float()
                logits64 = model64(x.double())
            write_f32(os.path.join(d, f"logits_{case}.bin"), logits)
            write_f32(os.path.join(d, f"probs_{case}.bin"), probs)
            write_f32(os.path.join(d, f"logits_bf16_{case}.bin"), logits_bf16)
            cases[case] = {"batch": n, "height": h, "width": w, "input": f"inputs/{case}.bin",
                           "max_abs_logit": float(logits.abs().max()),
                           "bf16_max_abs_diff": float((logits_bf16 - logits).abs().max()),
                           "float64_distance": max(rel(a, b) for a, b in zip(logits, logits64))}
        meta = dict(describe(variant, model, WIDTH), classes=classes, cases=cases)
        with open(os.path.join(d, "meta.json"), "w") as f:
            json.dump(meta, f, indent=1)
        manifest[name] = dict(meta, files=f"models/{name}/", weight_bytes=size)
        manifest[name].pop("cases")
        manifest[name]["eval_cases"] = list(cases)
        print(f"{name}: flat activation regions at 96x80: {activation_summary(model, inputs['96x80'])}")
        print(f"{name}: {size} weight bytes, max |logit| "
              + ", ".join(f"{c} {v['max_abs_logit']:.3f} (bf16 diff {v['bf16_max_abs_diff']:.4f})" for c, v in cases.items()))


# --------------------------------------------------------------------------------------
# Image-file path (predict/)

PREDICT_MODELS = [("tiny_mobilenet_v3_small", "mobilenet_v3_small", 5)]
# The predict model's batch-norm statistics: these images (not in IMAGES) at 256/224.
CALIBRATION_IMAGES = ["jpeg_444.jpg", "png_rgb.png", "jpeg_progressive.jpg", "png_rgb_big.png", "jpeg_odd.jpg",
                      "png_palette.png", "jpeg_256.jpg", "png_gamma.png"]
TRANSFORMS = [("256_224", 256, 224)]  # resize, crop (torchvision's MobileNet V1 weights' transform): last map 7x7


def write_predict(root, fixtures_dir, manifest):
    out = os.path.join(root, "predict")
    os.makedirs(out, exist_ok=True)
    src = os.path.join(fixtures_dir, "images", "src")
    with open(os.path.join(out, "class_indices.json"), "w") as f:
        f.write(json.dumps({str(i): n for i, n in enumerate(NAMES)}, indent=4))
    expected = {}

    def load(image, tf):
        return tf(ImageOps.exif_transpose(Image.open(os.path.join(src, image))).convert("RGB"))

    for seed, (name, variant, classes) in enumerate(PREDICT_MODELS):
        # Statistics from other images of images/src through the transform (random-noise
        # statistics left every image's logits within ~0.03 of each other).
        tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                                 transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
        batch = torch.stack([load(image, tf) for image in CALIBRATION_IMAGES])
        model, _ = make_mobilenet(variant, classes, 5000 + 10 * seed, calibration=[batch] * len(CALIBRATION))
        torch.save(model.state_dict(), os.path.join(out, name + ".pth"))
        expected[name] = {}
        for tname, resize, crop in TRANSFORMS:
            tf = transforms.Compose([transforms.Resize(resize), transforms.CenterCrop(crop), transforms.ToTensor(),
                                     transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
            expected[name][tname] = {}
            for image in IMAGES:
                x = load(image, tf).unsqueeze(0)
                with torch.no_grad():
                    logits = model(x)[0]
                expected[name][tname][image] = {"logits": logits.tolist(), "probs": torch.softmax(logits, 0).tolist()}
            rows = torch.tensor([e["logits"] for e in expected[name][tname].values()])
            print(f"predict {name} {tname}: max |logit| {rows.abs().max():.3f}, spread over the images per class "
                  f"{[round(v, 3) for v in (rows.max(0).values - rows.min(0).values).tolist()]}, "
                  f"argmax {rows.argmax(1).tolist()}")
        manifest[name + " (predict)"] = dict(describe(variant, model, WIDTH), classes=classes, files=f"predict/{name}.pth")
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump({"transforms": {t: {"resize": r, "crop": c} for t, r, c in TRANSFORMS}, "models": expected}, f, indent=1)


# --------------------------------------------------------------------------------------
# Training (training/)

TRAIN_MODELS = [
    # name, variant, batch, height, width, new classes
    ("tiny_mobilenet_v2", "mobilenet_v2", 2, 64, 48, 3),
    ("tiny_mobilenet_v3_small", "mobilenet_v3_small", 2, 64, 64, 4),
]


def stages(lo, hi):
    return tuple(f"features.{k}." for k in range(lo, hi + 1))


POLICIES = {  # trainable-parameter predicates by state-dict name
    "mobilenet_v2": {
        "all": lambda name: True,
        "last": lambda name: name.startswith(stages(14, 18) + ("classifier.",)),
        "last2": lambda name: name.startswith(stages(7, 18) + ("classifier.",)),
        "fc": lambda name: name.startswith("classifier.1."),
    },
    "mobilenet_v3_small": {
        "all": lambda name: True,
        "last": lambda name: name.startswith("classifier."),
        "last2": lambda name: name.startswith(stages(9, 12) + ("classifier.",)),
        "fc": lambda name: name.startswith("classifier.3."),
    },
}
POLICY_TEXT = {
    "mobilenet_v2": {"all": "every parameter", "last": "features.14 .. features.18 and classifier.*",
                     "last2": "features.7 .. features.18 and classifier.*", "fc": "classifier.1.*"},
    "mobilenet_v3_small": {"all": "every parameter", "last": "classifier.* (classifier.0 and classifier.3)",
                           "last2": "features.9 .. features.12 and classifier.*", "fc": "classifier.3.*"},
}


def no_dropout(model):
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0


def head_path(variant):
    """The head's module path: classifier.<HEAD_INDEX> (MobileNet, EfficientNet), or HEAD_INDEX's
    value itself where it is a string (a head outside a classifier Sequential: RegNet's "fc")."""
    k = HEAD_INDEX[variant]
    return k if isinstance(k, str) else f"classifier.{k}"


def set_head(model, path, module):
    """model.<path> = module (for classifier.k the same as classifier[k] = module)."""
    parent, _, leaf = path.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, module)


def build(base, new_head, head, dtype=torch.float32):
    model = CONSTRUCTORS[base["variant"]](weights=None, width_mult=base["width"], num_classes=10)
    model.load_state_dict(base["state"])
    path = head_path(base["variant"])
    old = model.get_submodule(path)
    if head == "replace":
        fc = nn.Linear(old.in_features, new_head[0].shape[0])
        with torch.no_grad():
            fc.weight.copy_(new_head[0]); fc.bias.copy_(new_head[1])
        set_head(model, path, fc)
    else:
        extra = nn.Linear(old.out_features, new_head[0].shape[0])
        with torch.no_grad():
            extra.weight.copy_(new_head[0]); extra.bias.copy_(new_head[1])
        set_head(model, path, nn.Sequential(old, extra))
    no_dropout(model)
    return model.to(dtype)


def prepare(model, base, policy, frozen_bn, head):
    trains = POLICIES[base["variant"]][policy]
    pretrained = f"{head_path(base['variant'])}.0."
    for name, p in model.named_parameters():
        p.requires_grad_(trains(name) and not (head == "append" and name.startswith(pretrained)))
    model.train()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d) and not m.weight.requires_grad and frozen_bn == "eval":
            m.eval()


def rel(a, b):
    """max |a - b| / max |b| (Tests/TestSupport's relativeError)."""
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def train_steps(base, new_head, x, labels, policy, frozen_bn, head, smoothing, make, dtype=torch.float32):
    """STEPS whole steps (zero_grad, forward, loss, backward, step) from the case's start."""
    m = build(base, new_head, head, dtype)
    prepare(m, base, policy, frozen_bn, head)
    opt = make([p for p in m.parameters() if p.requires_grad])
    losses, all_logits = [], []
    for _ in range(STEPS):
        opt.zero_grad()
        out = m(x.to(dtype))
        step_loss = nn.CrossEntropyLoss(label_smoothing=smoothing)(out, labels)
        step_loss.backward()
        opt.step()
        losses.append(step_loss.item())
        all_logits.append(out.detach())
    return m, losses, torch.stack(all_logits)


# A whole-steps case is robust when rounding-sized changes of the weights (1e-6 relative noise)
# leave every step's logits within ROBUST_LOGITS (relative): else a ReLU/ReLU6 input sits so near
# its kink that float32 rounding alone (torch's against itself, or another kernel's) flips it, and
# later steps jump (measured: 3.6e-4 at step 3 of a v2 seed in 2 of 6 perturbations, the same jump
# Graft's AVX2 kernels showed). write_training takes the first seed whose cases are all robust, or
# of SEED_ATTEMPTS the least sensitive (a 52-layer ReLU6 v2 at batch 2 has none: every seed tried
# moved 2e-4 to 1e-2), and records each case's sensitivity (steps_*.json's
# perturbation_sensitivity): no implementation can be held closer to torch than torch's own
# result moves under rounding, so the tests' whole-steps tolerance grows with it.
PERTURBATIONS = 4
ROBUST_LOGITS = 5e-6
SEED_ATTEMPTS = 4
SENSITIVITY = []  # the current model's cases, worst first-come: (case, optimizer, sensitivity)
# run_case's exact_zero_grads: parameters whose float64 gradient is below 1e-10 of the step's largest.
# Where True (gen_regnet.py), also those with any such element that is not exactly zero in both float32
# and float64 (a dead ReLU's zeros are exact in any implementation; a cancelled shift's are rounding
# noise): a ReLU passes a batch norm's bias shift unchanged in a channel it never cuts, and the next
# batch norm with batch statistics takes it out, channel by channel.
ELEMENTWISE_EXACT_ZERO = False


def sensitivity(args):
    base = args[0]
    _, _, ref = train_steps(*args)
    gen = torch.Generator().manual_seed(99)
    worst = 0.0
    for _ in range(PERTURBATIONS):
        state = {k: (v * (1 + 1e-6 * torch.randn(v.shape, generator=gen)) if v.dtype == torch.float32 else v)
                 for k, v in base["state"].items()}
        _, _, logits = train_steps(dict(base, state=state), *args[1:])
        worst = max(worst, max(rel(a, b) for a, b in zip(logits, ref)))
    return worst


def running_stats(model):
    return [(k, v) for k, v in model.state_dict().items() if k.endswith(("running_mean", "running_var"))]


def run_case(d, base, new_head, x, labels, policy, frozen_bn, head="replace", smoothing=0.0, optimizers=False,
             steps=False):
    os.makedirs(d, exist_ok=True)
    model = build(base, new_head, head)
    path = head_path(base["variant"])
    if head == "append":
        write_tensors(os.path.join(d, "head_init.bin"),
                      [(f"{path}.1.weight", new_head[0]), (f"{path}.1.bias", new_head[1])])
    prepare(model, base, policy, frozen_bn, head)
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
    stats = running_stats(model)
    write_tensors(os.path.join(d, "stats.bin"), stats)

    # The same step in float64: which gradients are zero in exact arithmetic (below 1e-10 of the
    # largest; e.g. a batch norm's bias whose shift reaches the loss only through a 1x1 conv into
    # a batch norm with batch statistics, which takes the mean out: in float32 rounding noise,
    # torch's and Graft's alike), and how far torch's float32 values are from float64 with the
    # Swift tests' metrics (a gradient under 1e-4 of the step's largest compared with the largest).
    m64 = build(base, new_head, head, torch.float64)
    prepare(m64, base, policy, frozen_bn, head)
    logits64 = m64(x.double())
    loss64 = nn.CrossEntropyLoss(label_smoothing=smoothing)(logits64, labels)
    loss64.backward()
    g64 = {n: p.grad for n, p in m64.named_parameters() if p.requires_grad}
    largest64 = max(g.abs().max().item() for g in g64.values())
    grad32 = {n: p.grad for n, p in trainable}
    zero = [n for n, g in g64.items() if g.abs().max().item() < 1e-10 * largest64
            or ELEMENTWISE_EXACT_ZERO and bool(((g.abs() < 1e-10 * largest64) & ((g != 0) | (grad32[n] != 0))).any())]
    largest = max(p.grad.abs().max().item() for _, p in trainable)
    grad_dist = {n: float((p.grad.double() - g64[n]).abs().max()) / (largest if p.grad.abs().max() < 1e-4 * largest
                                                                     else float(p.grad.abs().max()))
                 for n, p in trainable}
    worst = max(grad_dist, key=grad_dist.get)
    sd64 = m64.state_dict()
    distance = {"loss": abs(loss.item() - loss64.item()) / abs(loss64.item()), "logits": rel(logits, logits64),
                "worst_grad": grad_dist[worst], "worst_grad_name": worst,
                "stats": max([rel(v, sd64[s]) for s, v in stats], default=0.0)}
    meta = {
        "policy": policy, "frozen_bn": frozen_bn, "head": head, "label_smoothing": smoothing,
        "loss": loss.item(), "trainable": [n for n, _ in trainable],
        "num_batches_tracked": {k: int(v) for k, v in sd.items() if k.endswith("num_batches_tracked")},
        "optimizers": sorted(OPTIMIZERS) if optimizers else [],
        "steps": sorted(STEP_OPTIMIZERS) if steps else [],
        "dropout_p": 0.0,
        "exact_zero_grads": zero,
        "float64_distance": distance,
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
    summary = []
    if steps:
        for opt_name, (spec, make) in STEP_OPTIMIZERS.items():
            args = (base, new_head, x, labels, policy, frozen_bn, head, smoothing, make)
            m, losses, all_logits = train_steps(*args)
            assert losses[0] == loss.item() and torch.equal(all_logits[0], logits.detach()), (d, opt_name)
            write_f32(os.path.join(d, f"steps_{opt_name}_logits.bin"), all_logits)
            params = [(n, p) for n, p in m.named_parameters() if p.requires_grad]
            write_tensors(os.path.join(d, f"steps_{opt_name}_params.bin"), params)
            stats = running_stats(m)
            write_tensors(os.path.join(d, f"steps_{opt_name}_stats.bin"), stats)
            m64, losses64, logits64 = train_steps(*args, dtype=torch.float64)
            p64, s64 = dict(m64.named_parameters()), m64.state_dict()
            distance = {"losses": max(abs(a - b) / abs(b) for a, b in zip(losses, losses64)),
                        "logits": max(rel(a, b) for a, b in zip(all_logits, logits64)),
                        "params": max([rel(p, p64[n]) for n, p in params if n not in zero], default=0.0),
                        "exact_zero_grad_params": max([rel(p, p64[n]) for n, p in params if n in zero], default=0.0),
                        "stats": max([rel(v, s64[s]) for s, v in stats], default=0.0)}
            sens = sensitivity(args)
            SENSITIVITY.append((os.path.basename(d), opt_name, sens))
            with open(os.path.join(d, f"steps_{opt_name}.json"), "w") as f:
                json.dump({"optimizer": spec, "steps": STEPS, "losses": losses,
                           "num_batches_tracked": {k: int(v) for k, v in m.state_dict().items()
                                                   if k.endswith("num_batches_tracked")},
                           "float64_distance": distance, "perturbation_sensitivity": sens}, f, indent=1)
            summary.append(f"{opt_name} " + " ".join(f"{v:.4f}" for v in losses)
                           + " (f64: " + ", ".join(f"{k} {v:.1e}" for k, v in distance.items()) + ")")
    dist = meta["float64_distance"]
    print(f"  {os.path.basename(d)}: loss {loss.item():.4f}, {len(trainable)} trainable, {len(zero)} exact-zero grads; "
          f"f64: loss {dist['loss']:.1e}, logits {dist['logits']:.1e}, grad {dist['worst_grad']:.1e} ({worst}), "
          f"stats {dist['stats']:.1e}")
    for line in summary:
        print("    steps " + line)


def write_training(root, manifest):
    for index, model_row in enumerate(TRAIN_MODELS):
        tried = []
        for attempt in range(SEED_ATTEMPTS):
            seed = 7000 + 10 * index + 1000 * attempt
            SENSITIVITY.clear()
            write_training_model(root, manifest, model_row, seed)
            worst = max(SENSITIVITY, key=lambda t: t[2])
            tried.append((worst[2], seed))
            if worst[2] < ROBUST_LOGITS:
                break
            print(f"  seed {seed}: {worst[0]} {worst[1]} moves {worst[2]:.1e} under rounding-sized changes (>= {ROBUST_LOGITS:.0e})")
        best = min(tried)
        if best[1] != tried[-1][1]:
            SENSITIVITY.clear()
            write_training_model(root, manifest, model_row, best[1])
        print(f"  {model_row[0]}: seed {best[1]}, whole steps' sensitivity {best[0]:.1e}"
              + ("" if best[0] < ROBUST_LOGITS else " (no robust seed: the tests' whole-steps tolerance follows it)"))


def write_training_model(root, manifest, model_row, seed):
    if True:
        name, variant, n, h, w, classes = model_row
        model, gen = make_mobilenet(variant, 10, seed)
        k = HEAD_INDEX[variant]
        d = os.path.join(root, "training", name)
        os.makedirs(d, exist_ok=True)
        state = {key: v.clone() for key, v in model.state_dict().items()}
        torch.save(state, os.path.join(d, "initial.pth"))
        x = torch.randn(n, 3, h, w, generator=gen)
        labels = torch.randint(0, classes, (n,), generator=gen)
        write_f32(os.path.join(d, "input.bin"), x)
        model.eval()
        with torch.no_grad():
            write_f32(os.path.join(d, "eval_logits.bin"), model(x))
            feats = pooled(model, x)
            write_f32(os.path.join(d, "pooled.bin"), feats)
            if variant != "mobilenet_v2":  # the head reads Hardswish(classifier.0(pooled)) (Dropout between)
                feats = model.classifier[1](model.classifier[0](feats))
            assert torch.allclose(model.classifier[k](feats), model(x), rtol=0, atol=1e-5)
            write_f32(os.path.join(d, "features.bin"), feats)
        head_in = model.classifier[k].in_features
        fc = nn.Linear(head_in, classes)
        head = (fc.weight.detach().clone(), fc.bias.detach().clone())
        write_tensors(os.path.join(d, "head_init.bin"),
                      [(f"classifier.{k}.weight", head[0]), (f"classifier.{k}.bias", head[1])])
        base = {"variant": variant, "width": WIDTH, "state": state}
        cases = []
        print(f"training {name}:")

        def case(case_name, *args, **kw):
            cases.append(case_name)
            run_case(os.path.join(d, case_name), base, *args, **kw)

        ap = nn.Linear(10, classes)
        append_head = (ap.weight.detach().clone(), ap.bias.detach().clone())
        case("all", head, x, labels, "all", "train", steps=True)
        case("last_bn_eval", head, x, labels, "last", "eval", steps=True)
        case("last_bn_train", head, x, labels, "last", "train")
        case("last2_bn_eval", head, x, labels, "last2", "eval")
        case("fc_bn_eval", head, x, labels, "fc", "eval", optimizers=True, steps=True)
        case("fc_bn_train", head, x, labels, "fc", "train")
        case("append_fc_bn_eval", append_head, x, labels, "fc", "eval", head="append", steps=True)
        case("all_smoothing", head, x, labels, "all", "train", smoothing=0.1)
        info = describe(variant, model, WIDTH)
        with open(os.path.join(d, "meta.json"), "w") as f:
            json.dump(dict({"batch": n, "height": h, "width": w, "labels": labels.tolist(), "classes": classes,
                            "cases": cases}, **info, initial_classes=10, dropout_p=0.0, last_map=list(last_map(h, w)),
                           policies=POLICY_TEXT[variant], seed=seed), f, indent=1)
        manifest[name + " (training)"] = dict(info, classes=10, new_classes=classes, files=f"training/{name}/")


def write_torchvision_keys(root):
    table = {}
    with torch.device("meta"):
        for name, make in CONSTRUCTORS.items():
            sd = make().state_dict()
            table[name] = [[k, list(v.shape)] for k, v in sd.items()]
    with open(os.path.join(root, "torchvision_keys.json"), "w") as f:
        json.dump(table, f, separators=(",", ":"))


def main(fixtures_dir):
    torch.set_num_threads(2)
    root = os.path.join(fixtures_dir, "mobilenet")
    os.makedirs(root, exist_ok=True)
    manifest = {}
    write_torchvision_keys(root)
    write_eval(root, manifest)
    write_predict(root, fixtures_dir, manifest)
    write_training(root, manifest)
    with open(os.path.join(root, "manifest.json"), "w") as f:
        json.dump({"torch": torch.__version__, "torchvision": torchvision.__version__, "width_mult": WIDTH,
                   "calibration": list(CALIBRATION), "v2_last_bn_scale": V2_LAST_BN_SCALE,
                   "bn_bias_shift": BN_BIAS_SHIFT, "residual_gamma": RESIDUAL_GAMMA,
                   "models": manifest}, f, indent=1)
    total = sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(root) for fn in fns)
    print(f"Fixtures/mobilenet: {total} bytes ({total / 2**20:.2f} MiB)")


if __name__ == "__main__":
    main(os.path.dirname(os.path.abspath(__file__)))
