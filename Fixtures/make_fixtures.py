#!/usr/bin/env python3
"""Regenerate every committed fixture from real PyTorch, torchvision and PIL.

Run by hand where torch is installed (CI never runs it):
    python3 -m venv ~/torchenv && ~/torchenv/bin/pip install torch torchvision pillow
    ~/torchenv/bin/python Fixtures/make_fixtures.py          # or: make fixtures
Each part writes under its own folder of Fixtures/ and is deterministic (fixed seeds).
The tensorboard part also needs Graft built (swift build) and `pip install tensorboard`: it
reads an event file Graft's finetune writes back with TensorBoard's reader. The ddp part runs
two torch.distributed processes (gloo) on loopback ports 29600-29605. The heldout part reads
Fashion-MNIST's test split from Debian's dataset-fashion-mnist (`make demo` installs it). The
evaluate and weighted_loss parts need scikit-learn (`pip install scikit-learn`).
The vgg part (tiny torchvision VGGs, Fixtures/vgg/README.md) reads images from Fixtures/images/src,
as does the mobilenet part (tiny torchvision MobileNetV2/V3, Fixtures/mobilenet/README.md) and the
efficientnet part (tiny torchvision EfficientNet B0-B7 and V2-S/M/L, Fixtures/efficientnet/README.md)
and the regnet part (tiny torchvision RegNetY and RegNetX, every variant's depths, Fixtures/regnet/README.md)
and the densenet part (tiny torchvision DenseNet-121/161/169/201, every variant's block configuration,
Fixtures/densenet/README.md) and the convnext part (tiny torchvision ConvNeXt-Tiny/Small/Base/Large, every
variant's real depths, Fixtures/convnext/README.md) and the inception part (a tiny torchvision Inception v3 at 1/16
of every width, with and without its auxiliary classifier, Fixtures/inception/README.md).
The int8 part reads Fashion-MNIST's train split from the same Debian package.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def main():
    parts = sys.argv[1:] or ["checkpoints", "images", "damaged", "models", "predict", "tta", "weighted_loss", "wrapped", "shared_modules", "trainset",
                             "optim", "training", "last_stages", "imagenet_model", "hub", "evaluate", "tensorboard", "ddp", "heldout", "cycles", "typed_views", "schedules", "clip",
                             "vgg", "mobilenet", "efficientnet", "regnet", "densenet", "convnext", "inception", "phases", "augment_color", "augment_geometry", "lr_find", "mixup", "int8", "bicubic"]
    for part in parts:
        module = __import__("gen_" + part)
        print(f"== {part}")
        module.main(HERE)


if __name__ == "__main__":
    main()
