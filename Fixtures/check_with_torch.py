#!/usr/bin/env python3
"""Check a .pth written by Graft (or anything else) with real PyTorch.

Usage: check_with_torch.py WRITTEN.pth [REFERENCE.pth]

* Loads WRITTEN with torch.load(weights_only=True) and prints every key, dtype and shape.
* With REFERENCE (loaded with weights_only=False, so tar-format or legacy references work),
  checks that the keys (in order), dtypes, shapes and values are bit-identical (compared as
  raw bytes, so NaN payloads and -0.0 count) and that every `num_batches_tracked` is int64.
  A reference wrapped in a training checkpoint ({'state_dict': ...} etc.) or carrying a
  `module.`/`_orig_mod.` prefix is unwrapped the same way on both sides.
* If the state dict looks like a torchvision ResNet (fc.weight present), tries
  torchvision.models.resnetNN(num_classes=N).load_state_dict(sd, strict=True) for the
  layout that matches (blocks per stage, BasicBlock or Bottleneck) and reports the result.
  Narrow (non-standard width) fixtures fail strict loading on shapes; that is reported
  but is not an error.
Exit status 1 on any difference or load failure.
"""
import collections
import re
import sys

import torch

CONTAINER_KEYS = ("state_dict", "model_state_dict", "model", "net", "module", "ema", "model_ema")
PREFIXES = ("module.", "_orig_mod.")


def tensor_bytes(t):
    t = t.detach().cpu().contiguous()
    if t.dim() == 0:
        t = t.reshape(1)
    return t.view(torch.uint8).numpy().tobytes()


def as_state_dict(obj):
    """Unwrap a checkpoint container and strip a DataParallel / torch.compile prefix."""
    notes = []
    if isinstance(obj, dict) and not all(isinstance(v, torch.Tensor) for v in obj.values()):
        for key in CONTAINER_KEYS:
            if isinstance(obj.get(key), dict):
                notes.append(f"container key {key!r}")
                obj = obj[key]
                break
    if not isinstance(obj, dict):
        raise SystemExit(f"not a dict of tensors: {type(obj).__name__}")
    for prefix in PREFIXES:
        if obj and all(isinstance(k, str) and k.startswith(prefix) for k in obj):
            notes.append(f"prefix {prefix!r} removed")
            obj = collections.OrderedDict((k[len(prefix):], v) for k, v in obj.items())
    return obj, notes


def describe(sd):
    for k, v in sd.items():
        if isinstance(v, torch.Tensor):
            print(f"  {k:50s} {str(v.dtype).replace('torch.', ''):9s} {list(v.shape)}")
        else:
            print(f"  {k:50s} (not a tensor: {type(v).__name__})")


def resnet_layout(sd):
    """(torchvision function name, num_classes) if sd looks like a torchvision ResNet."""
    if "fc.weight" not in sd:
        return None
    blocks = []
    for stage in range(1, 5):
        idx = {int(m.group(1)) for k in sd for m in [re.match(rf"layer{stage}\.(\d+)\.", k)] if m}
        blocks.append(max(idx) + 1 if idx else 0)
    bottleneck = any(k.endswith(".conv3.weight") for k in sd)
    table = {
        (False, (2, 2, 2, 2)): "resnet18", (False, (3, 4, 6, 3)): "resnet34",
        (True, (3, 4, 6, 3)): "resnet50", (True, (3, 4, 23, 3)): "resnet101",
        (True, (3, 8, 36, 3)): "resnet152",
    }
    name = table.get((bottleneck, tuple(blocks)))
    return name, int(sd["fc.weight"].shape[0]), blocks, bottleneck


def try_torchvision(sd):
    layout = resnet_layout(sd)
    if layout is None:
        return
    name, n, blocks, bottleneck = layout
    kind = "Bottleneck" if bottleneck else "BasicBlock"
    if name is None:
        print(f"torchvision: fc.weight present but blocks {blocks} ({kind}) match no torchvision resnet")
        return
    try:
        import torchvision
    except ImportError:
        print(f"torchvision: not installed; layout looks like {name}(num_classes={n})")
        return
    model = getattr(torchvision.models, name)(weights=None, num_classes=n)
    try:
        model.load_state_dict(sd, strict=True)
        print(f"torchvision: {name}(num_classes={n}).load_state_dict(strict=True) OK")
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        missing = [k for k in model.state_dict() if k not in sd]
        extra = [k for k in sd if k not in model.state_dict()]
        shape = [k for k in sd if k in model.state_dict() and model.state_dict()[k].shape != sd[k].shape]
        print(f"torchvision: {name}(num_classes={n}) strict load failed: "
              f"{len(missing)} missing, {len(extra)} unexpected, {len(shape)} shape mismatches "
              f"(narrow test model?); {first[0][:200] if first else ''}")
        if missing and all(k.endswith("num_batches_tracked") for k in missing) and not shape:
            print("  (only num_batches_tracked missing: fine for pre-0.4 weights)")


def compare(written, reference):
    errors = []
    wk, rk = list(written.keys()), list(reference.keys())
    if wk != rk:
        errors.append(f"keys differ: {len(wk)} written vs {len(rk)} reference")
        sw, sr = set(wk), set(rk)
        for k in [k for k in rk if k not in sw][:10]:
            errors.append(f"  missing in written: {k}")
        for k in [k for k in wk if k not in sr][:10]:
            errors.append(f"  extra in written: {k}")
        if sw == sr:
            first = next(i for i, (a, b) in enumerate(zip(wk, rk)) if a != b)
            errors.append(f"  same key set, order differs first at index {first}: "
                          f"{wk[first]!r} vs {rk[first]!r}")
    for k in rk:
        if k not in written:
            continue
        a, b = written[k], reference[k]
        if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
            if type(a) is not type(b) or (not isinstance(a, torch.Tensor) and a != b):
                errors.append(f"{k}: non-tensor values differ ({type(a).__name__} vs {type(b).__name__})")
            continue
        if a.dtype != b.dtype:
            errors.append(f"{k}: dtype {a.dtype} vs {b.dtype}")
        elif tuple(a.shape) != tuple(b.shape):
            errors.append(f"{k}: shape {list(a.shape)} vs {list(b.shape)}")
        elif tensor_bytes(a) != tensor_bytes(b):
            diff = "bytes differ"
            if a.is_floating_point():
                af, bf = a.double(), b.double()
                both = torch.isfinite(af) & torch.isfinite(bf)
                if both.any():
                    diff += f", max |diff| {float((af - bf)[both].abs().max()):.3g}"
            errors.append(f"{k}: values differ ({diff})")
    for k, v in written.items():
        if k.endswith("num_batches_tracked") and isinstance(v, torch.Tensor) and v.dtype != torch.int64:
            errors.append(f"{k}: num_batches_tracked is {v.dtype}, expected int64")
    return errors


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    path = argv[1]
    try:
        obj = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:
        print(f"FAIL: torch.load({path!r}, weights_only=True): {type(e).__name__}: {e}")
        return 1
    sd, notes = as_state_dict(obj)
    print(f"{path}: {len(sd)} entries" + (f" ({'; '.join(notes)})" if notes else ""))
    describe(sd)
    status = 0
    for k, v in sd.items():
        if k.endswith("num_batches_tracked") and isinstance(v, torch.Tensor) and v.dtype != torch.int64:
            print(f"FAIL: {k} is {v.dtype}, expected int64")
            status = 1
    if len(argv) == 3:
        ref_obj = torch.load(argv[2], weights_only=False, map_location="cpu")
        ref, ref_notes = as_state_dict(ref_obj)
        errors = compare(sd, ref)
        if errors:
            print(f"FAIL: {len(errors)} difference(s) against {argv[2]}:")
            for e in errors[:50]:
                print("  " + e)
            status = 1
        else:
            print(f"OK: {len(ref)} entries bit-identical to {argv[2]} (keys, order, dtypes, shapes, values)")
    try_torchvision(sd)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
