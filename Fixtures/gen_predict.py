"""End-to-end prediction fixtures: real .pth files written by torch.save, class_indices.json,
and torchvision+PIL's eval-transform probabilities for the images in Fixtures/images/src.

Writes Fixtures/predict/:
  basic.pth, bottleneck.pth   narrow torchvision-structured ResNets (gen_models.NarrowResNet)
                              with non-trivial batch-norm statistics, saved with torch.save
  class_indices.json          as the tutorial's train.py writes it
  expected.json               {model: {image: {"logits": [...], "probs": [...]}}}
"""
import json
import os

import torch
from PIL import Image, ImageOps
from torchvision import transforms
from torchvision.models.resnet import BasicBlock, Bottleneck

from gen_models import NarrowResNet, randomize_bn

IMAGES = ["jpeg_420.jpg", "jpeg_cmyk.jpg", "jpeg_exif6.jpg", "jpeg_grey.jpg", "jpeg_progressive.jpg",
          "png_rgba.png", "png_palette_trns.png", "png_grey16.png", "png_tall.png", "jpeg_wide.jpg"]
MODELS = [
    ("basic", BasicBlock, [2, 2, 2, 2], [8, 16, 32, 64], 5),
    ("bottleneck", Bottleneck, [1, 2, 1, 1], [8, 16, 32, 64], 5),
]
NAMES = ["daisy", "dandelion", "roses", "sunflowers", "tulips"]


def main(fixtures_dir):
    out = os.path.join(fixtures_dir, "predict")
    os.makedirs(out, exist_ok=True)
    src = os.path.join(fixtures_dir, "images", "src")
    tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                             transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    with open(os.path.join(out, "class_indices.json"), "w") as f:
        f.write(json.dumps({str(i): n for i, n in enumerate(NAMES)}, indent=4))
    expected = {}
    for seed, (name, block, layers, widths, classes) in enumerate(MODELS):
        torch.manual_seed(100 + seed)
        gen = torch.Generator().manual_seed(200 + seed)
        model = NarrowResNet(block, layers, widths, classes)
        randomize_bn(model, gen, 4, 64, 64)
        torch.save(model.state_dict(), os.path.join(out, name + ".pth"))
        expected[name] = {}
        for image in IMAGES:
            x = tf(ImageOps.exif_transpose(Image.open(os.path.join(src, image))).convert("RGB")).unsqueeze(0)
            with torch.no_grad():
                logits = model(x)[0]
            expected[name][image] = {"logits": logits.tolist(), "probs": torch.softmax(logits, 0).tolist()}
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)


if __name__ == "__main__":
    main(os.path.dirname(os.path.abspath(__file__)))
