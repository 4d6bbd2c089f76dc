"""Fixtures/typed_views/: views of float16, bfloat16, int64 and float64 storages, with storage
offsets and strides (transposes, steps, columns, expands, channels_last), as torch.save writes
them in the zip and the legacy forms. checkpoints/views.pth has float32 views only, and a reader
that ignored the storage offset of a 2-byte or 8-byte storage passed it.

expected.json is in checkpoints/expected.json's form: each tensor's dtype, shape and the SHA-256
of its values made contiguous (what Graft's reader must produce), plus the offset and stride torch
saved, so a test can check that the fixture really exercises them.
"""
import json
import os
from collections import OrderedDict

import torch

from gen_checkpoints import entries, tsave


def views_of(dtype, gen):
    if dtype.is_floating_point:
        base = (torch.randn(48, generator=gen) * 100).to(dtype)
    else:
        base = torch.randint(-(2 ** 40), 2 ** 40, (48,), generator=gen, dtype=dtype)
    mat = base[:24].view(4, 6)
    name = str(dtype).replace("torch.", "")
    vw = OrderedDict()
    vw[f"{name}.base"] = base
    vw[f"{name}.offset"] = base[5:17].view(3, 4)                 # offset 5, stride (4, 1)
    vw[f"{name}.transposed"] = mat.t()                           # stride (1, 6)
    vw[f"{name}.column"] = mat[1:, 3]                            # offset 9, stride (6,)
    vw[f"{name}.step"] = base[7::5]                              # offset 7, stride (5,)
    vw[f"{name}.block"] = base.view(6, 8)[2:5, 3:7]              # offset 19, stride (8, 1)
    vw[f"{name}.expanded"] = base[11:14].expand(2, 3)            # offset 11, stride (0, 1)
    vw[f"{name}.channels_last"] = base[:36].view(1, 4, 3, 3).contiguous(memory_format=torch.channels_last)
    vw[f"{name}.scalar_view"] = base[13]                         # offset 13, shape ()
    return vw


def main(fixtures_dir):
    out = os.path.join(fixtures_dir, "typed_views")
    os.makedirs(out, exist_ok=True)
    gen = torch.Generator().manual_seed(21)
    sd = OrderedDict()
    for dt in (torch.float16, torch.bfloat16, torch.int64, torch.float64):
        sd.update(views_of(dt, gen))
    manifest = {}
    for name, fmt, kw in (("typed_views.pth", "zip", {}),
                          ("typed_views_legacy.pth", "legacy", {"_use_new_zipfile_serialization": False})):
        path = os.path.join(out, name)
        tsave(sd, path, **kw)
        loaded = torch.load(path, weights_only=True)
        assert list(loaded.keys()) == list(sd.keys())
        for k, v in sd.items():
            got = loaded[k]
            assert got.dtype == v.dtype and torch.equal(got, v), k
            assert got.storage_offset() == v.storage_offset() and got.stride() == v.stride(), k
        rec = {"format": fmt, "torch_weights_only": True, "tensors": entries(sd),
               "views": {k: {"offset": v.storage_offset(), "stride": list(v.stride())} for k, v in sd.items()}}
        manifest[name] = rec
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main(os.path.dirname(os.path.abspath(__file__)))
