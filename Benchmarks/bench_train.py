"""PyTorch side of the training benchmark: one step (forward, cross-entropy, backward, Adam) of
torchvision's resnet34 with a new 5-way fc, batch 32, 224x224, 2 threads, for --train all
(everything trains), last (layer4 + fc) and fc (fc only); frozen batch norms in eval mode, as
Graft's default --frozen-bn eval. Channels_last and NCHW; the better is printed.

    ~/torchenv/bin/python Benchmarks/bench_train.py --train all [--batch 32] [--runs 5]
"""
import argparse
import statistics
import time

import torch
import torchvision


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", default="resnet34", help="a torchvision constructor; --train last and fc are resnet-only")
    p.add_argument("--train", default="all", choices=["all", "last", "fc"])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--bf16", action="store_true", help="under torch.autocast('cpu', torch.bfloat16)")
    p.add_argument("--formats", default="nchw,cl", help="nchw, cl (channels_last) or both: the better is printed")
    a = p.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    best = None
    formats = {"nchw": torch.contiguous_format, "cl": torch.channels_last}
    for fmt in (formats[f] for f in a.formats.split(",")):
        model = getattr(torchvision.models, a.arch)(num_classes=5)
        trains = {"all": lambda n: True, "last": lambda n: n.startswith(("layer4.", "fc.")), "fc": lambda n: n.startswith("fc.")}[a.train]
        for name, param in model.named_parameters():
            param.requires_grad = trains(name)
        model = model.to(memory_format=fmt).train()
        frozen = [m for n, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d) and not trains(n + ".weight")]
        opt = torch.optim.Adam([q for q in model.parameters() if q.requires_grad], lr=1e-4)
        x = torch.randn(a.batch, 3, a.size, a.size).contiguous(memory_format=fmt)
        y = torch.arange(a.batch) % 5
        loss_fn = torch.nn.CrossEntropyLoss()

        def step():
            t0 = time.perf_counter()
            for m in frozen:
                m.eval()
            opt.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
                out = model(x)
                # Inception V3's train-mode output: (logits, aux_logits), torchvision's recipe weights the aux 0.4.
                loss = loss_fn(out.logits, y) + 0.4 * loss_fn(out.aux_logits, y) if isinstance(out, tuple) else loss_fn(out, y)
            loss.backward()
            opt.step()
            return time.perf_counter() - t0

        step(); step()
        med = statistics.median(step() for _ in range(a.runs))
        if best is None or med < best[0]:
            best = (med, "channels_last" if fmt == torch.channels_last else "NCHW")
    med, name = best
    print(f"torch train {a.train} {a.arch} {name} batch {a.batch} {a.size}x{a.size}: median {med:.4f} s/batch, "
          f"{a.batch / med:.1f} images/s")


if __name__ == "__main__":
    main()
