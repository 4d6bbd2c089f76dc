import Foundation
import Checkpoint
import Imaging

/// Why a file cannot be written. `folder` names the file's folder as the message says it
/// ("/tmp/out", or "/home/me (the current folder)"). (finetune's `TrainingError.WriteProblem`.)
public enum WriteProblem: Equatable, Sendable {
    case folderMissing(folder: String)
    case folderNotWritable(folder: String, systemReason: String)
    case folderIsAFile(folder: String)
    case folderUnusable(folder: String, why: String)
    /// The path itself is a folder.
    case isAFolder

    public var words: String {
        switch self {
        case .folderMissing(let f): return "its folder \(f) does not exist"
        case let .folderNotWritable(f, why): return "its folder \(f) is not writable (\(why))"
        case .folderIsAFile(let f): return "\(f) is a file, not a folder"
        case let .folderUnusable(f, why): return "its folder \(f): \(why)"
        case .isAFolder: return "it is a folder"
        }
    }
}

/// A file a command will write, checked before the command does any work, with finetune's own
/// check (`OutputPath.problem`: the folder exists and is writable, the path is not a
/// folder), so that a run never does all its work only to fail at the end.
public enum OutputPath {
    public enum Failure: Error, CustomStringConvertible, Equatable {
        case cannotWrite(path: String, option: String, command: String, WriteProblem)

        public var description: String {
            switch self {
            case let .cannotWrite(path, option, command, problem):
                return "\(option) \(TerminalText.escaped(path)): cannot write it: \(problem.words). "
                    + "Choose a path in a writable folder; \(command) checked this before reading anything, and wrote nothing."
            }
        }
    }

    /// Fails unless every path can be written; `option` names each one in the message.
    public static func check(_ outputs: [(path: String, option: String)], command: String) throws {
        for (path, option) in outputs {
            if let problem = problem(path) {
                throw Failure.cannotWrite(path: path, option: option, command: command, problem)
            }
        }
    }

    /// Why `path` cannot be written, or nil when it can: its folder exists and is writable,
    /// and `path` is not a folder. Creates nothing.
    public static func problem(_ path: String) -> WriteProblem? {
        let folder = Self.folder(of: path)
        let dir = folder.isEmpty ? "." : folder
        let named = folder.isEmpty ? FileManager.default.currentDirectoryPath + " (the current folder)" : folder
        switch PathTarget(dir) {
        case .folder:
            if access(dir, W_OK | X_OK) != 0 {
                return .folderNotWritable(folder: named, systemReason: TemporaryFile.systemReason(errno))
            }
        case .file: return .folderIsAFile(folder: dir)
        case .missing: return .folderMissing(folder: named)
        case .unusable(let why): return .folderUnusable(folder: named, why: why)
        }
        if case .folder = PathTarget(path) { return .isAFolder }
        return nil
    }

    /// The folder part of `path`, as NSString's `deletingLastPathComponent` gives it ("a/b" is
    /// "a", "/a" is "/", "a" is "", "a/b/" is "a"), without swift-corelibs-foundation's crash on
    /// a one-character path ("a", ".").
    public static func folder(of path: String) -> String {
        var p = Substring(path)
        while p.count > 1, p.hasSuffix("/") { p = p.dropLast() }
        guard let slash = p.lastIndex(of: "/") else { return "" }
        var head = p[..<slash]
        while head.count > 1, head.hasSuffix("/") { head = head.dropLast() }
        return head.isEmpty ? "/" : String(head)
    }
}
