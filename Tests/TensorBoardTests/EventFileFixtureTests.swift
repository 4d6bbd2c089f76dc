import Foundation
import TestSupport
import XCTest
@testable import TensorBoard

/// Fixtures/tensorboard/: an event file Graft's finetune wrote (Fixtures/gen_tensorboard.py)
/// and what TensorBoard's own reader parsed in it (read_back.json, by check_tensorboard.py,
/// which also checked every scalar against the run's metrics.json).
final class EventFileFixtureTests: XCTestCase {
    struct ReadBack: Decodable {
        struct Scalar: Decodable { var tag: String; var step: Int64; var wall_time: Double; var value: Double }
        var file: String
        var file_version: String
        var wall_time: Double
        var records: Int
        var scalars: [Scalar]
    }

    static let folder = FixturePaths.path("tensorboard/run")

    func fixture() throws -> (path: String, bytes: [UInt8], readBack: ReadBack) {
        let json = try Data(contentsOf: FixturePaths.url("tensorboard/read_back.json"))
        let readBack = try JSONDecoder().decode(ReadBack.self, from: json)
        let path = (Self.folder as NSString).appendingPathComponent(readBack.file)
        let bytes = try XCTUnwrap(FileManager.default.contents(atPath: path), "\(path) is missing")
        return (path, Array(bytes), readBack)
    }

    /// Every record's framing by hand: the length, little endian; the masked CRC-32C of those
    /// 8 bytes; the data; the masked CRC-32C of the data. The file ends with the last record.
    func testFramingAndEveryCRC() throws {
        let (path, bytes, readBack) = try fixture()
        var offset = 0, records = 0
        func u32(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << ($1 * 8) } }
        while offset < bytes.count {
            XCTAssertGreaterThanOrEqual(bytes.count - offset, 16, "a record cut short at \(offset)")
            let length = Int((0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << ($1 * 8) })
            let crc = CRC32C.checksum(bytes[offset..<(offset + 8)])
            XCTAssertEqual(u32(offset + 8), ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8, "length CRC at \(offset)")
            let data = bytes[(offset + 12)..<(offset + 12 + length)]
            let dataCRC = CRC32C.checksum(data)
            XCTAssertEqual(u32(offset + 12 + length), ((dataCRC >> 15) | (dataCRC << 17)) &+ 0xA282_EAD8, "data CRC at \(offset)")
            offset += 16 + length
            records += 1
        }
        XCTAssertEqual(offset, bytes.count)
        XCTAssertEqual(records, readBack.records)
        XCTAssertEqual(try TFRecord.records(in: bytes, path: path).count, readBack.records)
    }

    /// Graft's reader parses what TensorBoard parsed: the version, the first wall time, and every
    /// scalar (tag, step, wall time, float value) in order, exactly.
    func testParsesWhatTensorBoardRead() throws {
        let (path, _, readBack) = try fixture()
        let file = try EventFile(contentsOf: path)
        XCTAssertEqual(file.fileVersion, "brain.Event:2")
        XCTAssertEqual(file.fileVersion, readBack.file_version)
        XCTAssertEqual(file.wallTime, readBack.wall_time)
        XCTAssertEqual(file.scalars, readBack.scalars.map {
            ScalarEvent(tag: $0.tag, step: $0.step, wallTime: $0.wall_time, value: Float($0.value))
        })
        XCTAssertEqual(Set(file.scalars.map(\.tag)), ["train/loss", "val/loss", "val/accuracy", "lr"])
    }

    /// Writing the same scalars with the same wall times gives the same file, byte for byte,
    /// under the same name.
    func testWritingTheSameScalarsGivesTheSameBytes() throws {
        let (_, bytes, readBack) = try fixture()
        let dir = Scratch.root.appendingPathComponent("graft-tb-\(getpid())-same").path
        try? FileManager.default.removeItem(atPath: dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let writer = try EventWriter(directory: dir, wallTime: readBack.wall_time, hostname: "graft-fixture")
        for s in readBack.scalars {
            try writer.addScalar(s.tag, value: s.value, step: Int(s.step), wallTime: s.wall_time)
        }
        try writer.flush()
        XCTAssertEqual((writer.path as NSString).lastPathComponent, readBack.file)
        XCTAssertEqual(try XCTUnwrap(FileManager.default.contents(atPath: writer.path)), Data(bytes))
    }

    /// A damaged file is refused at the record that is wrong, whichever part is damaged.
    func testDamageIsFoundWhereItIs() throws {
        let (path, bytes, _) = try fixture()
        let first = 16 + Int(bytes[0])                       // the version record is short
        var dataFlip = bytes; dataFlip[first + 12] ^= 0x01
        XCTAssertThrowsError(try TFRecord.records(in: dataFlip, path: path)) {
            XCTAssertEqual($0 as? TensorBoardError, .badDataCRC(path: path, offset: first))
        }
        var lengthFlip = bytes; lengthFlip[first] ^= 0x01
        XCTAssertThrowsError(try TFRecord.records(in: lengthFlip, path: path)) {
            XCTAssertEqual($0 as? TensorBoardError, .badLengthCRC(path: path, offset: first))
        }
        var crcFlip = bytes; crcFlip[bytes.count - 1] ^= 0x80
        XCTAssertThrowsError(try TFRecord.records(in: crcFlip, path: path)) {
            guard case .badDataCRC? = $0 as? TensorBoardError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try TFRecord.records(in: Array(bytes.dropLast(3)), path: path)) {
            guard case .truncatedRecord? = $0 as? TensorBoardError else { return XCTFail("\($0)") }
        }
        XCTAssertEqual(try TFRecord.records(in: Array(bytes.prefix(first)), path: path).count, 1,
                       "a file cut between records keeps the records before the cut")
    }
}
