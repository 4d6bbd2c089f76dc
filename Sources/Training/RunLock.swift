import Checkpoint
import Foundation

/// A `finetune` run's hold on a folder it writes in: `<folder>/.graft-finetune.lock`, locked
/// with `flock(LOCK_EX | LOCK_NB)` from the checks until the run ends, so that two runs in one
/// folder never mix their outputs (one run's model beside the other's metrics.json, report and
/// resume point). The lock is the flock, never the file: the kernel releases it when the file
/// is closed or the process ends, however it ends, and the file stays behind to be reused. What
/// the file holds (the holder's pid, host, start time and command) only serves the message that
/// refuses a second run.
///
/// flock locks belong to an open file description: a second `RunLock` on the same folder
/// conflicts with the first even in the same process.
public final class RunLock {
    public static let fileName = ".graft-finetune.lock"

    /// The lock file.
    public let path: String
    private var fd: Int32

    /// Who holds (or last held) a lock, as its file says: fields it does not hold are nil.
    public struct Holder: Equatable, Sendable {
        public var pid: Int32?
        public var host: String?
        public var since: String?
        public var command: String?

        public init(pid: Int32?, host: String?, since: String?, command: String?) {
            self.pid = pid; self.host = host; self.since = since; self.command = command
        }

        /// The file's text: one `key: value` line each.
        var text: String {
            [("pid", pid.map { String($0) }), ("host", host), ("since", since), ("command", command)]
                .compactMap { key, value in value.map { "\(key): \($0)\n" } }.joined()
        }

        /// Reads what `text` wrote; anything else gives nil fields.
        init(text: String) {
            var fields: [String: String] = [:]
            for line in text.split(separator: "\n") {
                guard let colon = line.firstIndex(of: ":") else { continue }
                fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            self.init(pid: fields["pid"].flatMap { Int32($0) }, host: fields["host"], since: fields["since"], command: fields["command"])
        }

        /// "pid 123 on host h, since 2025-06-01T10:00:00Z, running: finetune ..."
        var words: String {
            guard pid != nil || host != nil || since != nil || command != nil else {
                return "it has not written who it is yet (it is starting)"
            }
            var parts: [String] = []
            var who = pid.map { "pid \($0)" } ?? "a process"
            if let h = host { who += " on host \(h)" }
            parts.append(who)
            if let s = since { parts.append("since \(s)") }
            if let c = command { parts.append("running: \(c)") }
            return parts.joined(separator: ", ")
        }
    }

    /// Why a lock cannot be taken.
    public enum Failure: Error, CustomStringConvertible, Equatable {
        /// Another run holds the folder (`folder` as the message names it).
        case held(folder: String, lockFile: String, by: Holder)
        /// The lock file cannot be opened or locked (`reason`: the system's words).
        case cannotLock(lockFile: String, reason: String)

        public var description: String {
            switch self {
            case let .held(folder, lockFile, holder):
                return "\(folder): another finetune run is writing its outputs here (\(holder.words); lock file \(lockFile)). "
                    + "Two runs in one folder would mix their model, metrics.json, report and resume point. "
                    + "Wait for that run to end or stop it, or give this run another folder (--output, --class-indices, --metrics, --report)."
            case let .cannotLock(lockFile, reason):
                return "cannot lock \(lockFile): \(reason). finetune locks its output folder so that no second run writes there at the same time: "
                    + "choose a folder on a file system that supports locks (flock), or one you can write to."
            }
        }
    }

    /// Takes the lock of `folder` ("" for the current folder), or fails at once, naming who
    /// holds it. `command` and `now` go into the file for that message.
    public init(folder: String, command: String = CommandLine.arguments.joined(separator: " "), now: Date = Date()) throws {
        path = folder.isEmpty ? RunLock.fileName : folder.hasSuffix("/") ? folder + RunLock.fileName : folder + "/" + RunLock.fileName
        // Never through a link, never blocking on a named pipe, never anything but a regular file:
        // in a shared folder, a link planted at this name would make the holder's note below
        // truncate and overwrite the link's target.
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0o644)
        guard fd >= 0 else {
            let code = errno
            let reason = code == ELOOP ? "it is a symbolic link, which finetune does not follow; remove it" : TemporaryFile.systemReason(code)
            throw Failure.cannotLock(lockFile: path, reason: reason)
        }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            fd = -1
            throw Failure.cannotLock(lockFile: path, reason: "it is not a regular file; remove it")
        }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            let holder = Holder(text: RunLock.contents(of: fd))
            close(fd)
            fd = -1
            if code == EWOULDBLOCK {
                let named = folder.isEmpty ? FileManager.default.currentDirectoryPath + " (the current folder)" : folder
                throw Failure.held(folder: named, lockFile: path, by: holder)
            }
            throw Failure.cannotLock(lockFile: path, reason: TemporaryFile.systemReason(code))
        }
        // Who holds it, for a refused run's message; a failure here leaves the lock held.
        let formatter = ISO8601DateFormatter()
        let me = Holder(pid: getpid(), host: RunLock.hostname, since: formatter.string(from: now), command: command)
        let bytes = Array(me.text.utf8)
        if ftruncate(fd, 0) == 0 {
            _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        }
    }

    /// Lets the lock go (closing the file releases the flock). Called by `deinit` too.
    public func release() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    deinit { release() }

    /// Whether the lock is still held by this object.
    public var isHeld: Bool { fd >= 0 }

    /// The lock file's text, at most 4 KiB of it.
    static func contents(of fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        return String(decoding: buffer.prefix(max(n, 0)), as: UTF8.self)
    }

    static var hostname: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }
}
