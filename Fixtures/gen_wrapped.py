"""Checkpoints as people really save them: a torchvision ResNet inside their own module,
saved as that module's state_dict() or whole with torch.save(model).

Writes Fixtures/wrapped/:
  <case>.pth      written by torch.save (deterministic bytes, as gen_checkpoints.tsave)
  expected.json   {file: {...}} with, per file:
                    allow_objects   true for whole pickled modules
                    container_key   the training-checkpoint key holding the state dict, or null
                    removed_prefix  the prefix Graft removes, or null
                    architecture, num_classes
                    keys            the ResNet's own state_dict() keys
                    sha256          SHA-256 of all its tensors' bytes, concatenated in that order
                    logits          {image: logits of the wrapped model's forward} under the
                                    eval transform (Resize 256, CenterCrop 224), torchvision + PIL
                  or, for files Graft must refuse:
                    error           keys_outside_resnet | several_resnets | no_fc (predict only)
                    prefix, outside / prefixes
The ResNets are torchvision's ResNet class with narrow stages (gen_models.NarrowResNet), so
every file is tens of KB.
"""
import hashlib
import json
import os
import sys

import torch
import torch.nn as nn
from PIL import Image, ImageOps
from torchvision import transforms
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

from gen_checkpoints import manifest_json, tensor_bytes, tsave
from gen_models import NarrowResNet, randomize_bn

IMAGES = ["jpeg_420.jpg", "png_rgba.png"]


# User modules as a training script defines them. Their pickled class path is __main__.<name>,
# as it is when train.py calls torch.save(model).
class Classifier(nn.Module):
    """A ResNet under an attribute of the user's choice (backbone, model, net, encoder)."""

    def __init__(self, attr, resnet):
        super().__init__()
        self.attr = attr
        setattr(self, attr, resnet)

    def forward(self, x):
        return getattr(self, self.attr)(x)


class Outer(nn.Module):
    """Nested wrappers: outer.inner.backbone."""

    def __init__(self, resnet):
        super().__init__()
        self.inner = Classifier("backbone", resnet)

    def forward(self, x):
        return self.inner(x)


class BackboneHead(nn.Module):
    """The ResNet's fc replaced by Identity and a head of the wrapper's own."""

    def __init__(self, resnet, classes):
        super().__init__()
        features = resnet.fc.in_features
        resnet.fc = nn.Identity()
        self.backbone = resnet
        self.head = nn.Linear(features, classes)

    def forward(self, x):
        return self.head(self.backbone(x))


class Distill(nn.Module):
    """Two ResNets in one module."""

    def __init__(self, student, teacher):
        super().__init__()
        self.student = student
        self.teacher = teacher


for _cls in (Classifier, Outer, BackboneHead, Distill):
    _cls.__module__ = "__main__"
    setattr(sys.modules["__main__"], _cls.__name__, _cls)


def resnet(seed, block=BasicBlock, layers=(1, 1, 1, 1), widths=(2, 4, 4, 8), classes=5):
    torch.manual_seed(300 + seed)
    gen = torch.Generator().manual_seed(400 + seed)
    m = NarrowResNet(block, list(layers), list(widths), classes)
    randomize_bn(m, gen, 4, 64, 64)
    m.__class__ = ResNet  # a whole-module pickle then names torchvision's class
    return m.eval()


def digest(sd):
    h = hashlib.sha256()
    for t in sd.values():
        h.update(tensor_bytes(t))
    return {"keys": list(sd.keys()), "sha256": h.hexdigest()}


def main(fixtures_dir):
    out = os.path.join(fixtures_dir, "wrapped")
    os.makedirs(out, exist_ok=True)
    for name in os.listdir(out):
        os.remove(os.path.join(out, name))
    torch.set_num_threads(2)
    src = os.path.join(fixtures_dir, "images", "src")
    tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                             transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    images = {i: tf(ImageOps.exif_transpose(Image.open(os.path.join(src, i))).convert("RGB")).unsqueeze(0)
              for i in IMAGES}
    manifest = {}

    def P(name):
        return os.path.join(out, name)

    def file_keys(path, whole):
        obj = torch.load(path, weights_only=not whole, map_location="cpu")
        if whole:
            return list(obj.state_dict().keys())
        if "state_dict" in obj and isinstance(obj["state_dict"], dict):
            obj = obj["state_dict"]
        return list(obj.keys())

    def good(name, obj, model, net, arch, prefix, whole=False, container=None):
        """`obj` saved as `name`; `model` is what the user runs, `net` the ResNet inside it."""
        tsave(obj, P(name))
        keys = file_keys(P(name), whole)
        assert all(k.startswith(prefix or "") for k in keys), name
        assert [k[len(prefix or ""):] for k in keys] == list(net.state_dict().keys()), name
        logits = {}
        with torch.no_grad():
            for image, x in images.items():
                y = model(x)[0]
                assert torch.equal(y, net(x)[0]), name  # the wrapper's forward is the ResNet's
                logits[image] = y.tolist()
        manifest[name] = {"allow_objects": whole, "container_key": container,
                          "removed_prefix": prefix, "architecture": arch,
                          "num_classes": net.fc.out_features, **digest(net.state_dict()),
                          "logits": logits}

    def bad(name, obj, error, whole=False, **extra):
        tsave(obj, P(name))
        file_keys(P(name), whole)  # torch reads it
        rec = {"allow_objects": whole, "error": error}
        rec.update(extra)
        manifest[name] = rec

    # A torchvision ResNet under one attribute of the user's module: backbone., model., net., encoder.
    n = resnet(0, layers=(2, 2, 2, 2))
    good("backbone.pth", Classifier("backbone", n).state_dict(), Classifier("backbone", n), n, "resnet18", "backbone.")
    n = resnet(1, block=Bottleneck, widths=(2, 4, 4, 4), classes=3)
    good("model.pth", Classifier("model", n).state_dict(), Classifier("model", n), n, "resnet(custom)", "model.")
    n = resnet(2)
    good("net.pth", Classifier("net", n).state_dict(), Classifier("net", n), n, "resnet(custom)", "net.")
    n = resnet(3)
    good("encoder.pth", Classifier("encoder", n).state_dict(), Classifier("encoder", n), n, "resnet(custom)", "encoder.")
    # DataParallel around the user's module: module.model.
    n = resnet(4)
    dp = nn.DataParallel(Classifier("model", n))
    good("dataparallel_model.pth", dp.state_dict(), dp, n, "resnet(custom)", "module.model.")
    # Nested wrappers, in a training checkpoint dict.
    n = resnet(5)
    outer = Outer(n)
    good("nested_checkpoint.pth", {"state_dict": outer.state_dict(), "epoch": 3}, outer, n, "resnet(custom)",
         "inner.backbone.", container="state_dict")
    # torch.save(model) of a torchvision ResNet, and of a user module holding one.
    n = resnet(6)
    good("whole_resnet.pth", n, n, n, "resnet(custom)", None, whole=True)
    n = resnet(7, layers=(2, 2, 2, 2))
    c = Classifier("backbone", n)
    good("whole_wrapper.pth", c, c, n, "resnet18", "backbone.", whole=True)

    # The ResNet without its fc, under a prefix: a backbone. Graft strips the prefix; predict
    # refuses it for want of a classifier.
    n = resnet(8)
    n.fc = nn.Identity()
    bad("encoder_nofc.pth", Classifier("encoder", n).state_dict(), "no_fc", prefix="encoder.",
        **digest(n.state_dict()))
    # A ResNet plus keys outside it: listed, never dropped silently.
    n = resnet(9)
    bh = BackboneHead(n, 5)
    bad("backbone_head.pth", bh.state_dict(), "keys_outside_resnet", prefix="backbone.",
        outside=["head.weight", "head.bias"])
    bad("whole_backbone_head.pth", bh, "keys_outside_resnet", whole=True, prefix="backbone.",
        outside=["head.weight", "head.bias"])
    # Two ResNets: which one is meant is not Graft's guess.
    bad("two_resnets.pth", Distill(resnet(10), resnet(11)).state_dict(), "several_resnets",
        prefixes=["student.", "teacher."])

    with open(P("expected.json"), "w") as f:
        f.write(manifest_json(manifest))
    for name in sorted(os.listdir(out)):
        print(f"{os.path.getsize(P(name)):8d}  {name}")


if __name__ == "__main__":
    main(os.path.dirname(os.path.abspath(__file__)))
