import CBuildInfo

/// What `--version` prints for every command: `finetune 0.9.0 (commit 1a2b3c4)`.
public enum GraftVersion {
    /// Graft's version, the same for every command.
    public static let number = "0.9.0"

    /// The commit the executables were built from (`1a2b3c4`, `1a2b3c4-dirty` for a work tree
    /// with uncommitted changes), which `make` records before each build; nil for a build that
    /// did not go through make (a plain `swift build`).
    public static var commit: String? {
        let c = String(cString: graft_build_commit())
        return c.isEmpty ? nil : c
    }

    /// `<command> 0.9.0 (commit 1a2b3c4)`, or `(commit unknown)` when the build did not record one.
    public static func line(_ command: String) -> String {
        "\(command) \(number) (commit \(commit ?? "unknown"))"
    }
}
