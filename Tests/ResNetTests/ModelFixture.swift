import Random
import Checkpoint
import Foundation
import TestSupport
import XCTest

/// A model fixture written by Fixtures/gen_models.py (real PyTorch).
struct ModelFixture {
    struct Meta: Decodable {
        let batch: Int, height: Int, width: Int, classes: Int
        let block: String
        let layers: [Int]
        let widths: [Int]
        let groups: Int
        let bf16_max_abs_diff: Double
    }
    struct Entry: Decodable { let name: String; let dtype: String; let shape: [Int]; let offset: Int }

    let name: String
    let meta: Meta
    let stateDict: StateDict
    let input: [Float]
    let logits: [Float]
    let probs: [Float]
    let logitsBF16: [Float]

    static var root: URL { FixturePaths.url("models") }

    /// The state dict of `dir`'s weights.bin and weights.json (every tensor, state-dict order).
    static func stateDict(in dir: URL) throws -> StateDict {
        let entries = try JSONDecoder().decode([Entry].self, from: Data(contentsOf: dir.appendingPathComponent("weights.json")))
        let blob = try [UInt8](Data(contentsOf: dir.appendingPathComponent("weights.bin")))
        var sd = StateDict()
        for e in entries {
            let dtype: DType = e.dtype == "int64" ? .int64 : .float32
            let n = e.shape.reduce(1, *) * dtype.size
            guard e.offset + n <= blob.count else { throw NSError(domain: "fixture", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(e.name) out of range"]) }
            sd[e.name] = TensorData(dtype: dtype, shape: e.shape, bytes: Array(blob[e.offset..<e.offset + n]))
        }
        return sd
    }

    static func load(_ name: String) throws -> ModelFixture {
        let dir = root.appendingPathComponent(name)
        let meta = try JSONDecoder().decode(Meta.self, from: Data(contentsOf: dir.appendingPathComponent("meta.json")))
        let sd = try stateDict(in: dir)
        func f32(_ file: String) throws -> [Float] { try float32s(at: dir.appendingPathComponent(file)) }
        return ModelFixture(name: name, meta: meta, stateDict: sd, input: try f32("input.bin"), logits: try f32("logits.bin"),
                            probs: try f32("probs.bin"), logitsBF16: try f32("logits_bf16.bin"))
    }
}

/// The little-endian float32 values of a fixture file.
func float32s(at url: URL) throws -> [Float] {
    let d = try Data(contentsOf: url)
    return d.withUnsafeBytes { raw in (0..<d.count / 4).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) } }
}

/// A state dict of torchvision's keys and shapes for `spec`, random values (fixed seed).
func randomStateDict(shapes: [(key: String, shape: [Int])], seed: UInt64 = 42) -> StateDict {
    var rng = SeededRandom(seed: seed)
    var sd = StateDict()
    for (k, s) in shapes {
        if k.hasSuffix("num_batches_tracked") { sd[k] = TensorData(shape: [], int64s: [0]); continue }
        let n = s.reduce(1, *)
        var v = [Float](repeating: 0, count: n)
        if k.hasSuffix("running_var") || (k.hasSuffix(".weight") && s.count == 1) {
            for i in 0..<n { v[i] = 0.5 + rng.rand() }
        } else if k.hasSuffix("running_mean") || k.hasSuffix(".bias") {
            for i in 0..<n { v[i] = 0.1 * (rng.rand() - 0.5) }
        } else {
            let fanIn = Float(s.dropFirst().reduce(1, *))
            let a = (6 / fanIn).squareRoot()
            for i in 0..<n { v[i] = a * (2 * rng.rand() - 1) }
        }
        sd[k] = TensorData(shape: s, floats: v)
    }
    return sd
}
