// Times one training step (forward, loss, backward, Adam) of a resnet34 (or --arch: any
// variant Graft has) at batch 32, 224x224, through finetune's own model for each policy: --train
// all|last|fc (frozen batch norm in eval; fc runs the frozen trunk as the fused inference graph).
// Prints images/s, median of runs, and the first step's time (primitive creation and, with
// --conv auto, the measurements).
//   graft_train_bench [--arch resnet34] [--train all] [--precision f32|bf16] [--batch 32] [--size 224]
//                     [--runs 5] [--conv auto|direct|winograd] [--activations bf16|f32]
// --conv is finetune's (default auto, as finetune's). --activations (bf16 precision with f32
// activations) is an engine experiment that finetune does not offer.
// A precision this CPU cannot run prints `skipped: <reason>` and exits 3.
import Foundation
import Models
import Training

func option(_ name: String, _ fallback: String) -> String {
    let args = CommandLine.arguments
    if let i = args.firstIndex(of: "--\(name)"), i + 1 < args.count { return args[i + 1] }
    return fallback
}
let policy = TrainConfig.Policy(rawValue: option("train", "all")) ?? .all
let batch = Int(option("batch", "32")) ?? 32
let size = Int(option("size", "224")) ?? 224
let runs = Int(option("runs", "5")) ?? 5
let precision = option("precision", "f32")
let arch = option("arch", "resnet34")
do { try Precision(rawValue: precision)?.requireSupport() } catch { print("skipped: \(error)"); exit(3) }

/// Builds the model and times its steps; everything is local to one function (one thread).
func benchmark() throws {
    var config = TrainConfig(data: "-", classes: 5)
    config.policy = policy
    config.optimizer = OptimizerConfig(kind: .adam, lr: 1e-4)
    config.precision = precision
    config.imageSize = size
    let pretrained = try Network(stateDict: nil, architecture: arch, head: .keep, seed: 1).stateDict()
    let model = try Finetune.makeModel(config, weights: pretrained)
    let activations = option("activations", "bf16")
    guard let conv = ConvolutionChoice(rawValue: option("conv", "auto")) else { fatalError("--conv auto|direct|winograd") }
    model.convolution = conv
    var variant = " conv \(conv.rawValue)"  // what the printed row ran beyond the defaults
    model.bf16Activations = activations != "f32"
    if precision == "bf16" && activations == "f32" { variant += " f32-activations" }
    let optimizer = Optimizer(config.optimizer)
    var state: UInt64 = 7
    let images = (0..<(batch * 3 * size * size)).map { _ -> Float in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(state >> 40) / Float(1 << 24) * 2 - 1
    }
    let labels = (0..<batch).map { $0 % 5 }
    func step() throws -> Double {
        let t0 = DispatchTime.now().uptimeNanoseconds
        _ = try images.withUnsafeBufferPointer {
            try model.trainStep(images: $0, labels: labels, batch: batch, height: size, width: size, labelSmoothing: 0)
        }
        optimizer.step(model.parameters)
        return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    }
    let first = try step()
    _ = try step()
    let times = try (0..<runs).map { _ in try step() }.sorted()
    let median = times[times.count / 2]
    print(String(format: "graft train %@ \(precision)\(variant) \(arch) batch %d %dx%d: median %.4f s/batch, %.1f images/s (best %.1f, runs %d); first step %.2f s",
                 policy.rawValue, batch, size, size, median, Double(batch) / median, Double(batch) / times[0], runs, first))
    let chosen = model.convolutionTuner.decisions.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value.algorithm.rawValue) (\($0.value.directMilliseconds ?? 0) vs \($0.value.winogradMilliseconds ?? 0) ms)" }
    if !chosen.isEmpty { print("conv auto chose: " + chosen.joined(separator: "; ")) }
}

try benchmark()
