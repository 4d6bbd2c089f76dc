import Foundation

/// The temporary files Graft writes beside a file before renaming them into place:
/// `.NAME.tmp-PID`, and libzip's `.NAME.tmp-PID.XXXXXX` while it fills one. A run that is
/// killed leaves them behind; `removeStale` deletes those whose process is gone.
public enum TemporaryFile {
    /// Where `path` is written before the rename: `.NAME.tmp-PID` in the same folder.
    public static func path(for path: String, pid: Int32 = getpid()) -> String {
        let (folder, name) = split(path)
        return join(folder, ".\(name).tmp-\(pid)")
    }

    /// The process that wrote `entry` (a name in the folder of `target`), if `entry` is one of
    /// the temporary files of `target`: `.NAME.tmp-PID` or `.NAME.tmp-PID.<anything>`.
    public static func owner(of entry: String, target: String) -> Int32? {
        let prefix = ".\(split(target).name).tmp-"
        guard entry.hasPrefix(prefix) else { return nil }
        let rest = entry.dropFirst(prefix.count)
        let digits = rest.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, digits.count == rest.count || rest.dropFirst(digits.count).first == "." else { return nil }
        return Int32(digits)
    }

    /// Whether process `pid` is gone. This process counts as gone: call this before it writes
    /// any temporary file of its own (a file with its id is then left by an earlier process
    /// that had the same id, as happens in containers). A process of another user is alive.
    public static func isGone(_ pid: Int32) -> Bool {
        if pid == getpid() { return true }
        return pid > 0 && kill(pid, 0) == -1 && errno == ESRCH
    }

    /// Removes the temporary files of `target` whose process is gone; returns their paths.
    /// Files of a running process are never touched.
    @discardableResult
    public static func removeStale(for target: String) -> [String] {
        let (folder, _) = split(target)
        let dir = folder.isEmpty ? "." : folder
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [] }
        var removed: [String] = []
        for entry in names.sorted() {
            guard let pid = owner(of: entry, target: target), isGone(pid) else { continue }
            let path = join(folder, entry)
            if unlink(path) == 0 { removed.append(path) }
        }
        return removed
    }

    /// Writes `bytes` to `path` atomically: a temporary file in the same folder, flushed, then
    /// renamed, so an interruption never leaves a half-written file at `path`. A failure says
    /// what the system said, in words (`read-only file system`, `permission denied`...).
    public static func write(_ bytes: [UInt8], to path: String) throws {
        let tmp = self.path(for: path)
        unlink(tmp)
        // A new file or nothing: never through a link planted at the name after the unlink.
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CheckpointError.writeFailed(path: path, reason: systemReason(errno)) }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let reason = systemReason(errno)
                close(fd)
                unlink(tmp)
                throw CheckpointError.writeFailed(path: path, reason: reason)
            }
            written += n
        }
        guard close(fd) == 0 else {
            let reason = systemReason(errno)
            unlink(tmp)
            throw CheckpointError.writeFailed(path: path, reason: reason)
        }
        guard rename(tmp, path) == 0 else {
            let reason = systemReason(errno)
            unlink(tmp)
            throw CheckpointError.writeFailed(path: path, reason: reason)
        }
    }

    public static func write(_ data: Data, to path: String) throws { try write([UInt8](data), to: path) }

    /// `strerror` in lower case: "read-only file system", "no space left on device".
    public static func systemReason(_ code: Int32) -> String {
        String(cString: strerror(code)).lowercased()
    }

    static func join(_ folder: String, _ name: String) -> String {
        folder.isEmpty ? name : folder.hasSuffix("/") ? folder + name : folder + "/" + name
    }

    static func split(_ path: String) -> (folder: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return ("", path) }
        let folder = String(path[..<slash])
        return (folder.isEmpty ? "/" : folder, String(path[path.index(after: slash)...]))
    }
}
