import Checkpoint
import Foundation
import Inference

/// A file a command writes when its work is done (`batch_predict --csv`): checked before the
/// work starts, so that a bad path fails at once, and written atomically (a temporary file
/// beside it, then renamed). Failures name the option, the path and what to do, never
/// Foundation's words.
public enum OutputFile {
    public enum Failure: Error, CustomStringConvertible, Equatable {
        /// `path` (given to `option`) cannot be written: `reason` says why.
        case cannotWrite(option: String, path: String, reason: String)

        public var description: String {
            switch self {
            case let .cannotWrite(option, path, reason):
                return "\(option) \(path): cannot write it: \(reason). Give \(option) a file in a folder that exists and that you can write to."
            }
        }
    }

    /// Fails unless `path` can be written: its folder exists and is writable, and `path` is
    /// not a folder. Creates nothing.
    public static func check(_ path: String, option: String) throws {
        // finetune's check (OutputPath, as evaluate's --report uses it), in this option's words.
        do { try OutputPath.check([(path: path, option: option)], command: "") } catch OutputPath.Failure.cannotWrite(_, _, _, let problem) {
            throw Failure.cannotWrite(option: option, path: path, reason: problem.words)
        }
    }

    /// Writes `bytes` to `path` atomically.
    public static func write(_ bytes: [UInt8], to path: String, option: String) throws {
        try check(path, option: option)
        do { try TemporaryFile.write(bytes, to: path) } catch CheckpointError.writeFailed(_, let reason) {
            throw Failure.cannotWrite(option: option, path: path, reason: reason)
        }
    }
}
