"""torchvision's ResNet, VGG, MobileNet, EfficientNet, RegNet, DenseNet, ConvNeXt and Inception weights as facts, ImageNet's class names, and torch.hub's
cache folder.

Writes (no network needed: torchvision carries the metadata):
  Sources/Hub/TorchvisionWeights+Data.swift   every weights enum member of torchvision's ResNet,
                                              VGG, MobileNet, EfficientNet, RegNet, DenseNet, ConvNeXt and Inception families: url, file name, SHA-256
                                              prefix, size in MB, eval transform (resize, crop,
                                              interpolation, and mean/std where not ImageNet's), DEFAULT
  Sources/Hub/ImageNet+Categories.swift       the 1000 names in the order of the weights' metadata
  Fixtures/hub/get_dir.json                   torch.hub.get_dir() under several environments, each
                                              run in a fresh subprocess
"""
import json
import os
import re
import subprocess
import sys

import torchvision
from torchvision.models import convnext, densenet, efficientnet, inception, mobilenetv2, mobilenetv3, regnet, resnet, vgg
from torchvision.transforms import InterpolationMode

# torchvision's ResNet family, in the order of its documentation.
ENUMS = [
    ("resnet18", "ResNet18_Weights"),
    ("resnet34", "ResNet34_Weights"),
    ("resnet50", "ResNet50_Weights"),
    ("resnet101", "ResNet101_Weights"),
    ("resnet152", "ResNet152_Weights"),
    ("resnext50_32x4d", "ResNeXt50_32X4D_Weights"),
    ("resnext101_32x8d", "ResNeXt101_32X8D_Weights"),
    ("resnext101_64x4d", "ResNeXt101_64X4D_Weights"),
    ("wide_resnet50_2", "Wide_ResNet50_2_Weights"),
    ("wide_resnet101_2", "Wide_ResNet101_2_Weights"),
]
# torchvision's VGG family: (module, ENUMS) per family, in the order Graft's Families lists them.
VGG_ENUMS = [(n, n.replace("vgg", "VGG").replace("_bn", "_BN") + "_Weights")
             for n in ["vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"]]
# torchvision's MobileNets: V2 (one module), then V3's Large and Small (another), in its documentation's order.
MOBILENET_V2_ENUMS = [("mobilenet_v2", "MobileNet_V2_Weights")]
MOBILENET_V3_ENUMS = [("mobilenet_v3_large", "MobileNet_V3_Large_Weights"),
                      ("mobilenet_v3_small", "MobileNet_V3_Small_Weights")]
# torchvision's EfficientNets: b0 to b7, then v2's s, m, l.
EFFICIENTNET_ENUMS = ([(f"efficientnet_b{k}", f"EfficientNet_B{k}_Weights") for k in range(8)]
                      + [(f"efficientnet_v2_{s}", f"EfficientNet_V2_{s.upper()}_Weights") for s in "sml"])
# torchvision's RegNets: Y then X, in its documentation's order.
REGNET_ENUMS = [(f"regnet_{k}_{s}", f"RegNet_{k.upper()}_{s.upper()}_Weights")
                for k, sizes in (("y", ["400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf", "128gf"]),
                                 ("x", ["400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf"])) for s in sizes]
# torchvision's ConvNeXts.
CONVNEXT_ENUMS = [(f"convnext_{s}", f"ConvNeXt_{s.capitalize()}_Weights") for s in ("tiny", "small", "base", "large")]
# torchvision's DenseNets.
DENSENET_ENUMS = [(f"densenet{d}", f"DenseNet{d}_Weights") for d in (121, 161, 169, 201)]
# torchvision's Inception V3.
INCEPTION_ENUMS = [("inception_v3", "Inception_V3_Weights")]
FAMILIES = [(resnet, ENUMS), (vgg, VGG_ENUMS), (mobilenetv2, MOBILENET_V2_ENUMS), (mobilenetv3, MOBILENET_V3_ENUMS),
            (efficientnet, EFFICIENTNET_ENUMS), (regnet, REGNET_ENUMS), (densenet, DENSENET_ENUMS), (convnext, CONVNEXT_ENUMS),
            (inception, INCEPTION_ENUMS)]
HASH_REGEX = re.compile(r"-([a-f0-9]*)\.")  # torch.hub's, as check_hash takes the prefix
INTERPOLATION = {InterpolationMode.BILINEAR: "bilinear", InterpolationMode.BICUBIC: "bicubic",
                 InterpolationMode.NEAREST: "nearest"}

HEADER = """// GENERATED FILE: do not edit by hand.
// Written by Fixtures/gen_hub.py from torchvision {version}'s weight metadata.
// Regenerate: ~/torchenv/bin/python Fixtures/make_fixtures.py hub
"""


def swift_string(s):
    return json.dumps(s, ensure_ascii=False)  # a JSON string literal is a valid Swift one here


def weights_entries():
    # Every enum of each family, checked against torchvision's own list of its weights.
    entries, categories = [], None
    for module, enums in FAMILIES:
      found = sorted(n for n in module.__all__ if n.endswith("_Weights"))
      assert found == sorted(e for _, e in enums), found
      for arch, enum_name in enums:
        enum = getattr(module, enum_name)
        for w in enum:
            if w.meta.get("categories") is None:
                continue  # vgg16's IMAGENET1K_FEATURES: a feature extractor, no ImageNet classifier
            file_name = w.url.rsplit("/", 1)[-1]
            r = HASH_REGEX.search(file_name)
            assert r is not None, file_name
            t = w.transforms()
            assert len(t.resize_size) == 1 and len(t.crop_size) == 1, (w, t)
            cats = w.meta["categories"]
            assert len(cats) == 1000, (w, len(cats))
            if categories is None:
                categories = cats
            assert cats == categories, f"{enum_name}.{w.name} has other categories"
            # ImageNet's statistics, but for efficientnet_v2_l's 0.5s.
            assert (list(t.mean), list(t.std)) in [([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]), ([0.5] * 3, [0.5] * 3)], w
            entries.append(dict(arch=arch, version=w.name, url=w.url, file_name=file_name,
                                sha=r.group(1), size_mb=w.meta.get("_file_size"),
                                resize=t.resize_size[0], crop=t.crop_size[0],
                                interpolation=INTERPOLATION[t.interpolation], mean=list(t.mean), std=list(t.std),
                                is_default=(enum.DEFAULT is w), enum=enum_name))
    return entries, categories


def write_weights(path, entries):
    lines = [HEADER.format(version=torchvision.__version__),
             "extension TorchvisionWeights {",
             "    /// Every weights enum member of torchvision's ResNet, VGG, MobileNet, EfficientNet, RegNet, DenseNet, ConvNeXt and Inception families, in torchvision's order.",
             "    public static let all: [TorchvisionWeights] = ["]
    for e in entries:
        size = "nil" if e["size_mb"] is None else repr(float(e["size_mb"]))
        lines.append(
            f"        TorchvisionWeights(architecture: {swift_string(e['arch'])}, "
            f"version: {swift_string(e['version'])}, enumName: {swift_string(e['enum'])},\n"
            f"                           url: {swift_string(e['url'])},\n"
            f"                           fileName: {swift_string(e['file_name'])}, "
            f"sha256Prefix: {swift_string(e['sha'])}, fileSizeMB: {size},\n"
            f"                           resize: {e['resize']}, crop: {e['crop']}, "
            f"interpolation: .{e['interpolation']}, isDefault: {'true' if e['is_default'] else 'false'}"
            + ("" if e["mean"] == [0.485, 0.456, 0.406] else f",\n                           mean: {e['mean']}, std: {e['std']}")
            + "),")
    lines += ["    ]", "}", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def write_categories(path, categories):
    lines = [HEADER.format(version=torchvision.__version__),
             "extension ImageNet {",
             "    /// The 1000 ImageNet-1k class names, index = class, in the order of torchvision's",
             "    /// weight metadata (`ResNet50_Weights.IMAGENET1K_V1.meta[\"categories\"]`).",
             "    public static let categories: [String] = ["]
    lines += [f"        {swift_string(c)}," for c in categories]
    lines += ["    ]", "}", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


GET_DIR_CASES = [
    ("torch_home_wins_over_xdg", {"TORCH_HOME": "/data/torch", "XDG_CACHE_HOME": "/var/cache/xdg", "HOME": "/home/tester"}),
    ("torch_home_trailing_slash", {"TORCH_HOME": "/data/torch/", "HOME": "/home/tester"}),
    ("torch_home_tilde", {"TORCH_HOME": "~/models", "HOME": "/home/tester"}),
    ("torch_home_tilde_alone", {"TORCH_HOME": "~", "HOME": "/home/tester"}),
    ("torch_home_relative", {"TORCH_HOME": "models/torch", "HOME": "/home/tester"}),
    ("xdg_only", {"XDG_CACHE_HOME": "/var/cache/xdg", "HOME": "/home/tester"}),
    ("xdg_trailing_slash", {"XDG_CACHE_HOME": "/var/cache/xdg/", "HOME": "/home/tester"}),
    ("xdg_tilde", {"XDG_CACHE_HOME": "~/xdg", "HOME": "/home/tester"}),
    ("neither", {"HOME": "/home/tester"}),
    ("neither_home_trailing_slash", {"HOME": "/home/tester/"}),
    ("neither_home_root", {"HOME": "/"}),
    ("torch_home_empty", {"TORCH_HOME": "", "HOME": "/home/tester"}),
    ("xdg_empty", {"XDG_CACHE_HOME": "", "HOME": "/home/tester"}),
]


def get_dir_cases():
    cases = []
    for name, env in GET_DIR_CASES:
        full = {k: v for k, v in os.environ.items() if k not in ("TORCH_HOME", "XDG_CACHE_HOME", "HOME")}
        full.update(env)
        out = subprocess.run([sys.executable, "-c", "import torch.hub; print(torch.hub.get_dir())"],
                             env=full, check=True, capture_output=True, text=True).stdout
        cases.append({"name": name, "environment": env, "get_dir": out.rstrip("\n")})
    return cases


def main(fixtures_dir):
    root = os.path.dirname(fixtures_dir)
    entries, categories = weights_entries()
    write_weights(os.path.join(root, "Sources", "Hub", "TorchvisionWeights+Data.swift"), entries)
    write_categories(os.path.join(root, "Sources", "Hub", "ImageNet+Categories.swift"), categories)
    out = os.path.join(fixtures_dir, "hub")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "get_dir.json"), "w") as f:
        json.dump({"cases": get_dir_cases()}, f, indent=1)
        f.write("\n")
    print(f"{len(entries)} weights, {len(categories)} categories, {len(GET_DIR_CASES)} get_dir cases")


if __name__ == "__main__":
    main(os.path.dirname(os.path.abspath(__file__)))
