import Foundation
import SwiftProtobuf

/// A scalar as TensorBoard shows it: a point of the curve `tag`.
public struct ScalarEvent: Equatable, Sendable {
    public var tag: String
    public var step: Int64
    public var wallTime: Double
    public var value: Float

    public init(tag: String, step: Int64, wallTime: Double, value: Float) {
        self.tag = tag; self.step = step; self.wallTime = wallTime; self.value = value
    }
}

/// Writes one TensorBoard event file, `DIR/events.out.tfevents.<unix seconds>.<hostname>` as
/// TensorFlow's EventsWriter names it: first an Event with `file_version: "brain.Event:2"`,
/// then one Event per scalar (a Summary with one `simple_value`), each a TFRecord. Scalars are
/// kept in memory until `flush()`, which appends them to the file; the file only ever grows,
/// so a run killed at any point leaves every flushed record readable.
public final class EventWriter {
    /// The file's version, as TensorFlow and TensorBoard write it.
    public static let fileVersion = "brain.Event:2"

    public let path: String
    private let fd: Int32
    private var pending: [UInt8] = []

    /// Creates the folder when missing, and the file in it with its version record (written at
    /// once). `wallTime` (seconds since 1970) stamps the file's name and first event; tests
    /// fix it. A name already taken gets `.1`, `.2`... after it.
    public init(directory: String, wallTime: Double = Date().timeIntervalSince1970,
                hostname: String = EventWriter.hostname) throws {
        try EventWriter.checkDirectory(directory)
        try EventWriter.makeFolders(directory)
        let base = (directory as NSString).appendingPathComponent(EventWriter.fileName(wallTime: wallTime, hostname: hostname))
        var candidate = base, n = 0
        var opened: Int32
        while true {
            opened = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if opened >= 0 { break }
            let code = errno
            if code == EINTR { continue }
            guard code == EEXIST else { throw TensorBoardError.cannotCreate(path: candidate, why: EventWriter.systemReason(code)) }
            n += 1
            candidate = base + ".\(n)"
        }
        path = candidate
        fd = opened
        var first = Tensorboard_Event()
        first.wallTime = wallTime
        first.fileVersion = EventWriter.fileVersion
        pending += try EventWriter.record(first, path: candidate)
        try flush()
    }

    deinit { close(fd) }

    /// Makes `directory` and the folders above it that are missing (as `mkdir -p`); a failure
    /// names the folder that could not be made and the system's reason, in words.
    /// `path` without its last component ("a/b" is "a", "/a" is "/", "a" is ""), as NSString's
    /// `deletingLastPathComponent` gives it but without its trap on a one-character path
    /// (`--tensorboard a`). Inference's `OutputPath.folder(of:)` is the same rule; TensorBoard
    /// depends on nothing of Graft's.
    static func parent(of path: String) -> String {
        var p = Substring(path)
        while p.count > 1, p.hasSuffix("/") { p = p.dropLast() }
        guard let slash = p.lastIndex(of: "/") else { return "" }
        var head = p[..<slash]
        while head.count > 1, head.hasSuffix("/") { head = head.dropLast() }
        return head.isEmpty ? "/" : String(head)
    }

    static func makeFolders(_ directory: String) throws {
        var missing: [String] = []
        var folder = directory
        var isDir: ObjCBool = false
        while !folder.isEmpty && folder != "/" && folder != "." && !FileManager.default.fileExists(atPath: folder, isDirectory: &isDir) {
            missing.append(folder)
            folder = parent(of: folder)
        }
        for f in missing.reversed() where mkdir(f, 0o777) != 0 && errno != EEXIST {
            throw TensorBoardError.cannotCreate(path: f, why: systemReason(errno))
        }
    }

    /// `strerror` in lower case: "read-only file system", "no space left on device".
    static func systemReason(_ code: Int32) -> String { String(cString: strerror(code)).lowercased() }

    /// `events.out.tfevents.0001764614400.host`: seconds zero-padded to ten digits.
    public static func fileName(wallTime: Double, hostname: String) -> String {
        let seconds = Int64(wallTime.rounded(.down))
        let digits = String(seconds)
        let padded = String(repeating: "0", count: max(0, 10 - digits.count)) + digits
        return "events.out.tfevents.\(padded).\(hostname.replacingOccurrences(of: "/", with: "_"))"
    }

    /// This machine's name (gethostname), as TensorFlow puts it in the file's name.
    public static var hostname: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }

    /// Fails unless event files can be written in `directory`: an existing folder that can be
    /// written to, or a path whose nearest existing parent is one. Creates nothing.
    public static func checkDirectory(_ directory: String) throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: directory, isDirectory: &isDir) {
            guard isDir.boolValue else { throw TensorBoardError.notADirectory(path: directory) }
            guard fm.isWritableFile(atPath: directory) else { throw TensorBoardError.notWritable(path: directory) }
            return
        }
        var parent = directory
        repeat {
            let up = EventWriter.parent(of: parent)
            parent = up.isEmpty ? "." : up
            if fm.fileExists(atPath: parent, isDirectory: &isDir) {
                guard isDir.boolValue else { throw TensorBoardError.notADirectory(path: parent) }
                guard fm.isWritableFile(atPath: parent) else { throw TensorBoardError.notWritable(path: parent) }
                return
            }
        } while parent != "/" && parent != "."
        throw TensorBoardError.notWritable(path: directory)
    }

    /// Adds the point (`step`, `value`) to the curve `tag`; it reaches the file at the next
    /// `flush()`.
    public func addScalar(_ tag: String, value: Double, step: Int, wallTime: Double = Date().timeIntervalSince1970) throws {
        var v = Tensorboard_Summary.Value()
        v.tag = tag
        v.simpleValue = Float(value)
        var event = Tensorboard_Event()
        event.wallTime = wallTime
        event.step = Int64(step)
        event.summary.value = [v]
        pending += try EventWriter.record(event, path: path)
    }

    /// Appends the scalars added since the last flush to the file.
    public func flush() throws {
        guard !pending.isEmpty else { return }
        var written = 0
        while written < pending.count {
            let n = pending.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw TensorBoardError.cannotWrite(path: path, why: EventWriter.systemReason(n < 0 ? errno : ENOSPC)) }
            written += n
        }
        pending.removeAll(keepingCapacity: true)
        if fsync(fd) != 0 && errno != EINVAL && errno != EROFS {
            throw TensorBoardError.cannotWrite(path: path, why: EventWriter.systemReason(errno))
        }
    }

    static func record(_ event: Tensorboard_Event, path: String) throws -> [UInt8] {
        do {
            return TFRecord.frame(try event.serializedBytes())
        } catch {
            throw TensorBoardError.cannotWrite(path: path, why: "the event could not be encoded: \(error)")
        }
    }
}
