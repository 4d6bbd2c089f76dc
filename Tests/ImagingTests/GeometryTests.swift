import Foundation
import Random
import TestSupport
import XCTest
@testable import Imaging

/// Fixtures/augment_geometry/expected.json (Fixtures/gen_augment_geometry.py): torchvision's and PIL's
/// outputs of F.rotate, F.affine, the policies' _apply_op geometry, RandomRotation and RandomErasing.
struct GeometryManifest: Decodable {
    struct Image: Decodable { let width: Int, height: Int, offset: Int }
    struct Case: Decodable {
        let op: String, image: String, offset: Int
        let fill: [UInt8]?
        let angle: Double?
        let name: String?, magnitude: Double?
        let translate: [Int]?, scale: Double?, shear: [Double]?, center: [Double]?
        let degrees: Double?, seed: Int?, draws: [Manifest.Draw]?
        let interpolation: String?
    }
    struct Erasing: Decodable {
        let seed: Int, p: Double, scale: [Double], ratio: [Double], value: Float
        let channels: Int, height: Int, width: Int
        let draws: [Manifest.Draw], box: [Int]?, offset: Int
    }
    struct Summary: Decodable { let n: Int, mean: Double, std: Double, quantiles: [Double] }
    struct ErasingStats: Decodable {
        let height: Int, width: Int, scale: [Double], ratio: [Double], draws: Int, fallbacks: Int
        let area: Summary, log_aspect: Summary, centre_y: Summary
    }
    struct RotationStats: Decodable { let degrees: Double, angle: Summary }
    struct Stats: Decodable { let quantile_levels: [Double], erasing: ErasingStats, rotation: RotationStats }
    let images: [String: Image]
    let geometry: [Case]
    let erasing: [Erasing]
    let stats: Stats
}

final class GeometryTests: XCTestCase {
    static let root = FixturePaths.url("augment_geometry")

    func load() throws -> (GeometryManifest, inputs: [UInt8], outputs: [UInt8]) {
        let m = try JSONDecoder().decode(GeometryManifest.self,
                                         from: Data(contentsOf: Self.root.appendingPathComponent("expected.json")))
        let inputs = [UInt8](try Data(contentsOf: Self.root.appendingPathComponent("inputs.bin")))
        let packed = [UInt8](try Data(contentsOf: Self.root.appendingPathComponent("outputs.zlib")))
        return (m, inputs, try Zlib.inflate(packed, limit: 1 << 22))
    }

    func image(_ m: GeometryManifest, _ name: String, _ inputs: [UInt8]) throws -> RGBImage {
        let i = try XCTUnwrap(m.images[name], "image \(name)")
        let n = i.width * i.height * 3
        return try RGBImage(width: i.width, height: i.height, pixels: Array(inputs[i.offset..<(i.offset + n)]))
    }

    /// What Graft makes of one case, as the colour-ops policies will call it.
    func graft(_ c: GeometryManifest.Case, _ input: RGBImage) throws -> RGBImage {
        let fill = c.fill ?? [0, 0, 0]
        let mode = try XCTUnwrap(Geometry.Interpolation(rawValue: c.interpolation ?? "nearest"), c.interpolation ?? "")
        switch c.op {
        case "rotate":
            return Geometry.rotate(input, angle: try XCTUnwrap(c.angle), fill: fill, interpolation: mode)
        case "affine":
            let t = try XCTUnwrap(c.translate), s = try XCTUnwrap(c.shear)
            return Geometry.affine(input, angle: try XCTUnwrap(c.angle), translate: (t[0], t[1]),
                                   scale: try XCTUnwrap(c.scale), shear: (s[0], s[1]),
                                   center: c.center.map { ($0[0], $0[1]) }, fill: fill, interpolation: mode)
        case "apply_op":
            let m = try XCTUnwrap(c.magnitude)
            switch c.name {
            case "ShearX": return Geometry.shearX(input, magnitude: m, fill: fill, interpolation: mode)
            case "ShearY": return Geometry.shearY(input, magnitude: m, fill: fill, interpolation: mode)
            case "TranslateX": return Geometry.translateX(input, magnitude: m, fill: fill, interpolation: mode)
            case "TranslateY": return Geometry.translateY(input, magnitude: m, fill: fill, interpolation: mode)
            case "Rotate": return Geometry.rotate(input, angle: m, fill: fill, interpolation: mode)
            default: throw XCTSkip("unknown op \(c.name ?? "nil")")
            }
        case "random_rotation":
            var replay = ReplayRandom(draws: try XCTUnwrap(c.draws))
            let out = RandomRotation(degrees: try XCTUnwrap(c.degrees), fill: fill, interpolation: mode).apply(input, using: &replay)
            XCTAssertNil(replay.mismatch)
            XCTAssertEqual(replay.next, replay.draws.count, "every recorded draw used")
            return out
        default:
            XCTFail("unknown op \(c.op)")
            return input
        }
    }

    func testEveryGeometryCaseIsPixelExact() throws {
        let (m, inputs, outputs) = try load()
        XCTAssertGreaterThanOrEqual(m.geometry.count, 750)
        var ops: [String: Int] = [:]
        for (k, c) in m.geometry.enumerated() {
            let input = try image(m, c.image, inputs)
            let n = input.width * input.height * 3
            XCTAssertLessThanOrEqual(c.offset + n, outputs.count)
            let expected = Array(outputs[c.offset..<min(outputs.count, c.offset + n)])
            let what = "case \(k): \(c.op) \(c.name ?? "") \(c.angle ?? c.magnitude ?? 0) on \(c.image)"
            assertPixels(try graft(c, input), width: input.width, height: input.height, expected, what)
            ops[c.name ?? c.op, default: 0] += 1
            ops[c.interpolation ?? "nearest", default: 0] += 1
        }
        // each kind is there, not silently skipped
        for op in ["rotate", "affine", "random_rotation", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate",
                   "nearest", "bilinear"] {
            XCTAssertGreaterThan(ops[op] ?? 0, 0, op)
        }
    }

    /// The three engines and the fast paths are all exercised by the fixtures (else a case list
    /// edit could leave one untested).
    func testFixturesReachEveryEngine() throws {
        let (m, inputs, _) = try load()
        var fixed = 0, float = 0, scaling = 0
        for c in m.geometry where c.op == "affine" && c.interpolation == nil {
            let input = try image(m, c.image, inputs)
            let t = c.translate!, s = c.shear!
            let center = c.center.map { ($0[0], $0[1]) } ?? (Double(input.width) * 0.5, Double(input.height) * 0.5)
            let a = Geometry.inverseAffineMatrix(center: center, angle: c.angle!, translate: (Double(t[0]), Double(t[1])),
                                                 scale: c.scale!, shear: (s[0], s[1]))
            let (w, h) = (Double(input.width), Double(input.height))
            let inRange = [(0.0, 0.0), (w, h), (0.0, h), (w, 0.0)].allSatisfy { x, y in
                abs(x * a[0] + y * a[1] + a[2]) < 32768 && abs(x * a[3] + y * a[4] + a[5]) < 32768
            }
            if a[1] == 0 && a[3] == 0 { scaling += 1 } else if inRange { fixed += 1 } else { float += 1 }
        }
        XCTAssertGreaterThan(scaling, 0)
        XCTAssertGreaterThan(fixed, 0)
        XCTAssertGreaterThan(float, 0)
    }

    func testPythonRoundingHelpers() {
        XCTAssertEqual(Geometry.roundedTo15Decimals(cos(-Double.pi / 2)), 0)
        XCTAssertEqual(Geometry.roundedTo15Decimals(0.1234567890123456789), 0.123456789012346)
        XCTAssertEqual(Geometry.roundedTo15Decimals(-0.7071067811865476), -0.707106781186548)
        XCTAssertEqual(Geometry.pythonModulo(-90, 360), 270)
        XCTAssertEqual(Geometry.pythonModulo(720.25, 360), 0.25)
        XCTAssertEqual(Geometry.pythonModulo(-1e-9, 360), 360 - 1e-9)
        XCTAssertEqual(Geometry.pythonModulo(-360, 360), 0)
    }

    func testRandomErasingReplaysTorchvision() throws {
        let (m, _, _) = try load()
        let bytes = [UInt8](try Data(contentsOf: Self.root.appendingPathComponent("erasing.bin")))
        func floats(_ offset: Int, _ count: Int) -> [Float] {
            (0..<count).map { i in
                let b = offset + 4 * i
                return Float(bitPattern: UInt32(bytes[b]) | UInt32(bytes[b + 1]) << 8
                             | UInt32(bytes[b + 2]) << 16 | UInt32(bytes[b + 3]) << 24)
            }
        }
        XCTAssertGreaterThanOrEqual(m.erasing.count, 10)
        var erased = 0, unchanged = 0
        for c in m.erasing {
            let n = c.channels * c.height * c.width
            XCTAssertLessThanOrEqual(c.offset + 8 * n, bytes.count)
            let input = floats(c.offset, n), expected = floats(c.offset + 4 * n, n)
            let t = RandomErasing(p: c.p, scale: c.scale[0]...c.scale[1], ratio: c.ratio[0]...c.ratio[1], value: c.value)
            var replay = ReplayRandom(draws: c.draws)
            var out = input
            out.withUnsafeMutableBufferPointer {
                t.apply($0, channels: c.channels, height: c.height, width: c.width, using: &replay)
            }
            XCTAssertNil(replay.mismatch, "seed \(c.seed)")
            XCTAssertEqual(replay.next, c.draws.count, "seed \(c.seed): every recorded draw used")
            XCTAssertEqual(out.count, expected.count)
            XCTAssertEqual(out.map(\.bitPattern), expected.map(\.bitPattern), "seed \(c.seed): output")
            // and the box itself
            var again = ReplayRandom(draws: c.draws)
            if again.rand() < Float(c.p), let b = t.box(height: c.height, width: c.width, using: &again) {
                XCTAssertEqual([b.top, b.left, b.height, b.width], c.box, "seed \(c.seed): box")
                erased += 1
            } else {
                XCTAssertNil(c.box, "seed \(c.seed): torchvision erased")
                unchanged += 1
            }
        }
        XCTAssertGreaterThan(erased, 0)
        XCTAssertGreaterThan(unchanged, 0)
    }

    /// Graft's own draws (SeededRandom) against torchvision's, by their distributions: for each of
    /// torchvision's quantiles q_k (level k), the fraction of Graft's samples below q_k must be k
    /// within 5 standard errors of the difference of two independent empirical CDFs,
    /// 5 * sqrt(k(1 - k)(1/n_torch + 1/n_graft)) (about 0.02 at the median for 20000 each); the means
    /// within 5 * std * sqrt(1/n_torch + 1/n_graft). Values that tie at q_k (box sizes are integers)
    /// count on either side.
    func testDrawsMatchTorchvisionsDistribution() throws {
        let (m, _, _) = try load()
        let s = m.stats.erasing
        let erasing = RandomErasing(p: 1, scale: s.scale[0]...s.scale[1], ratio: s.ratio[0]...s.ratio[1])
        var random = SeededRandom(seed: 24)
        var area: [Double] = [], logAspect: [Double] = [], centre: [Double] = [], fallbacks = 0
        let n = 20000
        for _ in 0..<n {
            guard let b = erasing.box(height: s.height, width: s.width, using: &random) else { fallbacks += 1; continue }
            area.append(Double(b.height * b.width) / Double(s.height * s.width))
            logAspect.append(Foundation.log(Double(b.height) / Double(b.width)))
            centre.append((Double(b.top) + Double(b.height) / 2) / Double(s.height))
        }
        XCTAssertEqual(Double(fallbacks) / Double(n), Double(s.fallbacks) / Double(s.draws), accuracy: 0.01)
        compare(area, s.area, m.stats.quantile_levels, "erased area fraction")
        compare(logAspect, s.log_aspect, m.stats.quantile_levels, "log aspect h/w")
        compare(centre, s.centre_y, m.stats.quantile_levels, "box centre y")

        let rotation = RandomRotation(degrees: m.stats.rotation.degrees)
        let angles = (0..<n).map { _ in rotation.angle(using: &random) }
        XCTAssertTrue(angles.allSatisfy { abs($0) <= m.stats.rotation.degrees })
        compare(angles, m.stats.rotation.angle, m.stats.quantile_levels, "rotation angle")
    }

    func compare(_ samples: [Double], _ torch: GeometryManifest.Summary, _ levels: [Double], _ what: String,
                 file: StaticString = #filePath, line: UInt = #line) {
        guard samples.count > 100, torch.n > 100, torch.quantiles.count == levels.count,
              samples.allSatisfy(\.isFinite) else {
            return XCTFail("\(what): \(samples.count) samples, torch \(torch.n), \(torch.quantiles.count) quantiles",
                           file: file, line: line)
        }
        let n = Double(samples.count), nt = Double(torch.n)
        let mean = samples.reduce(0, +) / n
        let meanTolerance = 5 * torch.std * (1 / n + 1 / nt).squareRoot()
        XCTAssertEqual(mean, torch.mean, accuracy: meanTolerance, "\(what): mean", file: file, line: line)
        for (k, q) in zip(levels, torch.quantiles) {
            let below = Double(samples.filter { $0 < q }.count) / n
            let atOrBelow = Double(samples.filter { $0 <= q }.count) / n
            let tolerance = 5 * (k * (1 - k) * (1 / n + 1 / nt)).squareRoot()
            XCTAssertTrue(below - tolerance <= k && k <= atOrBelow + tolerance,
                          "\(what): Graft has \(below)...\(atOrBelow) of its samples below torchvision's \(k) quantile \(q) (tolerance \(tolerance))",
                          file: file, line: line)
        }
    }
}
