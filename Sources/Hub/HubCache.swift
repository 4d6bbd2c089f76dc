import Foundation

/// torch.hub's cache folder, so that PyTorch and Graft share one copy of each file.
public enum HubCache {
    /// `torch.hub.get_dir() + "/checkpoints"`, by torch.hub's rule (`_get_torch_home`):
    /// `expanduser(os.getenv("TORCH_HOME", join(os.getenv("XDG_CACHE_HOME", "~/.cache"), "torch")))`
    /// joined with "hub". A variable set to "" counts as set, as in Python. "~" expands with
    /// `HOME` (this process's home folder when `HOME` is unset); "~user" is left as written.
    public static func checkpointsDirectory(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> String {
        let torchHome = environment["TORCH_HOME"]
            ?? join(environment["XDG_CACHE_HOME"] ?? "~/.cache", "torch")
        let home = environment["HOME"] ?? NSHomeDirectory()
        return join(join(expandUser(torchHome, home: home), "hub"), "checkpoints")
    }

    /// Python's `posixpath.join(a, b)` for a relative `b`.
    static func join(_ a: String, _ b: String) -> String {
        a.isEmpty || a.hasSuffix("/") ? a + b : a + "/" + b
    }

    /// Python's `posixpath.expanduser` for "~" and "~/…" (with `home` as `$HOME`).
    static func expandUser(_ path: String, home: String) -> String {
        guard path == "~" || path.hasPrefix("~/") else { return path }
        var userHome = home
        while userHome.hasSuffix("/") { userHome.removeLast() }
        let expanded = userHome + path.dropFirst()
        return expanded.isEmpty ? "/" : expanded
    }
}
