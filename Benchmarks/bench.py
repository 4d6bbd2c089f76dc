#!/usr/bin/env python3
"""`make bench`: Graft against PyTorch on this machine, in one run, with ratios.

Inference: resnet34, batch 32, 224x224, random weights: Graft f32 and bf16 (graft_bench) and
PyTorch (Benchmarks/bench_infer.py: inference_mode, 2 threads, NCHW and channels_last, bf16
autocast), images/s as medians of several timed runs. predict: one image, the whole process,
against the tutorial's predict.py. Training steps (full, last stage, fc only) when the
training benchmark is built. batch_predict: 64 JPEGs, the whole process, against the
tutorial's batch_predict.py. Memory: peak RSS of a process running full resnet34 training steps.
PyTorch parts run only where torch is importable (TORCH_PY).

Every row also gives GFLOP/s (resnet34's convolution and fc arithmetic, counted from the
architecture: 7.3 GFLOP per image forward; a training step adds backward-data and
backward-weights of the layers that train), that figure as a fraction of this CPU's measured
peak (`graft_bench --roofline`: one 128->128 3x3 conv at batch 32, 28x28, on oneDNN's best
kernel, timed at startup, f32 and bf16), and the ISA oneDNN ran. Winograd rows can pass the
peak: it does fewer multiplications than the arithmetic counted.

Training rows alternate Graft and PyTorch for BENCH_ROUNDS rounds (default 3): a shared
machine's slow moments then fall on both sides. BENCH_ROWS=inference,training,... runs only
the rows named (inference, vgg, families, predict, batch_predict, training, memory, fc_epochs,
mpi, anchors). families (issue 21): each MobileNet, efficientnet_b0, efficientnet_v2_s, regnet_y_400mf, densenet121, convnext_tiny and inception_v3 (at 299)
(BENCH_FAMILIES=a,b for some) at batch 32, inference f32 and bf16 and a full
training step, against PyTorch's better layout. anchors (issue 22): resnet18/34/50 at batch 32 and 1 in f32 (direct, and --conv auto as
batch_predict runs), bf16 and int8, Graft
against ONNX Runtime and OpenVINO (Benchmarks/bench_onnx.py, in TORCH_PY's venv), the fastest
named per row; int8 rows have no "of peak" (the roofline is f32 and bf16 only).
GRAFT_BEFORE_BIN=<folder of an older build's binaries> adds the older Graft's figure to every
Graft row (same moment, same PyTorch), and the ratio of the two.
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
BEFORE = os.environ.get("GRAFT_BEFORE_BIN", "")


def resnet_gflop(blocks=(3, 4, 6, 3), image=224, classes=1000):
    """GFLOP (2 per multiply-add) per image of a BasicBlock ResNet (resnet34 by default) at
    image x image, forward: total and per stage."""
    stages = {}
    stem = image // 2
    stages["stem"] = 2 * stem * stem * 64 * 3 * 49
    inp = 64
    size = stem // 2
    for i, (width, n) in enumerate(zip((64, 128, 256, 512), blocks)):
        f = 0
        for b in range(n):
            stride = 2 if (i > 0 and b == 0) else 1
            out = max(1, size // stride)
            f += 2 * out * out * width * inp * 9 + 2 * out * out * width * width * 9
            if stride == 2 or inp != width:
                f += 2 * out * out * width * inp
            inp, size = width, out
        stages[f"layer{i + 1}"] = f
    stages["fc"] = 2 * 512 * classes
    return sum(stages.values()) / 1e9, {k: v / 1e9 for k, v in stages.items()}


FORWARD_GFLOP, STAGE_GFLOP = resnet_gflop()


def train_gflop(policy, forward=FORWARD_GFLOP, stages=STAGE_GFLOP):
    """A training step's GFLOP per image: forward, then backward-weights and backward-data of the
    layers that train (the lowest trainable layer's input gradient is not computed)."""
    if policy == "all":
        return forward + 2 * (forward - stages["fc"]) - stages["stem"]
    if policy == "last":
        return forward + 2 * stages["layer4"]
    return forward


def run(cmd, env=None):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, env=env or ENV, cwd=ROOT).stdout


class Skipped(Exception):
    """A row this CPU cannot run (graft_bench and graft_train_bench exit 3 with the reason)."""


def run_graft(cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env or ENV, cwd=ROOT)
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
    # The refusal's first sentence (what the CPU lacks): the rest would widen the table's column.
    first = reason.split(" (")[0].split("; ")[0].split(". ")[0]
    return {"what": what, "graft": "skipped", "isa": first}


PEAK = {}  # precision -> GFLOP/s of the roofline conv


def roofline(precision):
    try:
        out = run_graft([os.path.join(BIN, "graft_bench"), "--roofline", "--precision", precision])
    except Skipped:
        return None
    return float(out.split()[2])


def row(what, graft, torch=None, ratio=None, gflop=None, seconds=None, precision="f32", before=None, unit=""):
    """A table row; `gflop` done in `seconds` gives GFLOP/s and the fraction of the peak."""
    r = {"what": what, "graft": graft, "torch": torch or "-", "ratio": ratio or "-"}
    if gflop and seconds:
        rate = gflop / seconds
        r["gflops"] = f"{rate:.0f}"
        if PEAK.get(precision):
            r["peak"] = f"{100 * rate / PEAK[precision]:.0f} %"
    if before is not None:
        r["before"] = before
    return r


def images_per_second(line):
    m = re.search(r"median [0-9.]+ s/batch, ([0-9.]+) images/s", line)
    return float(m.group(1)) if m else None


TORCH_INFERENCE = {}  # precision -> (images/s, mode): PyTorch runs once per precision


def inference(rows):
    for precision, conv in (("f32", "direct"), ("f32", "auto"), ("bf16", "direct")):
        what = f"inference resnet34 {precision}, batch 32" + (f" --conv {conv} (batch_predict's default)" if conv == "auto" else "")
        try:
            out = run_graft([os.path.join(BIN, "graft_bench"), "--arch", "resnet34", "--precision", precision, "--runs", "7",
                             "--conv", conv])
        except Skipped as e:
            rows.append(skipped_row(what, str(e)))
            continue
        graft = images_per_second(out)
        before = None
        if BEFORE:
            before = images_per_second(run_graft([os.path.join(BEFORE, "graft_bench"), "--arch", "resnet34",
                                                  "--precision", precision, "--runs", "7", "--conv", conv]))
        torch_best, torch_name = TORCH_INFERENCE.get(precision, (None, "-"))
        if TORCH_PY and torch_best is None:
            modes = "f32_nchw,f32_cl" if precision == "f32" else "bf16_nchw,bf16_cl"
            for line in run([TORCH_PY, "Benchmarks/bench_infer.py", "--runs", "7", "--modes", modes]).splitlines():
                v = images_per_second(line)
                if v and (torch_best is None or v > torch_best):
                    torch_best, torch_name = v, line.split(":")[0].replace("torch resnet34 ", "").replace(" batch 32 224x224", "")
            TORCH_INFERENCE[precision] = (torch_best, torch_name)
        rows.append(row(what, f"{graft:.1f} images/s",
                        f"{torch_best:.1f} images/s ({torch_name})" if torch_best else None,
                        f"{graft / torch_best:.2f}x" if torch_best else None,
                        gflop=FORWARD_GFLOP, seconds=1 / graft, precision=precision,
                        before=(f"{before:.1f} images/s", graft / before) if before else None))


VGG16_GFLOP = 30.94  # vgg16's conv and classifier arithmetic per 224x224 image, forward (2 per multiply-add)

# GFLOP per 224x224 image, forward (2 per multiply-add): torchvision's 1.81/3.66/4.09 GMACs.
ANCHOR_GFLOP = {"resnet18": 3.63, "resnet34": 7.33, "resnet50": 8.18}


def anchors(rows):
    """Issue 22's anchors: resnet18/34/50 at batch 32 and 1, f32, bf16 and int8, Graft
    (graft_bench, int8 calibrated on its own images) against ONNX Runtime and OpenVINO
    (Benchmarks/bench_onnx.py: the same architectures exported by torch.onnx.export, int8 by
    ONNX Runtime's quantize_static, QDQ, per-channel, run in both), 2 threads each; the fastest
    named per row. Columns are skipped with the reason where a runtime is missing."""
    onnx = {}
    for arch in os.environ.get("BENCH_ANCHOR_ARCHS", "resnet18,resnet34,resnet50").split(","):
        for batch in (32, 1):
            runs = "5" if batch == 32 else "20"
            if TORCH_PY:
                try:
                    out = run([TORCH_PY, "Benchmarks/bench_onnx.py", "--arch", arch, "--batch", str(batch), "--runs", runs])
                except subprocess.CalledProcessError as e:
                    out = "\n".join(f"{m} skipped: bench_onnx.py failed ({e.returncode})" for m in ("ort_f32", "ov_f32", "ov_bf16", "ort_int8", "ov_int8"))
                for line in out.splitlines():
                    mode = line.split(" ")[0]
                    onnx[(arch, batch, mode)] = images_per_second(line) or line.split("skipped: ", 1)[-1]
            # "f32 auto": what batch_predict and evaluate run by default (--conv auto: Winograd where
            # it measures faster), against the same f32 runtimes as the direct row.
            for label in ("f32", "f32 auto", "bf16", "int8"):
                precision = label.split()[0]
                what = f"{arch} {label}, batch {batch}"
                conv = ["--conv", "auto"] if label.endswith("auto") else []
                try:
                    # As a user runs it: OpenMP's default wait policy, not the passive one the
                    # PyTorch rows share (ONNX Runtime's and OpenVINO's own thread pools spin;
                    # passive cost Graft's batch-1 int8 resnet18 40 % here).
                    out = run_graft([os.path.join(BIN, "graft_bench"), "--arch", arch, "--batch", str(batch), "--precision", precision,
                                     "--runs", runs] + conv, env=os.environ)
                except Skipped as e:
                    rows.append(skipped_row(what, str(e)))
                    continue
                graft = images_per_second(out)
                r = row(what, f"{graft:.1f} images/s", gflop=ANCHOR_GFLOP[arch], seconds=1 / graft, precision=precision)
                figures = {"Graft": graft}
                for key, runtime, name in (("ort", "ort", "ONNX Runtime"), ("ov", "ov", "OpenVINO")):
                    v = onnx.get((arch, batch, f"{runtime}_{precision}"), "not run" if TORCH_PY else "no torch python")
                    if isinstance(v, float):
                        r[key] = f"{v:.1f} images/s"
                        figures[name] = v
                    else:
                        r[key] = "-" if precision == "bf16" and runtime == "ort" else f"skipped ({v})"
                best = max(figures, key=figures.get)
                r["fastest"] = best + ("" if best == "Graft" else f" ({graft / figures[best]:.2f}x)")
                rows.append(r)


def torch_inference(arch, batch, precision, runs, env=None, size=224):
    """PyTorch's better of NCHW and channels_last (bench_infer.py) at size x size: (images/s, the
    layout's name), or (None, "-") without torch."""
    best, name = None, "-"
    if TORCH_PY:
        modes = "f32_nchw,f32_cl" if precision == "f32" else "bf16_nchw,bf16_cl"
        for line in run([TORCH_PY, "Benchmarks/bench_infer.py", "--arch", arch, "--batch", str(batch), "--runs", str(runs),
                         "--modes", modes, "--size", str(size)], env=env).splitlines():
            v = images_per_second(line)
            if v and (best is None or v > best):
                best, name = v, line.split(":")[0].replace(f"torch {arch} ", "").replace(f" batch {batch} {size}x{size}", "")
    return best, name


def vgg(rows):
    """The second family: vgg16 inference, batch 8, against PyTorch (f32 and bf16). No older
    figure: Graft before the model graph had no VGG."""
    for precision in ("f32", "bf16"):
        what = f"inference vgg16 {precision}, batch 8"
        try:
            out = run_graft([os.path.join(BIN, "graft_bench"), "--arch", "vgg16", "--batch", "8", "--precision", precision,
                             "--runs", "5"])
        except Skipped as e:
            rows.append(skipped_row(what, str(e)))
            continue
        graft = images_per_second(out)
        torch_best, torch_name = torch_inference("vgg16", 8, precision, runs=5)
        rows.append(row(what, f"{graft:.1f} images/s",
                        f"{torch_best:.1f} images/s ({torch_name})" if torch_best else None,
                        f"{graft / torch_best:.2f}x" if torch_best else None,
                        gflop=VGG16_GFLOP, seconds=1 / graft, precision=precision))


# The families after ResNet and VGG: GFLOP per 224x224 image, forward (2 per multiply-add;
# torchvision's metadata gives the multiply-adds).
# EfficientNets and RegNet at 224 too (their weights evaluate at 224 to 600): torch.utils.flop_counter at 224.
# inception_v3 at 299 (FAMILY_SIZE), the size it is built for (its training step's auxiliary classifier needs it).
FAMILY_GFLOP = {"mobilenet_v2": 0.602, "mobilenet_v3_large": 0.434, "mobilenet_v3_small": 0.114,
                "efficientnet_b0": 0.772, "efficientnet_v2_s": 5.700, "regnet_y_400mf": 0.804, "densenet121": 5.668,
                "convnext_tiny": 8.912, "inception_v3": 11.426}
FAMILY_SIZE = {"inception_v3": 299}


def families(rows):
    """Issue 21's row per family: inference at batch 32 (f32, bf16) and a full training step
    (--train all, f32, batch 32), against PyTorch with the better of NCHW and channels_last. A
    training step counts three forwards' arithmetic (forward, backward-data, backward-weights).
    Both sides at OpenMP's default wait policy, as a user runs them: the passive policy of the
    other rows costs a MobileNet, whose ops are many and small, 40 % of Graft's inference."""
    env = os.environ
    only = [a for a in os.environ.get("BENCH_FAMILIES", "").split(",") if a]
    for arch, gflop in FAMILY_GFLOP.items():
        if only and arch not in only:
            continue
        size = FAMILY_SIZE.get(arch, 224)
        at = "" if size == 224 else f" {size}x{size}"
        for precision in ("f32", "bf16"):
            what = f"inference {arch} {precision}, batch 32{at}"
            try:
                out = run_graft([os.path.join(BIN, "graft_bench"), "--arch", arch, "--batch", "32", "--precision", precision,
                                 "--runs", "7", "--size", str(size)], env=env)
            except Skipped as e:
                rows.append(skipped_row(what, str(e)))
                continue
            graft = images_per_second(out)
            torch_best, torch_name = torch_inference(arch, 32, precision, runs=7, env=env, size=size)
            rows.append(row(what, f"{graft:.1f} images/s",
                            f"{torch_best:.1f} images/s ({torch_name})" if torch_best else None,
                            f"{graft / torch_best:.2f}x" if torch_best else None,
                            gflop=gflop, seconds=1 / graft, precision=precision))
        what = f"train step {arch} --train all f32, batch 32{at}"
        exe = os.path.join(BIN, "graft_train_bench")
        try:
            graft = images_per_second(run_graft([exe, "--arch", arch, "--train", "all", "--size", str(size)], env=env))
        except Skipped as e:
            rows.append(skipped_row(what, str(e)))
            continue
        torch_v = images_per_second(run([TORCH_PY, "Benchmarks/bench_train.py", "--arch", arch, "--train", "all", "--size", str(size)],
                                        env=env)) if TORCH_PY else None
        rows.append(row(what, f"{graft:.1f} images/s", f"{torch_v:.1f} images/s" if torch_v else None,
                        f"{graft / torch_v:.2f}x" if torch_v else None, gflop=3 * gflop, seconds=1 / graft))


def timed(cmd, cwd, n=5):
    """Median wall seconds of `n` runs of a whole process."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=ENV, cwd=cwd)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def make_model_folder(d, images=1):
    """resNet34.pth (random, 5 classes), class_indices.json and `images` flower-sized JPEGs in d/img."""
    subprocess.run([TORCH_PY, "-c", f"""
import os, torch, torchvision, json
from PIL import Image
torch.manual_seed(0)
torch.save(torchvision.models.resnet34(num_classes=5).state_dict(), {os.path.join(d, "resNet34.pth")!r})
open({os.path.join(d, "class_indices.json")!r}, 'w').write(json.dumps({{str(i): n for i, n in enumerate(['daisy', 'dandelion', 'roses', 'sunflowers', 'tulips'])}}, indent=4))
os.makedirs({os.path.join(d, "img")!r})
for i in range({images}):
    x0 = -2.2 + 0.01 * i
    Image.effect_mandelbrot((500, 375), (x0, -1.2, x0 + 3, 1.2), 100).convert('RGB').save(os.path.join({d!r}, 'img', f'{{i:03d}}.jpg'), quality=90)
"""], check=True, env=ENV)


def predict_process(rows):
    if not TORCH_PY:
        return
    with tempfile.TemporaryDirectory() as d:
        make_model_folder(d)
        image = os.path.join(d, "img", "000.jpg")
        g = timed([os.path.join(BIN, "predict"), image], d)
        b = timed([os.path.join(BEFORE, "predict"), image], d) if BEFORE else None
        t = timed([TORCH_PY, os.path.join(ROOT, "Benchmarks", "tutorial_predict.py"), image], d)
        rows.append(row("predict one image, whole process", f"{g:.2f} s", f"{t:.2f} s (tutorial predict.py)", f"{t / g:.2f}x",
                        gflop=FORWARD_GFLOP, seconds=g, before=(f"{b:.2f} s", b / g) if b else None))


def batch_predict_process(rows, images=64):
    if not TORCH_PY:
        return
    with tempfile.TemporaryDirectory() as d:
        make_model_folder(d, images)
        folder = os.path.join(d, "img")
        g = timed([os.path.join(BIN, "batch_predict"), folder], d, n=3)
        b = timed([os.path.join(BEFORE, "batch_predict"), folder], d, n=3) if BEFORE else None
        t = timed([TORCH_PY, os.path.join(ROOT, "Benchmarks", "tutorial_batch_predict.py"), folder], d, n=3)
        rows.append(row(f"batch_predict {images} JPEGs, whole process", f"{g:.2f} s ({g / t:.2f} of torch's time)",
                        f"{t:.2f} s (tutorial batch_predict.py)", f"{t / g:.2f}x",
                        gflop=images * FORWARD_GFLOP, seconds=g, before=(f"{b:.2f} s", b / g) if b else None))


ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


def training(rows):
    """Training steps, Graft and PyTorch alternating for BENCH_ROUNDS rounds (default 3) so that
    both see the same moments of a shared machine; each side's figure is the median over the
    rounds of each round's median step, and the ratio is of those two figures."""
    exe = os.path.join(BIN, "graft_train_bench")
    if not os.path.exists(exe):
        return
    for policy, precision in (("all", "f32"), ("last", "f32"), ("fc", "f32"), ("all", "bf16")):
        what = f"train step resnet34 --train {policy} {precision}, batch 32"
        graft_runs, torch_runs, before_runs = [], [], []
        formats = "nchw,cl"  # PyTorch's better layout, found in the first round, is kept after it
        try:
            for _ in range(max(1, ROUNDS)):
                graft_runs.append(images_per_second(run_graft([exe, "--train", policy, "--precision", precision])))
                # The older build's default (direct before --conv existed, auto since).
                if BEFORE:
                    before_runs.append(images_per_second(run_graft([os.path.join(BEFORE, "graft_train_bench"), "--train", policy,
                                                                    "--precision", precision])))
                if TORCH_PY:
                    out = run([TORCH_PY, "Benchmarks/bench_train.py", "--train", policy, "--formats", formats]
                              + (["--bf16"] if precision == "bf16" else []))
                    torch_runs.append(images_per_second(out))
                    formats = "cl" if "channels_last" in out else "nchw"
        except Skipped as e:
            rows.append(skipped_row(what, str(e)))
            continue
        graft = statistics.median(graft_runs)
        torch_v = statistics.median(torch_runs) if torch_runs else None
        before = statistics.median(before_runs) if before_runs else None
        print(f"{what}: Graft {', '.join(f'{v:.1f}' for v in graft_runs)}"
              + (f"; PyTorch {', '.join(f'{v:.1f}' for v in torch_runs)}" if torch_runs else "") + " images/s per round")
        rows.append(row(what + " (--conv auto)", f"{graft:.1f} images/s",
                        f"{torch_v:.1f} images/s" if torch_v else None, f"{graft / torch_v:.2f}x" if torch_v else None,
                        gflop=train_gflop(policy), seconds=1 / graft, precision=precision,
                        before=(f"{before:.1f} images/s", graft / before) if before else None))


def peak_rss(cmd):
    """Peak resident set (GB) of a process."""
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV, cwd=ROOT)
    _, status, usage = os.wait4(p.pid, 0)
    if status != 0:
        raise subprocess.CalledProcessError(status, cmd)
    return usage.ru_maxrss / 1e6  # kB on Linux


def memory(rows):
    """Peak RSS of full resnet34 training steps at batch 32 (f32): Graft against PyTorch's
    faster layout (channels_last), each alone in its process."""
    exe = os.path.join(BIN, "graft_train_bench")
    if not os.path.exists(exe):
        return
    g = peak_rss([exe, "--train", "all", "--runs", "1"])
    b = peak_rss([os.path.join(BEFORE, "graft_train_bench"), "--train", "all", "--runs", "1"]) if BEFORE else None
    t = peak_rss([TORCH_PY, "Benchmarks/bench_train.py", "--train", "all", "--runs", "1", "--formats", "cl"]) if TORCH_PY else None
    rows.append(row("peak RSS, full train step resnet34 f32, batch 32", f"{g:.2f} GB" + (f" ({g / t:.2f}x torch's)" if t else ""),
                    f"{t:.2f} GB (channels_last)" if t else None, f"{t / g:.2f}x" if t else None,
                    before=(f"{b:.2f} GB", b / g) if b else None))


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

        def finetune(bin_dir):
            t0 = time.perf_counter()
            subprocess.run([os.path.join(bin_dir, "finetune"), "--weights", weights, "--classes", "5", "--train", "fc",
                            "--no-augment", "--epochs", str(epochs), "--output", os.path.join(d, "out.pth"),
                            "--class-indices", os.path.join(d, "ci.json"), "--metrics", os.path.join(d, "m.json"), data],
                           check=True, capture_output=True, env=ENV, cwd=d)
            return time.perf_counter() - t0
        graft = finetune(BIN)
        before = finetune(BEFORE) if BEFORE else None
        out = run([TORCH_PY, "Benchmarks/bench_fc_epochs.py", data, weights, "5", "--epochs", str(epochs)])
        torch_t = float(re.search(r"total ([0-9.]+) s", out).group(1))
        rows.append(row(f"finetune --train fc --no-augment, {epochs} epochs, 250 images", f"{graft:.1f} s",
                        f"{torch_t:.1f} s", f"{torch_t / graft:.2f}x",
                        gflop=250 * epochs * FORWARD_GFLOP, seconds=graft, before=(f"{before:.1f} s", before / graft) if before else None))


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
    forward, stages = resnet_gflop(blocks=(2, 2, 2, 2), image=32, classes=5)
    rows.append(row(what, f"{two_v:.1f} / {one_v:.1f} images/s", ratio=f"{two_v / one_v:.2f}x",
                    gflop=train_gflop("all", forward, stages), seconds=1 / two_v))


def main():
    print("machine:", run(["sh", "-c", "nproc; uptime"]).replace("\n", " ").strip())
    model = run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"]).strip()
    isa, bf16 = cpu()
    print(f"CPU: {model}; oneDNN ISA: {isa} (ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA', 'unset')}); bf16: {bf16}")
    for precision in ("f32", "bf16"):
        PEAK[precision] = roofline(precision)
    print("measured peak (one 128->128 3x3 conv, batch 32, 28x28, direct): "
          + ", ".join(f"{p} {v:.0f} GFLOP/s" for p, v in PEAK.items() if v))
    if not TORCH_PY:
        print("torch is not importable: Graft's figures only (set TORCH_PY to a python with torch)")
    only = set(filter(None, os.environ.get("BENCH_ROWS", "").split(",")))
    rows = []
    for name, f in (("inference", inference), ("vgg", vgg), ("families", families), ("predict", predict_process), ("batch_predict", batch_predict_process),
                    ("training", training), ("memory", memory), ("fc_epochs", fc_epochs), ("mpi", mpi_finetune),
                    ("anchors", anchors)):
        if not only or name in only:
            f(rows)
    columns = [("what", "what"), ("graft", "Graft"), ("torch", "PyTorch"), ("ratio", "ratio"), ("gflops", "GFLOP/s"),
               ("peak", "of peak"), ("isa", "ISA")]
    if BEFORE:
        columns += [("before_value", "Graft before"), ("speedup", "after/before")]
    if any("fastest" in r for r in rows):
        columns += [("ort", "ONNX Runtime"), ("ov", "OpenVINO"), ("fastest", "fastest (Graft / it)")]
    table = []
    for r in rows:
        r.setdefault("isa", isa)
        if "before" in r:
            r["before_value"], r["speedup"] = r["before"][0], f"{r['before'][1]:.2f}x"
        table.append([r.get(k, "-") for k, _ in columns])
    header = [h for _, h in columns]
    widths = [max(len(str(x[i])) for x in table + [header]) for i in range(len(columns))]
    for r in [header] + table:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())


if __name__ == "__main__":
    sys.exit(main())
