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
        let sd = try ckpt.resNetStateDict()
        if ArchitectureGuess(sd).numClasses == nil {
            // A backbone saved without its fc: --head replace makes a new one anyway; --head
            // append keeps the pretrained fc and cannot do without it.
            guard config.head == .replace else {
                throw Failure.noWeights("\(path) has no fc (fc.weight, fc.bias): a backbone saved without its classifier. "
                    + "--head append keeps the pretrained fc; use --head replace, which makes a new one")
            }
            log("\(path): no fc (a backbone saved without its classifier); --head replace makes a new one")
        }
        return sd
    }

    /// The model the options ask for: the pretrained weights (or torchvision's initialisation
    /// of `--arch`) with the new head, frozen as `--train` says.
    public static func makeModel(_ config: TrainConfig, weights: StateDict?) throws -> ResNetModule {
        if config.policy == .fc && weights == nil {
            throw Failure.noWeights("--train fc trains only the head on a pretrained trunk: pass --weights FILE (not none)")
        }
        let head: HeadPolicy = config.head == .append ? .append(numClasses: config.classes) : .replace(numClasses: config.classes)
        let model = try ResNetModule(stateDict: weights, architecture: weights == nil ? config.architecture : nil,
                                     head: head, seed: config.seed, precision: Precision(rawValue: config.precision) ?? .f32)
        model.frozenBN = config.frozenBN == .eval ? .eval : .train
        model.freeze(config.freezePolicy)
        return model
    }
}
