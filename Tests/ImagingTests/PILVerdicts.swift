import Foundation
import XCTest
@testable import Imaging

/// A manifest of PIL's verdict on each file of a folder, as written by
/// Fixtures/gen_damaged.py (Fixtures/damaged) and Fixtures/check_pillow_corpus.py.
struct PILVerdicts: Decodable {
    struct Case: Decodable {
        let name: String, file: String
        let kind: String?, what: String?
        /// "read" or "refused"
        let pil: String
        let error: String?
        let width: Int?, height: Int?
        let rgb_sha256: String?
        /// Raw RGB8 pixels, when the generator kept them.
        let rgb: String?
    }
    let pillow: String
    let cases: [Case]

    static func load(_ folder: URL) throws -> PILVerdicts {
        try JSONDecoder().decode(PILVerdicts.self, from: Data(contentsOf: folder.appendingPathComponent("expected.json")))
    }
}

/// How Graft's decoder fares against one PIL verdict.
enum Agreement: Equatable {
    case identical, bothRefuse
    case differentSize(String), differentPixels(String)
    case graftRefuses(String), graftReads
}

func compare(_ c: PILVerdicts.Case, in folder: URL) -> Agreement {
    let path = folder.appendingPathComponent(c.file).path
    let decoded: RGBImage
    do {
        decoded = try ImageDecoder.decode(path: path)
    } catch {
        return c.pil == "read" ? .graftRefuses("\(error)") : .bothRefuse
    }
    guard c.pil == "read", let w = c.width, let h = c.height else { return .graftReads }
    guard decoded.width == w, decoded.height == h else {
        return .differentSize("Graft \(decoded.width)x\(decoded.height), PIL \(w)x\(h)")
    }
    if let rel = c.rgb, let expected = try? [UInt8](Data(contentsOf: folder.appendingPathComponent(rel))) {
        guard expected.count == decoded.pixels.count else { return .differentPixels("PIL's file has \(expected.count) bytes") }
        let diffs = zip(decoded.pixels, expected).map { abs(Int($0) - Int($1)) }
        let count = diffs.filter { $0 != 0 }.count
        return count == 0 ? .identical : .differentPixels("\(count) of \(expected.count) bytes differ, by up to \(diffs.max() ?? 0)")
    }
    return sha256Hex(decoded.pixels) == c.rgb_sha256 ? .identical : .differentPixels("pixel hash differs")
}
