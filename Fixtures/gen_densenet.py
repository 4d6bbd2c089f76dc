"""DenseNet fixtures: tiny torchvision DenseNet-121 / 161 / 169 / 201 (every variant's real block
configuration, tiny growth rate and widths) and what real PyTorch computes with them. The counterpart
of gen_regnet.py (and gen_mobilenet.py, gen_efficientnet.py), in the same formats and layout;
Fixtures/densenet/README.md describes every file. In short, Fixtures/densenet/:

  manifest.json       every tiny model: which torchvision variant it stands for, the name Graft
                      detects from its shapes, block configuration, growth rate, widths, classes,
                      batch-norm eps/momentum, the real variant's values, and where its files are
  torchvision_keys.json  state_dict keys and shapes (no values) of torchvision's real
                      densenet121, densenet161, densenet169, densenet201 (1000 classes)
  models/             eval logits (gen_models.py's format, one weights.bin per model, inputs
                      shared by every model): models/inputs/<case>.bin, models/<model>/...
  predict/            image-file path (gen_predict.py's format): <model>.pth, the same state dict
                      with torchvision's old DenseNet key spelling (<model>_legacy_keys.pth),
                      class_indices.json, expected.json at 256/224 (bilinear: torchvision's
                      DenseNet weights' transform)
  training/<model>/   train steps (gen_training.py's format) plus a few whole optimizer steps
                      (gen_vgg.py's steps_* files)

The models are torchvision's own `torchvision.models.densenet.DenseNet(growth_rate=4,
block_config=C, num_init_features=8, bn_size=2, drop_rate=0, num_classes=N)`, C each variant's real
block configuration (read from torchvision's builder). Values are made non-trivial as gen_regnet.py
makes them (random affine batch norms, statistics from train-mode passes, random Linear bias), with
gen_mobilenet's batch-norm bias shift (see make_densenet); DenseNet has no residual branches, so no
RESIDUAL_GAMMA. The training model then gets a kink clearance (clear_kinks): batch-norm biases shifted,
channel by channel in forward order, so that no ReLU input of the first training step's forward on the
fixture's own batch lies within KINK_MARGIN of 0 (another summation order would flip such a ReLU).

Code shared with gen_mobilenet.py: its training machinery (build, prepare, run_case, train_steps,
sensitivity) looks a model up by its variant name in gen_mobilenet's CONSTRUCTORS, HEAD_INDEX and
POLICIES tables; the tiny DenseNets are added to those tables here (register()), with HEAD_INDEX the
head's module path "classifier" (gen_mobilenet's head_path). The seed search is gen_regnet.py's
(seed_quality: gen_efficientnet's two bounds and the trained-values bound), the predict transform
gen_efficientnet.py's.
"""
import copy
import inspect
import json
import os
import re
import sys
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
import torchvision.models.densenet as tv_densenet
from PIL import Image, ImageOps
from torchvision.models.densenet import DenseNet

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_efficientnet as ge  # noqa: E402
import gen_mobilenet as gm  # noqa: E402
import gen_regnet as gr  # noqa: E402
from gen_mobilenet import CALIBRATION, CALIBRATION_IMAGES, INPUTS, bn_of, rel  # noqa: E402
from gen_training import write_f32, write_tensors  # noqa: E402
from gen_vgg import IMAGES, NAMES, write_weights  # noqa: E402

VARIANTS = ["densenet121", "densenet161", "densenet169", "densenet201"]
# The tiny widths (every variant alike): growth rate 4 (each dense layer adds 4 channels), stem 8
# channels, bottleneck 1x1 conv bn_size x growth = 8 wide; no dropout.
GROWTH_RATE = 4
NUM_INIT_FEATURES = 8
BN_SIZE = 2
DROP_RATE = 0.0
# Conditioning (see make_densenet): gen_mobilenet's batch-norm bias shift.
BN_BIAS_SHIFT = gm.BN_BIAS_SHIFT


def real_params(variant):
    """torchvision's arguments to DenseNet for `variant`: (growth_rate, block_config, num_init_features)
    from its builder (`_densenet` patched to capture them before a model is built), and the builder's
    extra keyword arguments (none)."""
    captured = {}
    original = tv_densenet._densenet

    def capture(growth_rate, block_config, num_init_features, weights, progress, **kwargs):
        captured["params"] = ((growth_rate, tuple(block_config), num_init_features), kwargs)
        return None
    tv_densenet._densenet = capture
    try:
        getattr(tv_densenet, variant)()
    finally:
        tv_densenet._densenet = original
    return captured["params"]


REAL = {v: real_params(v) for v in VARIANTS}
BLOCK_CONFIG = {v: list(REAL[v][0][1]) for v in VARIANTS}
# DenseNet's defaults, which no builder overrides: bn_size 4, drop_rate 0
_DEFAULTS = inspect.signature(DenseNet.__init__).parameters
REAL_BN_SIZE = _DEFAULTS["bn_size"].default
REAL_DROP_RATE = _DEFAULTS["drop_rate"].default


def channels(growth, block_config, init):
    """Each dense block's output channels, each transition's, and the last (norm5's, classifier's input)."""
    blocks, transitions, c = [], [], init
    for i, n in enumerate(block_config):
        c += n * growth
        blocks.append(c)
        if i != len(block_config) - 1:
            c //= 2
            transitions.append(c)
    return blocks, transitions, c


def real_of(variant):
    growth, config, init = REAL[variant][0]
    blocks, transitions, last = channels(growth, config, init)
    return {"growth_rate": growth, "num_init_features": init, "bn_size": REAL_BN_SIZE, "drop_rate": REAL_DROP_RATE,
            "block_config": list(config), "block_channels": blocks, "transition_channels": transitions,
            "last_channel": last}


def tiny_densenet(variant, num_classes):
    """torchvision's DenseNet with `variant`'s block configuration at the tiny widths."""
    return DenseNet(growth_rate=GROWTH_RATE, block_config=tuple(BLOCK_CONFIG[variant]),
                    num_init_features=NUM_INIT_FEATURES, bn_size=BN_SIZE, drop_rate=DROP_RATE,
                    num_classes=num_classes)


def detected_as(variant):
    """The name Graft gives a tiny model from its shapes: a DenseNet is named by the exact match of its
    growth rate, stem width and block configuration with a torchvision variant's, else
    densenet(custom); the tiny widths match none."""
    return "densenet(custom)"


def last_map(h, w):
    """The last feature map: conv0 (7x7, stride 2, padding 3) and pool0 (max 3x3, stride 2, padding 1)
    give ceil(x / 2) each; the three transitions' AvgPool2d(2, 2) floor(x / 2) each."""
    for _ in range(2):
        h, w = (h + 1) // 2, (w + 1) // 2
    for _ in range(3):
        h, w = h // 2, w // 2
    return h, w


def make_densenet(variant, classes, seed, calibration=None):
    """The tiny `variant`, deterministic from `seed` (weights and statistics); gen_regnet's make_regnet
    for DenseNet. calibration: the batches of the three statistics passes (default: random 96x96
    images)."""
    torch.manual_seed(seed)
    model = tiny_densenet(variant, classes)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Linear):  # classifier (torchvision's init: bias 0); no conv has a bias
                m.reset_parameters()
                m.bias.copy_(torch.randn(m.out_features, generator=gen) * 0.1)
    # As gen_regnet: random affine parameters before the statistics passes; +BN_BIAS_SHIFT on the bias
    # of every batch norm that a ReLU follows, which in DenseNet is every one (norm0 -> relu0; each
    # dense layer's norm1 -> relu1 and norm2 -> relu2; each transition's norm -> relu; norm5 ->
    # F.relu in forward). No residual branches: DenseNet concatenates, and every dense layer and
    # transition reads its input through a batch norm.
    momentum = {}
    with torch.no_grad():
        for m in bn_of(model):
            k = m.num_features
            m.weight.copy_(torch.rand(k, generator=gen) * 1.0 + 0.5)
            m.bias.copy_(torch.randn(k, generator=gen) * 0.2)
            m.bias.add_(BN_BIAS_SHIFT)
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
            m.momentum = momentum[m]  # BatchNorm2d's 0.1 (torchvision's DenseNets: eps 1e-5, momentum 0.1)
    model.eval()
    return model, gen


# Kink clearance (training model only; see clear_kinks). A ReLU input within rounding of 0 is flipped by
# another float32 summation order: torch's own float32 is ~2e-5 from float64 in the one-step gradients,
# a flipped ReLU moved Graft's by 0.3-8 %, and DenseNet re-applies a ReLU to every earlier channel in
# every dense layer (~400k ReLU inputs per forward at batch 4, 64x48), so no seed of the search was
# free of such kinks. clear_kinks shifts the bias of the batch-norm channels whose output on the
# fixture's training batch comes within KINK_MARGIN of 0, by at most KINK_SHIFT_LIMIT.
KINK_MARGIN = 1e-3
KINK_SHIFT_LIMIT = 0.05
# The (policy, frozen_bn) configurations of the training cases whose gradients cross a ReLU after a batch
# norm with batch statistics: every batch norm in train mode (all, all_smoothing, last_bn_train;
# fc_bn_train's forward too) and the trainable part of last_bn_eval and last2_bn_eval (transition3 /
# transition2 onward, in train mode behind a frozen trunk in eval mode, whose inputs, and so whose batch
# statistics, differ from the all-train forward's). A ReLU after a frozen batch norm in eval mode only
# changes forward values continuously when it flips, and no trainable parameter lies before it; the fc
# cases train only the head.
KINK_CONFIGS = (("all", "train"), ("last", "eval"), ("last2", "eval"))


class _Stop(Exception):
    pass


def kink_shift(values, margin=KINK_MARGIN, limit=KINK_SHIFT_LIMIT):
    """(delta, reached): the shift of the smallest |delta| <= limit with min |values + delta| >= margin
    (0 where the values are already clear), or, where no such shift exists, the one that maximises
    min |values + delta| (the middle of the widest gap between neighbouring sorted values around 0,
    clamped to the limit); `reached` is min |values + delta|. Deterministic (float64; ties go to the
    smaller |delta|, then the smaller delta)."""
    s = torch.sort(values.double().flatten()).values.tolist()
    lo, hi = [-float("inf")] + s, s + [float("inf")]  # the gaps (lo, hi) in which t = -delta may lie
    best = None
    for a, b in zip(lo, hi):
        a2, b2 = max(a + margin, -limit), min(b - margin, limit)
        if a2 <= b2:
            t = min(max(0.0, a2), b2)
            key = (abs(t), -t)
            if best is None or key < best[0]:
                best = (key, t)
    if best is None:
        for a, b in zip(lo, hi):
            a2, b2 = max(a, -limit), min(b, limit)
            if a2 <= b2:
                t = min(max((a + b) / 2, a2), b2)
                key = (-min(t - a, b - t), abs(t), -t)
                if best is None or key < best[0]:
                    best = (key, t)
    delta = -best[1] if best[1] != 0 else 0.0
    return delta, float((values.double() + delta).abs().min())


def kink_configured(model, variant, policy, frozen_bn):
    """`model` in the modes run_case's prepare gives it for (policy, frozen_bn): train, then the
    frozen batch norms in eval mode where frozen_bn is "eval"."""
    gm.prepare(model, {"variant": variant}, policy, frozen_bn, "replace")
    return model


def clear_kinks(model, variant, x, margin=KINK_MARGIN, limit=KINK_SHIFT_LIMIT):
    """The kink clearance, in place on `model` (float32; only batch-norm biases change): for every batch
    norm in forward order (model.modules()' order is DenseNet's forward order: norm0, each dense layer's
    norm1 and norm2, each transition's norm, norm5; every one followed by a ReLU, norm5 by forward's
    F.relu), its output channel by channel in float64 on the training batch `x` in every KINK_CONFIGS
    configuration where it runs in train mode (batch statistics, as the fixture's first step), over the
    batch and the map of all those configurations together; each channel's bias += kink_shift(those
    values). A float64 copy of the float32 model runs every pass (its batch norms' momentum 0, so the
    running statistics that the eval-mode ones use never change; the float32 model's buffers are never
    touched), stopped right after that batch norm, and after each batch norm's shift the copy takes the
    new float32 bias, so every later batch norm sees every earlier shift. Returns (shifted channels,
    largest |shift|, the smallest margin reached over the channels)."""
    m64 = copy.deepcopy(model).double()
    for m in bn_of(m64):
        m.momentum = 0.0
    bns32 = bn_of(model)
    names = [n for n, m in m64.named_modules() if isinstance(m, nn.BatchNorm2d)]
    x64 = x.double()
    shifted, largest, reached = 0, 0.0, float("inf")
    for i, (name, bn64, bn32) in enumerate(zip(names, bn_of(m64), bns32)):
        outs = []
        for policy, frozen_bn in KINK_CONFIGS:
            kink_configured(m64, variant, policy, frozen_bn)
            if not bn64.training:
                continue
            seen = []

            def hook(mod, inp, out):
                seen.append(out.detach().transpose(0, 1).reshape(out.shape[1], -1).clone())
                raise _Stop
            h = bn64.register_forward_hook(hook)
            try:
                with torch.no_grad():
                    m64(x64)
            except _Stop:
                pass
            finally:
                h.remove()
            outs.append(seen[0])
        values = torch.cat(outs, 1)
        deltas = []
        for c in range(values.shape[0]):
            delta, got = kink_shift(values[c], margin, limit)
            deltas.append(delta)
            reached = min(reached, got)
            if delta != 0:
                shifted += 1
                largest = max(largest, abs(delta))
        with torch.no_grad():
            bn32.bias.add_(torch.tensor(deltas, dtype=torch.float64).to(torch.float32))
            bn64.bias.copy_(bn32.bias.double())
    model.eval()
    return shifted, largest, reached


def relu_margins(model, variant, x, dtype):
    """The smallest |ReLU input| (nn.ReLU modules' inputs and norm5's output, which forward passes through
    F.relu) of `model` in `dtype` on `x`, over the ReLUs whose batch norm runs in train mode, in each
    KINK_CONFIGS configuration (running statistics unchanged: a copy with momentum 0), and how many ReLU
    inputs that is; and, as a diagnostic, the smallest gap between the two largest positive values of a
    pool0 window (the all-train forward; a near-tie there routes the max pool's gradient one way or the
    other, and no bias shift moves it)."""
    m = copy.deepcopy(model).to(dtype)
    for bn in bn_of(m):
        bn.momentum = 0.0
    modules = dict(m.named_modules())
    result, count, pool_gap = {}, 0, None
    for policy, frozen_bn in KINK_CONFIGS:
        kink_configured(m, variant, policy, frozen_bn)
        smallest, n, hooks, pool_in = [float("inf")], [0], [], []

        def record(t):
            smallest[0] = min(smallest[0], float(t.abs().min())); n[0] += t.numel()
        for name, mod in m.named_modules():
            if isinstance(mod, nn.ReLU):
                parent, _, leaf = name.rpartition(".")
                bn = modules[parent + "." + leaf.replace("relu", "norm")]
                assert isinstance(bn, nn.BatchNorm2d), name
                if bn.training:
                    hooks.append(mod.register_forward_pre_hook(lambda mod, inp: record(inp[0])))
        if m.features.norm5.training:
            hooks.append(m.features.norm5.register_forward_hook(lambda mod, inp, out: record(out)))
        hooks.append(m.features.pool0.register_forward_pre_hook(lambda mod, inp: pool_in.append(inp[0].clone())))
        with torch.no_grad():
            m(x.to(dtype))
        for h in hooks:
            h.remove()
        result[f"{policy}/{frozen_bn}"] = smallest[0]
        count += n[0]
        if policy == "all":
            # pool0: MaxPool2d(3, stride 2, padding 1) on relu0's output (>= 0: zero padding is no max)
            win = F.unfold(F.pad(pool_in[0], (1, 1, 1, 1)), 3, stride=2)
            top = win.reshape(win.shape[0], pool_in[0].shape[1], 9, -1).topk(2, dim=2).values
            gaps = (top[:, :, 0] - top[:, :, 1])[top[:, :, 1] > 0]
            pool_gap = float(gaps.min())
    return result, count, pool_gap


def features(model, x):
    return model.features(x)


def pooled(model, x):
    """flatten(adaptive_avg_pool2d(relu(features(x)), 1)): what classifier reads (DenseNet's forward)."""
    return torch.flatten(F.adaptive_avg_pool2d(F.relu(features(model, x)), (1, 1)), 1)


def activation_summary(model, x):
    """Diagnostics (printed): how much of the ReLUs' inputs (nn.ReLU modules and norm5's output, which
    forward passes through F.relu) are negative (cut) or within 1e-3 of the kink, and the largest
    |value| after the stem (pool0), each dense block and norm5."""
    counts, hooks = [0, 0, 0], []

    def count(t):
        counts[0] += int((t < 0).sum()); counts[1] += int((t.abs() < 1e-3).sum()); counts[2] += t.numel()
    for m in model.modules():
        if isinstance(m, nn.ReLU):
            # ReLU(inplace=True) overwrites its input: count before it runs
            hooks.append(m.register_forward_pre_hook(lambda mod, inp: count(inp[0])))
    hooks.append(model.features.norm5.register_forward_hook(lambda mod, inp, out: count(out)))
    peaks = []
    with torch.inference_mode():
        y = x
        for name, f in model.features.named_children():
            y = f(y)
            if name == "pool0" or name.startswith("denseblock") or name == "norm5":
                peaks.append(float(y.abs().max()))
    for h in hooks:
        h.remove()
    r0, rk, rn = counts
    return (f"ReLU inputs < 0 {r0 / rn:.1%}, |x| < 1e-3 {rk / rn:.2%}"
            "; max |x| after pool0, denseblock1..4, norm5 " + " ".join(f"{p:.1f}" for p in peaks))


def describe(variant, model):
    bn = bn_of(model)[0]
    blocks, transitions, last = channels(GROWTH_RATE, BLOCK_CONFIG[variant], NUM_INIT_FEATURES)
    f = model.features
    assert [getattr(f, f"denseblock{i + 1}").denselayer1.norm1.num_features for i in range(4)] == \
        [NUM_INIT_FEATURES] + transitions
    assert f.norm5.num_features == last == model.classifier.in_features
    return {"variant": variant, "detected_as": detected_as(variant), "kind": "densenet",
            "bn_eps": bn.eps, "bn_momentum": bn.momentum,
            "growth_rate": GROWTH_RATE, "bn_size": BN_SIZE, "bottleneck_channels": BN_SIZE * GROWTH_RATE,
            "num_init_features": NUM_INIT_FEATURES, "stem_channels": f.conv0.out_channels,
            "block_config": list(BLOCK_CONFIG[variant]), "stage_blocks": list(BLOCK_CONFIG[variant]),
            "block_channels": blocks, "transition_channels": transitions, "stage_channels": blocks,
            "drop_rate": DROP_RATE, "memory_efficient": False,
            "real": real_of(variant),
            "pooled_channels": last, "last_channel": last, "head": "classifier"}


def parameters(model):
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------------------
# Eval logits (models/)

EVAL_MODELS = [  # name, variant, classes
    ("tiny_" + v, v, c) for v, c in zip(VARIANTS, [5, 7, 4, 6])]


def write_eval(root, manifest):
    out = os.path.join(root, "models")
    os.makedirs(os.path.join(out, "inputs"), exist_ok=True)
    gen = torch.Generator().manual_seed(2028)
    inputs, index = {}, {}
    for case, n, h, w in INPUTS:
        assert min(last_map(h, w)) >= 1, case
        inputs[case] = torch.randn(n, 3, h, w, generator=gen)
        write_f32(os.path.join(out, "inputs", case + ".bin"), inputs[case])
        index[case] = {"file": f"inputs/{case}.bin", "batch": n, "height": h, "width": w,
                       "last_map": list(last_map(h, w))}
    with open(os.path.join(out, "inputs.json"), "w") as f:
        json.dump(index, f, indent=1)
    for seed, (name, variant, classes) in enumerate(EVAL_MODELS):
        model, _ = make_densenet(variant, classes, 3000 + 10 * seed)
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        size = write_weights(d, model)
        model64 = copy.deepcopy(model).double()
        cases = {}
        for case, n, h, w in INPUTS:
            x = inputs[case]
            with torch.inference_mode():
                assert tuple(features(model, x).shape[2:]) == last_map(h, w), (name, case)
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
        meta = dict(describe(variant, model), classes=classes, parameters=parameters(model), cases=cases)
        with open(os.path.join(d, "meta.json"), "w") as f:
            json.dump(meta, f, indent=1)
        manifest[name] = dict(meta, files=f"models/{name}/", weight_bytes=size)
        manifest[name].pop("cases")
        manifest[name]["eval_cases"] = list(cases)
        print(f"{name} ({detected_as(variant)}, blocks {BLOCK_CONFIG[variant]}): "
              f"{activation_summary(model, inputs['96x80'])}")
        print(f"  {size} weight bytes, {parameters(model)} parameters, {len(model.state_dict())} tensors, max |logit| "
              + ", ".join(f"{c} {v['max_abs_logit']:.3f} (bf16 diff {v['bf16_max_abs_diff']:.4f}, f64 "
                          f"{v['float64_distance']:.1e})" for c, v in cases.items()))


# --------------------------------------------------------------------------------------
# Image-file path (predict/)

PREDICT_MODELS = [("tiny_densenet121", "densenet121", 5)]
# resize, crop, Resize's interpolation: torchvision's DenseNet weights' transform
# (ImageClassification(crop_size=224): resize 256, bilinear). Last map 7x7.
TRANSFORMS = [("256_224", 256, 224, "bilinear")]
# torchvision's densenet._load_state_dict: the old checkpoints' dense-layer keys (`norm.1`, `relu.1`,
# `conv.1`, `norm.2`, `relu.2`, `conv.2`: '.'s in module names, no longer allowed) to the new ones.
LEGACY_PATTERN = r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
# new key -> old key: the inverse of that pattern's rewriting
NEW_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))((?:[12])\.(?:weight|bias|running_mean|running_var))$")
NEW_NBT = re.compile(r"^.*denselayer\d+\.(?:norm)[12]\.num_batches_tracked$")


def legacy_state_dict(state_dict):
    """`state_dict` with torchvision's old key spelling (`...denselayerK.norm1.weight` ->
    `...denselayerK.norm.1.weight`, the same for conv1, norm2, conv2), in the same order, without the
    dense layers' batch norms' num_batches_tracked (the old checkpoints have none). A plain OrderedDict
    without `_metadata` (the old checkpoints predate it)."""
    out = OrderedDict()
    for key, v in state_dict.items():
        if NEW_NBT.match(key):
            continue
        res = NEW_KEY.match(key)
        out[res.group(1) + "." + res.group(2) if res else key] = v
    return out


def torchvision_remap(state_dict):
    """torchvision/models/densenet.py's _load_state_dict, its loop exactly, without the download."""
    # '.'s are no longer allowed in module names, but previous _DenseLayer
    # has keys 'norm.1', 'relu.1', 'conv.1', 'norm.2', 'relu.2', 'conv.2'.
    # They are also in the checkpoints in model_urls. This pattern is used
    # to find such keys.
    pattern = re.compile(
        r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
    )

    for key in list(state_dict.keys()):
        res = pattern.match(key)
        if res:
            new_key = res.group(1) + res.group(2)
            state_dict[new_key] = state_dict[key]
            del state_dict[key]
    return state_dict


def check_legacy(path, variant, classes, model, x):
    """Loads `path` (the legacy-key file) as torchvision would: its regex remapping, then
    load_state_dict into a fresh tiny model; checks that only num_batches_tracked keys are missing
    (strict=False; and strict=True loads too, as torchvision's own strict load of the old checkpoints
    does, since without version metadata BatchNorm fills a missing num_batches_tracked in), nothing is
    unexpected, and the logits are the same as `model`'s. Returns what expected.json records."""
    legacy = torch.load(path, weights_only=True)
    new = model.state_dict()
    renamed = sum(1 for k in legacy if re.match(LEGACY_PATTERN, k))
    remapped = torchvision_remap(OrderedDict(legacy))
    dropped = sorted(set(new) - set(remapped))
    assert all(k.endswith("num_batches_tracked") for k in dropped) and not set(remapped) - set(new), dropped
    fresh = tiny_densenet(variant, classes)
    result = fresh.load_state_dict(OrderedDict(remapped), strict=False)
    assert not result.unexpected_keys and all(k.endswith("num_batches_tracked") for k in result.missing_keys), result
    strict = tiny_densenet(variant, classes)
    strict.load_state_dict(OrderedDict(remapped), strict=True)
    fresh.eval(); strict.eval()
    with torch.no_grad():
        ref = model(x)
        assert torch.equal(fresh(x), ref) and torch.equal(strict(x), ref)
    for k in new:
        if k not in dropped:
            assert torch.equal(remapped[k], new[k]), k
    return {"keys": len(legacy), "renamed_by_torchvision_pattern": renamed,
            "num_batches_tracked_dropped": len(dropped),
            "load_state_dict_strict_false_missing": sorted(result.missing_keys)}


def write_predict(root, fixtures_dir, manifest):
    out = os.path.join(root, "predict")
    os.makedirs(out, exist_ok=True)
    src = os.path.join(fixtures_dir, "images", "src")
    with open(os.path.join(out, "class_indices.json"), "w") as f:
        f.write(json.dumps({str(i): n for i, n in enumerate(NAMES)}, indent=4))
    expected, files = {}, {}

    def load(image, tf):
        return tf(ImageOps.exif_transpose(Image.open(os.path.join(src, image))).convert("RGB"))

    for seed, (name, variant, classes) in enumerate(PREDICT_MODELS):
        # Statistics from other images of images/src through the transform, as gen_mobilenet's.
        batch = torch.stack([load(image, ge.eval_transform(256, 224)) for image in CALIBRATION_IMAGES])
        model, _ = make_densenet(variant, classes, 5000 + 10 * seed, calibration=[batch] * len(CALIBRATION))
        torch.save(model.state_dict(), os.path.join(out, name + ".pth"))
        legacy_path = os.path.join(out, name + "_legacy_keys.pth")
        torch.save(legacy_state_dict(model.state_dict()), legacy_path)
        expected[name] = {}
        for tname, resize, crop, interpolation in TRANSFORMS:
            tf = ge.eval_transform(resize, crop, interpolation)
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
        x = torch.stack([load(image, ge.eval_transform(256, 224)) for image in IMAGES])
        check = check_legacy(legacy_path, variant, classes, model, x)
        print(f"predict {name}: legacy keys {check['keys']} ({check['renamed_by_torchvision_pattern']} renamed by "
              f"torchvision's pattern, {check['num_batches_tracked_dropped']} num_batches_tracked dropped); "
              f"remapped, loads (strict=False missing {len(check['load_state_dict_strict_false_missing'])}; "
              f"strict=True too) and gives the same logits")
        files[name] = {"state_dict": f"{name}.pth", "key_spelling": "new",
                       "legacy_keys": dict({"file": f"{name}_legacy_keys.pth", "key_spelling": "old",
                                            "pattern": LEGACY_PATTERN,
                                            "same_values_as": f"{name}.pth", "expected": f"models.{name} (the same model)"},
                                           **check)}
        manifest[name + " (predict)"] = dict(describe(variant, model), classes=classes, parameters=parameters(model),
                                             files=f"predict/{name}.pth",
                                             legacy_keys_file=f"predict/{name}_legacy_keys.pth")
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump({"transforms": {t: {"resize": r, "crop": c, "interpolation": i} for t, r, c, i in TRANSFORMS},
                   "files": files, "models": expected}, f, indent=1)


# --------------------------------------------------------------------------------------
# Training (training/)

TRAIN_MODELS = [
    # name, variant, batch, height, width, new classes
    ("tiny_densenet121", "densenet121", 4, 64, 48, 3),
]
LAST = ("features.transition3.", "features.denseblock4.", "features.norm5.", "classifier.")
LAST2 = ("features.transition2.", "features.denseblock3.") + LAST


def policies(variant):
    """Trainable-parameter predicates by state-dict name, and their text. Graft's DenseNet stages:
    stage 0 features.denseblock1; stage 1 features.transition1 + denseblock2; stage 2 transition2 +
    denseblock3; stage 3 transition3 + denseblock4 + norm5; classifier goes with the last stage; the
    stem (features.conv0, features.norm0) with none (only `all` trains it)."""
    return ({"all": lambda name: True,
             "last": lambda name: name.startswith(LAST),
             "last2": lambda name: name.startswith(LAST2),
             "fc": lambda name: name.startswith("classifier.")},
            {"all": "every parameter", "last": "features.transition3, features.denseblock4, features.norm5 and classifier.*",
             "last2": "features.transition2, features.denseblock3, features.transition3, features.denseblock4, "
                      "features.norm5 and classifier.*", "fc": "classifier.*"})


def register():
    """Adds the tiny DenseNets to gen_mobilenet's tables, which its build / prepare / run_case read: the
    constructor (width_mult unused), the head's module path ("classifier"), the policies."""
    for variant in VARIANTS:
        gm.CONSTRUCTORS[variant] = (lambda weights=None, width_mult=None, num_classes=1000, v=variant:
                                    tiny_densenet(v, num_classes))
        gm.HEAD_INDEX[variant] = "classifier"
    for _, variant, *_ in TRAIN_MODELS:
        gm.POLICIES[variant] = policies(variant)[0]


# The seed search: gen_regnet's seed_quality (gen_efficientnet's ROBUST_LOGITS and GRAD_BOUND, and the
# trained parameters and statistics of every compared run within TRAINED_PARAMS_BOUND /
# TRAINED_STATS_BOUND of float64); the first seed within all of them, or the best of SEED_ATTEMPTS.
TRAINED_PARAMS_BOUND = gr.TRAINED_PARAMS_BOUND
TRAINED_STATS_BOUND = gr.TRAINED_STATS_BOUND
SEED_ATTEMPTS = gr.SEED_ATTEMPTS
seed_quality = gr.seed_quality


def write_training(root, manifest):
    """gen_regnet's write_training: exact_zero_grads element by element (gen_mobilenet's
    ELEMENTWISE_EXACT_ZERO). DenseNet needs it: every batch norm is followed by a ReLU, and where that
    ReLU never cuts a channel over the batch, a shift of the batch norm's bias in that channel passes it
    unchanged; each dense layer's norm1 -> relu1 -> conv1 (1x1, no padding: a per-channel constant in,
    a per-channel constant out) -> norm2 with batch statistics, which takes it out, so those elements of
    norm1.bias have a gradient of 0 in exact arithmetic (rounding noise in float32 and float64). The same
    for a transition's norm.bias (relu, 1x1 conv, 2x2 average pool: the constant reaches the next block
    only through batch norms: its dense layers' norm1, the next transition's norm or norm5) and for
    norm0.bias (relu0, max pool, the first block's norm1s and transition1's norm), where the ReLU never
    cuts. Not norm2.bias (relu2 feeds conv2, 3x3 with zero padding: a constant in is not a constant out
    at the borders) and not norm5.bias (F.relu, average pool, classifier: no batch norm between). In
    frozen-batch-norm eval cases the frozen norms use running statistics and take nothing out, but the
    trainable ones are in train mode."""
    gm.ELEMENTWISE_EXACT_ZERO = True
    try:
        for model_row in TRAIN_MODELS:
            write_training_seeds(root, manifest, model_row)
    finally:
        gm.ELEMENTWISE_EXACT_ZERO = False


def write_training_seeds(root, manifest, model_row):
    """One training model: seeds 7000 + 10 x its index + 1000 x attempt, the first within seed_quality's
    bounds, or the best of SEED_ATTEMPTS (rewritten last). gen_regnet's."""
    index = TRAIN_MODELS.index(model_row)
    d = os.path.join(root, "training", model_row[0])
    tried = []
    for attempt in range(SEED_ATTEMPTS):
        seed = 7000 + 10 * index + 1000 * attempt
        gm.SENSITIVITY.clear()
        cases = write_training_model(root, manifest, model_row, seed)
        score, sens, grad, trained = seed_quality(d, cases)
        tried.append((score, seed))
        print(f"  seed {seed}: sensitivities " + ", ".join(f"{c} {o} {v:.1e}" for c, o, v in gm.SENSITIVITY))
        worst_trained = (f"{trained[0]} {trained[1]}: params {trained[3]:.1e}, stats {trained[4]:.1e}"
                         if trained[0] else "none")
        print(f"  seed {seed}: worst compared sensitivity {sens[2]:.1e} ({sens[0]} {sens[1]}), worst gradient "
              f"{grad[2]:.1e} ({grad[0]} {grad[1]}), worst trained values {trained[2]:.2f} of their bound "
              f"({worst_trained})" + ("" if score < 1 else ": over a bound"))
        if score < 1:
            break
    best = min(tried)
    if best[1] != tried[-1][1]:
        gm.SENSITIVITY.clear()
        write_training_model(root, manifest, model_row, best[1])
    print(f"  {model_row[0]}: seed {best[1]}" + ("" if best[0] < 1 else " (the best of the seeds tried: over a bound)"))


def write_training_model(root, manifest, model_row, seed):
    name, variant, n, h, w, classes = model_row
    model, gen = make_densenet(variant, 10, seed)
    d = os.path.join(root, "training", name)
    os.makedirs(d, exist_ok=True)
    x = torch.randn(n, 3, h, w, generator=gen)
    labels = torch.randint(0, classes, (n,), generator=gen)
    # The kink clearance on this batch (clear_kinks: batch-norm biases only; no random numbers drawn)
    before = relu_margins(model, variant, x, torch.float64)[0]
    shifted, largest, reached = clear_kinks(model, variant, x)
    m64, count, gap64 = relu_margins(model, variant, x, torch.float64)
    m32, _, gap32 = relu_margins(model, variant, x, torch.float32)
    margin = min(list(m64.values()) + list(m32.values()))
    print(f"training {name} (seed {seed}): kink clearance shifted {shifted} batch-norm channels (largest |shift| "
          f"{largest:.1e}); smallest |ReLU input| over {count} train-mode ReLU inputs before "
          + ", ".join(f"{k} {v:.1e}" for k, v in before.items()) + "; after: float64 "
          + ", ".join(f"{k} {v:.2e}" for k, v in m64.items()) + "; float32 "
          + ", ".join(f"{k} {v:.2e}" for k, v in m32.items())
          + f" (per-channel margins reached {reached:.2e}); pool0 smallest top-2 gap {gap64:.1e} (float32 {gap32:.1e})")
    assert margin >= 0.9 * min(reached, KINK_MARGIN), (margin, reached)  # float32: within rounding of float64
    state = {key: v.clone() for key, v in model.state_dict().items()}
    torch.save(state, os.path.join(d, "initial.pth"))
    write_f32(os.path.join(d, "input.bin"), x)
    model.eval()
    with torch.no_grad():
        assert tuple(features(model, x).shape[2:]) == last_map(h, w), name
        write_f32(os.path.join(d, "eval_logits.bin"), model(x))
        feats = pooled(model, x)
        write_f32(os.path.join(d, "pooled.bin"), feats)
        assert torch.allclose(model.classifier(feats), model(x), rtol=0, atol=1e-5)
        write_f32(os.path.join(d, "features.bin"), feats)  # classifier reads the pooled features directly
    fc = nn.Linear(model.classifier.in_features, classes)
    head = (fc.weight.detach().clone(), fc.bias.detach().clone())
    write_tensors(os.path.join(d, "head_init.bin"), [("classifier.weight", head[0]), ("classifier.bias", head[1])])
    base = {"variant": variant, "width": None, "state": state}
    cases = []

    def case(case_name, *args, **kw):
        cases.append(case_name)
        gm.run_case(os.path.join(d, case_name), base, *args, **kw)

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
    info = describe(variant, model)
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(dict({"batch": n, "height": h, "width": w, "labels": labels.tolist(), "classes": classes,
                        "cases": cases}, **info, parameters=parameters(model), initial_classes=10, dropout_p=0.0,
                       last_map=list(last_map(h, w)), policies=policies(variant)[1], seed=seed), f, indent=1)
    manifest[name + " (training)"] = dict(info, classes=10, new_classes=classes, parameters=parameters(model),
                                          files=f"training/{name}/")
    return cases


def write_torchvision_keys(root):
    """The real models' keys and shapes: DenseNet built on the meta device from the builder's captured
    arguments."""
    table = {}
    for name in VARIANTS:
        (growth, config, init), kwargs = REAL[name]
        with torch.device("meta"):
            sd = DenseNet(growth, config, init, **kwargs).state_dict()
        table[name] = [[k, list(v.shape)] for k, v in sd.items()]
    with open(os.path.join(root, "torchvision_keys.json"), "w") as f:
        json.dump(table, f, separators=(",", ":"))


compact_indexes = gr.compact_indexes


def main(fixtures_dir):
    torch.set_num_threads(2)
    register()
    root = os.path.join(fixtures_dir, "densenet")
    os.makedirs(root, exist_ok=True)
    manifest = {}
    write_torchvision_keys(root)
    write_eval(root, manifest)
    write_predict(root, fixtures_dir, manifest)
    write_training(root, manifest)
    with open(os.path.join(root, "manifest.json"), "w") as f:
        json.dump({"torch": torch.__version__, "torchvision": torchvision.__version__,
                   "growth_rate": GROWTH_RATE, "num_init_features": NUM_INIT_FEATURES, "bn_size": BN_SIZE,
                   "drop_rate": DROP_RATE, "block_config": BLOCK_CONFIG,
                   "real": {v: real_of(v) for v in VARIANTS},
                   "robust_logits": ge.ROBUST_LOGITS, "grad_bound": ge.GRAD_BOUND,
                   "trained_params_bound": TRAINED_PARAMS_BOUND, "trained_stats_bound": TRAINED_STATS_BOUND,
                   "calibration": list(CALIBRATION), "bn_bias_shift": BN_BIAS_SHIFT,
                   "models": manifest}, f, indent=1)
    compact_indexes(root)
    total = sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(root) for fn in fns)
    print(f"Fixtures/densenet: {total} bytes ({total / 2**20:.2f} MiB)")


if __name__ == "__main__":
    main(os.path.dirname(os.path.abspath(__file__)))
