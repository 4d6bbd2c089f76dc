import Checkpoint
import Foundation
import TestSupport
import XCTest

/// A model of Fixtures/training (written by Fixtures/gen_training.py with real PyTorch).
struct TrainingFixture {
    struct Meta: Decodable { let batch: Int, height: Int, width: Int, labels: [Int], classes: Int, cases: [String] }
    struct Case: Decodable {
        let policy: String, frozen_bn: String, head: String, label_smoothing: Float, loss: Float
        let trainable: [String]
        let num_batches_tracked: [String: Int64]
    }
    struct Entry: Decodable { let name: String; let shape: [Int]; let offset: Int }

    let dir: URL
    let meta: Meta
    let stateDict: StateDict
    let input: [Float]

    static var root: URL { FixturePaths.url("training") }

    init(_ name: String, root: URL = TrainingFixture.root) throws {
        dir = root.appendingPathComponent(name)
        meta = try JSONDecoder().decode(Meta.self, from: Data(contentsOf: dir.appendingPathComponent("meta.json")))
        stateDict = try Checkpoint(contentsOf: dir.appendingPathComponent("initial.pth").path).stateDict
        input = try TrainingFixture.floats(dir.appendingPathComponent("input.bin"))
    }

    func caseInfo(_ name: String) throws -> Case {
        try JSONDecoder().decode(Case.self, from: Data(contentsOf: dir.appendingPathComponent(name).appendingPathComponent("case.json")))
    }

    static func floats(_ url: URL) throws -> [Float] {
        let d = try Data(contentsOf: url)
        return d.withUnsafeBytes { raw in (0..<d.count / 4).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) } }
    }

    func floats(_ path: String) throws -> [Float] { try TrainingFixture.floats(dir.appendingPathComponent(path)) }

    /// Named tensors of a `.bin` with its `.bin.json` index, in file order.
    func tensors(_ path: String) throws -> [(name: String, shape: [Int], values: [Float])] {
        let url = dir.appendingPathComponent(path)
        let entries = try JSONDecoder().decode([Entry].self, from: Data(contentsOf: URL(fileURLWithPath: url.path + ".json")))
        let all = try TrainingFixture.floats(url)
        return entries.map { e in
            let n = e.shape.reduce(1, *), start = e.offset / 4
            return (e.name, e.shape, Array(all[start..<start + n]))
        }
    }
}
