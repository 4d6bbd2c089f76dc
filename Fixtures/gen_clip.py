"""Gradient clipping fixtures: what torch.nn.utils.clip_grad_norm_ does before an optimizer step.

Writes Fixtures/clip/expected.json: two parameters (a 4x3 weight, a bias of 5) with two steps'
fixed gradients; for each case (a max norm, an optimizer) the total norm clip_grad_norm_
returned, the gradients (the fixed ones, scaled for one case), the clipped gradients and the parameters after each step. One max norm lies above
the gradients' norms (the coefficient is clamped to 1: nothing changes).
"""
import json
import os

import torch

CASES = {
    "sgd_clip_0.5": (0.5, lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-4)),
    "adam_clip_0.5": (0.5, lambda ps: torch.optim.Adam(ps, lr=1e-3)),
    "sgd_clip_2": (2.0, lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0)),
    "sgd_clip_100": (100.0, lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9)),
    # Gradients x 0.005 (norms near 0.01): the 1e-6 in MAX / (norm + 1e-6) shows at 1e-4.
    "sgd_clip_tiny": (0.002, lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9)),
}
SCALES = {"sgd_clip_tiny": 0.005}


def main(fixtures_dir):
    out = os.path.join(fixtures_dir, "clip")
    os.makedirs(out, exist_ok=True)
    g = torch.Generator().manual_seed(11)
    init = {"w": torch.randn(4, 3, generator=g), "b": torch.randn(5, generator=g) * 0.01}
    grads = [{k: torch.randn(v.shape, generator=g) * s for k, v in init.items()} for s in (0.3, 1.5)]
    result = {"init": {k: v.flatten().tolist() for k, v in init.items()},
              "shapes": {k: list(v.shape) for k, v in init.items()},
              "grads": [{k: v.flatten().tolist() for k, v in gr.items()} for gr in grads], "cases": {}}
    for name, (max_norm, make) in CASES.items():
        ps = {k: torch.nn.Parameter(v.clone()) for k, v in init.items()}
        opt = make(list(ps.values()))
        steps = []
        for gr in grads:
            for k, p in ps.items():
                p.grad = gr[k].clone() * SCALES.get(name, 1.0)
            given = {k: p.grad.flatten().tolist() for k, p in ps.items()}
            norm = torch.nn.utils.clip_grad_norm_(list(ps.values()), max_norm)
            clipped = {k: p.grad.flatten().tolist() for k, p in ps.items()}
            opt.step()
            steps.append({"norm": norm.item(), "grads": given, "clipped": clipped,
                          "after": {k: p.detach().flatten().tolist() for k, p in ps.items()}})
        result["cases"][name] = {"max_norm": max_norm, "steps": steps}
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main(os.path.dirname(os.path.abspath(__file__)))
