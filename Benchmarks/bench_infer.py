"""PyTorch side of the inference benchmark: torchvision resnet (random weights), eval mode,
torch.inference_mode(), 2 threads. Prints images/s (median of timed runs after warm-up) for
NCHW, channels_last, and bf16 autocast (NCHW and channels_last), and the process CPU time per
batch (compare with OMP_WAIT_POLICY=passive on a machine shared with other work).

    ~/torchenv/bin/python Benchmarks/bench_infer.py [--arch resnet34] [--batch 32] [--size 224] [--runs 7]
"""
import argparse
import statistics
import time

import torch
import torchvision


def bench(model, x, runs, autocast=False):
    def once():
        c0, t0 = time.process_time(), time.perf_counter()
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            model(x)
        return time.perf_counter() - t0, time.process_time() - c0

    once(); once()
    results = [once() for _ in range(runs)]
    times = sorted(r[0] for r in results)
    cpu = min(r[1] for r in results)
    return statistics.median(times), times[0], cpu


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", default="resnet34")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--modes", default="f32_nchw,f32_cl,bf16_nchw,bf16_cl",
                   help="comma-separated subset of f32_nchw, f32_cl, bf16_nchw, bf16_cl")
    a = p.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = getattr(torchvision.models, a.arch)().eval()
    x = torch.randn(a.batch, 3, a.size, a.size)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, mkldnn {torch.backends.mkldnn.is_available()}")
    modes = {"f32_nchw": ("f32 NCHW", torch.contiguous_format, False),
             "f32_cl": ("f32 channels_last", torch.channels_last, False),
             "bf16_nchw": ("bf16 autocast NCHW", torch.contiguous_format, True),
             "bf16_cl": ("bf16 autocast channels_last", torch.channels_last, True)}
    for key in a.modes.split(","):
        name, fmt, ac = modes[key]
        m = model.to(memory_format=fmt)
        xi = x.contiguous(memory_format=fmt)
        med, best, cpu = bench(m, xi, a.runs, ac)
        print(f"torch {a.arch} {name} batch {a.batch} {a.size}x{a.size}: median {med:.4f} s/batch, "
              f"{a.batch / med:.1f} images/s (best {a.batch / best:.1f}, runs {a.runs}); "
              f"CPU {cpu:.2f} s/batch (min), {1000 * cpu / a.batch:.1f} core-ms/image")


if __name__ == "__main__":
    main()
