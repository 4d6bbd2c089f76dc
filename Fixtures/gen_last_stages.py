"""Fixtures/training/<model>/last{2,3,4}_bn_eval/: `--train last --last-stages N` for N = 2, 3, 4
(N = 1 is the training part's last_bn_eval), as train steps of real PyTorch in gen_training's
format. Each starts from the model's committed initial.pth, input.bin and head_init.bin, so
this part adds cases without touching what the training part wrote; it appends the cases to
meta.json's list once.
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_training  # noqa: E402
from gen_training import MODELS, run_case  # noqa: E402

STAGES = ("layer1.", "layer2.", "layer3.", "layer4.")


def main(fixtures_dir):
    torch.set_num_threads(2)
    for n in (2, 3, 4):
        trained = STAGES[4 - n:] + ("fc.",)
        gen_training.POLICIES[f"last{n}"] = lambda name, trained=trained: name.startswith(trained)
    for name, block, layers, widths, groups, wpg, batch, h, w, classes in MODELS:
        if name == "resnext":
            continue
        d = os.path.join(fixtures_dir, "training", name)
        with open(os.path.join(d, "meta.json")) as f:
            meta = json.load(f)
        state = torch.load(os.path.join(d, "initial.pth"), weights_only=True)
        x = torch.from_numpy(np.fromfile(os.path.join(d, "input.bin"), dtype="<f4").reshape(batch, 3, h, w))
        labels = torch.tensor(meta["labels"])
        with open(os.path.join(d, "head_init.bin.json")) as f:
            index = {e["name"]: e for e in json.load(f)}
        raw = np.fromfile(os.path.join(d, "head_init.bin"), dtype="<f4")

        def tensor(key):
            e = index[key]
            count = int(np.prod(e["shape"]))
            start = e["offset"] // 4
            return torch.from_numpy(raw[start:start + count].copy()).reshape(e["shape"])

        head = (tensor("fc.weight"), tensor("fc.bias"))
        base = {"block": block, "layers": layers, "widths": widths, "groups": groups, "wpg": wpg, "state": state}
        for n in (2, 3, 4):
            case = f"last{n}_bn_eval"
            run_case(os.path.join(d, case), base, head, x, labels, f"last{n}", "eval")
            if case not in meta["cases"]:
                meta["cases"].append(case)
        with open(os.path.join(d, "meta.json"), "w") as f:
            json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main(os.path.dirname(os.path.abspath(__file__)))
