import Checkpoint
import Foundation

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
        func fail(_ reason: String) -> Failure { .cannotWrite(option: option, path: path, reason: reason) }
        let folder = (path as NSString).deletingLastPathComponent
        let dir = folder.isEmpty ? "." : folder
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) else { throw fail("its folder \(dir) does not exist") }
        guard isDir.boolValue else { throw fail("\(dir) is a file, not a folder") }
        if access(dir, W_OK | X_OK) != 0 { throw fail("its folder \(dir) is not writable (\(TemporaryFile.systemReason(errno)))") }
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue { throw fail("it is a folder") }
    }

    /// Writes `bytes` to `path` atomically.
    public static func write(_ bytes: [UInt8], to path: String, option: String) throws {
        try check(path, option: option)
        do { try TemporaryFile.write(bytes, to: path) } catch CheckpointError.writeFailed(_, let reason) {
            throw Failure.cannotWrite(option: option, path: path, reason: reason)
        }
    }
}
