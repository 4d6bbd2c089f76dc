"""A 1000-class model for ImageNet names out of the box (predict without class_indices.json).

Writes Fixtures/hub/:
  imagenet_tiny.pth    a narrow torchvision-structured resnet (gen_models.NarrowResNet, BasicBlock
                       [1, 1, 1, 1], widths [8, 8, 8, 16]) with 1000 classes, saved with torch.save
  imagenet_tiny.json   {"image": ..., "top5": [index...], "names": [...], "probs": [...]}: torch's
                       five most probable classes for one image under the eval transform, named by
                       torchvision's ImageNet categories (ResNet18_Weights.IMAGENET1K_V1.meta)
"""
import json
import os

import torch
from PIL import Image, ImageOps
from torchvision import transforms
from torchvision.models import ResNet18_Weights
from torchvision.models.resnet import BasicBlock

from gen_models import NarrowResNet, randomize_bn

IMAGE = "jpeg_420.jpg"


def main(fixtures_dir):
    out = os.path.join(fixtures_dir, "hub")
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(1000)
    model = NarrowResNet(BasicBlock, [1, 1, 1, 1], [8, 8, 8, 16], 1000)
    with torch.no_grad():
        model.fc.weight.mul_(8)  # spread the logits so that the top five are well apart
    randomize_bn(model, torch.Generator().manual_seed(1001), 4, 64, 64)
    torch.save(model.state_dict(), os.path.join(out, "imagenet_tiny.pth"))
    tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                             transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    src = os.path.join(fixtures_dir, "images", "src", IMAGE)
    x = tf(ImageOps.exif_transpose(Image.open(src)).convert("RGB")).unsqueeze(0)
    model.eval()
    with torch.no_grad():
        probs = torch.softmax(model(x)[0], 0)
    top = torch.topk(probs, 5)
    names = ResNet18_Weights.IMAGENET1K_V1.meta["categories"]
    with open(os.path.join(out, "imagenet_tiny.json"), "w") as f:
        json.dump({"image": IMAGE, "top5": top.indices.tolist(), "names": [names[i] for i in top.indices.tolist()],
                   "probs": top.values.tolist()}, f, indent=1)


if __name__ == "__main__":
    main(os.path.dirname(os.path.abspath(__file__)))
