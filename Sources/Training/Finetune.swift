import Checkpoint
import Foundation
import ResNet

/// The whole `finetune` job: data, model, trainer, outputs. The executable only parses options.
public enum Finetune {
    public enum Failure: Error, CustomStringConvertible {
        case unsupported(String)
        case noWeights(String)
        case cannotWrite(path: String, reason: String)
        public var description: String {
            switch self {
            case .unsupported(let s): return s
            case .noWeights(let s): return s
            case let .cannotWrite(path, reason):
                return "cannot write \(path): \(reason). Choose a writable folder (--output, --class-indices, --metrics) or run finetune from one; nothing was written."
            }
        }
    }

    /// `resNet34.pth` for resnet34, as the tutorial names its output.
    public static func defaultOutput(architecture: String) -> String {
        "resNet" + architecture.filter(\.isNumber) + ".pth"
    }

    /// The pretrained weights, or nil for `--weights none`. `allowObjects` also reads a whole
    /// pickled model (`--allow-objects`); `limits`: `--max-memory`.
    public static func loadWeights(_ config: TrainConfig, allowObjects: Bool = false, limits: ReadLimits = ReadLimits(),
                                   log: (String) -> Void) throws -> StateDict? {
        guard let path = config.weights else { return nil }
        let ckpt = try Checkpoint(contentsOf: path, options: LoadOptions(allowObjects: allowObjects, limits: limits))
        if let p = ckpt.removedPrefix { log("\(path): removed the prefix '\(p)' from every key") }
        let sd = trunkState(try ckpt.resNetStateDict())
        guard sd["fc.weight"] == nil && sd["fc.bias"] == nil else { return sd }
        return try withPlaceholderFC(sd, config: config, path: path, log: log)
    }

    /// A backbone saved without its fc: `--head replace` makes a new fc anyway, so a
    /// placeholder (one class, zeros) stands in for the missing one; `--head append` keeps
    /// the pretrained fc and cannot do without it.
    static func withPlaceholderFC(_ sd: StateDict, config: TrainConfig, path: String, log: (String) -> Void) throws -> StateDict {
        guard config.head == .replace else {
            throw Failure.noWeights("\(path) has no fc (fc.weight, fc.bias): a backbone saved without its classifier. "
                + "--head append keeps the pretrained fc; use --head replace, which makes a new one")
        }
        let spec = try ResNetSpec.detect(shapes: sd.items.map { ($0.key, $0.value.shape) }, requireFC: false)
        var out = sd
        out["fc.weight"] = TensorData(shape: [1, spec.featureCount], floats: [Float](repeating: 0, count: spec.featureCount))
        out["fc.bias"] = TensorData(shape: [1], floats: [0])
        log("\(path): no fc (a backbone saved without its classifier); --head replace makes a new one")
        return out
    }

    /// A state dict whose head was appended (`fc.0`, `fc.1`) seen as a plain torchvision one
    /// (`fc` = the first Linear), with the appended Linear returned separately.
    public static func splitAppendedHead(_ sd: StateDict) -> (trunk: StateDict, appended: (TensorData, TensorData)?) {
        guard let w0 = sd["fc.0.weight"], let b0 = sd["fc.0.bias"], let w1 = sd["fc.1.weight"], let b1 = sd["fc.1.bias"] else {
            return (sd, nil)
        }
        var out = StateDict()
        for (k, v) in sd.items where !k.hasPrefix("fc.") { out[k] = v }
        out["fc.weight"] = w0
        out["fc.bias"] = b0
        return (out, (w1, b1))
    }

    static func trunkState(_ sd: StateDict) -> StateDict { splitAppendedHead(sd).trunk }

    /// The model the policy asks for.
    public static func makeModel(_ config: TrainConfig, weights: StateDict?) throws -> TrainableModel {
        let precision = Precision(rawValue: config.precision) ?? .f32
        if config.policy == .fc && config.frozenBN == .eval {
            guard let sd = weights else {
                throw Failure.noWeights("--train fc trains only the head on a pretrained trunk: pass --weights FILE (not none)")
            }
            return try HeadOnlyModel(stateDict: sd, classes: config.classes, head: config.head, seed: config.seed, precision: precision)
        }
        return try makeTrainableResNet(config, weights: weights)
    }
}

/// The torchvision architecture name a state dict's keys describe, if any.
public enum ArchitectureGuessName {
    public static func of(_ sd: StateDict) -> String? { ArchitectureGuess(sd).name }
}
