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
    private let handle: FileHandle
    private var pending: [UInt8] = []

    /// Creates the folder when missing, and the file in it with its version record (written at
    /// once). `wallTime` (seconds since 1970) stamps the file's name and first event; tests
    /// fix it. A name already taken gets `.1`, `.2`... after it.
    public init(directory: String, wallTime: Double = Date().timeIntervalSince1970,
                hostname: String = EventWriter.hostname) throws {
        try EventWriter.checkDirectory(directory)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw TensorBoardError.cannotCreate(path: directory, why: "\(error.localizedDescription)")
        }
        let base = (directory as NSString).appendingPathComponent(EventWriter.fileName(wallTime: wallTime, hostname: hostname))
        var candidate = base, n = 0
        while FileManager.default.fileExists(atPath: candidate) { n += 1; candidate = base + ".\(n)" }
        guard FileManager.default.createFile(atPath: candidate, contents: nil),
              let h = FileHandle(forWritingAtPath: candidate) else {
            throw TensorBoardError.cannotCreate(path: candidate, why: "the file could not be opened for writing")
        }
        path = candidate
        handle = h
        var first = Tensorboard_Event()
        first.wallTime = wallTime
        first.fileVersion = EventWriter.fileVersion
        pending += try EventWriter.record(first, path: candidate)
        try flush()
    }

    deinit { try? handle.close() }

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
            let up = (parent as NSString).deletingLastPathComponent
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
        do {
            try handle.write(contentsOf: Data(pending))
            try handle.synchronize()
        } catch {
            throw TensorBoardError.cannotWrite(path: path, why: "\(error.localizedDescription)")
        }
        pending.removeAll(keepingCapacity: true)
    }

    static func record(_ event: Tensorboard_Event, path: String) throws -> [UInt8] {
        do {
            return TFRecord.frame(try event.serializedBytes())
        } catch {
            throw TensorBoardError.cannotWrite(path: path, why: "the event could not be encoded: \(error)")
        }
    }
}
