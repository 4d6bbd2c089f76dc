import Random
import XCTest
@testable import Imaging

/// Replays draws recorded from torch, failing if the transform asks for a different kind.
struct ReplayRandom: RandomSource {
    var draws: [Manifest.Draw]
    var next = 0
    var mismatch: String?

    private mutating func take(_ kind: String) -> Double {
        guard next < draws.count else { mismatch = mismatch ?? "ran out of draws asking for \(kind)"; return 0 }
        let d = draws[next]
        next += 1
        if d.kind != kind { mismatch = mismatch ?? "draw \(next - 1): asked for \(kind), torch drew \(d.kind)" }
        return d.value
    }
    mutating func uniform(_ low: Double, _ high: Double) -> Float { Float(take("uniform")) }
    mutating func randint(_ low: Int, _ high: Int) -> Int { Int(take("randint")) }
    mutating func rand() -> Float { Float(take("rand")) }
}

final class RandomTransformTests: XCTestCase {
    func testRandomResizedCropAndFlipReplayTorchvision() throws {
        let m = try Fixture.manifest()
        XCTAssertGreaterThanOrEqual(m.random_resized_crop.count, 9)
        for (k, c) in m.random_resized_crop.enumerated() {
            let image = try Fixture.decoded(m, c.source)
            let rrc = RandomResizedCrop(size: c.size, scale: c.scale[0]...c.scale[1])
            var random = ReplayRandom(draws: c.draws)
            let p = rrc.parameters(width: image.width, height: image.height, using: &random)
            XCTAssertEqual([p.top, p.left, p.height, p.width], c.params, "case \(k) (\(c.source)): get_params")
            var replay = ReplayRandom(draws: c.draws)
            let out = RandomHorizontalFlip().apply(try rrc.apply(image, using: &replay), using: &replay)
            XCTAssertNil(replay.mismatch, "case \(k)")
            XCTAssertEqual(replay.next, c.draws.count, "case \(k): every recorded draw used")
            assertPixels(out, width: c.size, height: c.size, try Fixture.bytes(c.file), "case \(k) (\(c.source)) output")
        }
    }

    func testSeededRandomIsDeterministicAndInRange() throws {
        var a = SeededRandom(seed: 42), b = SeededRandom(seed: 42)
        for _ in 0..<1000 {
            let u = a.uniform(0.08, 1.0)
            XCTAssertEqual(u, b.uniform(0.08, 1.0))
            XCTAssertTrue(u >= 0.08 && u < 1.0)
            let r = a.randint(3, 9)
            XCTAssertEqual(r, b.randint(3, 9))
            XCTAssertTrue((3..<9).contains(r))
        }
        let m = try Fixture.manifest()
        let image = try Fixture.decoded(m, "jpeg_420")
        let t = TrainTransform(size: 28)
        var out = [Float](repeating: 0, count: t.tensorCount)
        var random = SeededRandom(seed: 7)
        try out.withUnsafeMutableBufferPointer { try t.write(image, into: $0, using: &random) }
        XCTAssertTrue(out.allSatisfy { $0.isFinite && abs($0) < 3 })
    }

    func testCMYKConversionTable() throws {
        let m = try Fixture.manifest()
        let raw = try Fixture.bytes(m.cmyk.raw)
        // raw holds Pillow's CMYK;I input, i.e. what libjpeg hands back for an Adobe CMYK JPEG
        let rgb = JPEGDecoder.cmykToRGB(raw, m.cmyk.width, m.cmyk.height)
        assertPixels(rgb, width: m.cmyk.width, height: m.cmyk.height, try Fixture.bytes(m.cmyk.rgb), "CMYK -> RGB")
    }
}
