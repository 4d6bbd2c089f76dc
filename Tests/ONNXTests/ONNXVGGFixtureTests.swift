import Checkpoint
import Foundation
import Models
import ONNX
import TestSupport
import XCTest

/// The tiny torchvision VGGs of Fixtures/vgg (real PyTorch), exported and evaluated op by op
/// (`ONNXReference`): the ONNX model gives torch's eval logits, through every form of the
/// adaptive pool (1x1 and 2x1 replicated to 7x7, 8x1 overlapping bins).
///
/// With GRAFT_ONNX_OUT=<folder> the exported models are also written there, with their inputs
/// (`<name>.input.raw`, float32 [N, 3, H, W]) and torch's logits, for Fixtures/check_onnx.py.
final class ONNXVGGFixtureTests: XCTestCase {
    struct Entry: Decodable { let name: String; let dtype: String; let shape: [Int]; let offset: Int }
    enum CfgItem: Decodable {
        case conv(Int), pool
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let n = try? c.decode(Int.self) { self = .conv(n) } else { _ = try c.decode(String.self); self = .pool }
        }
    }
    struct Meta: Decodable {
        struct Case: Decodable { let batch: Int; let height: Int; let width: Int; let input: String }
        let variant: String, batch_norm: Bool, cfg: [CfgItem], hidden: Int, classes: Int
        let cases: [String: Case]?
    }

    /// torchvision's VGG.forward for a make_layers cfg, keys as its state_dict names them.
    static func vggGraph(cfg: [CfgItem], batchNorm: Bool, hidden: Int, classes: Int) -> Graph {
        var g = Graph()
        let features = ModulePath.root.pp("features"), classifier = ModulePath.root.pp("classifier")
        var x = 0, index = 0, channels = 3
        for item in cfg {
            switch item {
            case .pool:
                x = g.add(.maxPool(.init(kernel: 2, stride: 2)), x); index += 1
            case .conv(let width):
                x = g.add(.conv(.init(out: width, in: channels, kernel: 3, padding: 1, bias: true)), x, path: features.pp(index)); index += 1
                if batchNorm { x = g.add(.batchNorm(.init(channels: width)), x, path: features.pp(index)); index += 1 }
                x = g.add(.activation(.relu), x); index += 1
                channels = width
            }
        }
        x = g.add(.adaptiveAvgPool(height: 7, width: 7), x)
        x = g.add(.flatten, x)
        var width = channels * 49
        for i in 0..<2 {
            x = g.add(.linear(.init(out: hidden, in: width)), x, path: classifier.pp(3 * i))
            x = g.add(.activation(.relu), x)
            x = g.add(.dropout(p: 0.5), x)
            width = hidden
        }
        g.add(.linear(.init(out: classes, in: width)), x, path: classifier.pp(6))
        return g
    }

    static func floats(_ url: URL) throws -> [Float] {
        let d = try Data(contentsOf: url)
        return d.withUnsafeBytes { raw in (0..<d.count / 4).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) } }
    }

    static func weights(_ dir: URL) throws -> StateDict {
        let entries = try JSONDecoder().decode([Entry].self, from: Data(contentsOf: dir.appendingPathComponent("weights.json")))
        let blob = try [UInt8](Data(contentsOf: dir.appendingPathComponent("weights.bin")))
        var sd = StateDict()
        for e in entries {
            let dtype: DType = e.dtype == "int64" ? .int64 : .float32
            sd[e.name] = TensorData(dtype: dtype, shape: e.shape, bytes: Array(blob[e.offset..<e.offset + e.shape.reduce(1, *) * dtype.size]))
        }
        return sd
    }

    static func check(name: String, graph: Graph, stateDict: StateDict, input: [Float], batch: Int, height: Int, width: Int,
               want: [Float], metadata: [String: String]? = nil, file: StaticString = #filePath, line: UInt = #line) throws {
        let data = try ONNXExport.model(graph: graph, stateDict: stateDict, imageSize: (height: height, width: width),
                                        metadata: metadata ?? ["source": name])
        let model = try Onnx_ModelProto(serializedBytes: data)
        let got = try ONNXReference(model: model).run(.init(shape: [batch, 3, height, width], values: input))
        XCTAssertEqual(got.values.count, want.count, name, file: file, line: line)
        let rel = maxRelativeError(got.values, want, rows: batch)
        print("[onnx] \(name): \(model.graph.node.count) nodes (\(Set(model.graph.node.map(\.opType)).sorted().joined(separator: ","))), max relative error \(rel)")
        XCTAssertLessThanOrEqual(rel, 1e-4, "\(name): the exported model's logits differ from PyTorch's", file: file, line: line)
        if let out = ProcessInfo.processInfo.environment["GRAFT_ONNX_OUT"] {
            let dir = URL(fileURLWithPath: out)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try data.write(to: dir.appendingPathComponent("\(name).onnx"))
            try input.withUnsafeBytes { try Data($0).write(to: dir.appendingPathComponent("\(name).input.raw")) }
            try want.withUnsafeBytes { try Data($0).write(to: dir.appendingPathComponent("\(name).torch_logits.raw")) }
        }
    }

    func testEvalFixturesMatchTorch() throws {
        let root = FixturePaths.url("vgg/models")
        let names = ["tiny_vgg11", "tiny_vgg11_bn", "tiny_vgg13", "tiny_vgg13_bn", "tiny_vgg16", "tiny_vgg16_bn", "tiny_vgg19", "tiny_vgg19_bn"]
        var checked = 0
        for name in names {
            let dir = root.appendingPathComponent(name)
            let meta = try JSONDecoder().decode(Meta.self, from: Data(contentsOf: dir.appendingPathComponent("meta.json")))
            let g = Self.vggGraph(cfg: meta.cfg, batchNorm: meta.batch_norm, hidden: meta.hidden, classes: meta.classes)
            let sd = try Self.weights(dir)
            XCTAssertEqual(g.tensors.map(\.key), sd.keys, "\(name): the graph's keys are the state dict's, in order")
            for (caseName, c) in try XCTUnwrap(meta.cases).sorted(by: { $0.key < $1.key }) {
                let input = try Self.floats(root.appendingPathComponent(c.input))
                let want = try Self.floats(dir.appendingPathComponent("logits_\(caseName).bin"))
                try Self.check(name: "\(name)_\(caseName)", graph: g, stateDict: sd, input: input, batch: c.batch,
                          height: c.height, width: c.width, want: want)
                checked += 1
            }
        }
        XCTAssertEqual(checked, 16)
    }

    /// An 8x1 last map: the adaptive pool's overlapping bins as a pooling matrix; weights
    /// read from the torch.save'd initial.pth.
    func testOverlappingBinsMatchTorch() throws {
        let dir = FixturePaths.url("vgg/training/tiny_vgg16_bn")
        struct TrainMeta: Decodable { let batch: Int, height: Int, width: Int, batch_norm: Bool, hidden: Int, initial_classes: Int
                                      let cfg: [CfgItem] }
        let meta = try JSONDecoder().decode(TrainMeta.self, from: Data(contentsOf: dir.appendingPathComponent("meta.json")))
        let g = Self.vggGraph(cfg: meta.cfg, batchNorm: meta.batch_norm, hidden: meta.hidden, classes: meta.initial_classes)
        let sd = try Checkpoint(contentsOf: dir.appendingPathComponent("initial.pth").path).stateDict
        let data = try ONNXExport.model(graph: g, stateDict: sd, imageSize: (height: meta.height, width: meta.width))
        let ops = try Onnx_ModelProto(serializedBytes: data).graph.node.map(\.opType)
        XCTAssertTrue(ops.contains("MatMul") && !ops.contains("AveragePool"), "\(ops)")
        try Self.check(name: "tiny_vgg16_bn_256x32", graph: g, stateDict: sd, input: try Self.floats(dir.appendingPathComponent("input.bin")),
                  batch: meta.batch, height: meta.height, width: meta.width, want: try Self.floats(dir.appendingPathComponent("eval_logits.bin")))
    }
}
