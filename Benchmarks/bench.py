#!/usr/bin/env python3
"""`make bench`: Graft against PyTorch on this machine, in one run, with ratios.

Inference: resnet34, batch 32, 224x224, random weights: Graft f32 and bf16 (graft_bench) and
PyTorch (Benchmarks/bench_infer.py: inference_mode, 2 threads, NCHW and channels_last, bf16
autocast), images/s as medians of several timed runs. predict: one image, the whole process,
against the tutorial's predict.py. Training steps (full, last stage, fc only) when the
training benchmark is built. PyTorch parts run only where torch is importable (TORCH_PY).
Benchmarks are not tests: nothing here asserts a time.
"""
import os
import gzip
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".build", "release")
TORCH_PY = os.environ.get("TORCH_PY", "")
ENV = dict(os.environ, OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "passive"))


def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, env=ENV, cwd=ROOT).stdout


class Skipped(Exception):
    """A row this CPU cannot run (graft_bench and graft_train_bench exit 3 with the reason)."""


def run_graft(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, env=ENV, cwd=ROOT)
    if p.returncode == 3 and p.stdout.startswith("skipped:"):
        raise Skipped(p.stdout.strip()[len("skipped: "):])
    if p.returncode != 0:
        raise subprocess.CalledProcessError(p.returncode, cmd, p.stdout, p.stderr)
    return p.stdout


def cpu():
    """oneDNN's effective ISA (honours ONEDNN_MAX_CPU_ISA) and bf16 support, from graft_bench."""
    isa, _, bf16 = run([os.path.join(BIN, "graft_bench"), "--cpu"]).split()[1:4]
    return isa, bf16


def skipped_row(what, reason):
    return (what, "skipped", "-", "-", reason)


def images_per_second(line):
    m = re.search(r"median [0-9.]+ s/batch, ([0-9.]+) images/s", line)
    return float(m.group(1)) if m else None


def inference(rows):
    for precision in ("f32", "bf16"):
        what = f"inference resnet34 {precision}, batch 32"
        try:
            out = run_graft([os.path.join(BIN, "graft_bench"), "--arch", "resnet34", "--precision", precision, "--runs", "7"])
        except Skipped as e:
            rows.append(skipped_row(what, str(e)))
            continue
        graft = images_per_second(out)
        torch_best, torch_name = None, "-"
        if TORCH_PY:
            modes = "f32_nchw,f32_cl" if precision == "f32" else "bf16_nchw,bf16_cl"
            for line in run([TORCH_PY, "Benchmarks/bench_infer.py", "--runs", "7", "--modes", modes]).splitlines():
                v = images_per_second(line)
                if v and (torch_best is None or v > torch_best):
                    torch_best, torch_name = v, line.split(":")[0].replace("torch resnet34 ", "").replace(" batch 32 224x224", "")
        rows.append((what, f"{graft:.1f} images/s",
                     f"{torch_best:.1f} images/s ({torch_name})" if torch_best else "-",
                     f"{graft / torch_best:.2f}x" if torch_best else "-"))


def predict_process(rows):
    if not TORCH_PY:
        return
    with tempfile.TemporaryDirectory() as d:
        weights, indices, image = os.path.join(d, "resNet34.pth"), os.path.join(d, "class_indices.json"), os.path.join(d, "x.jpg")
        subprocess.run([TORCH_PY, "-c", f"""
import torch, torchvision, json
from PIL import Image
torch.manual_seed(0)
torch.save(torchvision.models.resnet34(num_classes=5).state_dict(), {weights!r})
open({indices!r}, 'w').write(json.dumps({{str(i): n for i, n in enumerate(['daisy', 'dandelion', 'roses', 'sunflowers', 'tulips'])}}, indent=4))
Image.effect_mandelbrot((500, 375), (-2, -1.2, 1, 1.2), 100).convert('RGB').save({image!r}, quality=90)
"""], check=True, env=ENV)

        def timed(cmd, n=5):
            times = []
            for _ in range(n):
                t0 = time.perf_counter()
                subprocess.run(cmd, check=True, capture_output=True, env=ENV, cwd=d)
                times.append(time.perf_counter() - t0)
            return statistics.median(times)

        g = timed([os.path.join(BIN, "predict"), image])
        t = timed([TORCH_PY, os.path.join(ROOT, "Benchmarks", "tutorial_predict.py"), image])
        rows.append(("predict one image, whole process", f"{g:.2f} s", f"{t:.2f} s (tutorial predict.py)", f"{t / g:.2f}x"))


def training(rows):
    exe = os.path.join(BIN, "graft_train_bench")
    if not os.path.exists(exe):
        return
    for policy, precision in (("all", "f32"), ("last", "f32"), ("fc", "f32"), ("all", "bf16")):
        what = f"train step resnet34 --train {policy} {precision}, batch 32"
        try:
            graft = images_per_second(run_graft([exe, "--train", policy, "--precision", precision]))
        except Skipped as e:
            rows.append(skipped_row(what, str(e)))
            continue
        torch_v = None
        if TORCH_PY:
            torch_v = images_per_second(run([TORCH_PY, "Benchmarks/bench_train.py", "--train", policy]
                                            + (["--bf16"] if precision == "bf16" else [])))
        rows.append((what, f"{graft:.1f} images/s",
                     f"{torch_v:.1f} images/s" if torch_v else "-", f"{graft / torch_v:.2f}x" if torch_v else "-"))


def fc_epochs(rows, epochs=3):
    """A whole `--train fc --no-augment` run on a small folder of flower-sized JPEGs (5 classes,
    40 train and 10 val images each, 500x375), resnet34 from a torch.save'd file: `finetune` as
    a process against the tutorial's loop with fc alone trainable (bench_fc_epochs.py; its time
    excludes Python's imports)."""
    if not TORCH_PY:
        return
    with tempfile.TemporaryDirectory() as d:
        weights = os.path.join(d, "resnet34.pth")
        subprocess.run([TORCH_PY, "-c", f"""
import os, torch, torchvision
from PIL import Image
torch.manual_seed(0)
torch.save(torchvision.models.resnet34().state_dict(), {weights!r})
for split, n in (("train", 40), ("val", 10)):
    for c in range(5):
        os.makedirs(os.path.join({d!r}, "data", split, f"class{{c}}"))
        for i in range(n):
            x0 = -2.2 + 0.1 * c + 0.01 * i
            img = Image.effect_mandelbrot((500, 375), (x0, -1.2, x0 + 3, 1.2), 20 + 5 * c).convert("RGB")
            img.save(os.path.join({d!r}, "data", split, f"class{{c}}", f"{{i:03d}}.jpg"), quality=90)
"""], check=True, env=ENV)
        data = os.path.join(d, "data")
        t0 = time.perf_counter()
        subprocess.run([os.path.join(BIN, "finetune"), "--weights", weights, "--classes", "5", "--train", "fc",
                        "--no-augment", "--epochs", str(epochs), "--output", os.path.join(d, "out.pth"),
                        "--class-indices", os.path.join(d, "ci.json"), "--metrics", os.path.join(d, "m.json"), data],
                       check=True, capture_output=True, env=ENV, cwd=d)
        graft = time.perf_counter() - t0
        out = run([TORCH_PY, "Benchmarks/bench_fc_epochs.py", data, weights, "5", "--epochs", str(epochs)])
        torch_t = float(re.search(r"total ([0-9.]+) s", out).group(1))
        rows.append((f"finetune --train fc --no-augment, {epochs} epochs, 250 images", f"{graft:.1f} s",
                     f"{torch_t:.1f} s", f"{torch_t / graft:.2f}x"))


def mpi_finetune(rows, runs=3, epochs=2):
    """Data-parallel finetune on this machine: `mpirun -np 2` (each rank bound to one core, so
    one thread each) against one process with 2 threads, on the same data with the same global
    batch (2 x 32 against 64): resnet18 from weights/ at 32x32 (--train all), 2000 Fashion-MNIST
    images. Throughput is the median over runs of each run's median epoch; the allreduce
    figures are rank 0's from metrics.json's "distributed" (the run with the median throughput):
    time waited for the reductions after backward, and communication that overlapped backward."""
    what = "finetune mpirun -np 2 x 1 thread / 1 process x 2 threads, resnet18 --train all 32x32, global batch 64"
    idx_src = "/usr/share/datasets/fashion-mnist"
    help_text = subprocess.run([os.path.join(BIN, "finetune"), "--help"], capture_output=True, text=True).stdout
    if "mpirun" not in help_text:
        rows.append(skipped_row(what, "this finetune has no data-parallel mode"))
        return
    if not os.path.isdir(idx_src) or not shutil.which("mpirun"):
        rows.append(skipped_row(what, "needs dataset-fashion-mnist (make demo installs it) and mpirun (openmpi-bin)"))
        return
    with tempfile.TemporaryDirectory() as d:
        idx = os.path.join(d, "idx")
        os.makedirs(idx)
        for f in os.listdir(idx_src):
            if f.endswith(".gz"):
                with gzip.open(os.path.join(idx_src, f)) as src, open(os.path.join(idx, f[:-3]), "wb") as dst:
                    shutil.copyfileobj(src, dst)
        run([os.path.join(BIN, "demo_data"), "--idx", idx, "--classes", "5,6,7,8,9", "--train-per-class", "400",
             "--val-per-class", "40", os.path.join(d, "data")])

        def finetune(prefix, batch):
            m = os.path.join(d, "m.json")
            run(prefix + [os.path.join(BIN, "finetune"), "--weights", os.path.join(ROOT, "weights", "fashion04-resnet18.pth"),
                          "--classes", "5", "--image-size", "32", "--resize", "32", "--epochs", str(epochs),
                          "--batch-size", str(batch), "--lr", "1e-3", "--no-augment", "--output", os.path.join(d, "o.pth"),
                          "--class-indices", os.path.join(d, "ci.json"), "--metrics", m, os.path.join(d, "data")])
            with open(m) as f:
                metrics = json.load(f)
            return statistics.median(e["images_per_second"] for e in metrics["epochs"]), metrics.get("distributed")

        mpirun = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "core", "-np", "2"]
        one, two = [], []
        for _ in range(runs):   # interleaved, so that both see the same moments of a shared machine
            one.append(finetune([], 64)[0])
            two.append(finetune(mpirun, 32))
    one_v = statistics.median(one)
    two_v, dist = sorted(two, key=lambda r: r[0])[len(two) // 2]
    if not dist:
        rows.append(skipped_row(what, "metrics.json has no \"distributed\" figures"))
        return
    steps = max(1, dist["steps"])
    wait, overlap = dist["allreduce_wait_seconds"], dist["allreduce_overlapped_seconds"]
    share = 100 * overlap / (wait + overlap) if wait + overlap > 0 else 0
    print(f"MPI row: {dist['allreduce_bytes_per_step'] / 1e6:.1f} MB allreduced per step in {dist['buckets']} buckets; "
          f"rank 0 over {steps} steps waited {1e3 * wait / steps:.1f} ms per step after backward, "
          f"{1e3 * overlap / steps:.1f} ms per step overlapped backward ({share:.0f}%); "
          f"images/s per run: -np 2 {', '.join(f'{v:.1f}' for v, _ in two)}; one process {', '.join(f'{v:.1f}' for v in one)}")
    rows.append((what, f"{two_v:.1f} / {one_v:.1f} images/s", "-", f"{two_v / one_v:.2f}x"))


def main():
    print("machine:", run(["sh", "-c", "nproc; uptime"]).replace("\n", " ").strip())
    model = run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"]).strip()
    isa, bf16 = cpu()
    print(f"CPU: {model}; oneDNN ISA: {isa} (ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA', 'unset')}); bf16: {bf16}")
    if not TORCH_PY:
        print("torch is not importable: Graft's figures only (set TORCH_PY to a python with torch)")
    rows = []
    inference(rows)
    predict_process(rows)
    training(rows)
    fc_epochs(rows)
    mpi_finetune(rows)
    header = ("what", "Graft", "PyTorch", "ratio", "ISA")
    rows = [r if len(r) == 5 else r + (isa,) for r in rows]
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(5)]
    for r in [header] + rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


if __name__ == "__main__":
    sys.exit(main())
