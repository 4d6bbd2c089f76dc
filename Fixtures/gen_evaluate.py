"""`evaluate` fixture: a labelled folder scored in PyTorch and scikit-learn.

The folder is Fixtures/trainset/train (daisy, roses, tulips; with notes.txt, which is skipped,
and 99_corrupt.jpg, which PIL cannot read). The model is a tiny torchvision-structured ResNet
(gen_models.NarrowResNet) with 7 classes, so top-5 accuracy applies, trained for a few steps on
Fixtures/trainset/val so that its predictions mean something (and are not all right). Its
class_indices.json names the 7 classes in an order that is not the folders' sorted order, so
matching by name is exercised; 4 of the 7 classes have no folder (support 0).

Writes Fixtures/evaluate/:
  model.pth            the weights (torch.save of the state_dict)
  class_indices.json   as the tutorial's train.py writes it
  expected.json        images (sorted, as read), labels, predictions, probabilities, unreadable
                       images, confusion_matrix, accuracy, top5_accuracy and scikit-learn's
                       classification_report(labels=range(7), output_dict=True)
"""
import json
import os

import sklearn
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, top_k_accuracy_score
from torchvision import transforms
from torchvision.models.resnet import BasicBlock

from gen_models import NarrowResNet

# Small cases scikit-learn scores, for the unit tests: (name, classes, y_true, y_pred).
CASES = [
    ("never_predicted", 3, [0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 0, 0]),        # class 2: precision 0
    ("support_zero", 5, [0, 1, 1, 0, 1, 0], [0, 1, 3, 3, 1, 0]),           # 3 predicted, never true; 2, 4 absent
    ("all_wrong", 3, [0, 1, 2, 0], [1, 2, 0, 2]),
    ("binary", 2, [0, 1, 1, 1, 0], [1, 1, 1, 0, 0]),
]
NAMES = ["sunflowers", "tulips", "cat", "roses", "dandelion", "daisy", "zebra"]
EXTENSIONS = (".jpg", ".jpeg", ".png")


def load(path, tf):
    return tf(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))


def folder(root):
    """ImageFolder's listing: sorted class folders, sorted image files (recursively)."""
    items = []
    for cls in sorted(d for d in os.listdir(root) if not d.startswith(".") and os.path.isdir(os.path.join(root, d))):
        for dirpath, _, files in sorted(os.walk(os.path.join(root, cls))):
            for name in sorted(files):
                if not name.startswith(".") and name.lower().endswith(EXTENSIONS):
                    items.append((os.path.join(dirpath, name), cls))
    return sorted(items)


def main(fixtures_dir):
    out = os.path.join(fixtures_dir, "evaluate")
    os.makedirs(out, exist_ok=True)
    tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                             transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    with open(os.path.join(out, "class_indices.json"), "w") as f:
        f.write(json.dumps({str(i): n for i, n in enumerate(NAMES)}, indent=4))

    torch.manual_seed(7)
    model = NarrowResNet(BasicBlock, [1, 1, 1, 1], [4, 8, 8, 16], len(NAMES))
    # A few steps on val/ (12 images), so that train/ is scored by a model that learned something.
    trainset = folder(os.path.join(fixtures_dir, "trainset", "val"))
    x = torch.stack([load(p, tf) for p, _ in trainset])
    y = torch.tensor([NAMES.index(c) for _, c in trainset])
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    for _ in range(2):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    torch.save(model.state_dict(), os.path.join(out, "model.pth"))

    root = os.path.join(fixtures_dir, "trainset", "train")
    images, labels, probs, unreadable = [], [], [], []
    for path, cls in folder(root):
        rel = os.path.relpath(path, root)
        try:
            t = load(path, tf)
        except Exception:
            unreadable.append(rel)
            continue
        with torch.no_grad():
            p = torch.softmax(model(t.unsqueeze(0))[0], 0)
        images.append(rel)
        labels.append(NAMES.index(cls))
        probs.append(p)
    probs = torch.stack(probs)
    preds = torch.argmax(probs, 1).tolist()
    top2 = torch.topk(probs, 2, 1).values
    gap = float((top2[:, 0] - top2[:, 1]).min())
    print(f"   {len(images)} images, {len(unreadable)} unreadable, smallest top-1 margin {gap:.2e}")
    assert gap > 1e-4, "a near tie between classes: change the seed"
    labels_range = list(range(len(NAMES)))
    expected = {
        "sklearn_version": sklearn.__version__,
        "folder": "trainset/train",
        "classes": NAMES,
        "images": images,
        "unreadable": unreadable,
        "labels": labels,
        "predictions": preds,
        "probabilities": probs.tolist(),
        "confusion_matrix": confusion_matrix(labels, preds, labels=labels_range).tolist(),
        "accuracy": accuracy_score(labels, preds),
        "top5_accuracy": top_k_accuracy_score(labels, probs.numpy(), k=5, labels=labels_range),
        "top5_accuracy_torch": float((torch.topk(probs, 5, 1).indices == torch.tensor(labels)[:, None]).any(1).float().mean()),
        "report": classification_report(labels, preds, labels=labels_range, target_names=NAMES,
                                        output_dict=True, zero_division=0.0),
        "report_text": classification_report(labels, preds, labels=labels_range, target_names=NAMES,
                                             digits=4, zero_division=0.0),
    }
    expected["cases"] = {
        name: {"classes": n, "labels": t, "predictions": p,
               "confusion_matrix": confusion_matrix(t, p, labels=list(range(n))).tolist(),
               "report": classification_report(t, p, labels=list(range(n)), output_dict=True, zero_division=0.0),
               "report_text": classification_report(t, p, labels=list(range(n)), digits=4, zero_division=0.0)}
        for name, n, t, p in CASES}
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)


if __name__ == "__main__":
    main(os.path.dirname(os.path.abspath(__file__)))
