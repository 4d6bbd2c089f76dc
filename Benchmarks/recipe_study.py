"""The study that decides finetune's default recipe (issue 24; README, "Recipes").

Fashion-MNIST transfer tasks: the base is weights/fashion04-resnet18.pth (a resnet18 Graft
trained on Fashion-MNIST classes 0-4 at 32x32); each task fine-tunes it on the five other
classes (5-9) with N training images per class (demo_data's first N of each class in the train
split) and the same 100 validation images per class (from the test split), at 32x32 or 64x64
(the 28x28 images resized), three seeds each. For every task and seed, one after another on
the same machine, with 2 threads:
  - PyTorch running the tutorial's train.py recipe (Adam 1e-4, RandomResizedCrop + flip, Resize +
    CenterCrop for val, every layer trains, the best val accuracy kept), and
  - Graft's finetune with each --recipe (tutorial, fastai, torchvision),
all for the same epochs and batch size; each run's best val accuracy and wall time (the whole
process, start to end). Prints a markdown table (mean and spread over seeds) and writes
study.json and study.md in --out.

    ~/torchenv/bin/python Benchmarks/recipe_study.py --graft-bin .build/release --out /tmp/study
    (--per-class 20,60,400 --sizes 32,64 --seeds 0,1,2 --recipes tutorial,fastai,torchvision
     --epochs 20:10,60:10,400:6 --batch 32; --no-torch leaves PyTorch out)
"""
import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BASE = os.path.join(ROOT, "weights", "fashion04-resnet18.pth")
IDX = "/usr/share/datasets/fashion-mnist"


def prepare(out, graft_bin, per_class, val_per_class):
    idx = os.path.join(out, "idx")
    os.makedirs(idx, exist_ok=True)
    for name in os.listdir(IDX):
        if name.endswith(".gz") and not os.path.exists(os.path.join(idx, name[:-3])):
            with gzip.open(os.path.join(IDX, name)) as src, open(os.path.join(idx, name[:-3]), "wb") as dst:
                shutil.copyfileobj(src, dst)
    data = {}
    for n in per_class:
        d = os.path.join(out, f"fashion5-{n}")
        if not os.path.isdir(d):
            subprocess.run([os.path.join(graft_bin, "demo_data"), "--idx", idx, "--classes", "5,6,7,8,9",
                            "--train-per-class", str(n), "--val-per-class", str(val_per_class), d],
                           check=True, stdout=subprocess.DEVNULL)
        data[n] = d
    return data


def run_graft(graft_bin, data, size, epochs, batch, seed, recipe, work):
    os.makedirs(work, exist_ok=True)
    cmd = [os.path.join(graft_bin, "finetune"), "--weights", BASE, "--classes", "5", "--image-size", str(size),
           "--resize", str(size), "--epochs", str(epochs), "--batch-size", str(batch), "--seed", str(seed),
           "--workers", "2", "--recipe", recipe, "--no-report", data]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}\n{r.stderr}")
    with open(os.path.join(work, "metrics.json")) as f:
        m = json.load(f)
    return {"accuracy": m["best_val_accuracy"], "seconds": seconds}


TORCH_TUTORIAL = r'''
import sys, time, torch, torchvision
from torchvision import datasets, transforms
data, weights, size, epochs, batch, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
torch.manual_seed(seed)
torch.set_num_threads(2)
norm = transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
train_tf = transforms.Compose([transforms.RandomResizedCrop(size), transforms.RandomHorizontalFlip(), transforms.ToTensor(), norm])
val_tf = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size), transforms.ToTensor(), norm])
train = torch.utils.data.DataLoader(datasets.ImageFolder(data + "/train", train_tf), batch_size=batch, shuffle=True, num_workers=2)
val = torch.utils.data.DataLoader(datasets.ImageFolder(data + "/val", val_tf), batch_size=batch, num_workers=2)
sd = {k: v.float() if v.is_floating_point() else v for k, v in torch.load(weights, weights_only=True).items()}
net = torchvision.models.resnet18(num_classes=sd["fc.weight"].shape[0])
net.load_state_dict(sd)
net.fc = torch.nn.Linear(net.fc.in_features, 5)
opt = torch.optim.Adam(net.parameters(), lr=1e-4)
loss_fn = torch.nn.CrossEntropyLoss()
best = 0.0
for epoch in range(epochs):
    net.train()
    for x, y in train:
        opt.zero_grad()
        loss_fn(net(x), y).backward()
        opt.step()
    net.eval()
    correct = 0
    with torch.no_grad():
        for x, y in val:
            correct += (net(x).argmax(1) == y).sum().item()
    best = max(best, correct / len(val.dataset))
print(best)
'''


def run_torch(python, data, size, epochs, batch, seed):
    t0 = time.perf_counter()
    r = subprocess.run([python, "-c", TORCH_TUTORIAL, data, BASE, str(size), str(epochs), str(batch), str(seed)],
                       capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return {"accuracy": float(r.stdout.split()[-1]), "seconds": seconds}


def summary(runs):
    acc = [r["accuracy"] for r in runs]
    sec = [r["seconds"] for r in runs]
    spread = statistics.stdev(acc) if len(acc) > 1 else 0.0
    return f"{statistics.mean(acc):.3f} ± {spread:.3f}", f"{statistics.median(sec):.1f}"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--graft-bin", default=os.path.join(ROOT, ".build", "release"))
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--out", default="/tmp/graft-recipe-study")
    p.add_argument("--per-class", default="20,60,400")
    p.add_argument("--val-per-class", type=int, default=100)
    p.add_argument("--sizes", default="32,64")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--recipes", default="tutorial,fastai,torchvision")
    p.add_argument("--epochs", default="20:10,60:10,400:6", help="N:epochs per task size")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--no-torch", action="store_true")
    a = p.parse_args()
    a.graft_bin, a.out = os.path.abspath(a.graft_bin), os.path.abspath(a.out)   # the runs start in folders of their own
    per_class = [int(x) for x in a.per_class.split(",")]
    sizes = [int(x) for x in a.sizes.split(",")]
    seeds = [int(x) for x in a.seeds.split(",")]
    recipes = a.recipes.split(",")
    epochs_for = {int(k): int(v) for k, v in (x.split(":") for x in a.epochs.split(","))}
    os.makedirs(a.out, exist_ok=True)
    data = prepare(a.out, a.graft_bin, per_class, a.val_per_class)
    results_path = os.path.join(a.out, "study.json")
    results = json.load(open(results_path)) if os.path.exists(results_path) else {}
    for n in per_class:
        for size in sizes:
            epochs = epochs_for.get(n, 10)
            for seed in seeds:
                # Interleaved: every method of a (task, seed) runs back to back, so a slower
                # stretch of the machine falls on all of them.
                methods = ([] if a.no_torch else ["pytorch tutorial"]) + [f"graft {r}" for r in recipes]
                for method in methods:
                    key = f"{n}/{size}/{seed}/{method}"
                    if key in results:
                        continue
                    if method == "pytorch tutorial":
                        r = run_torch(a.python, data[n], size, epochs, a.batch, seed)
                    else:
                        r = run_graft(a.graft_bin, data[n], size, epochs, a.batch, seed, method.split()[1],
                                      os.path.join(a.out, "runs", key.replace("/", "_").replace(" ", "-")))
                    results[key] = r
                    print(f"{key}: {r['accuracy']:.3f} in {r['seconds']:.1f} s", flush=True)
                    with open(results_path, "w") as f:
                        json.dump(results, f, indent=1)
    lines = ["| images per class | size | epochs | method | best val accuracy (mean ± sd over seeds) | wall time, s (median) |",
             "|---|---|---|---|---|---|"]
    for n in per_class:
        for size in sizes:
            methods = ([] if a.no_torch else ["pytorch tutorial"]) + [f"graft {r}" for r in recipes]
            for method in methods:
                runs = [results[f"{n}/{size}/{s}/{method}"] for s in seeds if f"{n}/{size}/{s}/{method}" in results]
                if runs:
                    acc, sec = summary(runs)
                    lines.append(f"| {n} | {size} | {epochs_for.get(n, 10)} | {method} | {acc} | {sec} |")
    table = "\n".join(lines)
    print(table)
    with open(os.path.join(a.out, "study.md"), "w") as f:
        f.write(table + "\n")


if __name__ == "__main__":
    main()
