import XCTest
@testable import Checkpoint

final class PickleTests: XCTestCase {
    /// pth-format.md Appendix A: data.pkl of {'a': arange(6.).reshape(2,3), 'b': tensor([1,2,3])}.
    static let appendixA: [UInt8] = """
        80 02 7d 71 00 28 58 01 00 00 00 61 71 01 63 74 6f 72 63 68 2e 5f 75 74 69 6c 73 0a 5f 72 65 62
        75 69 6c 64 5f 74 65 6e 73 6f 72 5f 76 32 0a 71 02 28 28 58 07 00 00 00 73 74 6f 72 61 67 65 71
        03 63 74 6f 72 63 68 0a 46 6c 6f 61 74 53 74 6f 72 61 67 65 0a 71 04 58 01 00 00 00 30 71 05 58
        03 00 00 00 63 70 75 71 06 4b 06 74 71 07 51 4b 00 4b 02 4b 03 86 71 08 4b 03 4b 01 86 71 09 89
        63 63 6f 6c 6c 65 63 74 69 6f 6e 73 0a 4f 72 64 65 72 65 64 44 69 63 74 0a 71 0a 29 52 71 0b 74
        71 0c 52 71 0d 58 01 00 00 00 62 71 0e 68 02 28 28 68 03 63 74 6f 72 63 68 0a 4c 6f 6e 67 53 74
        6f 72 61 67 65 0a 71 0f 58 01 00 00 00 31 71 10 68 06 4b 03 74 71 11 51 4b 00 4b 03 85 71 12 4b
        01 85 71 13 89 68 0a 29 52 71 14 74 71 15 52 71 16 75 2e
        """.split(whereSeparator: \.isWhitespace).map { UInt8($0, radix: 16)! }

    func testAppendixAVector() throws {
        var reader = ByteReader(PickleTests.appendixA, path: "data.pkl")
        var vm = PickleMachine(path: "data.pkl") { try ZipFormat.persistentStorage($0, path: "data.pkl") }
        let v = try vm.load(&reader)
        XCTAssertTrue(reader.atEnd)
        let d = try XCTUnwrap(v.asDict)
        XCTAssertEqual(d.keys.compactMap(\.asString), ["a", "b"])
        let a = try XCTUnwrap(d["a"]?.asTensor), b = try XCTUnwrap(d["b"]?.asTensor)
        XCTAssertEqual(a.dtype, .float32); XCTAssertEqual(a.shape, [2, 3]); XCTAssertEqual(a.stride, [3, 1]); XCTAssertEqual(a.storage.key, "0")
        XCTAssertEqual(b.dtype, .int64); XCTAssertEqual(b.shape, [3]); XCTAssertEqual(b.storage.numel, 3); XCTAssertEqual(b.storage.key, "1")
    }

    /// Every prefix of a valid pickle is an error, never a crash.
    func testEveryTruncationIsAnError() {
        for n in 0..<PickleTests.appendixA.count - 1 {
            var reader = ByteReader(Array(PickleTests.appendixA.prefix(n)), path: "p")
            var vm = PickleMachine(path: "p") { try ZipFormat.persistentStorage($0, path: "p") }
            XCTAssertThrowsError(try vm.load(&reader), "prefix \(n)")
        }
    }

    func testUnknownGlobalsAreAllNamedAndNothingRuns() throws {
        // GLOBAL os system, 'echo hi', TUPLE1, REDUCE; then GLOBAL builtins eval ... inside a list.
        var p: [UInt8] = [0x80, 0x02, 0x5D, 0x28]
        p += [0x63] + Array("os\nsystem\n".utf8) + [0x58, 7, 0, 0, 0] + Array("echo hi".utf8) + [0x85, 0x52]
        p += [0x63] + Array("__builtin__\neval\n".utf8) + [0x58, 1, 0, 0, 0] + Array("1".utf8) + [0x85, 0x52]
        p += [0x65, 0x2E]
        var reader = ByteReader(p, path: "evil")
        var vm = PickleMachine(path: "evil") { _ in .none }
        _ = try vm.load(&reader)
        XCTAssertEqual(vm.unknownGlobals.map(\.name), ["os.system", "builtins.eval"])
        XCTAssertEqual(vm.unknownGlobals.map(\.offset), [4, 29])
    }

    func testSetItemOnNonDictIsRefused() {
        let p: [UInt8] = [0x80, 0x02, 0x5D, 0x4B, 1, 0x4B, 2, 0x73, 0x2E]   // [] 1 2 SETITEM
        var reader = ByteReader(p, path: "p")
        var vm = PickleMachine(path: "p") { _ in .none }
        XCTAssertThrowsError(try vm.load(&reader)) { XCTAssertEqual(($0 as? CheckpointError)?.category, "malformed") }
    }

    func testLong1IsSignedLittleEndian() {
        guard case .int(let v) = PickleMachine.long([0xFF]) else { return XCTFail() }
        XCTAssertEqual(v, -1)
        guard case .int(let w) = PickleMachine.long([0x00, 0x01]) else { return XCTFail() }
        XCTAssertEqual(w, 256)
    }

    func testSHA256Vectors() {
        XCTAssertEqual(sha256Hex([UInt8]()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(sha256Hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        XCTAssertEqual(sha256Hex(million), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// A slice hashes its own bytes, and a collection without contiguous storage the same as
    /// the array of its bytes.
    func testSHA256OfSlicesAndNonContiguousBytes() {
        let text = Array("xabcx".utf8)
        XCTAssertEqual(sha256Hex(text[1..<4]), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(sha256Hex(repeatElement(UInt8(ascii: "a"), count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testHubHashPrefix() {
        XCTAssertEqual(Checkpoint.hubHashPrefix("resnet34-333f7ec4.pth"), "333f7ec4")
        XCTAssertEqual(Checkpoint.hubHashPrefix("resnet50-0676ba61.pth"), "0676ba61")
        XCTAssertNil(Checkpoint.hubHashPrefix("resnet34-pre.pth"))
        XCTAssertNil(Checkpoint.hubHashPrefix("resNet34.pth"))
        XCTAssertNil(Checkpoint.hubHashPrefix("model-1234.pth"))
    }
}
