import Foundation

/// Each fuzzing process's own scratch folder, named by process id so that parallel fuzzers
/// (`-fork`, `-jobs`) never share files: under `$TMPDIR` when set (`make fuzz` points it at a
/// fresh folder in /dev/shm, because the inputs are files and a disk is 5-10x slower), else /tmp.
enum FuzzScratch {
    static let base: String = {
        let tmp = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        return "\(tmp)/graft-fuzz-\(getpid())"
    }()

    static func folder(_ name: String) -> String {
        let dir = base + "/" + name
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            fatalError("fuzz: cannot create the scratch folder \(dir): \(error)")
        }
        return dir
    }

    /// Removes this process's scratch folder (tests call it; fuzzers leave theirs to `make fuzz`).
    static func remove() {
        try? FileManager.default.removeItem(atPath: base)
    }
}
