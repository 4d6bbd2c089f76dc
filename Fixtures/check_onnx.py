#!/usr/bin/env python3
"""Run ONNX models Graft exported through ONNX's checker, ONNX Runtime and OpenVINO.

Usage: check_onnx.py MODEL.onnx [MODEL.onnx ...] [--input IN.npy|IN.raw] [--expected LOGITS.npy|LOGITS.raw]
                     [--out DIR] [--tolerance T]

Run by hand (CI never runs it), where these are installed:
    ~/torchenv/bin/pip install onnx onnxruntime openvino
For each model:
* onnx.checker.check_model(full_check=True) (the IR, the operator set, shape inference) and
  the model's description: IR version, opset, the input and output (a symbolic batch
  dimension), the op types, metadata_props (class_names, eval_transform when Graft wrote them);
* the input: --input (a .npy array [N, 3, H, W], or a .raw of little-endian float32 whose N
  follows from the model's static C, H, W), else <model minus .onnx>.input.raw beside it (what
  Tests/ONNXTests writes with GRAFT_ONNX_OUT=<folder>);
* logits from ONNX Runtime (CPUExecutionProvider) and from OpenVINO (CPU, inference precision
  f32), for the whole batch and for each image alone (the batch dimension is dynamic: the
  rows must agree), and their softmax probabilities;
* the expected logits when there are some: --expected, else <model>.torch_logits.raw beside it
  (PyTorch's, from Fixtures/vgg), else <model>.graft_logits.raw (Graft's own, from
  Tests/ONNXTests/ONNXRuntimeResultsTests).
Writes DIR/<model name>.json (default DIR: Fixtures/onnx_check) with the versions, the
description, both runtimes' probabilities and logits (the batch's, and single_logits: one image
at a time), and the largest differences: between the
runtimes, between batch and single-image runs, and against the expected logits (relative to the
largest |logit| of the row). Exit status 1 when a check fails or a difference passes T
(default 1e-4).
"""
import argparse
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import openvino as ov

HERE = os.path.dirname(os.path.abspath(__file__))


def read_array(path, chw=None):
    if path.endswith(".npy"):
        return np.load(path).astype(np.float32)
    a = np.fromfile(path, dtype="<f4")
    if chw is None:
        return a
    per = int(np.prod(chw))
    if a.size % per:
        raise SystemExit(f"{path}: {a.size} floats is not a whole number of {chw} images")
    return a.reshape((a.size // per,) + tuple(chw))


def softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def dims(value_info):
    return [d.dim_param if d.HasField("dim_param") else d.dim_value for d in value_info.type.tensor_type.shape.dim]


def row_relative(a, b):
    """max over rows of max|a - b| / max|b| (the row's largest logit)."""
    return float(max(np.abs(a[i] - b[i]).max() / max(np.abs(b[i]).max(), 1e-12) for i in range(b.shape[0])))


def check(path, args, core):
    problems = []
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    name = os.path.basename(path)[:-len(".onnx")] if path.endswith(".onnx") else os.path.basename(path)
    inp, out = model.graph.input[0], model.graph.output[0]
    description = {
        "ir_version": model.ir_version,
        "opset": {o.domain or "ai.onnx": o.version for o in model.opset_import},
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "input": {"name": inp.name, "dims": dims(inp)},
        "output": {"name": out.name, "dims": dims(out)},
        "op_types": sorted({n.op_type for n in model.graph.node}),
        "nodes": len(model.graph.node),
        "initializers": len(model.graph.initializer),
        "metadata": {p.key: p.value for p in model.metadata_props},
    }
    if not isinstance(description["input"]["dims"][0], str):
        problems.append("the batch dimension is not symbolic")
    chw = description["input"]["dims"][1:]
    stem = path[:-len(".onnx")] if path.endswith(".onnx") else path
    input_path = args.input or stem + ".input.raw"
    x = read_array(input_path, chw)
    expected_path = args.expected or next((stem + s for s in (".torch_logits.raw", ".graft_logits.raw") if os.path.exists(stem + s)), None)

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    ort_logits = session.run([out.name], {inp.name: x})[0]
    ort_single = np.concatenate([session.run([out.name], {inp.name: x[i:i + 1]})[0] for i in range(x.shape[0])])

    compiled = core.compile_model(path, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    ov_logits = np.asarray(compiled(x)[0])
    ov_single = np.concatenate([np.asarray(compiled(x[i:i + 1])[0]) for i in range(x.shape[0])])

    diffs = {
        "onnxruntime_vs_openvino": row_relative(ov_logits, ort_logits),
        "onnxruntime_batch_vs_single": row_relative(ort_single, ort_logits),
        "openvino_batch_vs_single": row_relative(ov_single, ov_logits),
    }
    if expected_path:
        want = read_array(expected_path).reshape(ort_logits.shape)
        diffs["onnxruntime_vs_expected"] = row_relative(ort_logits, want)
        diffs["openvino_vs_expected"] = row_relative(ov_logits, want)
    for k, v in diffs.items():
        if not v <= args.tolerance:
            problems.append(f"{k}: {v:.3g} > {args.tolerance}")
    result = {
        "model": os.path.basename(path),
        "versions": {"onnx": onnx.__version__, "onnxruntime": ort.__version__, "openvino": ov.__version__},
        "description": description,
        "input": {"file": os.path.basename(input_path), "shape": list(x.shape)},
        "expected": os.path.basename(expected_path) if expected_path else None,
        "relative_differences": diffs,
        "onnxruntime": {"logits": ort_logits.tolist(), "probs": softmax(ort_logits).tolist(), "single_logits": ort_single.tolist()},
        "openvino": {"logits": ov_logits.tolist(), "probs": softmax(ov_logits).tolist(), "single_logits": ov_single.tolist(),
                     "inference_precision": "f32"},
        "problems": problems,
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, name + ".json"), "w") as f:
        json.dump(result, f, indent=1)
    status = "ok" if not problems else "FAILED: " + "; ".join(problems)
    print(f"{name}: {description['nodes']} nodes {description['op_types']}, input {list(x.shape)}, "
          + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()) + f": {status}")
    return not problems


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("models", nargs="+")
    p.add_argument("--input")
    p.add_argument("--expected")
    p.add_argument("--out", default=os.path.join(HERE, "onnx_check"))
    p.add_argument("--tolerance", type=float, default=1e-4)
    args = p.parse_args()
    core = ov.Core()
    ok = True
    for path in args.models:
        try:
            ok = check(path, args, core) and ok
        except Exception as e:  # a model the checker or a runtime refuses: say so, go on
            print(f"{path}: FAILED: {type(e).__name__}: {e}")
            ok = False
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
