"""Optimizer and loss fixtures: what torch.optim and nn.CrossEntropyLoss compute.

Writes Fixtures/optim/expected.json: for a few parameters with fixed gradients, the values
after each of two steps of SGD (momentum, weight decay), SGD nesterov, Adam (with weight
decay, and without: finetune's default) and AdamW; and cross-entropy losses and logit gradients with and without smoothing.
"""
import json
import os

import torch

CASES = {
    "sgd": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-4),
    "sgd_nesterov": lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "sgd_plain": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0),
    "adam": lambda ps: torch.optim.Adam(ps, lr=1e-3, weight_decay=1e-4),
    "adam_plain": lambda ps: torch.optim.Adam(ps, lr=1e-3),
    "adamw": lambda ps: torch.optim.AdamW(ps, lr=1e-3, weight_decay=0.01),
}


def main(fixtures_dir):
    out = os.path.join(fixtures_dir, "optim")
    os.makedirs(out, exist_ok=True)
    g = torch.Generator().manual_seed(3)
    init = {"w": torch.randn(4, 3, generator=g), "b": torch.randn(5, generator=g) * 0.01}
    grads = [{k: torch.randn(v.shape, generator=g) * 0.3 for k, v in init.items()} for _ in range(2)]
    result = {"init": {k: v.flatten().tolist() for k, v in init.items()},
              "shapes": {k: list(v.shape) for k, v in init.items()},
              "grads": [{k: v.flatten().tolist() for k, v in gr.items()} for gr in grads], "steps": {}}
    for name, make in CASES.items():
        ps = {k: torch.nn.Parameter(v.clone()) for k, v in init.items()}
        opt = make(list(ps.values()))
        after = []
        for gr in grads:
            for k, p in ps.items():
                p.grad = gr[k].clone()
            opt.step()
            after.append({k: p.detach().flatten().tolist() for k, p in ps.items()})
        result["steps"][name] = after
    losses = []
    for smoothing in (0.0, 0.1):
        logits = (torch.randn(4, 5, generator=g) * 3).requires_grad_()
        labels = torch.tensor([0, 3, 4, 1])
        loss = torch.nn.CrossEntropyLoss(label_smoothing=smoothing)(logits, labels)
        loss.backward()
        losses.append({"smoothing": smoothing, "logits": logits.detach().flatten().tolist(), "labels": labels.tolist(),
                       "loss": loss.item(), "grad": logits.grad.flatten().tolist()})
    result["cross_entropy"] = losses
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main(os.path.dirname(os.path.abspath(__file__)))
