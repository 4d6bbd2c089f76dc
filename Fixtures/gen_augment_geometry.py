"""Geometric augmentation fixtures (issue 24): torchvision's F.affine, F.rotate, RandomRotation and
RandomErasing on small awkward images, and summaries of their random draws.

Writes Fixtures/augment_geometry/:
  inputs.bin        the source images, raw RGB8, one after another (offsets in the manifest):
                    gradients and noise at odd sizes (37x23, 23x37, 16x16, 1x7, 7x1, 1x1, 5x3)
  outputs.zlib      torchvision's output of every case, raw RGB8, one after another, zlib-compressed
                    (level 9; most cases are noise, fill or gradients: 490 KB raw)
  erasing.bin       RandomErasing cases: input then output tensors, float32 CHW little-endian
  expected.json     the manifest:
    images:   {name: {width, height, offset}}
    geometry: [{op, image, params..., fill, offset}] where op is
              "rotate"   F.rotate(img, angle, NEAREST, expand=False, center=None, fill)
              "affine"   F.affine(img, angle, translate, scale, shear, NEAREST, fill, center)
              "apply_op" torchvision.transforms.autoaugment._apply_op(img, name, magnitude, NEAREST, fill)
                         (ShearX, ShearY, TranslateX, TranslateY, Rotate: what the policies call)
              NEAREST unless the case has "interpolation": "bilinear" (InterpolationMode.BILINEAR)
              "random_rotation" transforms.RandomRotation(degrees, interpolation, fill=fill) after
                         torch.manual_seed(seed); draws: the recorded torch draws
    erasing:  [{seed, p, scale, ratio, value, channels, height, width, draws, box, input, output}]
              transforms.RandomErasing(p, scale, ratio, value) on a float32 CHW tensor after
              torch.manual_seed(seed); draws recorded by a line-for-line copy of forward/get_params
              (checked against torchvision's own output); box null when nothing was erased
    stats:    torchvision's draws summarised over many samples after torch.manual_seed(0):
              RandomErasing.get_params on a 224x224 image (area fraction h*w/area, log(h/w),
              box centre (top + h/2)/H, the fraction of fallbacks) and RandomRotation's angle:
              n, mean, std and the quantiles at 5%, 10%, ..., 95%.
"""
import json
import math
import os
import zlib

import numpy as np
import torch
from PIL import Image
from torchvision import transforms
from torchvision.transforms import InterpolationMode
from torchvision.transforms import autoaugment
from torchvision.transforms import functional as F

NEAREST = InterpolationMode.NEAREST
QUANTILES = [q / 20 for q in range(1, 20)]


def images():
    rng = np.random.default_rng(24)
    out = {}
    # a gradient (every pixel distinct-ish, so a one-pixel shift shows) and noise
    y, x = np.mgrid[0:23, 0:37]
    grad = np.stack([x * 7, y * 11, (x * 3 + y * 5) % 256], axis=-1).astype(np.uint8)
    out["grad_37x23"] = grad
    out["noise_23x37"] = rng.integers(0, 256, (37, 23, 3), dtype=np.uint8)
    out["noise_16x16"] = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    out["noise_1x7"] = rng.integers(0, 256, (7, 1, 3), dtype=np.uint8)
    out["noise_7x1"] = rng.integers(0, 256, (1, 7, 3), dtype=np.uint8)
    out["noise_1x1"] = rng.integers(0, 256, (1, 1, 3), dtype=np.uint8)
    out["noise_5x3"] = rng.integers(0, 256, (3, 5, 3), dtype=np.uint8)
    return {k: Image.fromarray(v, "RGB") for k, v in out.items()}


FILLS = [None, [255, 128, 7], [200]]
ROTATE_ANGLES = [0, 90, 180, 270, -90, -180, 360, 450, 45, -30, 30.5, 1e-3, -1e-9, 0.1, 179.9, 180.0001,
                 200, 720.25, -1000.3, 89.99999, 12.345678, 135, -135, 60,
                 # cos(angle) * 65536 within 1e-11 of a half: PIL's round(cos, 15) moves 16.16's FIX
                 # of the matrix by one, which moves pixels of the 37x23 and 23x37 images
                 87.451991437727, 87.44586551709642]
MAGNITUDES = {  # the policies' ranges reach 0.99 (shear), 150/331 * width (translate), 135 degrees
    "ShearX": [-0.99, -0.3, -0.01, 0.0, 0.1, 0.3, 0.5, 0.99, 5.0],
    "ShearY": [-0.99, -0.3, -0.01, 0.0, 0.1, 0.3, 0.5, 0.99, 5.0],
    "TranslateX": [-30.0, -5.5, -1.0, 0.0, 1.0, 3.7, 14.0, 40.0],
    "TranslateY": [-30.0, -5.5, -1.0, 0.0, 1.0, 3.7, 14.0, 40.0],
    "Rotate": [-135.0, -30.0, -0.5, 0.0, 7.25, 90.0, 135.0],
}
AFFINES = [  # angle, translate, scale, shear, center
    (30.0, [2, -3], 1.2, [10.0, -5.0], None),
    (-45.5, [0, 0], 0.7, [0.0, 0.0], None),
    (0.0, [0, 0], 2.0, [0.0, 0.0], None),            # the scaling engine, a[0] = 0.5
    (0.0, [0, 0], 0.5, [0.0, 0.0], None),
    (0.0, [3, 1], 0.9, [0.0, 0.0], [0, 0]),
    (90.0, [0, 0], 1.0, [0.0, 0.0], None),           # no fast path in affine
    (180.0, [1, 1], 1.0, [0.0, 0.0], None),
    (-90.0, [0, 0], 1.0, [0.0, 0.0], [4, 2]),
    (12.0, [-7, 4], 1.0, [20.0, 20.0], [3, 17]),
    (0.0, [0, 0], 1.0, [89.99, 0.0], None),           # corners beyond 16.16: the float engine
    (0.0, [0, 0], 1.0, [0.0, -89.995], [0, 0]),
    (10.0, [0, 0], 0.001, [0.0, 0.0], None),          # a[0] = 1000 * cos: the float engine
    (0.0, [40000, -3], 1.0, [0.0, 0.0], None),        # translate far outside: all fill
    (0.0, [5, 0], 1.0, [0.0, 0.0], None),
    (-170.0, [2, 2], 1.5, [-30.0, 44.0], None),
]
ROTATION_CASES = [(30.0, 0), (30.0, 1), (180.0, 2), (180.0, 3), (5.0, 4), (0.0, 5), (90.0, 6), (360.0, 7)]


def raw(im):
    assert im.mode == "RGB"
    return np.asarray(im, dtype=np.uint8).tobytes()


def recorded_erasing(img, p, scale, ratio, value, draws):
    """RandomErasing.forward and get_params (value not 'random'), line for line, logging every draw."""
    r = torch.rand(1)
    draws.append(["rand", r.item()])
    if not r < p:
        return None
    img_c, img_h, img_w = img.shape[-3], img.shape[-2], img.shape[-1]
    area = img_h * img_w
    log_ratio = torch.log(torch.tensor(ratio))
    for _ in range(10):
        u = torch.empty(1).uniform_(scale[0], scale[1]).item()
        draws.append(["uniform", u])
        erase_area = area * u
        v = torch.empty(1).uniform_(log_ratio[0], log_ratio[1])
        draws.append(["uniform", v.item()])
        aspect_ratio = torch.exp(v).item()
        h = int(round(math.sqrt(erase_area * aspect_ratio)))
        w = int(round(math.sqrt(erase_area / aspect_ratio)))
        if not (h < img_h and w < img_w):
            continue
        i = torch.randint(0, img_h - h + 1, size=(1,)).item()
        draws.append(["randint", i])
        j = torch.randint(0, img_w - w + 1, size=(1,)).item()
        draws.append(["randint", j])
        return [i, j, h, w]
    return None


def summary(values):
    a = np.asarray(values, dtype=np.float64)
    return {"n": int(a.size), "mean": float(a.mean()), "std": float(a.std()),
            "quantiles": [float(x) for x in np.quantile(a, QUANTILES)]}


def statistics():
    torch.manual_seed(0)
    n = 20000
    size = 224
    img = torch.zeros(3, size, size)
    area, log_aspect, centre, fallbacks = [], [], [], 0
    for _ in range(n):
        i, j, h, w, v = transforms.RandomErasing.get_params(img, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=[0.0])
        if h == size and w == size:  # get_params' "nothing fits": the image itself
            fallbacks += 1
            continue
        area.append(h * w / (size * size))
        log_aspect.append(math.log(h / w))
        centre.append((i + h / 2) / size)
    rotation = transforms.RandomRotation(30.0)
    angles = [transforms.RandomRotation.get_params(rotation.degrees) for _ in range(n)]
    return {"quantile_levels": QUANTILES, "erasing": {
        "height": size, "width": size, "scale": [0.02, 0.33], "ratio": [0.3, 3.3], "draws": n,
        "fallbacks": fallbacks, "area": summary(area), "log_aspect": summary(log_aspect),
        "centre_y": summary(centre)},
        "rotation": {"degrees": 30.0, "angle": summary(angles)}}


def main(fixtures_dir):
    root = os.path.join(fixtures_dir, "augment_geometry")
    os.makedirs(root, exist_ok=True)
    imgs = images()
    inputs, manifest_images = bytearray(), {}
    for name, im in imgs.items():
        manifest_images[name] = {"width": im.width, "height": im.height, "offset": len(inputs)}
        inputs += raw(im)
    outputs = bytearray()
    cases = []

    def add(case, out):
        assert out.size == imgs[case["image"]].size
        case["offset"] = len(outputs)
        outputs.extend(raw(out))
        cases.append(case)

    for name, im in imgs.items():
        for k, angle in enumerate(ROTATE_ANGLES):
            fill = FILLS[k % len(FILLS)]
            add({"op": "rotate", "image": name, "angle": angle, "fill": fill},
                F.rotate(im, angle, interpolation=NEAREST, fill=fill))
    for name in ["grad_37x23", "noise_23x37", "noise_16x16", "noise_1x7", "noise_7x1", "noise_5x3"]:
        im = imgs[name]
        for op, mags in MAGNITUDES.items():
            for k, m in enumerate(mags):
                fill = FILLS[k % len(FILLS)]
                add({"op": "apply_op", "image": name, "name": op, "magnitude": m, "fill": fill},
                    autoaugment._apply_op(im, op, m, interpolation=NEAREST, fill=fill))
        for k, (angle, translate, scale, shear, center) in enumerate(AFFINES):
            fill = FILLS[k % len(FILLS)]
            add({"op": "affine", "image": name, "angle": angle, "translate": translate, "scale": scale,
                 "shear": shear, "center": center, "fill": fill},
                F.affine(im, angle=angle, translate=translate, scale=scale, shear=shear,
                         interpolation=NEAREST, fill=fill, center=center))
    # BILINEAR, what torchvision's reference script passes to the policies: PIL's generic transform
    BILINEAR = InterpolationMode.BILINEAR
    for name in ["grad_37x23", "noise_23x37", "noise_16x16", "noise_1x7", "noise_5x3", "noise_1x1"]:
        im = imgs[name]
        for k, angle in enumerate(ROTATE_ANGLES[::2]):
            fill = FILLS[k % len(FILLS)]
            add({"op": "rotate", "image": name, "angle": angle, "fill": fill, "interpolation": "bilinear"},
                F.rotate(im, angle, interpolation=BILINEAR, fill=fill))
        for op, mags in MAGNITUDES.items():
            for k, m in enumerate(mags[1::2]):
                fill = FILLS[k % len(FILLS)]
                add({"op": "apply_op", "image": name, "name": op, "magnitude": m, "fill": fill,
                     "interpolation": "bilinear"},
                    autoaugment._apply_op(im, op, m, interpolation=BILINEAR, fill=fill))
        for k, (angle, translate, scale, shear, center) in enumerate(AFFINES[::2]):
            fill = FILLS[k % len(FILLS)]
            add({"op": "affine", "image": name, "angle": angle, "translate": translate, "scale": scale,
                 "shear": shear, "center": center, "fill": fill, "interpolation": "bilinear"},
                F.affine(im, angle=angle, translate=translate, scale=scale, shear=shear,
                         interpolation=BILINEAR, fill=fill, center=center))
    # RandAugment's shear bin 25 of linspace(0, 0.3, 31) is 0.25: math.degrees(math.atan(0.25)) and
    # math.atan(0.25) * 180 / math.pi differ by an ulp, which moves bilinear pixels of these images
    for name in ["grad_37x23", "noise_23x37"]:
        for op in ["ShearX", "ShearY"]:
            for m in [0.25, -0.25]:
                for interpolation in [NEAREST, BILINEAR]:
                    add({"op": "apply_op", "image": name, "name": op, "magnitude": m, "fill": None,
                         "interpolation": interpolation.value},
                        autoaugment._apply_op(imgs[name], op, m, interpolation=interpolation, fill=None))
    for k, (degrees, seed) in enumerate(ROTATION_CASES):
        name = ["grad_37x23", "noise_16x16", "noise_23x37"][k % 3]
        fill = FILLS[k % len(FILLS)]
        torch.manual_seed(seed)
        interpolation = NEAREST if k < 6 else InterpolationMode.BILINEAR
        out = transforms.RandomRotation(degrees, interpolation=interpolation, fill=fill)(imgs[name])
        torch.manual_seed(seed)
        angle = torch.empty(1).uniform_(-degrees, degrees).item()
        add({"op": "random_rotation", "image": name, "degrees": degrees, "seed": seed, "fill": fill,
             "draws": [["uniform", angle]], "angle": angle, "interpolation": interpolation.value}, out)

    erasing, erasing_bytes = [], bytearray()
    for seed, p, scale, ratio, value, shape in [
            (0, 0.5, (0.02, 0.33), (0.3, 3.3), 0.0, (3, 11, 13)),
            (1, 0.5, (0.02, 0.33), (0.3, 3.3), 0.0, (3, 11, 13)),
            (2, 1.0, (0.02, 0.33), (0.3, 3.3), 0.0, (3, 23, 37)),
            (3, 1.0, (0.02, 0.33), (0.3, 3.3), -1.5, (3, 17, 9)),
            (4, 1.0, (0.1, 0.8), (0.5, 2.0), 0.25, (3, 12, 12)),
            (5, 1.0, (0.9, 1.0), (0.3, 3.3), 0.0, (3, 6, 7)),       # nothing fits: unchanged, 20 draws
            (6, 0.3, (0.02, 0.33), (0.3, 3.3), 0.0, (1, 9, 20)),
            (7, 1.0, (0.02, 0.33), (0.3, 3.3), 2.0, (2, 1, 30)),    # a single row: h must be 0
            (8, 1.0, (0.3, 0.3), (1.0, 1.0), 0.0, (3, 10, 10)),
            (9, 0.9, (0.02, 0.33), (0.3, 3.3), 0.0, (3, 31, 5))]:
        gen = torch.Generator().manual_seed(1000 + seed)
        x = torch.randn(shape, generator=gen)
        torch.manual_seed(seed)
        expected = transforms.RandomErasing(p=p, scale=scale, ratio=ratio, value=value)(x.clone())
        torch.manual_seed(seed)
        draws = []
        box = recorded_erasing(x, p, scale, ratio, value, draws)
        mine = x.clone()
        if box is not None:
            i, j, h, w = box
            mine[..., i:i + h, j:j + w] = value
        assert torch.equal(mine, expected), seed
        offset = len(erasing_bytes)
        erasing_bytes += x.numpy().astype("<f4").tobytes()
        erasing_bytes += expected.numpy().astype("<f4").tobytes()
        erasing.append({"seed": seed, "p": p, "scale": list(scale), "ratio": list(ratio), "value": value,
                        "channels": shape[0], "height": shape[1], "width": shape[2], "draws": draws,
                        "box": box, "offset": offset})

    with open(os.path.join(root, "inputs.bin"), "wb") as f:
        f.write(inputs)
    with open(os.path.join(root, "outputs.zlib"), "wb") as f:
        f.write(zlib.compress(bytes(outputs), 9))
    with open(os.path.join(root, "erasing.bin"), "wb") as f:
        f.write(erasing_bytes)
    import PIL
    import torchvision
    manifest = {"torch": torch.__version__, "torchvision": torchvision.__version__, "pillow": PIL.__version__,
                "images": manifest_images, "geometry": cases, "erasing": erasing, "stats": statistics()}
    with open(os.path.join(root, "expected.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print(f"augment_geometry: {len(cases)} geometry cases ({len(outputs)} bytes), {len(erasing)} erasing cases")


if __name__ == "__main__":
    main(os.path.dirname(os.path.abspath(__file__)))
