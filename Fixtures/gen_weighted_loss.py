"""Class-weighted cross-entropy fixtures (`finetune --class-weights balanced`), from real torch and
scikit-learn:

  balanced    scikit-learn's compute_class_weight("balanced") for an imbalanced label list
              (n_samples / (n_classes * count_c)), the weights finetune computes on its training split
  cases       torch.nn.CrossEntropyLoss(weight=w, label_smoothing=s) with mean reduction on a small
              batch: the loss and its gradient with respect to the logits, with and without label
              smoothing (torch divides the weighted sum by the sum of the weights of the batch's
              targets, the smoothing term too)

Writes Fixtures/weighted_loss/expected.json.
"""
import json
import os

import numpy as np
import torch
from sklearn.utils.class_weight import compute_class_weight

CLASSES = 5


def main(fixtures_dir):
    out = os.path.join(fixtures_dir, "weighted_loss")
    os.makedirs(out, exist_ok=True)
    g = torch.Generator().manual_seed(24)
    # 40 training labels, 20 / 10 / 6 / 3 / 1 per class.
    train_labels = [0] * 20 + [1] * 10 + [2] * 6 + [3] * 3 + [4] * 1
    balanced = compute_class_weight("balanced", classes=np.arange(CLASSES), y=np.array(train_labels))
    result = {"train_labels": train_labels, "balanced": balanced.tolist(), "cases": []}
    weight = torch.tensor(balanced, dtype=torch.float32)
    for smoothing in (0.0, 0.1, 0.3):
        for labels in ([0, 3, 4, 1, 0, 0], [2, 2, 0, 4]):
            target = torch.tensor(labels)
            logits = (torch.randn(len(labels), CLASSES, generator=g) * 3).requires_grad_()
            loss = torch.nn.CrossEntropyLoss(weight=weight, label_smoothing=smoothing)(logits, target)
            loss.backward()
            result["cases"].append({"smoothing": smoothing, "weights": weight.tolist(), "logits": logits.detach().flatten().tolist(),
                                    "labels": labels, "loss": loss.item(), "grad": logits.grad.flatten().tolist()})
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main(os.path.dirname(os.path.abspath(__file__)))
