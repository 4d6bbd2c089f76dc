"""Calibration images for the int8 accuracy fixture (Tests/ResNetTests/Int8InferenceTests.swift).

`--precision int8` takes each activation's scale from a calibration run (`graft calibrate`). The
test calibrates weights/fashion04-resnet18.pth (the model of gen_heldout.py) on these images and
scores int8 against f32 on the held-back set (Fixtures/heldout), which it never calibrated on.

Writes Fixtures/int8/:
  calib.u8    N x 28 x 28 bytes: the first N train-split images of Fashion-MNIST classes 0-4
              (Debian's dataset-fashion-mnist), as stored: images the model trained on, as
              TensorRT and OpenVINO calibrate on training data
  meta.json   count, and the input recipe (the same as gen_heldout.py's: pad to 32x32, 3 channels,
              byte / 255, ImageNet's mean and std)
"""
import gzip
import json
import os

import numpy as np

COUNT = 64
DATA = "/usr/share/datasets/fashion-mnist"


def main(fixtures_dir):
    out = os.path.join(fixtures_dir, "int8")
    os.makedirs(out, exist_ok=True)
    with gzip.open(os.path.join(DATA, "train-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(os.path.join(DATA, "train-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), dtype=np.uint8, offset=8)
    keep = np.nonzero(labels < 5)[0][:COUNT]
    images[keep].tofile(os.path.join(out, "calib.u8"))
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump({"count": COUNT, "source": "fashion-mnist train split, classes 0-4, first images", "recipe": "as gen_heldout.py"}, f, indent=1)
    print(f"int8: {COUNT} calibration images")


if __name__ == "__main__":
    main(os.path.dirname(os.path.abspath(__file__)))
