import Checkpoint
import Foundation
import Inference

/// The folders a `finetune` run writes in, held for the run: each one locked (`RunLock`), and
/// then, under the lock, cleared of the temporary files that killed runs left there. Rank 0
/// takes them (it writes every file); the other ranks of an mpirun job write nothing.
final class RunFolders {
    private(set) var locks: [RunLock]

    private init(locks: [RunLock]) { self.locks = locks }

    /// Locks the folder of every path in `paths` (each folder once, however it is named), or
    /// fails, naming the run that holds one; then removes every temporary file of `paths`
    /// (`.NAME.tmp-PID`, `.NAME.tmp-PID.*`): under the lock no other run writes them, so they
    /// are left by runs that were killed, whatever their pid (pids are reused). `log` gets a
    /// line per removed file.
    static func take(for paths: [String], command: String = CommandLine.arguments.joined(separator: " "),
                     log: (String) -> Void) throws -> RunFolders {
        var seen = Set<String>()
        var locks: [RunLock] = []
        for path in paths {
            let folder = OutputPath.folder(of: path)
            guard seen.insert(canonical(folder)).inserted else { continue }
            locks.append(try RunLock(folder: folder, command: command))
        }
        for stale in removeTemporaryFiles(of: paths) { log("removed \(stale), left by an interrupted run") }
        return RunFolders(locks: locks)
    }

    /// Lets every lock go.
    func release() {
        locks.forEach { $0.release() }
        locks = []
    }

    /// The temporary files of `paths` in their folders, removed; returns their paths. Only
    /// call it holding the folders' locks.
    static func removeTemporaryFiles(of paths: [String]) -> [String] {
        var removed: [String] = []
        var listed: [String: [String]] = [:]
        for target in paths {
            let folder = OutputPath.folder(of: target)
            let entries = listed[folder] ?? ((try? FileManager.default.contentsOfDirectory(atPath: folder.isEmpty ? "." : folder)) ?? []).sorted()
            listed[folder] = entries
            for entry in entries where TemporaryFile.owner(of: entry, target: target) != nil {
                let path = folder.isEmpty ? entry : (folder as NSString).appendingPathComponent(entry)
                if unlink(path) == 0 { removed.append(path) }
            }
        }
        return removed
    }

    /// The folder's real path ("" is the current folder), so that `out`, `./out` and its
    /// absolute path are one folder; the name as given when it cannot be resolved.
    static func canonical(_ folder: String) -> String {
        guard let real = realpath(folder.isEmpty ? "." : folder, nil) else { return folder }
        defer { free(real) }
        return String(cString: real)
    }
}
