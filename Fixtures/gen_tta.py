"""Test-time augmentation fixtures (`--tta flip`): torch's probabilities for the model
Fixtures/predict/basic.pth (written by gen_predict.py; run that part first) on a few of its
images, each the mean of the softmax of the eval tensor and of its horizontal mirror:

    (softmax(model(x)) + softmax(model(torch.flip(x, dims=[3])))) / 2

where x is the normalized center crop (Resize(256), CenterCrop(224), ToTensor, Normalize).
Also records, per image, how far the probabilities are from those of mirroring the PIL image
before the transform instead (the same crop mirrored, but for CenterCrop's rounding when the
margin is odd), for the documentation's claim.

Writes Fixtures/tta/expected.json:
  {"model": "predict/basic.pth", "images": {image: {"probs": [...], "plain": [...],
   "pil_flip_max_diff": float}}}
"""
import json
import os

import torch
from PIL import Image, ImageOps
from torchvision import transforms
from torchvision.models.resnet import BasicBlock

from gen_models import NarrowResNet
from gen_predict import MODELS

# Wide, tall, EXIF-rotated, with alpha; the margin CenterCrop leaves across even (the first five)
# and odd (jpeg_progressive: 341 wide, jpeg_cmyk: CMYK, 341 wide).
IMAGES = ["jpeg_420.jpg", "jpeg_exif6.jpg", "png_tall.png", "jpeg_wide.jpg", "png_rgba.png", "jpeg_progressive.jpg", "jpeg_cmyk.jpg"]


def main(fixtures_dir):
    out = os.path.join(fixtures_dir, "tta")
    os.makedirs(out, exist_ok=True)
    src = os.path.join(fixtures_dir, "images", "src")
    name, block, layers, widths, classes = MODELS[0]
    assert name == "basic" and block is BasicBlock
    model = NarrowResNet(block, layers, widths, classes)
    model.load_state_dict(torch.load(os.path.join(fixtures_dir, "predict", "basic.pth"), weights_only=True))
    model.eval()
    tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                             transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    expected = {"model": "predict/basic.pth", "images": {}}
    for image in IMAGES:
        pil = ImageOps.exif_transpose(Image.open(os.path.join(src, image))).convert("RGB")
        x = tf(pil).unsqueeze(0)
        with torch.no_grad():
            plain = torch.softmax(model(x), 1)[0]
            mirrored = torch.softmax(model(torch.flip(x, dims=[3])), 1)[0]
            pil_mirrored = torch.softmax(model(tf(pil.transpose(Image.FLIP_LEFT_RIGHT)).unsqueeze(0)), 1)[0]
        probs = (plain + mirrored) / 2
        expected["images"][image] = {
            "probs": probs.tolist(),
            "plain": plain.tolist(),
            "pil_flip_max_diff": (mirrored - pil_mirrored).abs().max().item(),
        }
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)


if __name__ == "__main__":
    main(os.path.dirname(os.path.abspath(__file__)))
