#!/usr/bin/env python3
"""Read a Graft event file back with TensorBoard's own reader and compare every scalar.

Usage: check_tensorboard.py EVENTS_DIR METRICS.json [--json OUT.json]

Run where `tensorboard` is installed (pip install tensorboard; TensorFlow is not needed):
* reads every record of the one events.out.tfevents.* file in EVENTS_DIR through
  TensorBoard's record reader, which checks the masked CRC-32C of each length and each data
  (a bad CRC or a cut record is an error here, not a skip);
* parses the records as Events with event_file_loader.LegacyEventFileLoader (the events as
  written, before TensorBoard migrates simple_value to its tensor form), checks the first is
  file_version "brain.Event:2" and every other is one simple_value;
* loads the folder with EventAccumulator (what TensorBoard's scalars dashboard shows) and
  checks that it has the tags train/loss, val/loss, val/accuracy and lr, with train/loss at
  steps 1, 2, 3... and the three per-epoch tags at the epochs of METRICS.json (metrics.json,
  written by the same finetune run), each value equal to metrics.json's figure rounded to
  float32 (TensorBoard's simple_value is a float);
* with --json, writes what the reader parsed, for Tests/TensorBoardTests: the file's name,
  its first event's wall time and version, and every scalar event (tag, step, wall_time,
  value) in file order.
Exit status 1 on any difference.
"""
import glob
import json
import os
import struct
import sys

from tensorboard.backend.event_processing import event_accumulator, event_file_loader
from tensorboard.compat.tensorflow_stub import errors, pywrap_tensorflow

EPOCH_TAGS = {"val/loss": "val_loss", "val/accuracy": "val_accuracy", "lr": "lr"}


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def main(argv):
    if len(argv) not in (2, 4) or (len(argv) == 4 and argv[2] != "--json"):
        sys.exit(__doc__)
    folder, metrics_path = argv[0], argv[1]
    files = sorted(glob.glob(os.path.join(folder, "events.out.tfevents.*")))
    if len(files) != 1:
        sys.exit(f"expected one event file in {folder}, found {files}")
    path = files[0]
    problems = []

    # 1. Every record, both CRCs checked by TensorBoard's reader.
    reader = pywrap_tensorflow.PyRecordReader_New(path.encode(), 0, None, None)
    records = 0
    while True:
        try:
            reader.GetNext()
        except errors.OutOfRangeError:
            break
        records += 1
    print(f"{path}: {records} records, every length and data CRC checked")

    # 2. The events.
    events = list(event_file_loader.LegacyEventFileLoader(path).Load())
    if len(events) != records:
        problems.append(f"{records} records but {len(events)} events")
    first = events[0]
    if first.WhichOneof("what") != "file_version" or first.file_version != "brain.Event:2":
        problems.append(f"first event is not file_version brain.Event:2: {first}")
    scalars = []
    for e in events[1:]:
        if e.WhichOneof("what") != "summary" or len(e.summary.value) != 1 or e.summary.value[0].WhichOneof("value") != "simple_value":
            problems.append(f"not one simple_value: {e}")
            continue
        v = e.summary.value[0]
        scalars.append({"tag": v.tag, "step": e.step, "wall_time": e.wall_time, "value": v.simple_value})

    # 3. What TensorBoard's scalars dashboard shows, against metrics.json.
    acc = event_accumulator.EventAccumulator(folder, size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    tags = sorted(acc.Tags()["scalars"])
    if tags != sorted(["train/loss", *EPOCH_TAGS]):
        problems.append(f"tags {tags}")
    with open(metrics_path) as f:
        epochs = json.load(f)["epochs"]
    for tag, key in EPOCH_TAGS.items():
        got = [(s.step, s.value) for s in acc.Scalars(tag)]
        want = [(m["epoch"], f32(m[key])) for m in epochs]
        print(f"{tag}: {got}")
        if got != want:
            problems.append(f"{tag}: TensorBoard reads {got}, metrics.json says {want}")
    train = [(s.step, s.value) for s in acc.Scalars("train/loss")]
    print(f"train/loss: {len(train)} steps, {train[0]} ... {train[-1]}")
    if [s for s, _ in train] != list(range(1, len(train) + 1)):
        problems.append(f"train/loss steps are not 1, 2, 3...: {[s for s, _ in train]}")
    if [(s["step"], s["value"]) for s in scalars if s["tag"] == "train/loss"] != train:
        problems.append("EventAccumulator and LegacyEventFileLoader disagree on train/loss")

    if len(argv) == 4:
        with open(argv[3], "w") as f:
            json.dump({"file": os.path.basename(path), "file_version": first.file_version,
                       "wall_time": first.wall_time, "records": records, "scalars": scalars}, f, indent=1)
            f.write("\n")
    for p in problems:
        print("DIFFERENT:", p)
    print("OK: TensorBoard reads every scalar Graft wrote" if not problems else f"{len(problems)} differences")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
