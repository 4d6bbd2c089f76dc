"""A held-back set for Winograd inference: PyTorch's probabilities from a trained model on images
it never saw, to check that Winograd stays within 1e-4 of them (ResNetTests/WinogradInferenceTests).

The model is weights/fashion04-resnet18.pth (a torchvision resnet18 trained by Graft on
Fashion-MNIST classes 0-4, train split; see weights/README.md). The images are the first 240
test-split images of those classes (Debian's dataset-fashion-mnist), never used in training.

Writes Fixtures/heldout/:
  images.u8      N x 28 x 28 bytes: the test images, as stored
  labels.json    their classes as the model numbers them (coat, dress, pullover, trouser, tshirt)
  logits32.bin, probs32.bin     float32 (N, 5): torch's eval-mode logits and their softmax at 32x32
                                (the size it trained at)
  logits224.bin, probs224.bin   float32 (N224, 5): the same for the first N224 images at 224x224
  meta.json      count, count224, mean, std, torch's top-1 accuracy at each size

The input (built the same way by the test, in float32): each image padded with 2 black pixels on
every side to 32x32, copied to 3 channels, ToTensor() (byte / 255) and Normalize with
ImageNet's mean and std; the 224x224 input repeats each pixel 7x7 (nearest neighbour).
"""
import gzip
import json
import os

import numpy as np
import torch
import torchvision

COUNT, COUNT224 = 240, 24
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
DATA = "/usr/share/datasets/fashion-mnist"


def inputs(images, scale):
    x = torch.from_numpy(np.pad(images, ((0, 0), (2, 2), (2, 2)))).float().div(255)   # N x 32 x 32
    x = x.unsqueeze(1).repeat(1, 3, 1, 1)
    if scale > 1:
        x = x.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
    mean = torch.tensor(MEAN, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=torch.float32).view(1, 3, 1, 1)
    return x.sub_(mean).div_(std)


def main(fixtures_dir):
    out = os.path.join(fixtures_dir, "heldout")
    os.makedirs(out, exist_ok=True)
    with gzip.open(os.path.join(DATA, "t10k-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(os.path.join(DATA, "t10k-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), dtype=np.uint8, offset=8)
    keep = np.nonzero(labels < 5)[0][:COUNT]
    # The model's classes are its training folders in sorted order: coat, dress, pullover,
    # trouser, tshirt, which are Fashion-MNIST's labels 4, 3, 2, 1, 0.
    images, labels = images[keep].copy(), 4 - labels[keep].astype(np.int64)

    sd = torch.load(os.path.join(fixtures_dir, "..", "weights", "fashion04-resnet18.pth"), weights_only=True)
    model = torchvision.models.resnet18(num_classes=5)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()})
    model.eval()
    meta = {"count": COUNT, "count224": COUNT224, "mean": MEAN, "std": STD}
    with torch.no_grad():
        for scale, n, size in [(1, COUNT, "32"), (7, COUNT224, "224")]:
            logits = model(inputs(images[:n], scale))
            logits.numpy().astype("<f4").tofile(os.path.join(out, "logits" + size + ".bin"))
            probs = torch.softmax(logits, dim=1)
            probs.numpy().astype("<f4").tofile(os.path.join(out, "probs" + size + ".bin"))
            meta["top1_" + size] = float((probs.argmax(1).numpy() == labels[:n]).mean())
    images.tofile(os.path.join(out, "images.u8"))
    with open(os.path.join(out, "labels.json"), "w") as f:
        json.dump([int(v) for v in labels], f)
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"heldout: {COUNT} images, top-1 {meta['top1_32']:.3f} at 32, {meta['top1_224']:.3f} at 224")


if __name__ == "__main__":
    main(os.path.dirname(os.path.abspath(__file__)))
