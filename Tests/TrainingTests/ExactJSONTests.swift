import Foundation
import TestSupport
import XCTest

/// The tests read the JSON Graft writes (metrics.json, resume files) with `ExactJSON`: the
/// numbers must come back bit for bit, in the shapes JSONSerialization gives.
final class ExactJSONTests: XCTestCase {
    func testDoublesWrittenByJSONEncoderComeBackBitForBit() throws {
        var generator = SystemRandomNumberGenerator()
        let values = (0..<20_000).map { i -> Double in
            switch i % 4 {
            case 0: return Double.random(in: 0..<1, using: &generator)
            case 1: return Double(Float.random(in: -10..<10, using: &generator))
            case 2: return Double.random(in: -1e-3..<1e-3, using: &generator)
            default: return Double(bitPattern: UInt64.random(in: 0x3C00_0000_0000_0000..<0x4340_0000_0000_0000, using: &generator))
            }
        }
        let read = try XCTUnwrap(ExactJSON.object(with: JSONEncoder().encode(["v": values])) as? [String: Any])
        let back = try XCTUnwrap(read["v"] as? [Any]).map { ($0 as? Double) ?? .nan }
        XCTAssertEqual(back.count, values.count)
        let wrong = zip(back, values).filter { $0.0.bitPattern != $0.1.bitPattern }
        XCTAssertEqual(wrong.count, 0, "read back differently, e.g. \(wrong.prefix(3))")
    }

    func testShapesAreJSONSerializations() throws {
        let text = #"{"i": 3, "d": 0.5, "neg": -2, "t": true, "f": false, "n": null, "s": "x\u00e9", "a": [1, "b", [2.25]], "o": {"k": 1e300}, "big": 18446744073709551615}"#
        let object = try XCTUnwrap(ExactJSON.object(with: Data(text.utf8)) as? [String: Any])
        XCTAssertEqual(object["i"] as? Int, 3)
        XCTAssertEqual(object["i"] as? Double, 3)
        XCTAssertEqual(object["d"] as? Double, 0.5)
        XCTAssertNil(object["d"] as? Int)
        XCTAssertEqual(object["neg"] as? Int, -2)
        XCTAssertEqual(object["t"] as? Bool, true)
        XCTAssertEqual(object["f"] as? Bool, false)
        XCTAssertTrue(object["n"] is NSNull)
        XCTAssertEqual(object["s"] as? String, "xé")
        let a = try XCTUnwrap(object["a"] as? [Any])
        XCTAssertEqual(a.count, 3)
        XCTAssertEqual(a[0] as? Int, 1)
        XCTAssertEqual(a[1] as? String, "b")
        XCTAssertEqual((a[2] as? [Any])?.first as? Double, 2.25)
        XCTAssertEqual((object["o"] as? [String: Any])?["k"] as? Double, 1e300)
        XCTAssertEqual(object["big"] as? UInt64, 18_446_744_073_709_551_615, "a UInt64 seed stays exact")
        XCTAssertEqual(Set(object.keys), ["i", "d", "neg", "t", "f", "n", "s", "a", "o", "big"])
        XCTAssertThrowsError(try ExactJSON.object(with: Data("{\"a\": ".utf8)))
    }
}
