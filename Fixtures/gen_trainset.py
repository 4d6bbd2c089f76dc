"""A tiny image-folder dataset for the training tests: Fixtures/trainset/{train,val}/<class>/.

Three classes that a narrow ResNet separates easily (dominant hue plus noise and a random
shape), 40x40 images as PNG and JPEG, written by PIL from fixed seeds. train/roses holds one
corrupt JPEG and one text file, to exercise the skip-and-warn paths.
"""
import os
import random

from PIL import Image, ImageDraw

CLASSES = {"daisy": (230, 220, 90), "roses": (200, 40, 60), "tulips": (60, 90, 210)}


def make(rng, color):
    img = Image.new("RGB", (40, 40), tuple(max(0, min(255, c + rng.randint(-40, 40))) for c in color))
    d = ImageDraw.Draw(img)
    for _ in range(3):
        x, y = rng.randint(0, 30), rng.randint(0, 30)
        shade = tuple(max(0, min(255, c + rng.randint(-90, 90))) for c in color)
        d.ellipse((x, y, x + rng.randint(4, 12), y + rng.randint(4, 12)), fill=shade)
    return img


def main(fixtures_dir):
    root = os.path.join(fixtures_dir, "trainset")
    rng = random.Random(7)
    for split, count in (("train", 10), ("val", 4)):
        for name, color in CLASSES.items():
            folder = os.path.join(root, split, name)
            os.makedirs(folder, exist_ok=True)
            for i in range(count):
                img = make(rng, color)
                if i % 2:
                    img.save(os.path.join(folder, f"{i:02d}.png"))
                else:
                    img.save(os.path.join(folder, f"{i:02d}.jpg"), quality=90)
    with open(os.path.join(root, "train", "roses", "99_corrupt.jpg"), "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    with open(os.path.join(root, "train", "roses", "notes.txt"), "w") as f:
        f.write("not an image\n")


if __name__ == "__main__":
    main(os.path.dirname(os.path.abspath(__file__)))
