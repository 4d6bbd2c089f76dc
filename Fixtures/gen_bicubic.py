"""Bicubic resize fixtures for ImagingTests (BicubicResizeTests): Pillow 13's
`Image.resize(size, Image.BICUBIC, box=box)` and torchvision's bicubic eval resize.

Writes Fixtures/bicubic/:
  src/<name>.rgb        source images, raw RGB8 (made with PIL/numpy from fixed seeds)
  exp/resize_<i>.rgb    Image.resize((w, h), Image.BICUBIC, box=box) of a source, raw RGB8
  exp/eval_<i>.rgb      Compose([Resize(S, interpolation=BICUBIC), CenterCrop(C)]) of a source
  expected.json         the manifest: sources and cases with sizes, boxes, files and sha256
"""
import hashlib
import json
import os
import shutil

import numpy as np
import PIL
from PIL import Image
import torchvision
from torchvision import transforms
from torchvision.transforms import InterpolationMode


def pattern(w, h, seed, contrast):
    """Gradients, a diagonal stripe and seeded noise; `contrast` near 1 saturates (bicubic overshoots)."""
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    planes = [
        255 * x / max(w - 1, 1),
        255 * y / max(h - 1, 1),
        127.5 + 127.5 * np.sin((x + 2 * y) * 0.9),
    ]
    img = np.stack(planes, axis=-1) * (1 - contrast) + rng.randint(0, 256, (h, w, 3)) * contrast
    return Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8), "RGB")


def raw(im):
    assert im.mode == "RGB"
    return np.asarray(im, dtype=np.uint8).tobytes()


SOURCES = [  # name, width, height, seed, noise share
    ("g37x23", 37, 23, 1, 0.25),
    ("n37x23", 37, 23, 2, 1.0),   # pure noise, full range: clipping at 0 and 255
    ("g64x48", 64, 48, 3, 0.3),
    ("w1x31", 1, 31, 4, 0.5),     # one pixel wide
    ("g97x73", 97, 73, 5, 0.2),
    ("p45x80", 45, 80, 6, 0.4),   # portrait
]

RESIZES = [  # source, (w, h), box
    ("g37x23", (18, 11), None),            # ~2x down
    ("n37x23", (12, 7), None),             # ~3x down, noise
    ("g64x48", (20, 15), None),            # > 2x down each axis
    ("g64x48", (13, 7), None),             # ~5x / ~7x down
    ("g64x48", (60, 10), None),            # height shrinks > twice the width: vertical pass first
    ("g97x73", (90, 20), None),            # vertical first
    ("g97x73", (88, 53), None),            # 73-53 = 20 > 2*9: vertical first
    ("g97x73", (87, 53), None),            # 20 = 2*10, not more: horizontal first
    ("g37x23", (80, 50), None),            # upscale
    ("n37x23", (41, 29), None),            # slight upscale, noise
    ("g37x23", (11, 47), None),            # down in x, up in y
    ("g64x48", (64, 20), None),            # width unchanged
    ("g64x48", (30, 48), None),            # height unchanged
    ("w1x31", (1, 10), None),              # one pixel wide, width unchanged
    ("w1x31", (5, 40), None),              # one pixel wide, upscaled
    ("w1x31", (3, 7), None),
    ("g64x48", (1, 1), None),
    ("g64x48", (20, 15), (5.5, 3.25, 50.0, 40.75)),   # box crop, fractional
    ("g64x48", (48, 36), (3, 4, 51, 40)),             # box crop, upscale
    ("g97x73", (97, 73), (0.1, 0.0, 97.0, 73.0)),     # same size, shifted box
    ("g97x73", (60, 10), (5.5, 3.25, 90.0, 70.5)),    # box, vertical first
    ("p45x80", (45, 30), (0, 10, 45, 70)),            # box on one axis only
]

EVALS = [  # source, Resize(S), CenterCrop(C)
    ("g97x73", 40, 32),
    ("g97x73", 32, 28),
    ("p45x80", 24, 20),
    ("g64x48", 56, 50),   # upscale then crop
]


def main(fixtures_dir):
    root = os.path.join(fixtures_dir, "bicubic")
    src_dir, exp_dir = os.path.join(root, "src"), os.path.join(root, "exp")
    for d in (src_dir, exp_dir):  # start clean
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    manifest = {"pillow": PIL.__version__, "torchvision": torchvision.__version__,
                "sources": [], "resize": [], "eval": []}

    def write(rel, data):
        with open(os.path.join(root, rel), "wb") as f:
            f.write(data)
        return {"file": rel, "sha256": hashlib.sha256(data).hexdigest()}

    images = {}
    for name, w, h, seed, contrast in SOURCES:
        im = pattern(w, h, seed, contrast)
        images[name] = im
        manifest["sources"].append({"name": name, "width": w, "height": h,
                                    **write(f"src/{name}.rgb", raw(im))})

    for i, (src, size, box) in enumerate(RESIZES):
        out = images[src].resize(size, Image.BICUBIC, box=box)
        assert out.size == size
        manifest["resize"].append({"source": src, "width": size[0], "height": size[1],
                                   "box": list(box) if box else None,
                                   **write(f"exp/resize_{i}.rgb", raw(out))})

    for i, (src, s, c) in enumerate(EVALS):
        resized = transforms.Resize(s, interpolation=InterpolationMode.BICUBIC)(images[src])
        out = transforms.CenterCrop(c)(resized)
        manifest["eval"].append({"source": src, "resize": s, "crop": c,
                                 "resized_width": resized.width, "resized_height": resized.height,
                                 "resized_sha256": hashlib.sha256(raw(resized)).hexdigest(),
                                 "width": out.width, "height": out.height,
                                 **write(f"exp/eval_{i}.rgb", raw(out))})

    with open(os.path.join(root, "expected.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(d, n)) for d, _, ns in os.walk(root) for n in ns)
    print(f"bicubic: {len(manifest['resize'])} resize + {len(manifest['eval'])} eval cases, "
          f"{total / 1e3:.1f} KB under {root}")


if __name__ == "__main__":
    main(os.path.dirname(os.path.abspath(__file__)))
