import Foundation
import XCTest
@testable import Checkpoint

final class WriterTests: XCTestCase {
    /// Every dtype, 0-d and zero-size tensors, odd key names: written and read back bit-exactly.
    func testRoundTripEveryDType() throws {
        var sd = StateDict()
        for (i, dt) in DType.allCases.enumerated() {
            let shape = [2, 3]
            let bytes = (0..<(6 * dt.size)).map { UInt8(truncatingIfNeeded: $0 * 37 + i * 11) }
            sd["t.\(dt.rawValue)"] = TensorData(dtype: dt, shape: shape, bytes: dt == .bool ? bytes.map { $0 & 1 } : bytes)
        }
        sd["bn1.num_batches_tracked"] = TensorData(shape: [], int64s: [7])
        sd["empty"] = TensorData(dtype: .float32, shape: [0, 3], bytes: [])
        sd["wide"] = TensorData(shape: [70000], floats: (0..<70000).map { Float($0) * 0.5 })
        sd["unicode ключ \"quoted\""] = TensorData(shape: [1, 1, 1, 1, 1], floats: [-0.0])
        let path = tempPath("roundtrip.pth")
        try sd.write(to: path)
        let back = try Checkpoint(contentsOf: path)
        XCTAssertEqual(back.format, .zip)
        XCTAssertEqual(back.stateDict.keys, sd.keys)
        XCTAssertEqual(back.stateDict, sd)
    }

    /// More than 1000 keys: torch's pickles batch SETITEMS by 1000; so does the writer.
    func testManyKeysKeepOrder() throws {
        var sd = StateDict()
        for i in (0..<2500).reversed() { sd["k\(i)"] = TensorData(shape: [1], floats: [Float(i)]) }
        let path = tempPath("many.pth")
        try sd.write(to: path)
        XCTAssertEqual(try Checkpoint(contentsOf: path).stateDict, sd)
    }

    /// The fixtures torch wrote, written again by Graft, read back identical.
    func testRewriteTorchFixture() throws {
        let original = try Checkpoint(contentsOf: FixtureManifest.path("tiny_basic.pth")).stateDict
        let path = tempPath("tiny_basic_rewritten.pth")
        try original.write(to: path)
        XCTAssertEqual(try Checkpoint(contentsOf: path).stateDict, original)
    }

    /// The same state dict gives the same bytes whenever it is written: no time stamp in any
    /// zip header (always 1980-01-01 00:00, the first DOS date), nothing else that changes.
    func testSameStateDictSameBytes() throws {
        let sd = try Checkpoint(contentsOf: FixtureManifest.path("tiny_basic.pth")).stateDict
        let path = tempPath("stamp.pth")
        try sd.write(to: path)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        // Every local header (PK\3\4) and central header (PK\1\2): modification time and date.
        var headers = 0
        for i in 0..<(bytes.count - 16) where bytes[i] == 0x50 && bytes[i + 1] == 0x4B {
            let field: Int
            switch (bytes[i + 2], bytes[i + 3]) {
            case (3, 4): field = i + 10
            case (1, 2): field = i + 12
            default: continue
            }
            headers += 1
            XCTAssertEqual(Array(bytes[field..<(field + 4)]), [0, 0, 0x21, 0], "time stamp at byte \(field)")
        }
        XCTAssertGreaterThanOrEqual(headers, 2 * (sd.keys.count + 3))
        // Written again with the file's own time moved: byte for byte the same.
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 0)], ofItemAtPath: path)
        // (The same file name: the zip's root folder is named after it, as torch.save names it.)
        let folder = tempPath("again")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try sd.write(to: folder + "/stamp.pth")
        XCTAssertTrue(try [UInt8](Data(contentsOf: URL(fileURLWithPath: folder + "/stamp.pth"))) == bytes, "not the same bytes")
    }

    func testWriteIntoMissingFolderFailsClearly() {
        let sd = StateDict([("a", TensorData(shape: [1], floats: [1]))])
        XCTAssertThrowsError(try sd.write(to: "/nonexistent-folder/x.pth")) { e in
            XCTAssertEqual((e as? CheckpointError)?.category, "write_failed")
        }
    }
}

final class ConversionTests: XCTestCase {
    /// float32 → float16/bfloat16 rounding, against values torch gives (`torch.tensor(x).half()`).
    func testHalfAndBFloat16Rounding() {
        let xs: [Float] = [0, -0.0, 1, 65504, 65520, 1e-8, 6.0e-8, 3.0e-5, 0.1, 1.0009766, .infinity, -2.5]
        // torch.tensor(xs).half().view(torch.int16) & 0xffff
        let half: [UInt16] = [0x0000, 0x8000, 0x3C00, 0x7BFF, 0x7C00, 0x0000, 0x0001, 0x01F7, 0x2E66, 0x3C01, 0x7C00, 0xC100]
        XCTAssertEqual(xs.map(floatToHalf), half)
        for h in half where h & 0x7C00 != 0x7C00 { XCTAssertEqual(floatToHalf(halfToFloat(h)), h) }
        // torch.tensor([0.1, 1.0, 3.14159, -1e-3]).bfloat16().view(torch.int16)
        XCTAssertEqual([Float(0.1), 1.0, 3.14159, -1e-3].map(floatToBFloat16), [0x3DCD, 0x3F80, 0x4049, 0xBA83])
    }
}
