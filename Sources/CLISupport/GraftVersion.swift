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

/// How this process was started: as one of the standalone commands (`predict`), or as `graft`,
/// whose subcommands the same commands are (`graft predict`). The command structs are the
/// same in both; only the name a command goes by and its `--version` line differ.
public enum Invocation {
    /// Whether this process is `graft` (its executable is named so).
    public static let isGraft: Bool = {
        guard let first = CommandLine.arguments.first else { return false }
        return first.split(separator: "/").last.map(String.init) == "graft"
    }()

    /// The name a command goes by: `standalone` as its own executable, `subcommand` (default:
    /// the same) under `graft`.
    public static func name(_ standalone: String, subcommand: String? = nil) -> String {
        isGraft ? (subcommand ?? standalone) : standalone
    }

    /// A command's `--version` line: `predict 0.9.0 (commit 1a2b3c4)` as its own executable,
    /// `graft predict 0.9.0 (commit 1a2b3c4)` under `graft`.
    public static func version(_ standalone: String, subcommand: String? = nil) -> String {
        GraftVersion.line(isGraft ? "graft " + (subcommand ?? standalone) : standalone)
    }
}
