import TestSupport
import XCTest
@testable import Inference

/// Expected strings are what CPython 3.11 prints (checked with python3 when written).
final class PythonFormatTests: XCTestCase {
    func testGeneral3MatchesPython() {
        let cases: [(Double, String)] = [
            (0.99876, "0.999"), (1.0, "1.0"), (0.5, "0.5"), (0.000123456, "0.000123"), (1.2345e-05, "1.23e-05"),
            (0.0, "0.0"), (2.5e-07, "2.5e-07"), (0.1, "0.1"), (123.456, "1.23e+02"), (99.96, "1e+02"), (12.3, "12.3"), (-0.5, "-0.5"), (1234.5, "1.23e+03"),
            (Double(Float(0.9995)), "0.999"), (0.00999, "0.00999"), (1e-05, "1e-05"), (0.12345, "0.123"),
        ]
        for (x, s) in cases { XCTAssertEqual(PythonFormat.general3(x), s, "\(x)") }
    }

    func testPaddingCountsCodePoints() {
        XCTAssertEqual(PythonFormat.leftPadded("daisy", 10), "daisy     ")
        XCTAssertEqual(PythonFormat.leftPadded("sunflowers", 10), "sunflowers")
        XCTAssertEqual(PythonFormat.leftPadded("玫瑰", 10), "玫瑰        ")
        XCTAssertEqual(PythonFormat.leftPadded("e\u{301}", 3), "e\u{301} ")   // two code points
    }

    func testCodePointSortIsPythons() {
        let names = ["b", "B", "a", "10", "2", "Z", "é", "e\u{301}"]
        XCTAssertEqual(names.sorted(by: PythonFormat.codePointLess), ["10", "2", "B", "Z", "a", "b", "e\u{301}", "é"])
    }

    func testClassIndicesJSONIsJsonDumpsIndent4() {
        let c = ClassIndices(names: ["daisy", "dandelion", "玫瑰", "a/b \"q\""])
        XCTAssertEqual(c.json, "{\n    \"0\": \"daisy\",\n    \"1\": \"dandelion\",\n    \"2\": \"\\u73ab\\u7470\",\n    \"3\": \"a/b \\\"q\\\"\"\n}")
        XCTAssertEqual(PythonFormat.jsonString("😀"), "\"\\ud83d\\ude00\"")
    }

    func testClassIndicesRoundTrip() throws {
        let c = ClassIndices(names: (0..<12).map { "class\($0)" })
        let path = Scratch.root.appendingPathComponent("ci-\(getpid()).json").path
        try c.write(to: path)
        XCTAssertEqual(try ClassIndices(contentsOf: path), c)
        try Data("{\"0\": \"a\", \"2\": \"b\"}".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try ClassIndices(contentsOf: path))
    }
}
