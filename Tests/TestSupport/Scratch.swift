import Foundation

/// The one folder the tests write their scratch files in: `graft-tests-<pid>` in the temporary
/// folder, made on first use and removed, with everything in it, when the test process exits.
/// Tests name their folders inside it as before; none has to clean up after itself, and a run
/// leaves nothing behind (runs used to leave about 400 MB each in /tmp, which filled a disk).
/// A process that crashes leaves its folder; `make test` runs each pass with a TMPDIR of its own
/// and removes that too.
public enum Scratch {
    public static let root: URL = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("graft-tests-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        } catch {
            fatalError("cannot make the tests' scratch folder \(dir.path): \(error)")
        }
        atexit { Scratch.removeRoot() }
        return dir
    }()

    /// Removes `root` (called at exit; only from the process that made it, not from a child
    /// that inherited the handler through fork).
    static func removeRoot() {
        guard root.lastPathComponent == "graft-tests-\(getpid())" else { return }
        try? FileManager.default.removeItem(at: root)
    }
}
