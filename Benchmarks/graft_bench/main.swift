// Times Graft's ResNet inference (random weights, torchvision's architecture) and prints
// images/s as the median of several timed runs after warm-up.
//   graft_bench [--arch resnet34] [--batch 32] [--size 224] [--runs 7] [--precision f32|bf16|int8]
//               [--conv direct|winograd|auto]
//   graft_bench --cpu   prints `isa <oneDNN ISA> bf16 <native|emulated|unavailable>` and exits
//   graft_bench --roofline [--precision f32|bf16]   times one 128->128 3x3 conv (batch 32, 28x28,
//                       direct, oneDNN's best kernel, best of 18 runs) and prints `roofline <precision> <GFLOP/s>`:
//                       what this CPU's conv kernels reach, the peak `make bench` compares rows with
// A precision this CPU cannot run prints `skipped: <reason>` and exits 3.
import Checkpoint
import Engine
import Foundation
import Random
import Models

func option(_ name: String, _ fallback: String) -> String {
    let args = CommandLine.arguments
    if let i = args.firstIndex(of: "--\(name)"), i + 1 < args.count { return args[i + 1] }
    return fallback
}

let arch = option("arch", "resnet34")
let batch = Int(option("batch", "32")) ?? 32
let size = Int(option("size", "224")) ?? 224
let runs = Int(option("runs", "7")) ?? 7
guard let precision = Precision(rawValue: option("precision", "f32")) else { fatalError("--precision f32|bf16|int8") }
if CommandLine.arguments.contains("--cpu") {
    print("isa \(CPUCapabilities.current.isa) bf16 \(CPUCapabilities.current.bf16.rawValue)")
    exit(0)
}
do { try precision.requireSupport() } catch { print("skipped: \(error)"); exit(3) }

/// GFLOP/s of one 128->128 3x3 conv at batch 32, 28x28 (a resnet34 layer2 conv), best of 18.
func roofline() throws -> Double {
    var random = SeededRandom(seed: 0x600D)
    let shape = [128, 128, 3, 3], n = 32, hw = 28
    let weights = (0..<shape.reduce(1, *)).map { _ in random.rand() * 0.05 - 0.025 }
    let conv = try Conv2d(weight: weights, shape: shape, padding: 1, computeType: precision == .bf16 ? .bf16 : .f32)
    let x = try Tensor(shape: [n, 128, hw, hw], values: (0..<(n * 128 * hw * hw)).map { _ in random.rand() })
    // In the conv's own layout, as between layers of a model.
    let input = try conv.forward(x)
    var times: [Double] = []
    for _ in 0..<20 {
        let t0 = DispatchTime.now().uptimeNanoseconds
        _ = try conv.forward(input)
        times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
    let flops = 2.0 * Double(n * 128 * hw * hw * 128 * 9)
    return flops / times.dropFirst(2).min()! / 1e9  // the best run: a peak
}
if CommandLine.arguments.contains("--roofline") {
    print(String(format: "roofline %@ %.1f", precision.rawValue, try roofline()))
    exit(0)
}

guard let architecture = Families.architecture(variant: arch) else {
    fatalError("unknown --arch \(arch); one of " + Families.variantNames.joined(separator: ", "))
}

/// Builds the model and times it; everything is local to one function (one thread).
func benchmark(architecture: Architecture) throws {
    // Random weights with sane batch-norm statistics (fixed seed).
    var random = SeededRandom(seed: 0x1234_5678)
    func unit() -> Float { random.rand() }
    var sd = StateDict()
    for (key, shape) in architecture.tensors {
        if key.hasSuffix("num_batches_tracked") { sd[key] = TensorData(shape: [], int64s: [0]); continue }
        let n = shape.reduce(1, *)
        let values: [Float]
        if key.hasSuffix("running_var") { values = (0..<n).map { _ in 0.5 + unit() } }
        else if key.hasSuffix("running_mean") || key.hasSuffix(".bias") { values = (0..<n).map { _ in 0.1 * (unit() - 0.5) } }
        else if shape.count == 1 { values = (0..<n).map { _ in 0.5 + unit() } }
        else {
            let a = (6 / Float(shape.dropFirst().reduce(1, *))).squareRoot()
            values = (0..<n).map { _ in a * (2 * unit() - 1) }
        }
        sd[key] = TensorData(shape: shape, floats: values)
    }

    // --conv auto: the tuner times both algorithms per shape at the first batch (a warm-up one).
    let conv = option("conv", "direct")
    guard ["direct", "winograd", "auto"].contains(conv) else { fatalError("--conv direct|winograd|auto") }
    let images = (0..<(batch * 3 * size * size)).map { _ in 2 * unit() - 1 }
    // int8: calibrated on the timed images themselves (ranges only matter for accuracy, not speed).
    var calibration: Calibration?
    if precision == .int8 {
        let recorder = RangeRecorder()
        try images.withUnsafeBufferPointer { try recorder.run(InferenceModel(stateDict: sd), images: $0, batch: batch, height: size, width: size) }
        calibration = recorder.calibration(of: try InferenceModel(stateDict: sd), weightsSHA256: "", method: .max, imageSize: size)
    }
    let model = try InferenceModel(stateDict: sd, precision: precision, convolution: conv == "winograd" ? .winograd : .direct,
                                tuner: conv == "auto" ? ConvolutionTuner() : nil, calibration: calibration)
    // --chunk N: the largest chunk a batch is cut into (0: one pass, whatever the batch).
    if let chunk = Int(option("chunk", "")) {
        if chunk == 0 { model.chunksBatches = false } else { model.chunkLimit = chunk }
    }
    /// Process CPU seconds (user + system, all threads): robust to other load on a shared machine
    /// when OpenMP threads sleep instead of spinning (OMP_WAIT_POLICY=passive).
    func cpuSeconds() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
    }
    func once() throws -> (wall: Double, cpu: Double) {
        let c0 = cpuSeconds()
        let t0 = DispatchTime.now().uptimeNanoseconds
        let logits = try images.withUnsafeBufferPointer { try model.logits(images: $0, batch: batch, height: size, width: size) }
        let t1 = DispatchTime.now().uptimeNanoseconds
        let c1 = cpuSeconds()
        precondition(logits.count == batch * model.numClasses && logits.allSatisfy(\.isFinite))
        return (Double(t1 - t0) / 1e9, c1 - c0)
    }
    _ = try once(); _ = try once()  // warm-up: primitive creation, weight reorders, page faults
    var times: [Double] = [], cpu: [Double] = []
    for _ in 0..<runs { let t = try once(); times.append(t.wall); cpu.append(t.cpu) }
    times.sort(); cpu.sort()
    let median = times[times.count / 2]
    print(String(format: "graft %@ %@ batch %d %dx%d: median %.4f s/batch, %.1f images/s (best %.1f, runs %d); CPU %.2f s/batch (min), %.1f core-ms/image",
                 arch, precision.rawValue, batch, size, size, median, Double(batch) / median, Double(batch) / times[0], runs,
                 cpu[0], 1000 * cpu[0] / Double(batch)))
}

try benchmark(architecture: architecture)
