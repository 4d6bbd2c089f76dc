import Foundation
import TestSupport
import XCTest
@testable import Imaging

/// The manifest Fixtures/gen_images.py writes (real PIL / torchvision outputs).
struct Manifest: Decodable {
    struct Resized: Decodable { let size: Int; let width: Int; let height: Int; let file: String }
    struct Eval: Decodable { let resize: Int; let crop: Int; let sha256: String; let file: String? }
    struct Image: Decodable {
        let name: String, file: String, pil_mode: String
        let width: Int, height: Int, rgb_sha256: String
        let rgb: String?
        let resized: Resized
        let eval: Eval
    }
    struct Unsupported: Decodable { let name: String; let file: String; let format: String }
    struct Resize: Decodable {
        let source: String, width: Int, height: Int, box: [Float]?, file: String
    }
    struct CenterCrop: Decodable {
        let source: String, crop_height: Int, crop_width: Int, width: Int, height: Int, file: String
    }
    struct ResizedCrop: Decodable {
        let source: String, top: Int, left: Int, height: Int, width: Int, size: [Int], file: String
    }
    struct Normalize: Decodable { let file: String, rgb: String, width: Int, height: Int }
    struct FullEval: Decodable {
        let name: String, file: String, resized_width: Int, resized_height: Int
        let resized_sha256: String, tensor_sha256: String
    }
    struct Draw: Decodable {
        let kind: String, value: Double
        init(from decoder: Decoder) throws {
            var c = try decoder.unkeyedContainer()
            kind = try c.decode(String.self)
            value = try c.decode(Double.self)
        }
    }
    struct RandomResizedCrop: Decodable {
        let source: String, scale: [Double], draws: [Draw], params: [Int], size: Int, file: String
    }
    struct CMYK: Decodable { let width: Int, height: Int, raw: String, rgb: String }
    let random_resized_crop: [RandomResizedCrop]
    let cmyk: CMYK
    let mean: [Float], std: [Float]
    let images: [Image]
    let unsupported: [Unsupported]
    let truncated: String
    let resize: [Resize]
    let center_crop: [CenterCrop]
    let resized_crop: [ResizedCrop]
    let normalize: Normalize
    let full_eval: [FullEval]
}

enum Fixture {
    /// Fixtures/images.
    static let root: URL = FixturePaths.url("images")

    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    static func bytes(_ relative: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: root.appendingPathComponent(relative)))
    }

    static func floats(_ relative: String) throws -> [Float] {
        let b = try bytes(relative)
        return stride(from: 0, to: b.count - 3, by: 4).map { i in
            Float(bitPattern: UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24)
        }
    }

    static func manifest() throws -> Manifest {
        try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: root.appendingPathComponent("expected.json")))
    }

    /// The decoded (PIL-identical) image of a manifest source.
    static func decoded(_ m: Manifest, _ name: String) throws -> RGBImage {
        guard let entry = m.images.first(where: { $0.name == name }) else {
            throw ImagingError.invalidArgument("no fixture named \(name)")
        }
        return try ImageDecoder.decode(path: path(entry.file))
    }
}

/// Fails with the first differing pixel when `image` is not exactly `expected`.
func assertPixels(_ image: RGBImage, width: Int, height: Int, _ expected: [UInt8], _ what: String,
                  file: StaticString = #filePath, line: UInt = #line) {
    guard image.width == width, image.height == height else {
        XCTFail("\(what): size \(image.width)x\(image.height), PIL has \(width)x\(height)", file: file, line: line)
        return
    }
    guard image.pixels.count == expected.count else {
        XCTFail("\(what): \(image.pixels.count) bytes, PIL has \(expected.count)", file: file, line: line)
        return
    }
    if let i = zip(image.pixels, expected).indices(where: { $0.0 != $0.1 }) {
        let p = i / 3
        let diffs = zip(image.pixels, expected).filter { $0 != $1 }.count
        XCTFail("\(what): \(diffs) bytes differ; first at pixel (x \(p % width), y \(p / width)) channel \(i % 3): got \(image.pixels[i]), PIL \(expected[i])",
                file: file, line: line)
    }
}

/// Fails with the first differing value when `got` is not bit-identical to `expected`.
func assertFloats(_ got: [Float], _ expected: [Float], _ what: String,
                  file: StaticString = #filePath, line: UInt = #line) {
    guard got.count == expected.count else {
        XCTFail("\(what): \(got.count) floats, torchvision has \(expected.count)", file: file, line: line)
        return
    }
    if let i = zip(got, expected).indices(where: { $0.0.bitPattern != $0.1.bitPattern }) {
        let diffs = zip(got, expected).filter { $0.bitPattern != $1.bitPattern }.count
        XCTFail("\(what): \(diffs) values differ; first at index \(i): got \(got[i]), torchvision \(expected[i])",
                file: file, line: line)
    }
}

extension Sequence {
    func indices(where predicate: (Element) -> Bool) -> Int? {
        for (i, e) in enumerated() where predicate(e) { return i }
        return nil
    }
}

func floatBytes(_ values: [Float]) -> [UInt8] {
    var out = [UInt8]()
    out.reserveCapacity(values.count * 4)
    for v in values {
        let b = v.bitPattern
        out += [UInt8(b & 0xFF), UInt8(b >> 8 & 0xFF), UInt8(b >> 16 & 0xFF), UInt8(b >> 24)]
    }
    return out
}
