"""Fixtures/hostile/shared_modules.pth: a whole pickled model (torch.save(model)) in which
each of 40 levels holds the same child module twice. The pickle is small (the memo shares the
child), but state_dict() walks 2**40 paths: a reader must bound the walk, not only the depth.
torch itself would never finish `model.state_dict()` on it, so there are no expected keys."""
import os

import torch
from torch import nn


class Pair(nn.Module):
    def __init__(self, child):
        super().__init__()
        self.a = child
        self.b = child


def main(root):
    out = os.path.join(root, "hostile")
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    m = nn.Linear(2, 2)
    for _ in range(40):
        m = Pair(m)
    torch.save(m, os.path.join(out, "shared_modules.pth"))
