import Foundation
import Random
import TestSupport
import XCTest
@testable import Imaging

/// Fixtures/augment_color/manifest.json (Fixtures/gen_augment_color.py, real torchvision + PIL).
struct ColorAugmentManifest: Decodable {
    struct Image: Decodable { let name: String, width: Int, height: Int, rgb: String }
    struct OpCase: Decodable { let image: String, kind: String, op: String, value: Double, rgb: String }
    struct Draw: Decodable {
        let kind: String, value: Double, permutation: [Int]
        init(from decoder: Decoder) throws {
            var c = try decoder.unkeyedContainer()
            kind = try c.decode(String.self)
            if kind == "randperm" {
                permutation = try c.decode([Int].self); value = 0
            } else {
                value = try c.decode(Double.self); permutation = []
            }
        }
    }
    struct Recorded: Decodable { let image: String, draws: [Draw], rgb: String }
    struct Jitter: Decodable { let brightness: Double, contrast: Double, saturation: Double, hue: Double, cases: [Recorded] }
    struct Entry: Decodable { let magnitudes: [Float]?, signed: Bool }
    struct Stats: Decodable {
        let samples: Int
        let ops: [String: Int]
        let magnitudes: [String: Int]
        let ops_per_image: [String: Int]
    }
    let images: [Image]
    let ops: [OpCase]
    let color_jitter: [Jitter]
    let trivial_augment_wide: [Recorded]
    let rand_augment: [Recorded]
    let rand_augment_3ops_m30: [Recorded]
    let auto_augment: [Recorded]
    let tables: [String: [String: Entry]]
    let stats: [String: Stats]
    let jitterStats: JitterStats

    struct JitterStats: Decodable {
        let samples: Int
        let orders: [String: Int]
        let factor_deciles: [String: [Int]]
    }

    enum CodingKeys: String, CodingKey {
        case images, ops, color_jitter, trivial_augment_wide, rand_augment, rand_augment_3ops_m30, auto_augment, tables, stats
    }
    struct StatsKeys: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        images = try c.decode([Image].self, forKey: .images)
        ops = try c.decode([OpCase].self, forKey: .ops)
        color_jitter = try c.decode([Jitter].self, forKey: .color_jitter)
        trivial_augment_wide = try c.decode([Recorded].self, forKey: .trivial_augment_wide)
        rand_augment = try c.decode([Recorded].self, forKey: .rand_augment)
        rand_augment_3ops_m30 = try c.decode([Recorded].self, forKey: .rand_augment_3ops_m30)
        auto_augment = try c.decode([Recorded].self, forKey: .auto_augment)
        tables = try c.decode([String: [String: Entry]].self, forKey: .tables)
        let s = try c.nestedContainer(keyedBy: StatsKeys.self, forKey: .stats)
        var policies: [String: Stats] = [:]
        for key in s.allKeys where key.stringValue != "color_jitter" { policies[key.stringValue] = try s.decode(Stats.self, forKey: key) }
        stats = policies
        jitterStats = try s.decode(JitterStats.self, forKey: StatsKeys(stringValue: "color_jitter"))
    }

    static func load() throws -> ColorAugmentManifest {
        let data = try Data(contentsOf: FixturePaths.url("augment_color/manifest.json"))
        return try JSONDecoder().decode(ColorAugmentManifest.self, from: data)
    }

    func image(_ name: String) throws -> RGBImage {
        let i = try XCTUnwrap(images.first { $0.name == name }, "no image \(name)")
        return try RGBImage(width: i.width, height: i.height, pixels: ColorAugmentManifest.bytes(i.rgb))
    }

    static func bytes(_ base64: String) throws -> [UInt8] {
        [UInt8](try XCTUnwrap(Data(base64Encoded: base64), "bad base64"))
    }
}

/// Replays draws recorded from torch (randint, rand, uniform_, randperm), noting the first
/// draw asked for as another kind than torch drew.
struct TorchReplay: RandomSource {
    var draws: [ColorAugmentManifest.Draw]
    var next = 0
    var mismatch: String?

    private mutating func take(_ kind: String) -> ColorAugmentManifest.Draw? {
        guard next < draws.count else { mismatch = mismatch ?? "ran out of draws asking for \(kind)"; return nil }
        let d = draws[next]
        next += 1
        if d.kind != kind { mismatch = mismatch ?? "draw \(next - 1): asked for \(kind), torch drew \(d.kind)" }
        return d
    }
    mutating func uniform(_ low: Double, _ high: Double) -> Float { Float(take("uniform")?.value ?? 0) }
    mutating func randint(_ low: Int, _ high: Int) -> Int { Int(take("randint")?.value ?? 0) }
    mutating func rand() -> Float { Float(take("rand")?.value ?? 0) }
    mutating func randperm(_ n: Int) -> [Int] { take("randperm")?.permutation ?? Array(0..<n) }
}

final class ColorAugmentTests: XCTestCase {
    func testMagnitudeTablesEqualTorch() throws {
        let m = try ColorAugmentManifest.load()
        let spaces: [(String, AugmentSpace)] = [
            ("trivial_augment_wide", .trivialAugmentWide(bins: 31)),
            ("rand_augment_224x224", .randAugment(bins: 31, width: 224, height: 224, identity: true)),
            ("rand_augment_5x7", .randAugment(bins: 31, width: 7, height: 5, identity: true)),
            ("auto_augment_5x7", .randAugment(bins: 10, width: 7, height: 5, identity: false)),
        ]
        for (key, space) in spaces {
            let torch = try XCTUnwrap(m.tables[key], key)
            XCTAssertEqual(Set(space.ops.map { $0.op.rawValue }), Set(torch.keys), key)
            for e in space.ops {
                let t = try XCTUnwrap(torch[e.op.rawValue], "\(key) \(e.op)")
                XCTAssertEqual(e.signed, t.signed, "\(key) \(e.op) signed")
                XCTAssertEqual(e.magnitudes, t.magnitudes, "\(key) \(e.op) magnitudes (bit-exact float32)")
            }
        }
    }

    func testColorOpsEqualPIL() throws {
        let m = try ColorAugmentManifest.load()
        XCTAssertGreaterThan(m.ops.count, 400)
        var ops = Set<String>()
        for c in m.ops {
            let image = try m.image(c.image)
            let out: RGBImage
            if c.kind == "hue" {
                out = image.adjustingHue(c.value)
            } else {
                let op = try XCTUnwrap(AugmentOp(rawValue: c.op), c.op)
                out = image.applying(op, magnitude: c.value)
            }
            ops.insert(c.op)
            assertPixels(out, width: image.width, height: image.height, try ColorAugmentManifest.bytes(c.rgb),
                         "\(c.op)(\(c.value)) of \(c.image)")
        }
        XCTAssertEqual(ops, ["Brightness", "Color", "Contrast", "Sharpness", "Posterize", "Solarize",
                             "AutoContrast", "Equalize", "Invert", "Identity", "Hue"])
    }

    func testColorJitterReplaysTorchvision() throws {
        let m = try ColorAugmentManifest.load()
        for j in m.color_jitter {
            let jitter = try ColorJitter(brightness: j.brightness, contrast: j.contrast, saturation: j.saturation, hue: j.hue)
            for (k, c) in j.cases.enumerated() {
                try replay(m, c, "ColorJitter(\(j.brightness), \(j.contrast), \(j.saturation), \(j.hue)) case \(k)") { image, r in
                    jitter.apply(image, using: &r)
                }
            }
        }
    }

    func testPoliciesReplayTorchvision() throws {
        let m = try ColorAugmentManifest.load()
        let runs: [(String, AugmentPolicy, [ColorAugmentManifest.Recorded])] = [
            ("TrivialAugmentWide", .trivialAugmentWide(bins: 31), m.trivial_augment_wide),
            ("RandAugment", .randAugment(numOps: 2, magnitude: 9, bins: 31), m.rand_augment),
            ("RandAugment(3, 30)", .randAugment(numOps: 3, magnitude: 30, bins: 31), m.rand_augment_3ops_m30),
            ("AutoAugment(IMAGENET)", .imagenet, m.auto_augment),
        ]
        for (name, policy, cases) in runs {
            XCTAssertGreaterThanOrEqual(cases.count, 20, name)
            for (k, c) in cases.enumerated() {
                try replay(m, c, "\(name) case \(k) (\(c.image))") { image, r in policy.apply(image, using: &r) }
            }
        }
    }

    /// Graft's own draws (SeededRandom) against torch's generator: each op's frequency, each
    /// (op, signed magnitude)'s frequency and the number of ops per image. For a category of
    /// probability p seen in n1 = n2 = n samples, the difference of the two frequencies has
    /// standard deviation sqrt(p (1 - p) (1/n1 + 1/n2)); each is allowed 4.5 of them (two-sided
    /// 6.8e-6 per category, so with at most ~600 categories per policy a correct sampler fails
    /// with probability < 0.5%; the draws are seeded, so the verdict is fixed). A chi-square
    /// homogeneity test over all categories together (upper tail 1e-4) catches smaller shifts
    /// spread over many categories. Planting TrivialAugmentWide's op draw one short (Equalize
    /// never drawn) fails both (chi-square 1476 against a limit of 41 over 13 degrees of freedom).
    func testPolicyStatisticsMatchTorch() throws {
        let m = try ColorAugmentManifest.load()
        let runs: [(String, AugmentPolicy)] = [
            ("trivial_augment_wide", .trivialAugmentWide(bins: 31)),
            ("rand_augment", .randAugment(numOps: 2, magnitude: 9, bins: 31)),
            ("auto_augment", .imagenet),
        ]
        for (key, policy) in runs {
            let torch = try XCTUnwrap(m.stats[key], key)
            let n = torch.samples
            var ops: [String: Int] = [:], mags: [String: Int] = [:], perImage: [String: Int] = [:]
            var random = SeededRandom(seed: 24, stream: 7)
            for _ in 0..<n {
                let chosen = policy.choices(width: 4, height: 4, using: &random)
                perImage[String(chosen.count), default: 0] += 1
                for c in chosen {
                    ops[c.op.rawValue, default: 0] += 1
                    mags["\(c.op.rawValue) \(c.magnitude)", default: 0] += 1
                }
            }
            // torch's keys are Python reprs; compare them as (op, value) pairs.
            func normalised(_ d: [String: Int]) -> [String: Int] {
                var out: [String: Int] = [:]
                for (k, v) in d {
                    let parts = k.split(separator: " ")
                    out["\(parts[0]) \(Double(String(parts[1]))!)", default: 0] += v
                }
                return out
            }
            compare(ops, torch.ops, n, "\(key) ops")
            compare(mags, normalised(torch.magnitudes), n, "\(key) (op, magnitude)")
            compare(perImage, torch.ops_per_image, n, "\(key) ops per image")
        }
    }

    /// ColorJitter(0.4, 0.4, 0.4, 0.1)'s draws from SeededRandom against torch's: the 24 orders
    /// (randperm(4)) and each factor's deciles of its range, same bounds as the policies'.
    func testColorJitterStatisticsMatchTorch() throws {
        let torch = try ColorAugmentManifest.load().jitterStats
        let jitter = try ColorJitter(brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1)
        var random = SeededRandom(seed: 24, stream: 8)
        var orders: [String: Int] = [:]
        var deciles: [String: [Int]] = ["brightness": [Int](repeating: 0, count: 10), "contrast": [Int](repeating: 0, count: 10),
                                        "saturation": [Int](repeating: 0, count: 10), "hue": [Int](repeating: 0, count: 10)]
        for _ in 0..<torch.samples {
            let p = jitter.parameters(using: &random)
            orders[p.order.map(String.init).joined(separator: ","), default: 0] += 1
            for (name, v, r) in [("brightness", p.brightness!, jitter.brightness!), ("contrast", p.contrast!, jitter.contrast!),
                                 ("saturation", p.saturation!, jitter.saturation!), ("hue", p.hue!, jitter.hue!)] {
                let k = min(9, Int((v - r.lowerBound) / (r.upperBound - r.lowerBound) * 10))
                deciles[name]![k] += 1
            }
        }
        XCTAssertEqual(orders.count, 24, "every order of the four drawn")
        compare(orders, torch.orders, torch.samples, "ColorJitter orders")
        for (name, counts) in deciles {
            let theirs = try XCTUnwrap(torch.factor_deciles[name], name)
            func keyed(_ c: [Int]) -> [String: Int] { Dictionary(uniqueKeysWithValues: c.enumerated().map { ("\($0.offset)", $0.element) }) }
            compare(keyed(counts), keyed(theirs), torch.samples, "ColorJitter \(name) deciles")
        }
    }

    /// Per-category 4.5-sigma bounds and a chi-square homogeneity test (p < 1e-4 fails).
    func compare(_ graft: [String: Int], _ torch: [String: Int], _ n: Int, _ what: String,
                 file: StaticString = #filePath, line: UInt = #line) {
        let keys = Set(graft.keys).union(torch.keys)
        let g = Double(graft.values.reduce(0, +)), t = Double(torch.values.reduce(0, +))
        XCTAssertGreaterThan(g, 0, what, file: file, line: line)
        var chi2 = 0.0
        for k in keys {
            let a = Double(graft[k] ?? 0), b = Double(torch[k] ?? 0)
            let p = (a + b) / (g + t)
            let sd = (p * (1 - p) * (1 / g + 1 / t)).squareRoot()
            let diff = abs(a / g - b / t)
            XCTAssertFalse(diff.isNaN, "\(what) \(k): NaN", file: file, line: line)
            XCTAssertLessThanOrEqual(diff, 4.5 * sd, "\(what) \(k): Graft \(Int(a))/\(Int(g)), torch \(Int(b))/\(Int(t))",
                                     file: file, line: line)
            let expectedA = p * g, expectedB = p * t
            chi2 += (a - expectedA) * (a - expectedA) / expectedA + (b - expectedB) * (b - expectedB) / expectedB
        }
        // Wilson-Hilferty: the chi-square with df degrees of freedom at upper tail 1e-4 (z 3.719).
        let df = Double(max(1, keys.count - 1))
        let z = 3.719
        let limit = df * pow(1 - 2 / (9 * df) + z * (2 / (9 * df)).squareRoot(), 3)
        XCTAssertLessThanOrEqual(chi2, limit, "\(what): chi-square \(chi2) over \(Int(df)) degrees of freedom", file: file, line: line)
    }

    func replay(_ m: ColorAugmentManifest, _ c: ColorAugmentManifest.Recorded, _ what: String,
                _ body: (RGBImage, inout TorchReplay) -> RGBImage, file: StaticString = #filePath, line: UInt = #line) throws {
        let image = try m.image(c.image)
        var r = TorchReplay(draws: c.draws)
        let out = body(image, &r)
        XCTAssertNil(r.mismatch, what, file: file, line: line)
        XCTAssertEqual(r.next, c.draws.count, "\(what): every recorded draw used", file: file, line: line)
        assertPixels(out, width: image.width, height: image.height, try ColorAugmentManifest.bytes(c.rgb), what,
                     file: file, line: line)
    }

    func testSeededRandPermIsAPermutation() {
        var r = SeededRandom(seed: 1)
        var firsts = [Int](repeating: 0, count: 4)
        for _ in 0..<4000 {
            let p = r.randperm(4)
            XCTAssertEqual(p.sorted(), [0, 1, 2, 3])
            firsts[p[0]] += 1
        }
        // 1000 expected each; 4.5 sigma = 4.5 * sqrt(4000 * 0.25 * 0.75) = 123
        for f in firsts { XCTAssertLessThan(abs(f - 1000), 123, "\(firsts)") }
    }

    func testColorJitterRefusesBadRanges() {
        XCTAssertThrowsError(try ColorJitter(brightness: -0.1))
        XCTAssertThrowsError(try ColorJitter(hue: 0.6))
        XCTAssertThrowsError(try ColorJitter(contrast: .nan))
    }
}
