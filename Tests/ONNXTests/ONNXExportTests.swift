import Checkpoint
import Engine
import Foundation
import Models
import ONNX
import SwiftProtobuf
import TestSupport
import XCTest

/// `ONNXExport`: a graph and its state dict written as an ONNX ModelProto, parsed back.
final class ONNXExportTests: XCTestCase {
    /// A small graph with every op the exporter knows: conv with bias, batch norm, ReLU, a
    /// grouped conv without bias, a residual add, max pool, concat, an adaptive pool whose bins
    /// overlap (4x3 -> 3x2), flatten, Linear, dropout, Linear.
    static func tinyGraph() -> Graph {
        var g = Graph()
        let features = ModulePath.root.pp("features"), classifier = ModulePath.root.pp("classifier")
        let c1 = g.add(.conv(.init(out: 4, in: 3, kernel: 3, padding: 1, bias: true)), 0, path: features.pp(0))
        let bn = g.add(.batchNorm(.init(channels: 4, eps: 1e-3, momentum: 0.2)), c1, path: features.pp(1))
        let r = g.add(.activation(.relu), bn)
        let c2 = g.add(.conv(.init(out: 4, in: 4, kernel: 3, stride: 1, padding: 1, groups: 2, bias: false)), r, path: ModulePath.root.pp("block").pp("conv"))
        let sum = g.add(.add, c2, r)
        let mp = g.add(.maxPool(.init(kernel: 2, stride: 2)), sum)          // [4, 4, 3]
        let cat = g.add(.concat, mp, mp)                                     // [8, 4, 3]
        let ap = g.add(.adaptiveAvgPool(height: 3, width: 2), cat)           // [8, 3, 2]
        let flat = g.add(.flatten, ap)                                       // [48]
        let l1 = g.add(.linear(.init(out: 5, in: 48)), flat, path: classifier.pp(0))
        let r2 = g.add(.activation(.relu), l1)
        let d = g.add(.dropout(p: 0.5), r2)
        g.add(.linear(.init(out: 3, in: 5)), d, path: classifier.pp(3))
        return g
    }

    /// Deterministic values for every tensor of `graph` (num_batches_tracked int64).
    static func stateDict(_ graph: Graph, seed: UInt32 = 1) -> StateDict {
        var state = seed
        func next() -> Float {
            state = state &* 1_664_525 &+ 1_013_904_223
            return Float(state >> 8) / Float(1 << 24) - 0.5
        }
        var sd = StateDict()
        for (k, s) in graph.tensors {
            if k.hasSuffix("num_batches_tracked") { sd[k] = TensorData(shape: s, int64s: [7]); continue }
            let n = s.reduce(1, *)
            var v = (0..<n).map { _ in next() }
            if k.hasSuffix("running_var") { v = v.map { $0 + 1 } }
            sd[k] = TensorData(shape: s, floats: v)
        }
        return sd
    }

    static let metadata = ONNXExport.metadata(classNames: ["cat", "dog", "\"quoted\" / é"], resize: 10, crop: 8,
                                              mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])

    func export(_ g: Graph, _ sd: StateDict, height: Int = 8, width: Int = 6) throws -> Onnx_ModelProto {
        let data = try ONNXExport.model(graph: g, stateDict: sd, imageSize: (height: height, width: width), metadata: Self.metadata)
        return try Onnx_ModelProto(serializedBytes: data)
    }

    func attribute(_ n: Onnx_NodeProto, _ name: String) -> Onnx_AttributeProto? { n.attribute.first { $0.name == name } }

    func testTinyGraphParsesBack() throws {
        let g = Self.tinyGraph(), sd = Self.stateDict(Self.tinyGraph())
        let m = try export(g, sd)
        XCTAssertEqual(m.irVersion, 8)
        XCTAssertEqual(m.opsetImport.map(\.domain), [""])
        XCTAssertEqual(m.opsetImport.map(\.version), [17])
        XCTAssertEqual(m.producerName, "graft")

        // Nodes: dropout left out; the overlapping adaptive pool as Reshape, MatMul, Reshape.
        let nodes = m.graph.node
        XCTAssertEqual(nodes.map(\.opType), ["Conv", "BatchNormalization", "Relu", "Conv", "Add", "MaxPool", "Concat",
                                             "Reshape", "MatMul", "Reshape", "Flatten", "Gemm", "Relu", "Gemm"])
        XCTAssertEqual(nodes.map(\.name)[0...1], ["features.0", "features.1"])
        XCTAssertEqual(nodes[0].input, ["image", "features.0.weight", "features.0.bias"])
        XCTAssertEqual(nodes[1].input, ["x1", "features.1.weight", "features.1.bias", "features.1.running_mean", "features.1.running_var"])
        XCTAssertEqual(nodes[3].input, ["x3", "block.conv.weight"], "no bias")
        XCTAssertEqual(nodes[4].input, ["x4", "x3"])
        XCTAssertEqual(nodes[6].input, ["x6", "x6"])
        XCTAssertEqual(nodes[11].input, ["x9", "classifier.0.weight", "classifier.0.bias"])
        XCTAssertEqual(nodes[13].input, ["x11", "classifier.3.weight", "classifier.3.bias"], "the dropout's input, x11")
        XCTAssertEqual(nodes.last?.output, ["logits"])
        // Every value is made before it is read.
        var made: Set<String> = ["image"]
        made.formUnion(m.graph.initializer.map(\.name))
        for n in nodes {
            for i in n.input { XCTAssertTrue(made.contains(i), "\(n.name) reads \(i) before it is made") }
            made.formUnion(n.output)
        }

        // Attributes.
        XCTAssertEqual(attribute(nodes[0], "kernel_shape")?.ints, [3, 3])
        XCTAssertEqual(attribute(nodes[0], "pads")?.ints, [1, 1, 1, 1])
        XCTAssertEqual(attribute(nodes[0], "strides")?.ints, [1, 1])
        XCTAssertEqual(attribute(nodes[0], "dilations")?.ints, [1, 1])
        XCTAssertEqual(attribute(nodes[0], "group")?.i, 1)
        XCTAssertEqual(attribute(nodes[0], "group")?.type, .int)
        XCTAssertEqual(attribute(nodes[3], "group")?.i, 2)
        XCTAssertEqual(attribute(nodes[1], "epsilon")?.f, 1e-3)
        XCTAssertEqual(attribute(nodes[1], "epsilon")?.type, .float)
        XCTAssertEqual(try XCTUnwrap(attribute(nodes[1], "momentum")?.f), 0.8, accuracy: 1e-7, "ONNX's momentum is 1 - torch's")
        XCTAssertEqual(attribute(nodes[5], "kernel_shape")?.ints, [2, 2])
        XCTAssertEqual(attribute(nodes[5], "strides")?.ints, [2, 2])
        XCTAssertEqual(attribute(nodes[6], "axis")?.i, 1)
        XCTAssertEqual(attribute(nodes[10], "axis")?.i, 1)
        XCTAssertEqual(attribute(nodes[11], "transB")?.i, 1)
        XCTAssertEqual(attribute(nodes[11], "transB")?.type, .int)

        // Initializers: the state dict's floats under its keys, in graph order; no num_batches_tracked.
        let inits = Dictionary(uniqueKeysWithValues: m.graph.initializer.map { ($0.name, $0) })
        let keys = g.tensors.map(\.key).filter { !$0.hasSuffix("num_batches_tracked") }
        XCTAssertEqual(m.graph.initializer.map(\.name).filter { !$0.hasPrefix("onnx::") }, keys)
        for k in keys {
            let t = try XCTUnwrap(inits[k], k), want = try XCTUnwrap(sd[k])
            XCTAssertEqual(t.dims, want.shape.map(Int64.init), k)
            XCTAssertEqual(t.dataType, 1, k)
            XCTAssertEqual([UInt8](t.rawData), want.bytes, k)  // float32 little-endian, as torch stores it
        }
        XCTAssertEqual(inits["onnx::pool_flat_shape_7"]?.dataType, 7)
        XCTAssertEqual(inits["onnx::pool_matrix_7"]?.dims, [12, 6])

        // Input and output: a dynamic batch, the image size given, the classes.
        func dims(_ v: Onnx_ValueInfoProto) -> [String] {
            v.type.tensorType.shape.dim.map { d in
                switch d.value {
                case .dimValue(let x): return "\(x)"
                case .dimParam(let p): return p
                case nil: return "?"
                }
            }
        }
        XCTAssertEqual(m.graph.input.map(\.name), ["image"])
        XCTAssertEqual(dims(m.graph.input[0]), ["batch", "3", "8", "6"])
        XCTAssertEqual(m.graph.input[0].type.tensorType.elemType, 1)
        XCTAssertEqual(m.graph.output.map(\.name), ["logits"])
        XCTAssertEqual(dims(m.graph.output[0]), ["batch", "3"])

        // Metadata: sorted keys, JSON values.
        XCTAssertEqual(m.metadataProps.map(\.key), ["class_names", "eval_transform"])
        let names = try ExactJSON.object(with: Data(m.metadataProps[0].value.utf8)) as? [String]
        XCTAssertEqual(names, ["cat", "dog", "\"quoted\" / é"])
        let transform = try XCTUnwrap(ExactJSON.object(with: Data(m.metadataProps[1].value.utf8)) as? [String: Any])
        XCTAssertEqual(transform["resize"] as? Int, 10)
        XCTAssertEqual(transform["crop"] as? Int, 8)
        XCTAssertEqual(transform["mean"] as? [Double], [0.485, 0.456, 0.406])
        XCTAssertEqual(transform["std"] as? [Double], [0.229, 0.224, 0.225])

        // The bytes are the proto's, and the same each time.
        let again = try ONNXExport.model(graph: g, stateDict: sd, imageSize: (height: 8, width: 6), metadata: Self.metadata)
        XCTAssertEqual(try m.serializedBytes() as Data, again)
    }

    /// The tiny graph's exported model, evaluated op by op from the ONNX specs, equals the same
    /// computation written directly from torch's definitions (conv, batch norm, pool bins...).
    func testTinyGraphComputesTorchsForward() throws {
        let g = Self.tinyGraph(), sd = Self.stateDict(g)
        let m = try export(g, sd)
        var seed: UInt32 = 9
        let x = (0..<(2 * 3 * 8 * 6)).map { _ -> Float in seed = seed &* 1_664_525 &+ 1_013_904_223; return Float(seed >> 8) / Float(1 << 24) - 0.5 }
        let got = try ONNXReference(model: m).run(.init(shape: [2, 3, 8, 6], values: x))
        XCTAssertEqual(got.shape, [2, 3])
        let want = try TorchSemantics.forward(g, sd, input: x, batch: 2, height: 8, width: 6)
        XCTAssertLessThanOrEqual(maxAbsError(got.values, want), 1e-5, "\(got.values) vs \(want)")
    }

    /// Inception's factorised convs (1x7 with padding (0, 3), 7x1 with (3, 0)), its 3x3 stride-1
    /// average pool counting the padding, and GELU (fused into the 1x7 conv in Graft's plan): the
    /// export (kernel_shape, pads, count_include_pad, GELU's Erf form), evaluated op by op,
    /// equals torch's definitions, and so does Graft's plan.
    func testFactorisedConvsAndAveragePool() throws {
        var g = Graph()
        let root = ModulePath.root
        let a = g.add(.conv(.init(out: 4, in: 3, kernel: 1, kernelWidth: 7, paddingWidth: 3, bias: true)), 0, path: root.pp("a"))
        let r = g.add(.activation(.gelu), a)
        let b = g.add(.conv(.init(out: 5, in: 4, kernel: 7, kernelWidth: 1, padding: 3, paddingWidth: 0)), r, path: root.pp("b"))
        let p = g.add(.avgPool(.init(kernel: 3, stride: 1, padding: 1)), b)
        let cat = g.add(.concat, p, r)
        let pooled = g.add(.adaptiveAvgPool(height: 1, width: 1), cat)
        let flat = g.add(.flatten, pooled)
        g.add(.linear(.init(out: 3, in: 9)), flat, path: root.pp("fc"))
        let sd = Self.stateDict(g)
        let m = try export(g, sd, height: 9, width: 7)
        XCTAssertEqual(attribute(m.graph.node[0], "kernel_shape")?.ints, [1, 7])
        XCTAssertEqual(attribute(m.graph.node[0], "pads")?.ints, [0, 3, 0, 3])
        // GELU as opset 17 writes it: x * (1 + Erf(x / sqrt(2))) * 0.5.
        XCTAssertEqual(m.graph.node[1...5].map(\.opType), ["Div", "Erf", "Add", "Mul", "Mul"])
        XCTAssertEqual(attribute(m.graph.node[6], "kernel_shape")?.ints, [7, 1])
        XCTAssertEqual(attribute(m.graph.node[6], "pads")?.ints, [3, 0, 3, 0])
        XCTAssertEqual(m.graph.node[7].opType, "AveragePool")
        XCTAssertEqual(attribute(m.graph.node[7], "count_include_pad")?.i, 1)
        var seed: UInt32 = 5
        let x = (0..<(2 * 3 * 9 * 7)).map { _ -> Float in seed = seed &* 1_664_525 &+ 1_013_904_223; return Float(seed >> 8) / Float(1 << 24) - 0.5 }
        let got = try ONNXReference(model: m).run(.init(shape: [2, 3, 9, 7], values: x))
        let want = try TorchSemantics.forward(g, sd, input: x, batch: 2, height: 9, width: 7)
        XCTAssertLessThanOrEqual(maxAbsError(got.values, want), 1e-5)
        let arch = Architecture(family: ResNetFamily(), name: "factorised", graph: g, head: .linear(classes: 3), features: flat,
                                featureCount: 9, stageCount: 1, fileName: "factorised.pth", rebuild: { _ in fatalError("not rebuilt") })
        for fold in [true, false] {
            let plan = try InferenceModel(architecture: arch, values: sd, foldBatchNorm: fold)
            XCTAssertLessThanOrEqual(maxAbsError(try plan.logits(images: x, batch: 2, height: 9, width: 7), want), 1e-5)
        }
    }

    /// ConvNeXt's pieces: a 4x4 stride-4 stem conv, LayerNorm2d (exported as Transpose,
    /// LayerNormalization over the last axis, Transpose), an nn.Linear on each pixel (a 1x1 conv
    /// whose weight is [out, in]) with GELU, LayerNorm2d on
    /// the pooled [N, C, 1, 1] (the classifier's): the export evaluated op by op and Graft's plan
    /// equal torch's definitions.
    func testLayerNormOverChannels() throws {
        var g = Graph()
        let root = ModulePath.root
        let stem = g.add(.conv(.init(out: 8, in: 3, kernel: 4, stride: 4, bias: true)), 0, path: root.pp("stem"))
        let ln = g.add(.layerNorm(channels: 8, eps: 1e-6), stem, path: root.pp("norm"))
        let pw = g.add(.conv(.pointwise(out: 6, in: 8)), ln, path: root.pp("pw"))
        let act = g.add(.activation(.gelu), pw)
        let back = g.add(.conv(.pointwise(out: 8, in: 6)), act, path: root.pp("block").pp(5))
        // Saved before the block's modules in state_dict(), applied after them.
        let scaled = g.add(.layerScale(channels: 8), back, path: root.pp("block"))
        g.nodes[scaled - 1].statePosition = pw - 1
        let sum = g.add(.add, scaled, ln)
        let pooled = g.add(.adaptiveAvgPool(height: 1, width: 1), sum)
        let head = g.add(.layerNorm(channels: 8, eps: 1e-6), pooled, path: root.pp("classifier").pp(0))
        let flat = g.add(.flatten, head)
        g.add(.linear(.init(out: 3, in: 8)), flat, path: root.pp("classifier").pp(2))
        XCTAssertEqual(g.tensors.map(\.key)[2...7], ["norm.weight", "norm.bias", "block.layer_scale", "pw.weight", "pw.bias", "block.5.weight"])
        XCTAssertEqual(g.tensors.first { $0.key == "pw.weight" }?.shape, [6, 8], "an nn.Linear's weight")
        let sd = Self.stateDict(g)
        let m = try export(g, sd, height: 12, width: 8)
        XCTAssertEqual(m.graph.node[1...3].map(\.opType), ["Transpose", "LayerNormalization", "Transpose"])
        XCTAssertEqual(attribute(m.graph.node[1], "perm")?.ints, [0, 2, 3, 1])
        XCTAssertEqual(attribute(m.graph.node[2], "epsilon")?.f, 1e-6)
        var seed: UInt32 = 11
        let x = (0..<(2 * 3 * 12 * 8)).map { _ -> Float in seed = seed &* 1_664_525 &+ 1_013_904_223; return Float(seed >> 8) / Float(1 << 24) - 0.5 }
        let got = try ONNXReference(model: m).run(.init(shape: [2, 3, 12, 8], values: x))
        let want = try TorchSemantics.forward(g, sd, input: x, batch: 2, height: 12, width: 8)
        XCTAssertEqual(got.values.count, want.count)
        XCTAssertLessThanOrEqual(maxAbsError(got.values, want), 1e-5)
        let arch = Architecture(family: ResNetFamily(), name: "layernorm", graph: g, head: .linear(classes: 3), features: flat,
                                featureCount: 8, stageCount: 1, fileName: "layernorm.pth", rebuild: { _ in fatalError("not rebuilt") })
        // Folded (the layer scale in block.5's weights) and not.
        for fold in [true, false] {
            let plan = try InferenceModel(architecture: arch, values: sd, foldBatchNorm: fold)
            XCTAssertLessThanOrEqual(maxAbsError(try plan.logits(images: x, batch: 2, height: 12, width: 8), want), 1e-5)
        }
        if let dir = ProcessInfo.processInfo.environment["GRAFT_ONNX_OUT"] {
            try m.serializedData().write(to: URL(fileURLWithPath: dir).appendingPathComponent("layernorm_gelu.onnx"))
            try x.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: dir).appendingPathComponent("layernorm_gelu.input.raw")) }
            try want.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: dir).appendingPathComponent("layernorm_gelu.graft_logits.raw")) }
        }
    }

    func testAdaptivePoolForms() throws {
        func ops(_ h: Int, _ w: Int, _ oh: Int, _ ow: Int) throws -> (ops: [String], model: Onnx_ModelProto) {
            var g = Graph()
            let p = g.add(.adaptiveAvgPool(height: oh, width: ow), 0)
            let f = g.add(.flatten, p)
            g.add(.linear(.init(out: 2, in: 3 * oh * ow)), f, path: ModulePath.root.pp("fc"))
            let m = try export(g, Self.stateDict(g), height: h, width: w)
            return (m.graph.node.map(\.opType), m)
        }
        XCTAssertEqual(try ops(5, 3, 1, 1).ops, ["GlobalAveragePool", "Flatten", "Gemm"])
        let even = try ops(14, 21, 7, 7)
        XCTAssertEqual(even.ops, ["AveragePool", "Flatten", "Gemm"])
        XCTAssertEqual(attribute(even.model.graph.node[0], "kernel_shape")?.ints, [2, 3])
        XCTAssertEqual(attribute(even.model.graph.node[0], "strides")?.ints, [2, 3])
        XCTAssertEqual(try ops(7, 7, 7, 7).ops, ["AveragePool", "Flatten", "Gemm"])
        XCTAssertEqual(try ops(1, 1, 7, 7).ops, ["Reshape", "MatMul", "Reshape", "Flatten", "Gemm"], "1x1 replicated to 7x7")
        XCTAssertEqual(try ops(8, 8, 7, 7).ops, ["Reshape", "MatMul", "Reshape", "Flatten", "Gemm"], "overlapping bins")
        XCTAssertEqual(try ops(14, 3, 7, 7).ops, ["Reshape", "MatMul", "Reshape", "Flatten", "Gemm"], "one axis even, one not")

        // torch's bins: 8 -> 7 overlap; 1 -> 7 repeat the pixel; 2 -> 7 split the two pixels.
        XCTAssertEqual(ONNXExport.bins(size: 8, out: 7).map { [$0.start, $0.end] },
                       [[0, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7], [6, 8]])
        XCTAssertEqual(ONNXExport.bins(size: 1, out: 7).map { [$0.start, $0.end] }, Array(repeating: [0, 1], count: 7))
        XCTAssertEqual(ONNXExport.bins(size: 2, out: 7).map { [$0.start, $0.end] },
                       [[0, 1], [0, 1], [0, 1], [0, 2], [1, 2], [1, 2], [1, 2]])
        XCTAssertEqual(ONNXExport.bins(size: 10, out: 3).map { [$0.start, $0.end] }, [[0, 4], [3, 7], [6, 10]])
        let matrix = ONNXExport.poolingMatrix(height: 8, width: 1, outHeight: 7, outWidth: 7)
        XCTAssertEqual(matrix.count, 8 * 49)
        for col in 0..<49 { XCTAssertEqual((0..<8).map { matrix[$0 * 49 + col] }.reduce(0, +), 1, accuracy: 1e-6) }
        XCTAssertEqual(matrix[0 * 49 + 0], 0.5)
        XCTAssertEqual(matrix[2 * 49 + 7], 0.5, "row 2 is in bin 1 = [1, 3)")
        XCTAssertEqual(matrix[3 * 49 + 7], 0)
    }

    func testTrailingDropoutAndShapesAndErrors() throws {
        var g = Graph()
        let f = g.add(.flatten, 0)
        let l = g.add(.linear(.init(out: 4, in: 12, bias: false)), f, path: ModulePath.root.pp("fc"))
        g.add(.dropout(p: 0.2), l)
        let sd = Self.stateDict(g)
        let m = try export(g, sd, height: 2, width: 2)
        XCTAssertEqual(m.graph.node.map(\.opType), ["Flatten", "Gemm", "Identity"])
        XCTAssertEqual(m.graph.node[1].input, ["x1", "fc.weight"])
        XCTAssertEqual(m.graph.node.last?.output, ["logits"])

        // A missing tensor, a wrong shape, a wrong dtype, an image size the graph cannot take.
        var missing = sd
        missing["fc.weight"] = nil
        XCTAssertThrowsError(try export(g, missing, height: 2, width: 2)) {
            XCTAssertEqual($0 as? ONNXExportError, .missingTensor(key: "fc.weight"))
        }
        var wrong = sd
        wrong["fc.weight"] = TensorData(shape: [4, 11], floats: [Float](repeating: 0, count: 44))
        XCTAssertThrowsError(try export(g, wrong, height: 2, width: 2)) {
            XCTAssertEqual($0 as? ONNXExportError, .wrongShape(key: "fc.weight", shape: [4, 11], expected: [4, 12]))
        }
        var ints = sd
        ints["fc.weight"] = TensorData(shape: [4, 12], int64s: [Int64](repeating: 0, count: 48))
        XCTAssertThrowsError(try export(g, ints, height: 2, width: 2)) {
            XCTAssertEqual($0 as? ONNXExportError, .notFloatingPoint(key: "fc.weight", dtype: "int64"))
        }
        XCTAssertThrowsError(try export(g, sd, height: 3, width: 2)) { XCTAssertTrue("\($0)".contains("[18]"), "\($0)") }
        XCTAssertThrowsError(try export(g, sd, height: 0, width: 2))
        XCTAssertThrowsError(try export(Graph(), StateDict(), height: 2, width: 2))
        // A float16 state dict is written as float32.
        var half = sd
        half["fc.weight"] = TensorData(dtype: .float16, shape: [4, 12], bytes: [UInt8](repeating: 0, count: 48 * 2).enumerated().map { $0.offset % 2 == 1 ? 0x3C : 0 })
        let hm = try export(g, half, height: 2, width: 2)
        XCTAssertEqual(ONNXReference.tensor(hm.graph.initializer[0]).values, [Float](repeating: 1, count: 48))
    }
}

/// Torch's forward written from its definitions (not from ONNX's), for a graph of `Op`s.
enum TorchSemantics {
    static func forward(_ g: Graph, _ sd: StateDict, input: [Float], batch n: Int, height: Int, width: Int) throws -> [Float] {
        var values: [(shape: [Int], v: [Float])] = [([g.inputChannels, height, width], input)]
        func t(_ node: Node, _ name: String) -> [Float] { sd[node.path[name]]!.floats() }
        for node in g.nodes {
            let a = values[node.inputs[0]]
            let s = a.shape
            switch node.op {
            case .conv(let c):
                let (ci, h, w) = (s[0], s[1], s[2])
                let oh = (h + 2 * c.padding - c.kernel) / c.stride + 1, ow = (w + 2 * c.paddingWidth - c.kernelWidth) / c.stride + 1
                let wt = t(node, "weight"), bias = c.bias ? t(node, "bias") : nil
                let cg = ci / c.groups, og = c.outChannels / c.groups
                var out = [Float](repeating: 0, count: n * c.outChannels * oh * ow)
                for b in 0..<n { for o in 0..<c.outChannels { for y in 0..<oh { for x in 0..<ow {
                    var acc = bias?[o] ?? 0
                    for i in 0..<cg { for ky in 0..<c.kernel { for kx in 0..<c.kernelWidth {
                        let iy = y * c.stride + ky - c.padding, ix = x * c.stride + kx - c.paddingWidth
                        guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                        acc += a.v[((b * ci + (o / og) * cg + i) * h + iy) * w + ix] * wt[((o * cg + i) * c.kernel + ky) * c.kernelWidth + kx]
                    } } }
                    out[((b * c.outChannels + o) * oh + y) * ow + x] = acc
                } } } }
                values.append(([c.outChannels, oh, ow], out))
            case .batchNorm(let bn):
                let (wt, bias, mean, variance) = (t(node, "weight"), t(node, "bias"), t(node, "running_mean"), t(node, "running_var"))
                let plane = s.dropFirst().reduce(1, *)
                values.append((s, a.v.enumerated().map { i, x in
                    let c = (i / plane) % bn.channels
                    return (x - mean[c]) / (variance[c] + bn.eps).squareRoot() * wt[c] + bias[c]
                }))
            case .activation(let f): values.append((s, a.v.map { f.apply($0) }))
            case .add: values.append((s, zip(a.v, values[node.inputs[1]].v).map(+)))
            case .maxPool(let p):
                let (c, h, w) = (s[0], s[1], s[2])
                let oh = (h + 2 * p.padding - p.kernel) / p.stride + 1, ow = (w + 2 * p.padding - p.kernel) / p.stride + 1
                var out = [Float](repeating: -.infinity, count: n * c * oh * ow)
                for q in 0..<(n * c) { for y in 0..<oh { for x in 0..<ow { for ky in 0..<p.kernel { for kx in 0..<p.kernel {
                    let iy = y * p.stride + ky - p.padding, ix = x * p.stride + kx - p.padding
                    guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                    out[(q * oh + y) * ow + x] = max(out[(q * oh + y) * ow + x], a.v[(q * h + iy) * w + ix])
                } } } } }
                values.append(([c, oh, ow], out))
            case let .adaptiveAvgPool(oh, ow):
                let (c, h, w) = (s[0], s[1], s[2])
                var out = [Float](repeating: 0, count: n * c * oh * ow)
                for q in 0..<(n * c) { for i in 0..<oh { for j in 0..<ow {
                    // torch: start = floor(i * H / oh), end = ceil((i + 1) * H / oh)
                    let y0 = Int((Double(i * h) / Double(oh)).rounded(.down)), y1 = Int((Double((i + 1) * h) / Double(oh)).rounded(.up))
                    let x0 = Int((Double(j * w) / Double(ow)).rounded(.down)), x1 = Int((Double((j + 1) * w) / Double(ow)).rounded(.up))
                    var acc: Float = 0
                    for y in y0..<y1 { for x in x0..<x1 { acc += a.v[(q * h + y) * w + x] } }
                    out[(q * oh + i) * ow + j] = acc / Float((y1 - y0) * (x1 - x0))
                } } }
                values.append(([c, oh, ow], out))
            case .flatten: values.append(([s.reduce(1, *)], a.v))
            case .linear(let l):
                let wt = t(node, "weight"), bias = l.bias ? t(node, "bias") : nil
                var out = [Float](repeating: 0, count: n * l.outFeatures)
                for b in 0..<n { for o in 0..<l.outFeatures {
                    var acc = bias?[o] ?? 0
                    for i in 0..<l.inFeatures { acc += a.v[b * l.inFeatures + i] * wt[o * l.inFeatures + i] }
                    out[b * l.outFeatures + o] = acc
                } }
                values.append(([l.outFeatures], out))
            case .dropout, .stochasticDepth: values.append(a)
            case .layerScale(let c):
                let gamma = t(node, "layer_scale"), plane = s[1] * s[2]
                values.append((s, a.v.indices.map { a.v[$0] * gamma[($0 / plane) % c] }))
            case let .layerNorm(c, eps):
                let (wt, bias) = (t(node, "weight"), t(node, "bias"))
                let plane = s[1] * s[2]
                var out = a.v
                for b in 0..<n { for q in 0..<plane {
                    let idx = (0..<c).map { (b * c + $0) * plane + q }
                    let row = idx.map { Double(a.v[$0]) }
                    let mean = row.reduce(0, +) / Double(c)
                    let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(c)
                    for k in 0..<c { out[idx[k]] = Float((row[k] - mean) / (variance + Double(eps)).squareRoot()) * wt[k] + bias[k] }
                } }
                values.append((s, out))
            case .avgPool(let p):
                // count_include_pad: the window's sum over the whole kernel's size.
                let (c, h, w) = (s[0], s[1], s[2])
                let oh = (h + 2 * p.padding - p.kernel) / p.stride + 1, ow = (w + 2 * p.padding - p.kernel) / p.stride + 1
                var out = [Float](repeating: 0, count: n * c * oh * ow)
                for q in 0..<(n * c) { for y in 0..<oh { for x in 0..<ow {
                    var acc: Float = 0
                    for ky in 0..<p.kernel { for kx in 0..<p.kernel {
                        let iy = y * p.stride + ky - p.padding, ix = x * p.stride + kx - p.padding
                        if iy >= 0, iy < h, ix >= 0, ix < w { acc += a.v[(q * h + iy) * w + ix] }
                    } }
                    out[(q * oh + y) * ow + x] = acc / Float(p.kernel * p.kernel)
                } } }
                values.append(([c, oh, ow], out))
            case .concat:
                let parts = node.inputs.map { values[$0] }
                var out: [Float] = []
                for b in 0..<n { for p in parts { let per = p.v.count / n; out += p.v[(b * per)..<((b + 1) * per)] } }
                values.append(([parts.map { $0.shape[0] }.reduce(0, +)] + s.dropFirst(), out))
            @unknown default:
                throw ONNXExportError.unsupported(node: 0, op: "\(node.op)")
            }
        }
        return values.last!.v
    }
}
