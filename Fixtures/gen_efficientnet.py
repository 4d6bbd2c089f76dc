"""EfficientNet fixtures: tiny torchvision EfficientNet B0-B7 / V2-S/M/L (the real block structure and
the real depth of every variant) and what real PyTorch computes with them. The counterpart of
gen_mobilenet.py, in the same formats and layout; Fixtures/efficientnet/README.md describes every
file. In short, Fixtures/efficientnet/:

  manifest.json       every tiny model: which torchvision variant it stands for, the name Graft
                      detects from its shapes, width/depth multipliers, blocks per stage, classes,
                      batch-norm eps/momentum, and where its files are
  torchvision_keys.json  state_dict keys and shapes (no values) of torchvision's real
                      efficientnet_b0 .. b7 and efficientnet_v2_s/m/l (1000 classes)
  models/             eval logits (gen_models.py's format, one weights.bin per model, inputs
                      shared by every model): models/inputs/<case>.bin, models/<model>/...
  predict/            image-file path (gen_predict.py's format): <model>.pth, class_indices.json,
                      expected.json at 256/224 with a bilinear and a bicubic resize
  training/<model>/   train steps (gen_training.py's format) plus a few whole optimizer steps
                      (gen_vgg.py's steps_* files)

The models are torchvision's own `torchvision.models.efficientnet.EfficientNet`, built as the
variant's builder does (its inverted_residual_setting, dropout, norm layer) at a tiny width:
B0-B7 `_efficientnet_conf(variant, width_mult=F * w, depth_mult=d)` with the variant's own w and d,
V2 every channel count c of `_efficientnet_conf(variant)` replaced by `_make_divisible(c * F, 8)`
(FusedMBConvConfig does not scale widths) and last_channel `_make_divisible(1280 * F, 8)`; F per
variant in WIDTH_FACTOR. Stochastic depth is built with probability 0 everywhere. Values are made
non-trivial as gen_mobilenet.py makes them (random affine batch norms, statistics from train-mode
passes, random conv and Linear biases), with its conditioning (see make_efficientnet).

Dropout: every training fixture sets every nn.Dropout's p and every StochasticDepth's p to 0; eval
fixtures are in model.eval().

Code shared with gen_mobilenet.py: its training machinery (build, prepare, run_case, train_steps,
sensitivity) looks a model up by its variant name in gen_mobilenet's CONSTRUCTORS, HEAD_INDEX and
POLICIES tables; the tiny EfficientNets are added to those tables here (register()).
"""
import copy
import json
import os
import sys
from functools import partial

import torch
import torch.nn as nn
import torchvision
import torchvision.models as tvm
from PIL import Image, ImageOps
from torchvision import transforms
from torchvision.models._utils import _make_divisible
from torchvision.models.efficientnet import EfficientNet, FusedMBConv, _efficientnet_conf
from torchvision.ops import StochasticDepth
from torchvision.ops.misc import Conv2dNormActivation
from torchvision.transforms import InterpolationMode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_mobilenet as gm  # noqa: E402
from gen_mobilenet import CALIBRATION, CALIBRATION_IMAGES, INPUTS, bn_of, last_map, rel, stages  # noqa: E402
from gen_training import write_f32, write_tensors  # noqa: E402
from gen_vgg import IMAGES, NAMES, write_weights  # noqa: E402

# torchvision's builders: (width_mult, depth_mult, dropout, eps, momentum) of B0-B7 and
# (dropout, eps, momentum) of V2 (efficientnet.py: b5-b7 pass partial(BatchNorm2d, eps=0.001,
# momentum=0.01), the V2 builders partial(BatchNorm2d, eps=1e-03), b0-b4 none: BatchNorm2d's 1e-5 / 0.1).
B_VARIANTS = {
    "efficientnet_b0": (1.0, 1.0, 0.2, 1e-5, 0.1),
    "efficientnet_b1": (1.0, 1.1, 0.2, 1e-5, 0.1),
    "efficientnet_b2": (1.1, 1.2, 0.3, 1e-5, 0.1),
    "efficientnet_b3": (1.2, 1.4, 0.3, 1e-5, 0.1),
    "efficientnet_b4": (1.4, 1.8, 0.4, 1e-5, 0.1),
    "efficientnet_b5": (1.6, 2.2, 0.4, 1e-3, 0.01),
    "efficientnet_b6": (1.8, 2.6, 0.5, 1e-3, 0.01),
    "efficientnet_b7": (2.0, 3.1, 0.5, 1e-3, 0.01),
}
V2_VARIANTS = {
    "efficientnet_v2_s": (0.2, 1e-3, 0.1),
    "efficientnet_v2_m": (0.3, 1e-3, 0.1),
    "efficientnet_v2_l": (0.4, 1e-3, 0.1),
}
VARIANTS = list(B_VARIANTS) + list(V2_VARIANTS)
# The tiny width of each variant: B width_mult = F x the variant's (_efficientnet_conf's width_mult),
# V2 channels c -> _make_divisible(c x F, 8). Every channel count is at least 8 (_make_divisible's
# minimum), so most stages are 8 wide and the widths grow in the last two or three. F = 0.1 everywhere
# would write 21 MB of eval weights alone (v2_l 1.5 M parameters, b7 0.9 M: the last stages' 6x
# expanded, 5x5 depthwise and squeeze-excitation convs); these keep the folder under 12 MB. b0, the
# predict and training model, keeps the most width (its stages 8, 8, 8, 8, 8, 16, 24 wide).
WIDTH_FACTOR = {
    "efficientnet_b0": 0.075, "efficientnet_b1": 0.03, "efficientnet_b2": 0.03, "efficientnet_b3": 0.03,
    "efficientnet_b4": 0.03, "efficientnet_b5": 0.02, "efficientnet_b6": 0.02, "efficientnet_b7": 0.02,
    "efficientnet_v2_s": 0.03, "efficientnet_v2_m": 0.02, "efficientnet_v2_l": 0.02,
}
# Conditioning (see make_efficientnet): gen_mobilenet's.
BN_BIAS_SHIFT = gm.BN_BIAS_SHIFT
RESIDUAL_GAMMA = gm.RESIDUAL_GAMMA


def detected_as(variant):
    """The name Graft gives a tiny model from its shapes: the per-stage block counts (and which stages
    are FusedMBConv) name the variant; b1 and b2 have the same counts (depth 1.1 and 1.2 round up
    alike), and only the real b2's widths tell b2 from b1, so a tiny b2 is an efficientnet_b1."""
    return "efficientnet_b1" if variant == "efficientnet_b2" else variant


def tiny_setting(variant, factor):
    """inverted_residual_setting and last_channel of the tiny `variant` (the real depth)."""
    if variant in B_VARIANTS:
        w, d = B_VARIANTS[variant][:2]
        return _efficientnet_conf(variant, width_mult=factor * w, depth_mult=d)
    setting, last = _efficientnet_conf(variant)
    tiny = [type(c)(c.expand_ratio, c.kernel, c.stride, _make_divisible(c.input_channels * factor, 8),
                    _make_divisible(c.out_channels * factor, 8), c.num_layers) for c in setting]
    return tiny, _make_divisible(last * factor, 8)


def norm_layer(variant):
    eps, momentum = B_VARIANTS[variant][3:] if variant in B_VARIANTS else V2_VARIANTS[variant][1:]
    if variant in B_VARIANTS and eps == 1e-5:
        return None  # EfficientNet's default: nn.BatchNorm2d
    if variant in V2_VARIANTS:
        return partial(nn.BatchNorm2d, eps=eps)
    return partial(nn.BatchNorm2d, eps=eps, momentum=momentum)


def dropout_of(variant):
    return B_VARIANTS[variant][2] if variant in B_VARIANTS else V2_VARIANTS[variant][0]


def tiny_efficientnet(variant, num_classes, factor=None):
    """torchvision's EfficientNet for `variant` at its tiny width, stochastic depth probability 0."""
    setting, last = tiny_setting(variant, WIDTH_FACTOR[variant] if factor is None else factor)
    return EfficientNet(setting, dropout=dropout_of(variant), stochastic_depth_prob=0.0, num_classes=num_classes,
                        norm_layer=norm_layer(variant), last_channel=last)


def no_stochastic_depth(model):
    for m in model.modules():
        if isinstance(m, StochasticDepth):
            m.p = 0.0
    return model


def stage_blocks(model):
    """Blocks per stage: features.1 .. features.K (features.0 is the stem, features.K+1 the last conv)."""
    return [len(model.features[i]) for i in range(1, len(model.features) - 1)]


def fused_stages(model):
    return [i for i in range(1, len(model.features) - 1) if isinstance(model.features[i][0], FusedMBConv)]


def blocks(model):
    return [b for i in range(1, len(model.features) - 1) for b in model.features[i]]


def make_efficientnet(variant, classes, seed, calibration=None):
    """The tiny `variant`, deterministic from `seed` (weights and statistics); gen_mobilenet's
    make_mobilenet for EfficientNet. calibration: the batches of the three statistics passes
    (default: random 96x96 images)."""
    torch.manual_seed(seed)
    model = tiny_efficientnet(variant, classes)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Linear):
                m.reset_parameters()
                m.bias.copy_(torch.randn(m.out_features, generator=gen) * 0.1)
            elif isinstance(m, nn.Conv2d) and m.bias is not None:  # the squeeze-excitations' fc1 / fc2
                m.bias.copy_(torch.randn(m.out_channels, generator=gen) * 0.1)
    # As gen_mobilenet: random affine parameters before the statistics passes; +BN_BIAS_SHIFT on
    # the bias of every batch norm that an activation (SiLU) follows; weight and bias x
    # RESIDUAL_GAMMA on the last batch norm of every block that adds its input (the projection, or
    # FusedMBConv's only Conv-BN-SiLU where its expand ratio is 1): small residual branches, so that
    # the residual stream of a stage of up to 25 blocks stays O(1).
    activated = {id(m[1]) for m in model.modules() if isinstance(m, Conv2dNormActivation) and len(m) == 3}
    residual = {id(b.block[-1][1]) for b in blocks(model) if b.use_res_connect}
    momentum = {}
    with torch.no_grad():
        for m in bn_of(model):
            k = m.num_features
            m.weight.copy_(torch.rand(k, generator=gen) * 1.0 + 0.5)
            m.bias.copy_(torch.randn(k, generator=gen) * 0.2)
            if id(m) in activated:
                m.bias.add_(BN_BIAS_SHIFT)
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
            m.momentum = momentum[m]  # the variant's own (0.1, or 0.01 for b5-b7)
    model.eval()
    return model, gen


def pooled(model, x):
    """flatten(avgpool(features(x))): what the classifier (Dropout, Linear) reads."""
    return torch.flatten(model.avgpool(model.features(x)), 1)


def activation_summary(model, x):
    """Diagnostics (printed): how much of SiLU's inputs lie where it is ~0 (< -4), of the SE gates'
    sigmoid inputs where it is saturated (|x| > 4), and the largest |value| after each stage."""
    counts, hooks = {"SiLU": [0, 0, 0], "Sigmoid": [0, 0, 0]}, []
    for m in model.modules():
        if isinstance(m, (nn.SiLU, nn.Sigmoid)):
            def hook(mod, inp, kind=type(m).__name__):
                c = counts[kind]
                c[0] += int((inp[0] < -4).sum() if kind == "SiLU" else (inp[0].abs() > 4).sum())
                c[1] += int((inp[0] < 0).sum())
                c[2] += inp[0].numel()
            hooks.append(m.register_forward_pre_hook(hook))
    peaks = []
    with torch.inference_mode():
        y = x
        for f in model.features:
            y = f(y)
            peaks.append(float(y.abs().max()))
    for h in hooks:
        h.remove()
    (s4, s0, sn), (g4, g0, gn) = counts["SiLU"], counts["Sigmoid"]
    return (f"SiLU inputs < 0 {s0 / sn:.1%}, < -4 {s4 / sn:.1%}; sigmoid (SE gate) |x| > 4 {g4 / gn:.1%}; "
            f"max |x| after features.i "
            + " ".join(f"{p:.1f}" for p in peaks))


def describe(variant, model):
    bn = bn_of(model)[0]
    head = model.classifier[1]
    factor = WIDTH_FACTOR[variant]
    return {"variant": variant, "detected_as": detected_as(variant), "width_factor": factor,
            # the channel multiplier: B _efficientnet_conf's width_mult (F x the variant's), V2 F (applied by hand)
            "width_mult": round(factor * B_VARIANTS[variant][0], 6) if variant in B_VARIANTS else factor,
            "depth_mult": B_VARIANTS[variant][1] if variant in B_VARIANTS else 1.0,
            "bn_eps": bn.eps, "bn_momentum": bn.momentum, "features": len(model.features),
            "stage_blocks": stage_blocks(model), "fused_stages": fused_stages(model),
            "stage_channels": [model.features[i][-1].out_channels for i in range(1, len(model.features) - 1)],
            "stem_channels": model.features[0][0].out_channels,
            "pooled_channels": head.in_features, "last_channel": head.in_features, "head": "classifier.1",
            "dropout": dropout_of(variant), "stochastic_depth_prob": 0.0}


# --------------------------------------------------------------------------------------
# Eval logits (models/)

EVAL_MODELS = [  # name, variant, classes
    ("tiny_" + v, v, c) for v, c in zip(VARIANTS, [5, 7, 4, 6, 3, 5, 7, 4, 6, 3, 5])]


def write_eval(root, manifest):
    out = os.path.join(root, "models")
    os.makedirs(os.path.join(out, "inputs"), exist_ok=True)
    gen = torch.Generator().manual_seed(2026)
    inputs, index = {}, {}
    for case, n, h, w in INPUTS:
        inputs[case] = torch.randn(n, 3, h, w, generator=gen)
        write_f32(os.path.join(out, "inputs", case + ".bin"), inputs[case])
        index[case] = {"file": f"inputs/{case}.bin", "batch": n, "height": h, "width": w,
                       "last_map": list(last_map(h, w))}
    with open(os.path.join(out, "inputs.json"), "w") as f:
        json.dump(index, f, indent=1)
    for seed, (name, variant, classes) in enumerate(EVAL_MODELS):
        model, _ = make_efficientnet(variant, classes, 3000 + 10 * seed)
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
        meta = dict(describe(variant, model), classes=classes, cases=cases)
        with open(os.path.join(d, "meta.json"), "w") as f:
            json.dump(meta, f, indent=1)
        manifest[name] = dict(meta, files=f"models/{name}/", weight_bytes=size)
        manifest[name].pop("cases")
        manifest[name]["eval_cases"] = list(cases)
        print(f"{name} ({detected_as(variant)}, blocks {stage_blocks(model)}, eps {meta['bn_eps']}): "
              f"{activation_summary(model, inputs['96x80'])}")
        print(f"  {size} weight bytes, max |logit| "
              + ", ".join(f"{c} {v['max_abs_logit']:.3f} (bf16 diff {v['bf16_max_abs_diff']:.4f}, f64 "
                          f"{v['float64_distance']:.1e})" for c, v in cases.items()))


# --------------------------------------------------------------------------------------
# Image-file path (predict/)

PREDICT_MODELS = [("tiny_efficientnet_b0", "efficientnet_b0", 5)]
# resize, crop, Resize's interpolation: torchvision's default (bilinear), and EfficientNet_B0's
# weights' transform (bicubic, resize 256, crop 224). Last map 7x7.
TRANSFORMS = [("256_224", 256, 224, "bilinear"), ("256_224_bicubic", 256, 224, "bicubic")]
INTERPOLATION = {"bilinear": InterpolationMode.BILINEAR, "bicubic": InterpolationMode.BICUBIC}


def eval_transform(resize, crop, interpolation="bilinear"):
    return transforms.Compose([transforms.Resize(resize, interpolation=INTERPOLATION[interpolation]),
                               transforms.CenterCrop(crop), transforms.ToTensor(),
                               transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])


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
        # Statistics from other images of images/src through the (bilinear) transform, as gen_mobilenet's.
        batch = torch.stack([load(image, eval_transform(256, 224)) for image in CALIBRATION_IMAGES])
        model, _ = make_efficientnet(variant, classes, 5000 + 10 * seed, calibration=[batch] * len(CALIBRATION))
        torch.save(model.state_dict(), os.path.join(out, name + ".pth"))
        expected[name] = {}
        for tname, resize, crop, interpolation in TRANSFORMS:
            tf = eval_transform(resize, crop, interpolation)
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
        a, b = (torch.tensor([e["probs"] for e in expected[name][t].values()]) for t, *_ in TRANSFORMS)
        print(f"predict {name}: bilinear against bicubic, max |probability difference| {(a - b).abs().max():.4f}")
        manifest[name + " (predict)"] = dict(describe(variant, model), classes=classes, files=f"predict/{name}.pth")
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump({"transforms": {t: {"resize": r, "crop": c, "interpolation": i} for t, r, c, i in TRANSFORMS},
                   "models": expected}, f, indent=1)


# --------------------------------------------------------------------------------------
# Training (training/)

TRAIN_MODELS = [
    # name, variant, batch, height, width, new classes
    ("tiny_efficientnet_b0", "efficientnet_b0", 4, 64, 48, 3),
    ("tiny_efficientnet_v2_s", "efficientnet_v2_s", 4, 48, 48, 4),
]


def policies(variant):
    """Trainable-parameter predicates by state-dict name, and their text. Graft's EfficientNet stages
    are features.1 .. features.K (one per Sequential of blocks); the last conv features.K+1 and the
    classifier go with the last stage; the stem features.0 with none (only `all` trains it)."""
    k = len(tiny_efficientnet(variant, 10).features) - 2
    return ({"all": lambda name: True,
             "last": lambda name: name.startswith(stages(k, k + 1) + ("classifier.",)),
             "last2": lambda name: name.startswith(stages(k - 1, k + 1) + ("classifier.",)),
             "fc": lambda name: name.startswith("classifier.1.")},
            {"all": "every parameter", "last": f"features.{k} .. features.{k + 1} and classifier.*",
             "last2": f"features.{k - 1} .. features.{k + 1} and classifier.*", "fc": "classifier.1.*"})


def register():
    """Adds the tiny EfficientNets to gen_mobilenet's tables, which its build / prepare / run_case
    read: the constructor (width_mult there is this file's width factor; stochastic depth 0), the
    head's index in classifier (1), the policies."""
    for variant in VARIANTS:
        gm.CONSTRUCTORS[variant] = (lambda weights=None, width_mult=None, num_classes=1000, v=variant:
                                    no_stochastic_depth(tiny_efficientnet(v, num_classes, width_mult)))
        gm.HEAD_INDEX[variant] = 1
    for _, variant, *_ in TRAIN_MODELS:
        gm.POLICIES[variant] = policies(variant)[0]


# The seed search (gen_mobilenet's, with a bound of its own). EfficientNet has no kinks (SiLU and sigmoid
# are smooth), so the perturbation sensitivity is the smooth growth of 1e-6 relative noise over three
# steps of a 16-40 block net with batch statistics at batch 2 (1e-5 and so on), not a jump: a case counts
# as robust under MobileNetWholeStepsTests' own bound (4 x gen_mobilenet's 5e-6; under it the test
# compares the trained parameters and statistics), and only the runs whose parameters that test compares
# count: SGD on every case, Adam where no gradient is zero in exact arithmetic (elsewhere Adam moves the
# exact-zero ones, and then the near-zero elements of others, by the sign of rounding noise: 1e-4 and
# more, compared through the logits alone, with a tolerance that follows the sensitivity).
ROBUST_LOGITS = 4 * gm.ROBUST_LOGITS
# The one-step gradients' distance from float64 (TrainStepTests' metric, case.json's
# float64_distance.worst_grad) that a seed must stay under in every case: the squeeze-excitations'
# fc1/fc2 gradients are 1e-4 to 1e-3 of the step's largest and carry the backward pass's absolute
# rounding noise (batch statistics over 16 values per channel on the last maps), 0.5e-5 to 3e-5 of their
# own size over the seeds; MobileNet's worst, 1.4e-5, sits well inside TrainStepTests' 4e-5.
GRAD_BOUND = 1.5e-5
SEED_ATTEMPTS = 4


def seed_quality(d, cases):
    """(score, sensitivity, worst gradient): the largest sensitivity of gm.SENSITIVITY's runs whose
    parameters the whole-steps test compares, and the largest one-step gradient distance over `cases`;
    score < 1 when both are under their bounds."""
    sens, grad = (None, None, 0.0), (None, None, 0.0)
    for case_name in cases:
        with open(os.path.join(d, case_name, "case.json")) as f:
            c = json.load(f)
        dist = c["float64_distance"]
        if dist["worst_grad"] >= grad[2]:
            grad = (case_name, dist["worst_grad_name"], dist["worst_grad"])
        for name, opt, v in gm.SENSITIVITY:
            if name == case_name and (opt == "sgd" or not c["exact_zero_grads"]) and v >= sens[2]:
                sens = (case_name, opt, v)
    return max(sens[2] / ROBUST_LOGITS, grad[2] / GRAD_BOUND), sens, grad


def write_training(root, manifest):
    """gen_mobilenet's write_training with both bounds: the first seed whose compared whole-steps runs
    are all robust and whose one-step gradients are all within GRAD_BOUND of float64, or the best of
    SEED_ATTEMPTS."""
    for index, model_row in enumerate(TRAIN_MODELS):
        d = os.path.join(root, "training", model_row[0])
        tried = []
        for attempt in range(SEED_ATTEMPTS):
            seed = 7000 + 10 * index + 1000 * attempt
            gm.SENSITIVITY.clear()
            cases = write_training_model(root, manifest, model_row, seed)
            score, sens, grad = seed_quality(d, cases)
            tried.append((score, seed))
            print(f"  seed {seed}: sensitivities " + ", ".join(f"{c} {o} {v:.1e}" for c, o, v in gm.SENSITIVITY))
            print(f"  seed {seed}: worst compared sensitivity {sens[2]:.1e} ({sens[0]} {sens[1]}), worst gradient "
                  f"{grad[2]:.1e} ({grad[0]} {grad[1]})" + ("" if score < 1 else ": over a bound"))
            if score < 1:
                break
        best = min(tried)
        if best[1] != tried[-1][1]:
            gm.SENSITIVITY.clear()
            write_training_model(root, manifest, model_row, best[1])
        print(f"  {model_row[0]}: seed {best[1]}" + ("" if best[0] < 1 else " (the best of the seeds tried: over a bound)"))


def write_training_model(root, manifest, model_row, seed):
    name, variant, n, h, w, classes = model_row
    model, gen = make_efficientnet(variant, 10, seed)
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
        assert torch.allclose(model.classifier[1](feats), model(x), rtol=0, atol=1e-5)
        write_f32(os.path.join(d, "features.bin"), feats)  # the head reads the pooled features (a Dropout between)
    fc = nn.Linear(model.classifier[1].in_features, classes)
    head = (fc.weight.detach().clone(), fc.bias.detach().clone())
    write_tensors(os.path.join(d, "head_init.bin"), [("classifier.1.weight", head[0]), ("classifier.1.bias", head[1])])
    base = {"variant": variant, "width": WIDTH_FACTOR[variant], "state": state}
    cases = []
    print(f"training {name} (seed {seed}):")

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
                        "cases": cases}, **info, initial_classes=10, dropout_p=0.0, stochastic_depth_p=0.0,
                       last_map=list(last_map(h, w)), policies=policies(variant)[1], seed=seed), f, indent=1)
    manifest[name + " (training)"] = dict(info, classes=10, new_classes=classes, files=f"training/{name}/")
    return cases


REAL = {v: getattr(tvm, v) for v in VARIANTS}


def write_torchvision_keys(root):
    table = {}
    with torch.device("meta"):
        for name, make in REAL.items():
            sd = make().state_dict()
            table[name] = [[k, list(v.shape)] for k, v in sd.items()]
    with open(os.path.join(root, "torchvision_keys.json"), "w") as f:
        json.dump(table, f, separators=(",", ":"))


def main(fixtures_dir):
    torch.set_num_threads(2)
    register()
    root = os.path.join(fixtures_dir, "efficientnet")
    os.makedirs(root, exist_ok=True)
    manifest = {}
    write_torchvision_keys(root)
    write_eval(root, manifest)
    write_predict(root, fixtures_dir, manifest)
    write_training(root, manifest)
    with open(os.path.join(root, "manifest.json"), "w") as f:
        json.dump({"torch": torch.__version__, "torchvision": torchvision.__version__, "width_factor": WIDTH_FACTOR,
                   "robust_logits": ROBUST_LOGITS, "grad_bound": GRAD_BOUND,
                   "calibration": list(CALIBRATION), "bn_bias_shift": BN_BIAS_SHIFT,
                   "residual_gamma": RESIDUAL_GAMMA, "models": manifest}, f, indent=1)
    total = sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(root) for fn in fns)
    print(f"Fixtures/efficientnet: {total} bytes ({total / 2**20:.2f} MiB)")


if __name__ == "__main__":
    main(os.path.dirname(os.path.abspath(__file__)))
