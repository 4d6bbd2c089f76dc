import Inference

/// What can stop a `finetune` job before or while it trains, one case per situation. Errors
/// about the data, the resume point and the class names have their own types
/// (`ImageFolder.Failure`, `ResumeError`, `ClassIndices.Failure`).
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    /// `--precision` names no precision Graft has.
    case unknownPrecision(String)
    /// `--arch` (with `--weights none`) names no torchvision model Graft knows.
    case unknownArchitecture(String, known: [String])
    /// `--last-stages N` with more stages than the model has.
    case tooManyStages(asked: Int, model: String, stages: Int)
    /// The training crop is smaller than the model's auxiliary classifier takes (Inception's 299).
    case trainCropTooSmall(crop: Int, model: String, least: Int)
    /// The weights have no fc, and `--head append` keeps the pretrained fc.
    case backboneWithoutFC(path: String)
    /// `--train fc` without pretrained weights: nothing would train but a head on a random trunk.
    case headOnlyNeedsWeights
    /// `--head keep` on weights whose classifier does not fit the data: its class count, or the
    /// class names it was trained on (`classIndices`: the file read, nil when there is none).
    case keptHeadMismatch(weights: String, reason: String)
    /// `--output` (given, or the default name) is the file `--weights` reads.
    case outputIsTheWeights(path: String, defaulted: Bool)
    /// A file the job writes cannot be written; nothing was written.
    case cannotWrite(path: String, WriteProblem)
    /// Writing an output failed once the run had started (disk full, folder removed...):
    /// `reason` in the system's words.
    case cannotSave(path: String, reason: String)
    /// Under mpirun: an image could not be read (every process must take the same steps).
    case unreadableInJob(path: String, reason: String)
    /// Under mpirun: the processes' weights differ after an epoch (the checksum allreduce).
    case replicasDiverged(epoch: Int, rank: Int)
    /// The augmentation's values cannot be used (`Augmentation.problem`'s line): a config not
    /// built by the command, whose validation says the same.
    case invalidAugmentation(String)

    /// Why a file cannot be written (Inference's `WriteProblem`, which evaluate's and
    /// batch_predict's checks share).
    public typealias WriteProblem = Inference.WriteProblem

    public var description: String {
        switch self {
        case .unknownPrecision(let p):
            return "--precision \(p): expected f32 or bf16"
        case let .unknownArchitecture(name, known):
            return "--arch \(name): not a torchvision model Graft knows. Use one of: \(known.joined(separator: ", "))"
        case let .tooManyStages(asked, model, stages):
            return "--last-stages \(asked): \(model) has \(stages) stages; give 1 to \(stages) (or --train all)"
        case let .trainCropTooSmall(crop, model, least):
            return "\(model) trains on crops of at least \(least)x\(least), not \(crop)x\(crop): its auxiliary classifier (AuxLogits) "
                + "reads a 5x5 pooling of a map that is 17x17 at \(least), as in torchvision. Give --image-size \(least) --resize 342 "
                + "(the transform of torchvision's inception_v3 weights), or --train fc with --frozen-bn eval (the default), which leaves the auxiliary classifier out"
        case .backboneWithoutFC(let path):
            return "\(path) has no fc (fc.weight, fc.bias): a backbone saved without its classifier. "
                + "--head append and --head keep need the pretrained fc; use --head replace, which makes a new one"
        case let .outputIsTheWeights(path, defaulted):
            return "\(path) is both --weights and " + (defaulted ? "the default --output (named after the architecture)" : "--output")
                + ": the run would write its models over the weights it starts from. Give another --output (e.g. --output continued.pth), "
                + "or run in another folder; nothing was written"
        case let .keptHeadMismatch(weights, reason):
            return "--head keep: \(weights)'s classifier cannot be kept: \(reason). --head keep continues a fine-tuned model on data "
                + "with the same classes; use --head replace (a new classifier for these classes) or --head append"
        case .headOnlyNeedsWeights:
            return "--train fc trains only the head on a pretrained trunk: pass --weights FILE (not none)"
        case let .unreadableInJob(path, reason):
            return (reason.contains(path) ? reason : "\(path): \(reason)")
                + ". Under mpirun an unreadable image stops the job, since every process must take the same steps: "
                + "fix or remove it, then run again (--resume continues after the last finished epoch)"
        case .invalidAugmentation(let problem):
            return problem
        case let .replicasDiverged(epoch, rank):
            return "after epoch \(epoch) the processes' weights differ (checksum of every parameter and running statistic, "
                + "seen on rank \(rank)): the replicas diverged, which is a bug in Graft's data-parallel training; please report it"
        case let .cannotSave(path, reason):
            return "cannot write \(path): \(reason). The files written before it are whole (each is renamed into place once complete): "
                + "make room or fix the folder, then run the same command with --resume to continue after the last finished epoch "
                + "(without --resume if none finished)."
        case let .cannotWrite(path, problem):
            return "cannot write \(path): \(problem.words). Choose a writable folder (--output, --class-indices, --metrics, --report) or run finetune from one; nothing was written."
        }
    }
}
