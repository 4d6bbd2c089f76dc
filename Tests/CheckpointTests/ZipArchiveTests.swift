import Foundation
import XCTest
@testable import Checkpoint

/// The zip form is read out of the bytes `Checkpoint` already holds (libzip's buffer source):
/// the file is read once, and the memory budget counts what is read out of those bytes, not
/// the bytes again.
final class ZipArchiveTests: XCTestCase {
    /// The forged zip at `path`, and its bytes.
    func forged(_ name: String, _ entries: [ZipForge.Entry]) throws -> (path: String, bytes: [UInt8]) {
        let path = tempPath(name)
        try ZipForge.write(entries, to: path)
        return (path, try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))))
    }

    /// The path names no file any more: a reader that opened it again would fail.
    func testEntriesAreReadFromTheBytesNotThePath() throws {
        let record = (0..<64).map { UInt8($0) }
        let (path, bytes) = try forged("in-memory.pth", [.init(name: "archive/data.pkl", data: [0x80, 0x02, 0x4E, 0x2E]),
                                                          .init(name: "archive/data/0", data: record)])
        try FileManager.default.removeItem(atPath: path)
        try bytes.withUnsafeBytes { file in
            let zip = try ZipArchive(file: file, path: path)
            XCTAssertEqual(zip.names, ["archive/data.pkl", "archive/data/0"])
            XCTAssertEqual(zip.fileSize, bytes.count)
            XCTAssertEqual(try zip.read("archive/data/0", budget: .unlimited(path: path)), record)
        }
    }

    /// A stored checkpoint charges its pickle and its record, once each (the tensor shares the
    /// record's buffer); the file's bytes, already in memory, are not charged again.
    func testBudgetChargesWhatIsReadOutOfTheFile() throws {
        let pickle = ZipForge.tensorPickle(numel: 1024, shape: [1024], stride: [1])
        let path = tempPath("charged.pth")
        try ZipForge.checkpoint(at: path, pickle: pickle, record: .init(name: "", data: [UInt8](repeating: 1, count: 4096)))
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let budget = MemoryBudget(path: path, limit: 1 << 20)
        let tensors = try bytes.withUnsafeBytes { file in
            let (object, materialize) = try ZipFormat.load(file: file, path: path, options: LoadOptions(), budget: budget, arena: PickleArena())
            return try StateDictExtraction.extract(object, path: path, allowObjects: false, models: []).tensors.map { try materialize($0.1, $0.0) }
        }
        XCTAssertEqual(tensors.map(\.bytes), [[UInt8](repeating: 1, count: 4096)])
        XCTAssertEqual(budget.used, pickle.count + 4096)
        XCTAssertEqual(try Checkpoint(contentsOf: path).stateDict["w"]?.bytes, tensors.first?.bytes)
    }

    /// A zip cut before its central directory, and one whose directory points past the end,
    /// are truncated files, with libzip's word for what it found.
    func testCutDirectoryIsTruncated() throws {
        let (path, bytes) = try forged("whole.pth", [.init(name: "archive/data.pkl", data: [0x80, 0x02, 0x4E, 0x2E])])
        let cut = tempPath("cut.pth")
        try Data(bytes.prefix(bytes.count - 30)).write(to: URL(fileURLWithPath: cut))
        XCTAssertThrowsError(try Checkpoint(contentsOf: cut)) { e in
            XCTAssertEqual((e as? CheckpointError)?.category, "truncated", "\(e)")
            XCTAssertTrue("\(e)".contains("the zip directory is missing or inconsistent (Not a zip archive)"), "\(e)")
        }
        var moved = bytes
        moved[moved.count - 6] &+= 1                            // the directory's offset, one byte on
        try Data(moved).write(to: URL(fileURLWithPath: cut))
        XCTAssertThrowsError(try Checkpoint(contentsOf: cut)) { e in
            XCTAssertEqual((e as? CheckpointError)?.category, "truncated", "\(e)")
            XCTAssertTrue("\(e)".contains("the zip directory is missing or inconsistent (Zip archive inconsistent)"), "\(e)")
        }
        // No bytes at all (never handed over: the zip form starts with PK) is an empty archive, not a crash.
        XCTAssertEqual(try ZipArchive(file: UnsafeRawBufferPointer(start: nil, count: 0), path: path).names, [])
    }
}
