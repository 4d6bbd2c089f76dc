"""Fixtures/tensorboard/: an event file Graft's finetune wrote, and what TensorBoard reads in it.

Needs Graft built (swift build: .build/debug/finetune) and `tensorboard` installed beside
torch (pip install tensorboard). Runs a tiny fine-tune on Fixtures/trainset (the head of
Fixtures/predict/basic.pth, --train fc --no-augment, 2 epochs) with --tensorboard, then
check_tensorboard.py reads the event file back with TensorBoard's reader, checks every scalar
against the run's metrics.json and writes what it parsed to read_back.json. The event file is
renamed with the host name "graft-fixture" (the name is not in the records).
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

import check_tensorboard


def main(here):
    root = os.path.dirname(here)
    finetune = os.path.join(root, ".build", "debug", "finetune")
    if not os.path.exists(finetune):
        sys.exit(f"{finetune} is missing: build Graft first (swift build)")
    out = os.path.join(here, "tensorboard")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(os.path.join(out, "run"))
    with tempfile.TemporaryDirectory() as tmp:
        board = os.path.join(tmp, "board")
        subprocess.run([finetune, "--weights", os.path.join(here, "predict", "basic.pth"), "--classes", "3",
                        "--train", "fc", "--no-augment", "--epochs", "2", "--batch-size", "8", "--lr", "0.02",
                        "--image-size", "32", "--resize", "36", "--seed", "11",
                        "--output", os.path.join(tmp, "resNet18.pth"),
                        "--class-indices", os.path.join(tmp, "class_indices.json"),
                        "--metrics", os.path.join(tmp, "metrics.json"),
                        "--tensorboard", board, os.path.join(here, "trainset")], check=True)
        [written] = glob.glob(os.path.join(board, "events.out.tfevents.*"))
        seconds = os.path.basename(written).split(".")[3]
        shutil.copy(written, os.path.join(out, "run", f"events.out.tfevents.{seconds}.graft-fixture"))
        shutil.copy(os.path.join(tmp, "metrics.json"), os.path.join(out, "metrics.json"))
    status = check_tensorboard.main([os.path.join(out, "run"), os.path.join(out, "metrics.json"),
                                     "--json", os.path.join(out, "read_back.json")])
    if status != 0:
        sys.exit("TensorBoard does not read back what Graft wrote")
