import Checkpoint
import Foundation
import ResNet

/// The whole `finetune` job: data, model, trainer, outputs. The executable only parses options.
public enum Finetune {
    public enum Failure: Error, CustomStringConvertible {
        case unsupported(String)
        case noWeights(String)
        public var description: String {
            switch self {
            case .unsupported(let s): return s
            case .noWeights(let s): return s
            }
        }
    }

    /// `resNet34.pth` for resnet34, as the tutorial names its output.
    public static func defaultOutput(architecture: String) -> String {
        "resNet" + architecture.filter(\.isNumber) + ".pth"
    }

    /// The pretrained weights, or nil for `--weights none`. `limits`: `--max-memory`.
    public static func loadWeights(_ config: TrainConfig, limits: ReadLimits = ReadLimits(), log: (String) -> Void) throws -> StateDict? {
        guard let path = config.weights else { return nil }
        let ckpt = try Checkpoint(contentsOf: path, options: LoadOptions(limits: limits))
        if let p = ckpt.removedPrefix { log("\(path): removed the prefix '\(p)' from every key") }
        return trunkState(ckpt.stateDict)
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
