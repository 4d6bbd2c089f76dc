import Multipart
import XCTest

/// multipart/form-data parsing: what browsers and curl send, parsed exactly; everything else
/// refused with the reason.
final class FormDataTests: XCTestCase {
    func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    func testPartsAsCurlSendsThem() throws {
        let body = bytes("--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a b.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n")
            + [0xff, 0xd8, 13, 10, 45, 45, 88, 121, 0] + bytes("\r\n--XyZ\r\ncontent-disposition: form-data; name=note\r\n\r\n\r\n--XyZ--\r\nepilogue")
        let parts = try FormData.parse(body, boundary: "XyZ")
        XCTAssertEqual(parts.count, 2)
        // "\r\n--Xy" is not the delimiter: the body keeps it.
        XCTAssertEqual(parts[0].body, [0xff, 0xd8, 13, 10, 45, 45, 88, 121, 0])
        XCTAssertEqual(parts[0].name, "image")
        XCTAssertEqual(parts[0].filename, "a b.jpg")
        XCTAssertEqual(parts[0].header("content-type"), "image/jpeg")
        XCTAssertEqual(parts[1].name, "note")
        XCTAssertNil(parts[1].filename)
        XCTAssertEqual(parts[1].body, [])
    }

    func testDelimitersOnlyAtLineStarts() throws {
        let body = bytes("preamble\r\n--b  \r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nx--b y\r\n-b\r\n--b--")
        let parts = try FormData.parse(body, boundary: "b")
        XCTAssertEqual(parts.map(\.body), [bytes("x--b y\r\n-b")])
    }

    func testParameters() {
        let (value, p) = FormData.parameters("Form-Data; NAME=\"im;age\"; filename=\"x\\\"y.png\"; filename=second; empty=")
        XCTAssertEqual(value, "form-data")
        XCTAssertEqual(p["name"], "im;age")
        XCTAssertEqual(p["filename"], "x\"y.png", "the first filename, its escape removed")
        XCTAssertEqual(p["empty"], "")
        XCTAssertEqual(FormData.parameters("multipart/form-data; boundary=\"a b\"").parameters["boundary"], "a b")
    }

    func testMalformedBodiesAreRefusedWithTheReason() {
        let good = bytes("--b\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nDATA\r\n--b--")
        let cases: [(String, [UInt8], String, FormData.Failure)] = [
            ("no delimiter", bytes("hello"), "b", .noOpeningDelimiter),
            ("empty", [], "b", .noOpeningDelimiter),
            ("text after delimiter", bytes("--bx\r\n\r\n\r\n--b--"), "b", .badDelimiter(part: 1)),
            ("header name above 127", bytes("--b\r\n") + [0xc3, 0xa9] + bytes(": v\r\n\r\nx\r\n--b--"), "b", .badHeader(part: 1)),
            ("header without colon", bytes("--b\r\nContent-Disposition form-data\r\n\r\nx\r\n--b--"), "b", .badHeader(part: 1)),
            ("empty header name", bytes("--b\r\n: v\r\n\r\nx\r\n--b--"), "b", .badHeader(part: 1)),
            ("space in header name", bytes("--b\r\nContent Type: v\r\n\r\nx\r\n--b--"), "b", .badHeader(part: 1)),
            ("control in value", bytes("--b\r\nA: v\u{1}\r\n\r\nx\r\n--b--"), "b", .badHeader(part: 1)),
            ("headers never end", bytes("--b\r\nA: v\r\n"), "b", .truncated(part: 1)),
            ("no close", Array(good.dropLast(5)), "b", .truncated(part: 1)),
            ("ends after delimiter", bytes("--b"), "b", .truncated(part: 1)),
            ("second part cut", good.dropLast(2) + bytes("\r\nA: b\r\n\r\nxx"), "b", .truncated(part: 2)),
            ("bad boundary", good, "", .badBoundary),
            ("boundary with a quote", good, "a\"b", .badBoundary),
            ("boundary of 71", good, String(repeating: "b", count: 71), .badBoundary),
            ("huge header block", bytes("--b\r\nA: " + String(repeating: "v", count: FormData.maxHeaderBytes) + "\r\n\r\nx\r\n--b--"), "b", .badHeader(part: 1)),
        ]
        for (name, body, boundary, failure) in cases {
            XCTAssertThrowsError(try FormData.parse(body, boundary: boundary), name) { error in
                XCTAssertEqual(error as? FormData.Failure, failure, name)
            }
        }
        let many = Array(repeating: bytes("--b\r\n\r\n\r\n"), count: 5).flatMap { $0 } + bytes("--b--")
        XCTAssertEqual(try FormData.parse(many, boundary: "b").count, 5)
        XCTAssertThrowsError(try FormData.parse(many, boundary: "b", maxParts: 4)) { error in
            XCTAssertEqual(error as? FormData.Failure, .tooManyParts(limit: 4))
        }
    }
}
