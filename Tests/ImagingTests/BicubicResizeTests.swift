import Foundation
import TestSupport
import XCTest
@testable import Imaging

/// Pillow 13's `Image.resize(size, Image.BICUBIC, box)` and torchvision's bicubic
/// `Resize` + `CenterCrop`, byte for byte (Fixtures/bicubic, written by Fixtures/gen_bicubic.py).
final class BicubicResizeTests: XCTestCase {
    struct Manifest: Decodable {
        struct Source: Decodable { let name: String, width: Int, height: Int, file: String, sha256: String }
        struct Resize: Decodable {
            let source: String, width: Int, height: Int, box: [Float]?, file: String, sha256: String
        }
        struct Eval: Decodable {
            let source: String, resize: Int, crop: Int
            let resized_width: Int, resized_height: Int, resized_sha256: String
            let width: Int, height: Int, file: String, sha256: String
        }
        let sources: [Source]
        let resize: [Resize]
        let eval: [Eval]
    }

    static let root = FixturePaths.url("bicubic")

    static func bytes(_ relative: String, sha256: String) throws -> [UInt8] {
        let b = [UInt8](try Data(contentsOf: root.appendingPathComponent(relative)))
        XCTAssertEqual(sha256Hex(b), sha256, "\(relative): the fixture's own digest")
        return b
    }

    static func manifest() throws -> Manifest {
        try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: root.appendingPathComponent("expected.json")))
    }

    static func sources(_ m: Manifest) throws -> [String: RGBImage] {
        var out = [String: RGBImage]()
        for s in m.sources {
            out[s.name] = try RGBImage(width: s.width, height: s.height, pixels: bytes(s.file, sha256: s.sha256))
        }
        return out
    }

    static func box(_ b: [Float]?) -> ResampleBox? {
        b.map { ResampleBox(left: $0[0], top: $0[1], right: $0[2], bottom: $0[3]) }
    }

    func testPillowBicubicResizeCases() throws {
        let m = try Self.manifest()
        let sources = try Self.sources(m)
        XCTAssertGreaterThanOrEqual(m.resize.count, 20)
        for (i, c) in m.resize.enumerated() {
            let source = try XCTUnwrap(sources[c.source])
            let out = try source.resized(width: c.width, height: c.height, box: Self.box(c.box), filter: .bicubic)
            assertPixels(out, width: c.width, height: c.height, try Self.bytes(c.file, sha256: c.sha256),
                         "bicubic case \(i): \(c.source) -> \(c.width)x\(c.height) box \(c.box ?? [])")
        }
    }

    func testTorchvisionBicubicEvalPipeline() throws {
        let m = try Self.manifest()
        let sources = try Self.sources(m)
        XCTAssertFalse(m.eval.isEmpty)
        for (i, c) in m.eval.enumerated() {
            let source = try XCTUnwrap(sources[c.source])
            let what = "eval case \(i): \(c.source) Resize(\(c.resize), BICUBIC) CenterCrop(\(c.crop))"
            let resized = try source.resized(shorterSide: c.resize, filter: .bicubic)
            XCTAssertEqual(resized.width, c.resized_width, what)
            XCTAssertEqual(resized.height, c.resized_height, what)
            XCTAssertEqual(sha256Hex(resized.pixels), c.resized_sha256, "\(what): resized pixels")
            let transform = EvalTransform(resize: c.resize, crop: c.crop, interpolation: .bicubic)
            XCTAssertEqual(transform.interpolation, .bicubic)
            assertPixels(try transform.image(source), width: c.width, height: c.height,
                         try Self.bytes(c.file, sha256: c.sha256), what)
        }
    }

    /// A filter argument that were dropped somewhere would give bilinear pixels: they must differ.
    func testBicubicIsNotBilinear() throws {
        let m = try Self.manifest()
        let sources = try Self.sources(m)
        var differing = 0
        for c in m.resize {
            let source = try XCTUnwrap(sources[c.source])
            let bilinear = try source.resized(width: c.width, height: c.height, box: Self.box(c.box))
            if bilinear.pixels != (try Self.bytes(c.file, sha256: c.sha256)) { differing += 1 }
        }
        XCTAssertGreaterThan(differing, m.resize.count / 2, "bicubic fixtures that bilinear does not reproduce")
        for c in m.eval {
            let source = try XCTUnwrap(sources[c.source])
            let bilinear = try EvalTransform(resize: c.resize, crop: c.crop).image(source)
            XCTAssertNotEqual(bilinear.pixels, try Self.bytes(c.file, sha256: c.sha256),
                              "EvalTransform's interpolation must reach the resize")
        }
        XCTAssertNotEqual(EvalTransform(interpolation: .bicubic), EvalTransform())
        XCTAssertEqual(EvalTransform().interpolation, .bilinear)
    }

    func testFilterNamesAndSupport() throws {
        XCTAssertEqual(ResampleFilter.allCases, [.bilinear, .bicubic])
        XCTAssertEqual(ResampleFilter(rawValue: "bicubic"), .bicubic)
        XCTAssertEqual(ResampleFilter.bilinear.support, 1.0)
        XCTAssertEqual(ResampleFilter.bicubic.support, 2.0)
        // Keys' kernel with a = -0.5: 1 at 0, 0 at the integers, negative lobe in (1, 2)
        XCTAssertEqual(ResampleFilter.bicubic.weight(0), 1)
        XCTAssertEqual(ResampleFilter.bicubic.weight(1), 0)
        XCTAssertEqual(ResampleFilter.bicubic.weight(-2), 0)
        XCTAssertEqual(ResampleFilter.bicubic.weight(0.5), 0.5625)
        XCTAssertEqual(ResampleFilter.bicubic.weight(-1.5), -0.0625)
        // a 3x downscale: ksize = ceil(2 * 3) * 2 + 1 taps, some of them negative
        let c = Coefficients(inSize: 30, in0: 0, in1: 30, outSize: 10, filter: .bicubic)
        XCTAssertEqual(c.ksize, 13)
        XCTAssertTrue(c.kk.contains { $0 < 0 })
    }
}
