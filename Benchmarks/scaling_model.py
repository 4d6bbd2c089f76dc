#!/usr/bin/env python3
"""The README's scaling figures for data-parallel finetune, computed (pure Python, no torch).

    python3 Benchmarks/scaling_model.py                       # every table, markdown
    python3 Benchmarks/scaling_model.py --image-time 0.12     # seconds per image per process, measured
    python3 Benchmarks/scaling_model.py --check-torch         # parameter counts against torchvision

What is reduced: the gradient of every trainable parameter, float32, once per step (averaged
over the ranks by allreduce). Trainable: every conv weight, every batch norm weight and bias,
and the head (fc weight and bias, here for 5 classes) under --train all; layer4 and the head
under --train last (--last-stages 1); the head alone under --train fc. Batch norm running
statistics are buffers, not gradients: they are not reduced (--sync-bn adds the small
per-layer reductions counted separately).

The model (every assumption is a parameter below):
- Ring allreduce of B bytes over N nodes: each node sends and receives 2(N-1)/N x B, and each
  of the 2(N-1) steps pays a latency alpha: T = 2(N-1)/N x B / bw + 2(N-1) x alpha x buckets.
  bw is the payload rate: the line rate times `efficiency` (TCP/IP over Ethernet: 0.9).
- Gradients are reduced in buckets of 25 MB (DDP's default), each started when backward has
  produced its last gradient. Buckets fill from the head backwards, so the last one (the
  first layers) starts only when backward ends: its time is never hidden. The rest overlap
  backward, which takes 2/3 of the step's compute (backward costs about twice forward).
  Exposed communication = max(T(last bucket), T(all) - backward time).
- Step time = compute + exposed communication; compute per process grows with the
  per-process batch b (compute = b x image time). Efficiency = compute / step time: the
  throughput of N nodes over N times one node's.
"""
import argparse
import math

MB = 1e6
BUCKET = 25 * MB
CLASSES = 5
ARCHS = {  # torchvision: block, blocks per stage
    "resnet18": ("basic", [2, 2, 2, 2]),
    "resnet34": ("basic", [3, 4, 6, 3]),
    "resnet50": ("bottleneck", [3, 4, 6, 3]),
}
TORCHVISION_1000 = {"resnet18": 11689512, "resnet34": 21797672, "resnet50": 25557032}


def parameters(arch, classes=CLASSES):
    """(name, trainable parameter count, batch norm channels) per top-level module, in
    torchvision's order: conv1+bn1, layer1..layer4, fc."""
    block, counts = ARCHS[arch]
    expansion = 1 if block == "basic" else 4
    modules = [("stem", 3 * 64 * 49 + 2 * 64, 64)]
    inplanes = 64
    for stage, (planes, n) in enumerate(zip([64, 128, 256, 512], counts)):
        params = channels = 0
        for i in range(n):
            stride = 2 if stage > 0 and i == 0 else 1
            if block == "basic":
                convs = [(inplanes, planes, 9), (planes, planes, 9)]
            else:
                convs = [(inplanes, planes, 1), (planes, planes, 9), (planes, planes * expansion, 1)]
            if stride != 1 or inplanes != planes * expansion:
                convs.append((inplanes, planes * expansion, 1))   # downsample conv + bn
            for cin, cout, k in convs:
                params += cin * cout * k + 2 * cout               # conv weight (no bias), bn weight + bias
                channels += cout
            inplanes = planes * expansion
        modules.append((f"layer{stage + 1}", params, channels))
    modules.append(("fc", inplanes * classes + classes, 0))
    return modules


def trainable(arch, policy, classes=CLASSES):
    """Trainable parameters and the batch norm channels that train under `policy`."""
    mods = parameters(arch, classes)
    keep = {"all": lambda n: True, "last": lambda n: n in ("layer4", "fc"), "fc": lambda n: n == "fc"}[policy]
    chosen = [m for m in mods if keep(m[0])]
    return sum(m[1] for m in chosen), sum(m[2] for m in chosen)


def buckets(nbytes):
    """Bucket sizes, filled from the head backwards: the last one holds the remainder."""
    full = int(nbytes // BUCKET)
    rest = nbytes - full * BUCKET
    return [BUCKET] * full + ([rest] if rest > 0 else [])


def ring_time(nbytes, nodes, gbps, alpha, efficiency, calls=1):
    if nodes < 2:
        return 0.0
    bw = gbps * 1e9 / 8 * efficiency
    return 2 * (nodes - 1) / nodes * nbytes / bw + 2 * (nodes - 1) * alpha * calls


def exposed(nbytes, nodes, gbps, compute, a):
    parts = buckets(nbytes)
    total = sum(ring_time(b, nodes, gbps, a.alpha, a.efficiency) for b in parts)
    last = ring_time(parts[-1], nodes, gbps, a.alpha, a.efficiency) if parts else 0.0
    return max(last, total - a.backward_share * compute)


def fmt_bytes(n):
    return f"{n / 1e3:.1f} KB" if n < MB else f"{n / MB:.1f} MB"


def fmt_time(t):
    return f"{t * 1e6:.0f} µs" if t < 1e-3 else f"{t * 1e3:.1f} ms" if t < 1 else f"{t:.2f} s"


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--alpha", type=float, default=20e-6, help="latency per ring step, seconds (TCP over Ethernet: 20 µs)")
    p.add_argument("--efficiency", type=float, default=0.9, help="payload rate / line rate")
    p.add_argument("--backward-share", type=float, default=2 / 3, help="backward's share of a step's compute")
    p.add_argument("--image-time", type=float, default=1 / 8.3,
                   help="resnet34 --train all f32 compute seconds per image per process (this README's bench: 8.3 images/s on 2 cores)")
    p.add_argument("--batch", type=int, default=32, help="per-process batch (--batch-size)")
    p.add_argument("--global-batch", type=int, default=256, help="fixed global batch for the strong-scaling table")
    p.add_argument("--check-torch", action="store_true", help="compare the parameter counts with torchvision's")
    a = p.parse_args()

    for arch, n in TORCHVISION_1000.items():
        assert trainable(arch, "all", 1000)[0] == n, (arch, trainable(arch, "all", 1000)[0], n)
    if a.check_torch:
        import torchvision
        for arch in ARCHS:
            m = getattr(torchvision.models, arch)(num_classes=CLASSES)
            want = {"all": lambda k: True, "last": lambda k: k.startswith(("layer4.", "fc.")), "fc": lambda k: k.startswith("fc.")}
            for policy, keep in want.items():
                n = sum(t.numel() for k, t in m.named_parameters() if keep(k))
                assert n == trainable(arch, policy)[0], (arch, policy, n)
        print("parameter counts match torchvision's named_parameters()")

    bws = [10, 25, 100]
    print(f"## Bytes allreduced per step (float32 gradients, {CLASSES} classes)\n")
    rows = []
    for arch in ARCHS:
        for policy in ("all", "last", "fc"):
            params, channels = trainable(arch, policy)
            nbytes = 4 * params
            sync = 4 * 4 * channels   # --sync-bn: sum and sum of squares forward, two sums backward
            rows.append((arch, f"--train {policy}", f"{params:,}", fmt_bytes(nbytes), len(buckets(nbytes)),
                         fmt_bytes(sync) if channels else "-"))
    print(table(["model", "policy", "trainable parameters", "bytes per step", "25 MB buckets", "--sync-bn adds"], rows))

    print(f"\n## Ring allreduce time per step (alpha {a.alpha * 1e6:.0f} µs, {a.efficiency:.0%} of line rate)\n")
    rows = []
    for arch in ARCHS:
        for policy in ("all", "last", "fc"):
            nbytes = 4 * trainable(arch, policy)[0]
            calls = len(buckets(nbytes))
            cells = []
            for gbps in bws:
                cells.append(f"{fmt_time(ring_time(nbytes, 2, gbps, a.alpha, a.efficiency, calls))} / "
                             f"{fmt_time(ring_time(nbytes, 64, gbps, a.alpha, a.efficiency, calls))}")
            rows.append((arch, f"--train {policy}", *cells))
    print(table(["model", "policy"] + [f"{g} Gb/s: 2 / 64 nodes" for g in bws], rows))

    nodes = [2, 4, 8, 16, 32, 64]
    for label, image_time in ((f"this machine's measured compute ({1 / a.image_time:.1f} images/s per process)", a.image_time),
                              ("a node 16x faster (e.g. 32 cores of the same CPU)", a.image_time / 16)):
        compute = a.batch * image_time
        nbytes = 4 * trainable("resnet34", "all")[0]
        print(f"\n## resnet34 --train all, batch {a.batch} per process, {label}: compute {fmt_time(compute)} per step\n")
        rows = []
        for gbps in bws:
            cells = []
            for n in nodes:
                e = exposed(nbytes, n, gbps, compute, a)
                cells.append(f"{compute / (compute + e):.0%}")
            rows.append((f"{gbps} Gb/s", *cells))
        print(table(["efficiency"] + [f"{n} nodes" for n in nodes], rows))

    print(f"\n## Fixed global batch {a.global_batch} (strong scaling: per-process batch = {a.global_batch}/N), resnet34 --train all\n")
    rows = []
    for label, image_time in (("measured here", a.image_time), ("16x faster node", a.image_time / 16)):
        for gbps in bws:
            cells = []
            for n in nodes:
                b = a.global_batch / n
                compute = b * image_time
                e = exposed(4 * trainable("resnet34", "all")[0], n, gbps, compute, a)
                cells.append(f"{compute / (compute + e):.0%} (b {b:g})")
            rows.append((label, f"{gbps} Gb/s", *cells))
    print(table(["compute", "network"] + [f"{n} nodes" for n in nodes], rows))

    # Where bandwidth becomes the limit: the per-process batch below which exposed
    # communication exceeds 10 % of compute (efficiency under 91 %), at 64 nodes.
    print("\n## Smallest per-process batch for 90 % efficiency at 64 nodes, resnet34 --train all\n")
    rows = []
    for label, image_time in (("measured here", a.image_time), ("16x faster node", a.image_time / 16)):
        cells = []
        for gbps in bws:
            b = next((b for b in range(1, 4097) if b * image_time / (b * image_time + exposed(
                4 * trainable("resnet34", "all")[0], 64, gbps, b * image_time, a)) >= 0.9), None)
            cells.append(f"{b}" if b else "> 4096")
        rows.append((label, *cells))
    print(table(["compute"] + [f"{g} Gb/s" for g in bws], rows))


if __name__ == "__main__":
    main()
