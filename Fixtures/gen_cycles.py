"""Fixtures/cycles/: pickles whose object graph holds itself, written by real torch.save.

torch.load(weights_only=True) reads each of them (the manifest records that it did): a dict or a
list that holds itself directly, or through another container, and a training checkpoint whose
dict holds itself around a real state dict. Graft must read them as torch does (the state dict
where there is one, a clear "no state dict" error where there is none), never trap or hang.
expected.json has, per file, torch's verdict and either the state dict's tensors (as in
checkpoints/expected.json) or the error category Graft gives.
"""
import json
import os
from collections import OrderedDict

import torch

from gen_checkpoints import entries, tsave


def main(fixtures_dir):
    out = os.path.join(fixtures_dir, "cycles")
    os.makedirs(out, exist_ok=True)
    manifest = {}
    torch.manual_seed(19)

    def P(name):
        return os.path.join(out, name)

    def record(name, fmt, sd=None, error=None, note=""):
        loaded = torch.load(P(name), weights_only=True)  # raises if torch cannot read it
        rec = {"format": fmt, "torch_weights_only": True, "note": note}
        if sd is not None:
            got = loaded["state_dict"]
            assert list(got.keys()) == list(sd.keys())
            for k in sd:
                assert torch.equal(got[k], sd[k]), k
            rec["container_key"] = "state_dict"
            rec["tensors"] = entries(sd)
        else:
            rec["error"] = error
        manifest[name] = rec
        return loaded

    d = {}
    d["a"] = d
    tsave(d, P("dict_holds_itself.pth"))
    got = record("dict_holds_itself.pth", "zip", error="no_state_dict", note="d = {}; d['a'] = d")
    assert got["a"] is got

    l = []
    l.append(l)
    tsave(l, P("list_holds_itself.pth"))
    got = record("list_holds_itself.pth", "zip", error="no_state_dict", note="l = []; l.append(l)")
    assert got[0] is got

    d = {}
    d["l"] = [d]
    tsave(d, P("dict_through_list.pth"))
    got = record("dict_through_list.pth", "zip", error="no_state_dict", note="d = {}; d['l'] = [d]")
    assert got["l"][0] is got

    l = []
    l.append({"d": l, "x": 1})
    tsave(l, P("list_through_dict.pth"))
    got = record("list_through_dict.pth", "zip", error="no_state_dict", note="l = []; l.append({'d': l, 'x': 1})")
    assert got[0]["d"] is got

    l = []
    for _ in range(3000):  # a cycle is not nesting: 3000 self-references are no deeper than one
        l.append(l)
    tsave(l, P("list_holds_itself_3000_times.pth"))
    record("list_holds_itself_3000_times.pth", "zip", error="no_state_dict", note="l.append(l) 3000 times")

    sd = OrderedDict()
    sd["conv.weight"] = torch.randn(4, 3, 3, 3)
    sd["bn.running_mean"] = torch.randn(4)
    sd["bn.num_batches_tracked"] = torch.tensor(7)
    sd["fc.weight"] = torch.randn(2, 4).half()
    for fmt, kw in (("zip", {}), ("legacy", {"_use_new_zipfile_serialization": False})):
        ckpt = {"epoch": 3, "state_dict": sd}
        ckpt["self"] = ckpt
        history = [{"epoch": 1}]
        history.append(history)
        history[0]["history"] = history
        ckpt["history"] = history
        name = f"checkpoint_holds_itself_{fmt}.pth"
        tsave(ckpt, P(name), **kw)
        got = record(name, fmt, sd=sd, note="{'epoch': 3, 'state_dict': sd, 'self': <itself>, 'history': <a list that holds itself>}")
        assert got["self"] is got and got["history"][1] is got["history"]

    with open(P("expected.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main(os.path.dirname(os.path.abspath(__file__)))
