import Checkpoint
import Engine
import Foundation
import Imaging
import Models
import ONNX
import TestSupport
import XCTest

/// What ONNX Runtime and OpenVINO computed from Graft's exported models (Fixtures/check_onnx.py,
/// run by hand, its JSON committed in Fixtures/onnx_check) against Graft's own logits
/// (`InferenceModel` of the same state dict) on the same committed input:
/// - every torchvision ResNet variant by structure (its block kind, depths and grouping) at tiny
///   widths, with random weights and non-trivial batch norms from a fixed seed (`tiny_<variant>`);
/// - a ResNet and a VGG fixture fine-tuned with each head policy (`.replace`: `fc`,
///   `classifier.6`; `.append`: `fc.0`/`fc.1`, `classifier.6.0`/`.1`), one SGD step each
///   (`finetuned_<fixture>_<policy>`);
/// - the PyTorch fixtures ONNXVGGFixtureTests and ONNXResNetAndImageTests export: the tiny VGGs
///   of Fixtures/vgg (`tiny_vgg*_<case>`, `tiny_vgg16_bn_256x32`, the image path
///   `tiny_vgg11_bn_image_*`), the narrow ResNets of Fixtures/models (`resnet_*`) and the tiny
///   MobileNets of Fixtures/mobilenet (`tiny_mobilenet_*_<case>`) and three tiny EfficientNets of
///   Fixtures/efficientnet (`tiny_efficientnet_{b0,b5,v2_s}_<case>`) and three tiny RegNets of
///   Fixtures/regnet (`tiny_regnet_{y_400mf,x_400mf,x_8gf}_<case>`) and two tiny DenseNets of
///   Fixtures/densenet (`tiny_densenet{121,161}_<case>`) and a tiny ConvNeXt of Fixtures/convnext
///   (`tiny_convnext_tiny_<case>`) and the tiny Inception V3 of Fixtures/inception
///   (`tiny_inception_v3_<case>`, at 299x299, 75x75 and 107x139).
/// Each runtime's batch logits, its one-image-at-a-time logits (where the JSON has them) and its
/// probabilities must be within 1e-4 of Graft's (logits relative to the row's largest,
/// probabilities absolute); a NaN, an infinity or a length mismatch fails. The JSON's
/// description of the model (op types, node and initializer counts, input and output dims,
/// metadata) must still be the current export's: otherwise the committed results are of another
/// export, and check_onnx.py must be run again (Fixtures/onnx_check/README.md says how).
///
/// The models are rebuilt here deterministically (the .onnx files are not committed); with
/// GRAFT_ONNX_OUT=<folder> they are written there with their inputs and Graft's logits
/// (`<name>.graft_logits.raw`) for check_onnx.py. GRAFT_ONNX_CHECK_DIR=<folder> reads the JSON
/// from there instead of Fixtures/onnx_check (to check a fresh run before committing it).
final class ONNXRuntimeResultsTests: XCTestCase {
    static let batch = 3, size = 56
    static let inputFile = "onnx_check/graft_models_3x3x56x56.input.raw"
    static let tolerance = 1e-4

    struct Case {
        let name: String
        let graph: Graph
        let stateDict: StateDict
        var metadata: [String: String]
    }

    // MARK: - The models

    /// A small generator that is the same everywhere (no libm): SplitMix64.
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        /// Uniform in [a, b).
        mutating func uniform(_ a: Float, _ b: Float) -> Float { a + (b - a) * Float(next() >> 40) / Float(1 << 24) }
    }

    /// Random values for every tensor of `graph`, from `seed`: convs and Linears uniform with
    /// variance 2 / fan_in (He), batch norms with weights in [0.5, 1.5) (in [0.05, 0.15) for the
    /// last batch norm of a residual branch, `residual`, so that 50 blocks stay in range), biases
    /// and running means in [-0.1, 0.1), running variances in [0.5, 1.5).
    static func randomStateDict(_ graph: Graph, seed: UInt64, residual: (String) -> Bool = { _ in false }) -> StateDict {
        var rng = Generator(state: seed)
        var sd = StateDict()
        for n in graph.nodes {
            for (name, shape) in n.op.tensors {
                let key = n.path[name], count = shape.reduce(1, *)
                if name == "num_batches_tracked" { sd[key] = TensorData(shape: [], int64s: [Int64(rng.next() % 1000)]); continue }
                let values: [Float]
                switch (n.op, name) {
                case (.conv, "weight"), (.linear, "weight"):
                    let fanIn = Float(shape.dropFirst().reduce(1, *))
                    let a = (6 / fanIn).squareRoot()
                    values = (0..<count).map { _ in rng.uniform(-a, a) }
                case (.batchNorm, "weight"):
                    values = residual(n.path.description) ? (0..<count).map { _ in rng.uniform(0.05, 0.15) }
                                                          : (0..<count).map { _ in rng.uniform(0.5, 1.5) }
                case (.batchNorm, "running_var"):
                    values = (0..<count).map { _ in rng.uniform(0.5, 1.5) }
                default:  // biases, running means
                    values = (0..<count).map { _ in rng.uniform(-0.1, 0.1) }
                }
                sd[key] = TensorData(shape: shape, floats: values)
            }
        }
        return sd
    }

    /// torchvision's variant at 1/16 of its widths (stem 8), groups / 8: the same blocks,
    /// depths and ratio of 3x3 width to planes; grouped convs in the ResNeXts.
    static func tinySpec(_ v: ResNetVariant) -> ResNetSpec {
        let full = v.spec
        return ResNetSpec(block: v.block, layers: v.layers, stemWidth: 8, planes: full.planes.map { $0 / 16 },
                          widths: full.widths.map { $0 / 16 }, groups: max(v.groups / 8, 1))
    }

    static func tinyResNets() -> [Case] {
        ResNetFamily.variants.enumerated().map { i, v in
            let spec = tinySpec(v)
            let arch = ResNetFamily().architecture(spec, head: .linear(classes: 5))
            let last = v.block == .basic ? "bn2" : "bn3"
            let sd = randomStateDict(arch.graph, seed: 2026 + UInt64(i)) { $0.hasPrefix("layer") && $0.hasSuffix("." + last) }
            return Case(name: "tiny_\(v.name)", graph: arch.graph, stateDict: sd, metadata: ["source": "tiny_\(v.name)"])
        }
    }

    static func input() throws -> [Float] {
        let values = try ONNXVGGFixtureTests.floats(FixturePaths.url(inputFile))
        precondition(values.count == batch * 3 * size * size, "\(inputFile): \(values.count) floats")
        return values
    }

    /// A fixture's state dict fine-tuned as finetune does it: `Network(stateDict:head:seed:)`,
    /// one training step on the input (labels 0, 1, 2; batch statistics, dropout), one SGD step
    /// (lr 0.05) on what trains (an appended head's `.0` stays frozen), `stateDict()`.
    static func finetuned() throws -> [Case] {
        let fixtures: [(String, StateDict)] = [
            ("basic_w8", try ONNXVGGFixtureTests.weights(FixturePaths.url("models/basic_w8"))),
            ("tiny_vgg11_bn", try ONNXVGGFixtureTests.weights(FixturePaths.url("vgg/models/tiny_vgg11_bn"))),
        ]
        let images = try input()
        let classNames = ["ant", "bee", "cicada"]
        var cases: [Case] = []
        for (fixture, sd) in fixtures {
            for (policy, head) in [("replace", HeadPolicy.replace(numClasses: 3)), ("append", .append(numClasses: 3))] {
                let net = try Network(stateDict: sd, head: head, seed: 11)
                _ = try images.withUnsafeBufferPointer {
                    try net.trainStep(images: $0, labels: [0, 1, 2], batch: batch, height: size, width: size)
                }
                for p in net.parameters where p.trainable {
                    for i in 0..<p.count { p.value[i] -= 0.05 * p.grad[i] }
                }
                net.weightsChanged()
                let tuned = net.stateDict()
                let arch = try Architecture.detect(tuned)
                cases.append(Case(name: "finetuned_\(fixture)_\(policy)", graph: arch.graph, stateDict: tuned,
                                  metadata: ONNXExport.metadata(classNames: classNames, resize: 64, crop: size,
                                                                mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])))
            }
        }
        return cases
    }

    // MARK: - The runtimes' results

    struct RuntimeResult: Decodable {
        let logits: [[Double]]
        let probs: [[Double]]
        let single_logits: [[Double]]?
    }
    struct Description: Decodable {
        struct Value: Decodable { let name: String; let dims: [Dim] }
        enum Dim: Decodable, Equatable {
            case symbol(String), size(Int)
            init(from decoder: Decoder) throws {
                let c = try decoder.singleValueContainer()
                if let n = try? c.decode(Int.self) { self = .size(n) } else { self = .symbol(try c.decode(String.self)) }
            }
        }
        let ir_version: Int, op_types: [String], nodes: Int, initializers: Int
        let input: Value, output: Value, metadata: [String: String]
    }
    struct Result: Decodable {
        struct Input: Decodable { let shape: [Int] }
        let model: String, description: Description, input: Input
        let onnxruntime: RuntimeResult, openvino: RuntimeResult
        let problems: [String]
    }

    static var resultsDirectory: URL {
        ProcessInfo.processInfo.environment["GRAFT_ONNX_CHECK_DIR"].map { URL(fileURLWithPath: $0) } ?? FixturePaths.url("onnx_check")
    }

    static func softmax(_ logits: [Float], rows: Int) -> [Float] {
        let cols = logits.count / max(rows, 1)
        var out = [Float](repeating: 0, count: logits.count)
        for r in 0..<rows {
            let row = logits[(r * cols)..<((r + 1) * cols)].map(Double.init)
            let m = row.max() ?? 0
            let e = row.map { Foundation.exp($0 - m) }
            let s = e.reduce(0, +)
            for c in 0..<cols { out[r * cols + c] = Float(e[c] / s) }
        }
        return out
    }

    /// The worst differences of `name`'s committed runtime results from Graft's `want` logits:
    /// per runtime, the largest of its batch logits', single-image logits' (row-relative) and
    /// probabilities' (absolute) differences.
    @discardableResult
    static func compare(name: String, model: Onnx_ModelProto, want: [Float], rows: Int,
                        file: StaticString = #filePath, line: UInt = #line) throws -> [String: Double] {
        let url = resultsDirectory.appendingPathComponent("\(name).json")
        guard let json = FileManager.default.contents(atPath: url.path) else {
            XCTFail("\(name): no \(url.path); run Fixtures/check_onnx.py (Fixtures/onnx_check/README.md)", file: file, line: line)
            return ["missing": .infinity]
        }
        let result = try JSONDecoder().decode(Result.self, from: json)
        XCTAssertEqual(result.problems, [], "\(name): check_onnx.py reported problems", file: file, line: line)
        XCTAssertEqual(result.model, "\(name).onnx", file: file, line: line)
        XCTAssertEqual(result.input.shape.first, rows, "\(name): the runtimes ran another batch", file: file, line: line)

        // The committed results are of this export: the same structure.
        let d = result.description, stale = "\(name): the committed results are of another export; run Fixtures/check_onnx.py again"
        XCTAssertEqual(d.ir_version, Int(model.irVersion), stale, file: file, line: line)
        XCTAssertEqual(d.op_types, Set(model.graph.node.map(\.opType)).sorted(), stale, file: file, line: line)
        XCTAssertEqual(d.nodes, model.graph.node.count, stale, file: file, line: line)
        XCTAssertEqual(d.initializers, model.graph.initializer.count, stale, file: file, line: line)
        XCTAssertEqual(d.input.name, model.graph.input[0].name, stale, file: file, line: line)
        XCTAssertEqual(d.output.name, model.graph.output[0].name, stale, file: file, line: line)
        XCTAssertEqual(d.input.dims.dropFirst().map { $0 }, model.graph.input[0].type.tensorType.shape.dim.dropFirst().map { .size(Int($0.dimValue)) },
                       stale, file: file, line: line)
        XCTAssertEqual(d.output.dims.last, .size(want.count / max(rows, 1)), stale, file: file, line: line)
        XCTAssertEqual(d.metadata, Dictionary(uniqueKeysWithValues: model.metadataProps.map { ($0.key, $0.value) }), stale,
                       file: file, line: line)

        let wantProbs = softmax(want, rows: rows)
        var worst: [String: Double] = [:]
        for (runtime, r) in [("onnxruntime", result.onnxruntime), ("openvino", result.openvino)] {
            let logits = r.logits.flatMap { $0.map(Float.init) }
            let probs = r.probs.flatMap { $0.map(Float.init) }
            XCTAssertEqual(r.logits.count, rows, "\(name) \(runtime): rows", file: file, line: line)
            XCTAssertEqual(logits.count, want.count, "\(name) \(runtime): logits", file: file, line: line)
            var errors = [maxRelativeError(logits, want, rows: rows), maxAbsError(probs, wantProbs)]
            if let single = r.single_logits {
                errors.append(maxRelativeError(single.flatMap { $0.map(Float.init) }, want, rows: rows))
            }
            // `max` keeps a finite value over NaN: an incomparable pair is +infinity, never NaN.
            let e = errors.reduce(0) { $1.isNaN ? .infinity : max($0, $1) }
            worst[runtime] = e
            print("[onnx-runtime] \(name) \(runtime): logits \(errors[0]), probabilities \(errors[1])"
                  + (errors.count > 2 ? ", one image at a time \(errors[2])" : ""))
            XCTAssertLessThanOrEqual(e, tolerance, "\(name): \(runtime)'s results differ from Graft's", file: file, line: line)
        }
        return worst
    }

    /// Exports `c`, checks the export with `ONNXReference` against Graft's logits, writes it for
    /// check_onnx.py (GRAFT_ONNX_OUT), and compares the committed runtime results.
    func check(_ c: Case, input: [Float], worst: inout [String: Double]) throws {
        let data = try ONNXExport.model(graph: c.graph, stateDict: c.stateDict, imageSize: (height: Self.size, width: Self.size),
                                        metadata: c.metadata)
        let model = try Onnx_ModelProto(serializedBytes: data)
        let graft = try InferenceModel(stateDict: c.stateDict)
        XCTAssertEqual(graft.architecture.graph.tensors.map(\.key), c.graph.tensors.map(\.key), c.name)
        let want = try graft.logits(images: input, batch: Self.batch, height: Self.size, width: Self.size)
        // A check worth making: logits of a moderate size that the image moves (each row more
        // than 5% of the largest logit away from the rows' mean somewhere).
        let scale = want.map(abs).max() ?? 0, cols = want.count / Self.batch
        let mean = (0..<cols).map { j in (0..<Self.batch).map { want[$0 * cols + j] }.reduce(0, +) / Float(Self.batch) }
        let spread = want.indices.map { abs(want[$0] - mean[$0 % cols]) }.max() ?? 0
        XCTAssertTrue(scale > 1e-2 && scale < 1e2 && spread > 0.05 * scale, "\(c.name): logits of \(scale), spread \(spread) make a poor check")
        let reference = try ONNXReference(model: model).run(.init(shape: [Self.batch, 3, Self.size, Self.size], values: input))
        XCTAssertLessThanOrEqual(maxRelativeError(reference.values, want, rows: Self.batch), Self.tolerance,
                                 "\(c.name): the export (evaluated op by op) differs from Graft")
        if let out = ProcessInfo.processInfo.environment["GRAFT_ONNX_OUT"] {
            let dir = URL(fileURLWithPath: out)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try data.write(to: dir.appendingPathComponent("\(c.name).onnx"))
            try input.withUnsafeBytes { try Data($0).write(to: dir.appendingPathComponent("\(c.name).input.raw")) }
            try want.withUnsafeBytes { try Data($0).write(to: dir.appendingPathComponent("\(c.name).graft_logits.raw")) }
        }
        for (k, v) in try Self.compare(name: c.name, model: model, want: want, rows: Self.batch) { worst[k] = max(worst[k] ?? 0, v) }
    }

    func testEveryResNetVariantMatchesGraft() throws {
        let input = try Self.input()
        var worst: [String: Double] = [:]
        let cases = Self.tinyResNets()
        XCTAssertEqual(cases.count, 10)
        for c in cases {
            let grouped = c.graph.nodes.contains { if case .conv(let conv) = $0.op { return conv.groups > 1 }; return false }
            XCTAssertEqual(grouped, c.name.contains("resnext"), "\(c.name): grouped convs")
            try check(c, input: input, worst: &worst)
        }
        print("[onnx-runtime] ResNet variants, worst: \(worst.sorted { $0.key < $1.key })")
    }

    func testFinetunedHeadsMatchGraft() throws {
        let input = try Self.input()
        var worst: [String: Double] = [:]
        let cases = try Self.finetuned()
        XCTAssertEqual(cases.map(\.name), ["finetuned_basic_w8_replace", "finetuned_basic_w8_append",
                                           "finetuned_tiny_vgg11_bn_replace", "finetuned_tiny_vgg11_bn_append"])
        let heads = cases.map { c in c.stateDict.keys.filter { $0.hasPrefix("fc") || $0.hasPrefix("classifier.6") } }
        XCTAssertEqual(heads, [["fc.weight", "fc.bias"], ["fc.0.weight", "fc.0.bias", "fc.1.weight", "fc.1.bias"],
                               ["classifier.6.weight", "classifier.6.bias"],
                               ["classifier.6.0.weight", "classifier.6.0.bias", "classifier.6.1.weight", "classifier.6.1.bias"]])
        for c in cases { try check(c, input: input, worst: &worst) }
        print("[onnx-runtime] fine-tuned, worst: \(worst.sorted { $0.key < $1.key })")
    }

    /// The PyTorch fixtures as ONNXVGGFixtureTests and ONNXResNetAndImageTests export them: the
    /// runtimes' committed results against Graft's logits (check_onnx.py compared them with
    /// PyTorch's).
    func testTorchFixtureExportsMatchGraft() throws {
        var worst: [String: Double] = [:], checked = 0
        for name in ["basic_w8", "bottleneck_w8", "bottleneck_g2"] {
            let dir = FixturePaths.url("models/\(name)")
            let meta = try JSONDecoder().decode(ONNXResNetAndImageTests.ResNetMeta.self, from: Data(contentsOf: dir.appendingPathComponent("meta.json")))
            let sd = try ONNXVGGFixtureTests.weights(dir)
            let input = try ONNXVGGFixtureTests.floats(dir.appendingPathComponent("input.bin"))
            let model = try ONNXExport.modelProto(graph: ONNXResNetAndImageTests.resnetGraph(meta), stateDict: sd,
                                                  imageSize: (height: meta.height, width: meta.width), metadata: ["source": "resnet_\(name)"])
            let want = try InferenceModel(stateDict: sd).logits(images: input, batch: meta.batch, height: meta.height, width: meta.width)
            for (k, v) in try Self.compare(name: "resnet_\(name)", model: model, want: want, rows: meta.batch) { worst[k] = max(worst[k] ?? 0, v) }
            checked += 1
        }
        let root = FixturePaths.url("vgg/models")
        for name in ["tiny_vgg11", "tiny_vgg11_bn", "tiny_vgg13", "tiny_vgg13_bn", "tiny_vgg16", "tiny_vgg16_bn", "tiny_vgg19", "tiny_vgg19_bn"] {
            let dir = root.appendingPathComponent(name)
            let meta = try JSONDecoder().decode(ONNXVGGFixtureTests.Meta.self, from: Data(contentsOf: dir.appendingPathComponent("meta.json")))
            let g = ONNXVGGFixtureTests.vggGraph(cfg: meta.cfg, batchNorm: meta.batch_norm, hidden: meta.hidden, classes: meta.classes)
            let sd = try ONNXVGGFixtureTests.weights(dir)
            let graft = try InferenceModel(stateDict: sd)
            for (caseName, c) in try XCTUnwrap(meta.cases).sorted(by: { $0.key < $1.key }) {
                let input = try ONNXVGGFixtureTests.floats(root.appendingPathComponent(c.input))
                let model = try ONNXExport.modelProto(graph: g, stateDict: sd, imageSize: (height: c.height, width: c.width),
                                                      metadata: ["source": "\(name)_\(caseName)"])
                let want = try graft.logits(images: input, batch: c.batch, height: c.height, width: c.width)
                for (k, v) in try Self.compare(name: "\(name)_\(caseName)", model: model, want: want, rows: c.batch) {
                    worst[k] = max(worst[k] ?? 0, v)
                }
                checked += 1
            }
        }
        // Fixtures/vgg/training's tiny_vgg16_bn at 256x32 (overlapping pool bins).
        let training = FixturePaths.url("vgg/training/tiny_vgg16_bn")
        struct TrainMeta: Decodable { let batch: Int, height: Int, width: Int, batch_norm: Bool, hidden: Int, initial_classes: Int
                                      let cfg: [ONNXVGGFixtureTests.CfgItem] }
        let tm = try JSONDecoder().decode(TrainMeta.self, from: Data(contentsOf: training.appendingPathComponent("meta.json")))
        let tsd = try Checkpoint(contentsOf: training.appendingPathComponent("initial.pth").path).stateDict
        let tinput = try ONNXVGGFixtureTests.floats(training.appendingPathComponent("input.bin"))
        let tg = ONNXVGGFixtureTests.vggGraph(cfg: tm.cfg, batchNorm: tm.batch_norm, hidden: tm.hidden, classes: tm.initial_classes)
        let tmodel = try ONNXExport.modelProto(graph: tg, stateDict: tsd, imageSize: (height: tm.height, width: tm.width),
                                               metadata: ["source": "tiny_vgg16_bn_256x32"])
        let twant = try InferenceModel(stateDict: tsd).logits(images: tinput, batch: tm.batch, height: tm.height, width: tm.width)
        for (k, v) in try Self.compare(name: "tiny_vgg16_bn_256x32", model: tmodel, want: twant, rows: tm.batch) { worst[k] = max(worst[k] ?? 0, v) }
        checked += 1

        // Fixtures/vgg/predict's images through the eval transform (the first three of each, as
        // ONNXResNetAndImageTests exports them).
        let predict = FixturePaths.url("vgg/predict")
        let json = try XCTUnwrap(ExactJSON.object(with: Data(contentsOf: predict.appendingPathComponent("expected.json"))) as? [String: Any])
        let transforms = try XCTUnwrap(json["transforms"] as? [String: [String: Int]])
        let models = try XCTUnwrap(json["models"] as? [String: [String: [String: Any]]])
        let names = try JSONDecoder().decode([String: String].self, from: Data(contentsOf: predict.appendingPathComponent("class_indices.json")))
        let classNames = (0..<names.count).map { names[String($0)]! }
        for (model, byTransform) in models {
            let sd = try Checkpoint(contentsOf: predict.appendingPathComponent("\(model).pth").path).stateDict
            let arch = try Architecture.detect(sd)
            let graft = try InferenceModel(stateDict: sd)
            for (t, images) in byTransform.sorted(by: { $0.key < $1.key }) {
                let resize = try XCTUnwrap(transforms[t]?["resize"]), crop = try XCTUnwrap(transforms[t]?["crop"])
                let metadata = ONNXExport.metadata(classNames: classNames, resize: resize, crop: crop,
                                                   mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
                var input: [Float] = []
                for image in images.keys.sorted().prefix(3) {
                    input += try EvalTransform(resize: resize, crop: crop).tensor(path: FixturePaths.path("images/src/\(image)"))
                }
                let m = try ONNXExport.modelProto(graph: arch.graph, stateDict: sd, imageSize: (height: crop, width: crop), metadata: metadata)
                let want = try graft.logits(images: input, batch: 3, height: crop, width: crop)
                for (k, v) in try Self.compare(name: "\(model)_image_\(t)", model: m, want: want, rows: 3) { worst[k] = max(worst[k] ?? 0, v) }
                checked += 1
            }
        }
        // Fixtures/mobilenet/models, Fixtures/efficientnet/models, Fixtures/regnet/models and
        // Fixtures/densenet/models at 32x32 and 64x48 (as ONNXMobileNetFixtureTests,
        // ONNXEfficientNetFixtureTests, ONNXRegNetFixtureTests, ONNXDenseNetFixtureTests export them).
        let families = ["tiny_mobilenet_v2", "tiny_mobilenet_v3_large", "tiny_mobilenet_v3_small"].map { ("mobilenet/models", $0) }
            + ONNXEfficientNetFixtureTests.models.map { ("efficientnet/models", $0) }
            + ONNXRegNetFixtureTests.models.map { ("regnet/models", $0) }
            + ONNXDenseNetFixtureTests.models.map { ("densenet/models", $0) }
            + ONNXConvNeXtFixtureTests.models.map { ("convnext/models", $0) }
            + [("inception/models", "tiny_inception_v3")]
        for (folder, name) in families {
            let mobile = FixturePaths.url(folder)
            let dir = mobile.appendingPathComponent(name)
            let meta = try JSONDecoder().decode(ONNXMobileNetFixtureTests.Meta.self, from: Data(contentsOf: dir.appendingPathComponent("meta.json")))
            let sd = try ONNXVGGFixtureTests.weights(dir)
            let g = try Architecture.detect(sd).graph
            let graft = try InferenceModel(stateDict: sd)
            for (caseName, c) in meta.cases.sorted(by: { $0.key < $1.key }) where caseName != "96x80" {
                let input = try ONNXVGGFixtureTests.floats(mobile.appendingPathComponent(c.input))
                let model = try ONNXExport.modelProto(graph: g, stateDict: sd, imageSize: (height: c.height, width: c.width),
                                                      metadata: ["source": "\(name)_\(caseName)"])
                let want = try graft.logits(images: input, batch: c.batch, height: c.height, width: c.width)
                for (k, v) in try Self.compare(name: "\(name)_\(caseName)", model: model, want: want, rows: c.batch) {
                    worst[k] = max(worst[k] ?? 0, v)
                }
                checked += 1
            }
        }
        XCTAssertEqual(checked, 22 + 6 + 6 + 6 + 4 + 2 + 3, "every torch fixture export of Fixtures/onnx_check")
        print("[onnx-runtime] torch fixtures, worst: \(worst.sorted { $0.key < $1.key })")
    }

    /// What the comparison must catch: a NaN, a length mismatch, a difference past 1e-4.
    func testTheMeasuresFailWhatTheyMust() {
        XCTAssertEqual(maxRelativeError([1, .nan, 3], [1, 2, 3], rows: 1), .infinity)
        XCTAssertEqual(maxRelativeError([1, 2], [1, 2, 3], rows: 1), .infinity)
        XCTAssertEqual(maxAbsError([0.5, .nan], [0.5, 0.5]), .infinity)
        XCTAssertGreaterThan(maxRelativeError([1, 2, 3.001], [1, 2, 3], rows: 1), Self.tolerance)
        let p = Self.softmax([1, 2, 3, 0, 0, 0], rows: 2)
        XCTAssertEqual(p[3], 1.0 / 3, accuracy: 1e-7)
        XCTAssertEqual(p[0] + p[1] + p[2], 1, accuracy: 1e-6)
    }
}
