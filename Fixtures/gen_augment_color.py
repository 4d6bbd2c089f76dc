#!/usr/bin/env python3
"""Fixtures for torchvision's colour augmentations on PIL images (issue 24), from real torchvision.

Writes Fixtures/augment_color/manifest.json:
- images: small awkward RGB images (odd sizes, smaller than the 3x3 SMOOTH filter, flat, gradient,
  noise, near-grey, two-valued, dark), base64 RGB bytes;
- ops: autoaugment._apply_op(img, op, magnitude, NEAREST, None) for every colour op at several
  magnitudes (TrivialAugmentWide and RandAugment bins incl. 0 and 30, both signs, extrapolating
  factors), F.adjust_hue at several factors;
- color_jitter, trivial_augment_wide, rand_augment, auto_augment: the real transforms run with
  torch's RNG calls wrapped to record every draw (randint/rand/randperm/uniform_), with the output;
- tables: each policy's op_meta magnitudes (float32) as torch computes them;
- stats: op and magnitude-bin frequencies of each policy over many draws of torch's own RNG
  (the op choices recorded by wrapping _apply_op), for the statistical tests.
"""
import base64
import json
import math
import os

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision.transforms import InterpolationMode, autoaugment
from torchvision.transforms import functional as F
from torchvision.transforms import ColorJitter
from torchvision.transforms.autoaugment import AutoAugment, AutoAugmentPolicy, RandAugment, TrivialAugmentWide


def b64(img):
    return base64.b64encode(np.asarray(img.convert("RGB"), dtype=np.uint8).tobytes()).decode()


def make_images():
    rng = np.random.RandomState(24)
    imgs = {}

    def add(name, arr):
        imgs[name] = Image.fromarray(np.ascontiguousarray(arr, dtype=np.uint8), "RGB")

    y, x = np.mgrid[0:5, 0:7]
    add("gradient_7x5", np.stack([x * 36, y * 60, (x + y) * 21], -1))
    add("noise_9x6", rng.randint(0, 256, (6, 9, 3)))
    add("flat_4x4", np.broadcast_to(np.array([120, 80, 200]), (4, 4, 3)))
    add("near_grey_8x7", 128 + rng.randint(-3, 4, (7, 8, 3)))
    add("tiny_2x3", rng.randint(0, 256, (3, 2, 3)))
    add("one_1x1", np.array([[[200, 30, 90]]]))
    add("strip_13x3", rng.randint(0, 256, (3, 13, 3)))
    add("dark_6x6", rng.randint(0, 21, (6, 6, 3)))
    add("bimodal_5x4", np.where(rng.rand(4, 5, 1) < 0.5, [10, 200, 60], [240, 20, 130]))
    add("grey_3x3", np.repeat(rng.randint(0, 256, (3, 3, 1)), 3, -1))
    return imgs


class Recorder:
    """Wraps torch's RNG entry points used by ColorJitter and the auto-augment policies, and
    records each drawn value in call order (a (2,)-shaped draw records two values)."""

    def __init__(self):
        self.draws = None

    def __enter__(self):
        self.draws = []
        self.saved = (torch.randint, torch.rand, torch.randperm, torch.Tensor.uniform_)
        randint, rand, randperm, uniform_ = self.saved
        rec = self

        def w_randint(*a, **k):
            t = randint(*a, **k)
            rec.draws += [["randint", int(v)] for v in t.flatten().tolist()]
            return t

        def w_rand(*a, **k):
            t = rand(*a, **k)
            rec.draws += [["rand", float(v)] for v in t.flatten().tolist()]
            return t

        def w_randperm(*a, **k):
            t = randperm(*a, **k)
            rec.draws.append(["randperm", [int(v) for v in t.tolist()]])
            return t

        def w_uniform(self_, *a, **k):
            t = uniform_(self_, *a, **k)
            rec.draws += [["uniform", float(v)] for v in t.flatten().tolist()]
            return t

        torch.randint, torch.rand, torch.randperm, torch.Tensor.uniform_ = w_randint, w_rand, w_randperm, w_uniform
        return self

    def __exit__(self, *exc):
        torch.randint, torch.rand, torch.randperm, torch.Tensor.uniform_ = self.saved


def floats(t):
    return [float(v) for v in t.flatten().tolist()]


def main(here):
    out_dir = os.path.join(here, "augment_color")
    os.makedirs(out_dir, exist_ok=True)
    imgs = make_images()
    images = [{"name": n, "width": im.width, "height": im.height, "rgb": b64(im)} for n, im in imgs.items()]

    ta_lin = torch.linspace(0.0, 0.99, 31)
    ra_lin = torch.linspace(0.0, 0.9, 31)
    enhance_mags = [float(ta_lin[i]) for i in (0, 1, 15, 30)] + [float(-ta_lin[15]), float(-ta_lin[30]), float(ra_lin[9]), 1.5]
    solarize = [float(v) for v in torch.linspace(255.0, 0.0, 31)[[0, 1, 15, 30]]] + [float(torch.linspace(255.0, 0.0, 10)[3])]
    hues = [-0.5, float(torch.tensor(-0.37)), 0.0, float(torch.tensor(0.23)), 0.5]

    ops = []
    for name, im in imgs.items():
        def case(kind, op, value, result):
            ops.append({"image": name, "kind": kind, "op": op, "value": value, "rgb": b64(result)})

        for op in ("Brightness", "Color", "Contrast", "Sharpness"):
            for m in enhance_mags:
                case("apply_op", op, m, autoaugment._apply_op(im, op, m, InterpolationMode.NEAREST, None))
        for bits in (1, 2, 4, 7, 8):
            case("apply_op", "Posterize", float(bits), autoaugment._apply_op(im, "Posterize", float(bits), InterpolationMode.NEAREST, None))
        for t in solarize:
            case("apply_op", "Solarize", t, autoaugment._apply_op(im, "Solarize", t, InterpolationMode.NEAREST, None))
        for op in ("AutoContrast", "Equalize", "Invert", "Identity"):
            case("apply_op", op, 0.0, autoaugment._apply_op(im, op, 0.0, InterpolationMode.NEAREST, None))
        for h in hues:
            case("hue", "Hue", h, F.adjust_hue(im, h))

    # Equalize on images large enough that its step is not 0 (every image above has at most 54
    # pixels, where equalize is the identity): the brightest level's LUT entry passes 255 and
    # PIL clips it (300 black and 100 white pixels: white stays 255, a wrapping byte gives 44).
    rng = np.random.RandomState(7)
    two_level = np.zeros((20, 20, 3), np.uint8)
    two_level[15:] = 255
    for name, arr in (("two_level_20x20", two_level), ("noise_24x24", rng.randint(0, 256, (24, 24, 3))),
                      ("dark_17x19", rng.randint(0, 40, (19, 17, 3)))):
        im = Image.fromarray(np.ascontiguousarray(arr, dtype=np.uint8), "RGB")
        images.append({"name": name, "width": im.width, "height": im.height, "rgb": b64(im)})
        ops.append({"image": name, "kind": "apply_op", "op": "Equalize", "value": 0.0,
                    "rgb": b64(autoaugment._apply_op(im, "Equalize", 0.0, InterpolationMode.NEAREST, None))})

    def recorded(transform, n_cases, seed, names):
        torch.manual_seed(seed)
        cases = []
        for k in range(n_cases):
            name = names[k % len(names)]
            with Recorder() as r:
                result = transform(imgs[name])
            cases.append({"image": name, "draws": r.draws, "rgb": b64(result)})
        return cases

    names = list(imgs)
    jitters = []
    for (b, c, s, h) in [(0.4, 0.4, 0.4, 0.1), (0.8, 0.5, 0.0, 0.5), (0.0, 0.0, 0.9, 0.0), (1.5, 2.0, 0.3, 0.25)]:
        jitters.append({"brightness": b, "contrast": c, "saturation": s, "hue": h,
                        "cases": recorded(ColorJitter(b, c, s, h), 12, 7, names)})

    trivial = recorded(TrivialAugmentWide(), 80, 11, names)
    rand_aug = recorded(RandAugment(), 40, 12, names)
    rand_aug_5 = recorded(RandAugment(num_ops=3, magnitude=30), 20, 13, names)
    auto_aug = recorded(AutoAugment(AutoAugmentPolicy.IMAGENET), 60, 14, names)

    def table(space):
        return {k: {"magnitudes": floats(v[0]) if v[0].ndim > 0 else None, "signed": v[1]} for k, v in space.items()}

    tables = {
        "trivial_augment_wide": table(TrivialAugmentWide()._augmentation_space(31)),
        "rand_augment_224x224": table(RandAugment()._augmentation_space(31, (224, 224))),
        "rand_augment_5x7": table(RandAugment()._augmentation_space(31, (5, 7))),
        "auto_augment_5x7": table(AutoAugment()._augmentation_space(10, (5, 7))),
    }

    # Statistics: what each policy chooses, over many samples of torch's own generator.
    stats = {}
    tiny = Image.new("RGB", (4, 4))
    saved = autoaugment._apply_op
    for key, transform, n in [("trivial_augment_wide", TrivialAugmentWide(), 20000),
                              ("rand_augment", RandAugment(), 10000),
                              ("auto_augment", AutoAugment(AutoAugmentPolicy.IMAGENET), 20000)]:
        chosen = []
        autoaugment._apply_op = lambda img, op, m, interpolation, fill: (chosen[-1].append([op, m]), img)[1]
        torch.manual_seed(2024)
        for _ in range(n):
            chosen.append([])
            transform(tiny)
        autoaugment._apply_op = saved
        op_counts, mag_counts, per_image = {}, {}, {}
        for applied in chosen:
            per_image[str(len(applied))] = per_image.get(str(len(applied)), 0) + 1
            for op, m in applied:
                op_counts[op] = op_counts.get(op, 0) + 1
                key_m = f"{op} {m!r}"
                mag_counts[key_m] = mag_counts.get(key_m, 0) + 1
        stats[key] = {"samples": n, "ops": op_counts, "magnitudes": mag_counts, "ops_per_image": per_image}

    # ColorJitter(0.4, 0.4, 0.4, 0.1).get_params over many draws: the order's frequencies and
    # each factor's decile (of its range) frequencies.
    torch.manual_seed(2025)
    perms, factors = {}, {"brightness": [0] * 10, "contrast": [0] * 10, "saturation": [0] * 10, "hue": [0] * 10}
    ranges = {"brightness": (0.6, 1.4), "contrast": (0.6, 1.4), "saturation": (0.6, 1.4), "hue": (-0.1, 0.1)}
    n_jitter = 20000
    for _ in range(n_jitter):
        order, b, c, s_, h = ColorJitter.get_params([0.6, 1.4], [0.6, 1.4], [0.6, 1.4], [-0.1, 0.1])
        key = ",".join(str(int(v)) for v in order)
        perms[key] = perms.get(key, 0) + 1
        for name, v in zip(("brightness", "contrast", "saturation", "hue"), (b, c, s_, h)):
            lo, hi = ranges[name]
            factors[name][min(9, int((v - lo) / (hi - lo) * 10))] += 1
    stats["color_jitter"] = {"samples": n_jitter, "orders": perms, "factor_deciles": factors}

    manifest = {"torch": torch.__version__, "torchvision": torchvision.__version__, "pillow": Image.__version__,
                "images": images, "ops": ops, "color_jitter": jitters,
                "trivial_augment_wide": trivial, "rand_augment": rand_aug,
                "rand_augment_3ops_m30": rand_aug_5, "auto_augment": auto_aug,
                "tables": tables, "stats": stats}
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, separators=(",", ":"))
    print(f"augment_color: {len(ops)} op cases, {sum(len(j['cases']) for j in jitters)} jitter cases, "
          f"{len(trivial) + len(rand_aug) + len(rand_aug_5) + len(auto_aug)} policy cases")


if __name__ == "__main__":
    main(os.path.dirname(os.path.abspath(__file__)))
