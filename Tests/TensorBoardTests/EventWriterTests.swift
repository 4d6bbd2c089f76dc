import TestSupport
import Foundation
import XCTest
@testable import TensorBoard

final class EventWriterTests: XCTestCase {
    func scratch(_ name: String) -> String {
        let dir = Scratch.root.appendingPathComponent("graft-tb-\(getpid())-\(name)").path
        try? FileManager.default.removeItem(atPath: dir)
        return dir
    }

    /// TensorFlow's EventsWriter: "%s.out.tfevents.%010lld.%s" with the prefix "events".
    func testFileNameAsTensorFlowWritesIt() {
        XCTAssertEqual(EventWriter.fileName(wallTime: 123.9, hostname: "h"), "events.out.tfevents.0000000123.h")
        XCTAssertEqual(EventWriter.fileName(wallTime: 1_764_614_400.5, hostname: "box"), "events.out.tfevents.1764614400.box")
        XCTAssertFalse(EventWriter.hostname.isEmpty)
    }

    /// The folder is made with its parents; the version record is on disk at once, the scalars
    /// at flush; a second writer in the same second does not overwrite the first file.
    func testWritesVersionAtOnceAndScalarsAtFlush() throws {
        let root = scratch("flush")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dir = root + "/a/b"
        try EventWriter.checkDirectory(dir)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root), "the check creates nothing")
        let w = try EventWriter(directory: dir, wallTime: 1000.25, hostname: "h")
        var file = try EventFile(contentsOf: w.path)
        XCTAssertEqual(file.fileVersion, "brain.Event:2")
        XCTAssertEqual(file.wallTime, 1000.25)
        XCTAssertEqual(file.scalars, [])
        try w.addScalar("lr", value: 0.1, step: 1, wallTime: 1001)
        XCTAssertEqual(try EventFile(contentsOf: w.path).scalars, [], "not flushed yet")
        try w.flush()
        file = try EventFile(contentsOf: w.path)
        XCTAssertEqual(file.scalars, [ScalarEvent(tag: "lr", step: 1, wallTime: 1001, value: Float(0.1))])
        let again = try EventWriter(directory: dir, wallTime: 1000.75, hostname: "h")
        XCTAssertEqual(again.path, w.path + ".1")
        XCTAssertEqual(try EventFile(contentsOf: w.path).scalars.count, 1)
    }

    /// `--tensorboard a`: a one-character folder name is made in the current folder (NSString's
    /// deletingLastPathComponent, used before, trapped on it).
    func testOneCharacterFolderIsMade() throws {
        let dir = Scratch.root.appendingPathComponent("graft-tb1-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let here = FileManager.default.currentDirectoryPath
        FileManager.default.changeCurrentDirectoryPath(dir.path)
        defer { FileManager.default.changeCurrentDirectoryPath(here) }
        _ = try EventWriter(directory: "a")
        var isDir: ObjCBool = false
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("a").path, isDirectory: &isDir) && isDir.boolValue)
        XCTAssertEqual(EventWriter.parent(of: "a/b/"), "a")
        XCTAssertEqual(EventWriter.parent(of: "/a"), "/")
        XCTAssertEqual(EventWriter.parent(of: "."), "")
    }

    func testRefusesAFile() throws {
        let root = scratch("refuse")
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let file = root + "/plain"
        XCTAssertTrue(FileManager.default.createFile(atPath: file, contents: Data()))
        XCTAssertThrowsError(try EventWriter.checkDirectory(file)) {
            XCTAssertEqual($0 as? TensorBoardError, .notADirectory(path: file))
        }
        XCTAssertThrowsError(try EventWriter.checkDirectory(file + "/below")) {
            XCTAssertEqual($0 as? TensorBoardError, .notADirectory(path: file))
        }
    }

    func testRefusesAReadOnlyFolder() throws {
        guard getuid() != 0 else {
            throw XCTSkip("runs as root, and root writes into a folder whatever its mode: the read-only case needs another user")
        }
        let root = scratch("read-only")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let locked = root + "/locked"
        try FileManager.default.createDirectory(atPath: locked, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o500], ofItemAtPath: locked)
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: locked) }
        XCTAssertThrowsError(try EventWriter.checkDirectory(locked + "/runs")) {
            XCTAssertEqual($0 as? TensorBoardError, .notWritable(path: locked))
        }
    }
}
