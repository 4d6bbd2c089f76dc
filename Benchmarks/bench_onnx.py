"""ONNX Runtime and OpenVINO on the same torchvision ResNets as graft_bench (issue 22's anchors).

    python bench_onnx.py --arch resnet50 --batch 32 [--runs 5] [--threads 2] [--modes ort_f32,ov_f32,ov_bf16,ort_int8,ov_int8]

Exports torchvision's model (random weights, fixed seed: speed does not depend on the values) with
torch.onnx.export (opset 17, dynamic batch) to a cache folder, and for int8 quantizes it with ONNX
Runtime's quantize_static (QDQ, per-channel weights, QInt8 weights, QUInt8 activations, MinMax
calibration on 8 random batches), then runs it in ONNX Runtime (CPUExecutionProvider,
intra_op_num_threads = --threads) and OpenVINO (CPU, INFERENCE_NUM_THREADS = --threads,
INFERENCE_PRECISION_HINT f32 or bf16; the QDQ model for int8). Prints one line per mode:
    <mode> <arch> batch <n>: median <s> s/batch, <images/s> images/s (best <images/s>)
A mode whose runtime is missing prints `<mode> skipped: <reason>`.
"""
import argparse
import os
import sys
import time

import numpy as np

CACHE = os.path.join(os.path.expanduser("~"), ".cache", "graft", "bench_onnx")


def export(arch):
    import torch
    import torchvision
    path = os.path.join(CACHE, f"{arch}.onnx")
    if os.path.exists(path):
        return path
    os.makedirs(CACHE, exist_ok=True)
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)(weights=None).eval()
    x = torch.randn(1, 3, 224, 224)
    torch.onnx.export(model, x, path + ".tmp", opset_version=17, input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False)
    os.replace(path + ".tmp", path)
    return path


def quantized(arch):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
    path = os.path.join(CACHE, f"{arch}.int8.onnx")
    if os.path.exists(path):
        return path
    src = export(arch)
    pre = os.path.join(CACHE, f"{arch}.pre.onnx")
    quant_pre_process(src, pre)

    class Reader(CalibrationDataReader):
        def __init__(self):
            rng = np.random.default_rng(0)
            self.batches = iter([{"image": rng.standard_normal((4, 3, 224, 224), dtype=np.float32)} for _ in range(8)])

        def get_next(self):
            return next(self.batches, None)

    quantize_static(pre, path + ".tmp", Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8)
    os.replace(path + ".tmp", path)
    return path


def timed(run, batch, runs):
    run(); run()  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    times.sort()
    median = times[len(times) // 2]
    return median, batch / median, batch / times[0]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", default="resnet50")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--modes", default="ort_f32,ov_f32,ov_bf16,ort_int8,ov_int8")
    a = p.parse_args()
    x = np.random.default_rng(1).standard_normal((a.batch, 3, 224, 224), dtype=np.float32)
    for mode in a.modes.split(","):
        runtime, precision = mode.split("_")
        try:
            path = quantized(a.arch) if precision == "int8" else export(a.arch)
            if runtime == "ort":
                import onnxruntime as ort
                o = ort.SessionOptions()
                o.intra_op_num_threads = a.threads
                o.inter_op_num_threads = 1
                s = ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])
                run = lambda: s.run(None, {"image": x})
            else:
                import openvino as ov
                core = ov.Core()
                config = {"INFERENCE_NUM_THREADS": a.threads, "PERFORMANCE_HINT": "LATENCY"}
                if precision in ("f32", "bf16"):
                    config["INFERENCE_PRECISION_HINT"] = precision
                compiled = core.compile_model(path, "CPU", config)
                request = compiled.create_infer_request()
                run = lambda: request.infer({0: x})
        except ImportError as e:
            print(f"{mode} skipped: {e}")
            continue
        except Exception as e:  # a runtime that cannot run this mode here (bf16 without AVX-512...)
            print(f"{mode} skipped: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            continue
        median, rate, best = timed(run, a.batch, a.runs)
        print(f"{mode} {a.arch} batch {a.batch}: median {median:.4f} s/batch, {rate:.1f} images/s (best {best:.1f})")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
