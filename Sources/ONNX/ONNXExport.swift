import Checkpoint
import Foundation
import Models
import SwiftProtobuf

/// Why a graph could not be exported.
public enum ONNXExportError: Error, Equatable, CustomStringConvertible {
    /// The state dict has no tensor `key`, which node `node` reads.
    case missingTensor(key: String)
    /// The state dict's `key` has `shape`, the graph expects `expected`.
    case wrongShape(key: String, shape: [Int], expected: [Int])
    /// The state dict's `key` is not floating point.
    case notFloatingPoint(key: String, dtype: String)
    /// A value reaching node `node` (`op`) has a shape the op cannot take (`detail` says which).
    case badShape(node: Int, op: String, detail: String)
    /// A node the exporter has no ONNX form for.
    case unsupported(node: Int, op: String)
    /// The image size is not positive, or the graph is empty.
    case badInput(String)

    public var description: String {
        switch self {
        case .missingTensor(let key): return "the weights have no tensor \(key)"
        case let .wrongShape(key, shape, expected): return "\(key) has shape \(shape), the model needs \(expected)"
        case let .notFloatingPoint(key, dtype): return "\(key) is \(dtype), not floating point"
        case let .badShape(node, op, detail): return "node \(node) (\(op)): \(detail)"
        case let .unsupported(node, op): return "node \(node) (\(op)) has no ONNX form here"
        case .badInput(let s): return s
        }
    }
}

/// A `Graph` and its weights as an ONNX model (inference form), for ONNX Runtime, OpenVINO and
/// the rest: IR version 8, the default domain's operator set 17.
///
/// - The input is `image`, float `[batch, inputChannels, H, W]` with `batch` a symbolic
///   dimension ("batch") and H, W the eval transform's crop; the output is `logits`, float
///   `[batch, classes]`.
/// - conv -> Conv (kernel_shape, strides, pads, dilations, group; bias when the module has one),
///   batchNorm -> BatchNormalization (epsilon, momentum; running statistics: inference),
///   activation -> Relu, add -> Add, maxPool -> MaxPool (torch's floor mode), avgPool ->
///   AveragePool (count_include_pad 1, floor mode), flatten -> Flatten
///   (axis 1), linear -> Gemm (transB 1), concat -> Concat (axis 1); dropout is left out (the
///   identity at inference).
/// - adaptiveAvgPool(h, w) with torch's bins (start floor(i*H/h), end ceil((i+1)*H/h)), from the
///   input's H x W known statically (shapes are tracked from the image size): GlobalAveragePool
///   for 1x1; AveragePool (kernel = stride = H/h x W/w) when h divides H and w divides W;
///   otherwise Reshape to [N, C, H*W], MatMul by a constant [H*W, h*w] pooling matrix (each
///   column 1/(bin size) over its bin), Reshape to [N, C, h, w].
/// - Initializers are named by their state-dict keys (`features.0.weight`,
///   `layer1.0.bn1.running_var`), float32, raw little-endian data; `num_batches_tracked` is not
///   exported. Constants the exporter makes are named `onnx::<what>_<node>`.
/// - `metadata_props` holds `metadata` (sorted by key); see `metadata(classNames:...)`.
public enum ONNXExport {
    public static let irVersion: Int64 = 8
    public static let opsetVersion: Int64 = 17
    public static let inputName = "image"
    public static let outputName = "logits"
    public static let batchDimension = "batch"

    /// The serialized ModelProto of `graph` with the tensors of `stateDict` (torchvision's keys,
    /// `node.path[tensorName]`), for images of `imageSize`.
    public static func model(graph: Graph, stateDict: StateDict, imageSize: (height: Int, width: Int),
                             metadata: [String: String] = [:], producerVersion: String = "") throws -> Data {
        try modelProto(graph: graph, stateDict: stateDict, imageSize: imageSize, metadata: metadata,
                       producerVersion: producerVersion).serializedBytes()
    }

    /// The metadata Graft writes: `class_names`, a JSON list of the class names in index order,
    /// and `eval_transform`, a JSON object
    /// `{"resize": 256, "crop": 224, "interpolation": "bilinear", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}`
    /// (resize the shorter side with PIL's filter of that name, center crop, then (x / 255 - mean) / std per channel, RGB).
    public static func metadata(classNames: [String], resize: Int, crop: Int, interpolation: String = "bilinear", mean: [Double],
                                std: [Double]) -> [String: String] {
        func json(_ object: Any) -> String {
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
            return String(decoding: data, as: UTF8.self)
        }
        return ["class_names": json(classNames),
                "eval_transform": json(["resize": resize, "crop": crop, "interpolation": interpolation, "mean": mean, "std": std] as [String: Any])]
    }

    /// The ModelProto itself (what `model` serializes).
    public static func modelProto(graph full: Graph, stateDict: StateDict, imageSize: (height: Int, width: Int),
                                  metadata: [String: String] = [:], producerVersion: String = "") throws -> Onnx_ModelProto {
        // The eval-mode graph, as torch.onnx exports `model.eval()`: no auxiliary classifier.
        let graph = full.main
        guard imageSize.height > 0, imageSize.width > 0 else {
            throw ONNXExportError.badInput("the image size \(imageSize.height)x\(imageSize.width) is not positive")
        }
        guard !graph.nodes.isEmpty else { throw ONNXExportError.badInput("the graph has no nodes") }
        var builder = Builder(graph: graph, stateDict: stateDict)
        try builder.build(height: imageSize.height, width: imageSize.width)

        var g = Onnx_GraphProto()
        g.name = "graft"
        g.node = builder.nodes
        g.initializer = builder.initializers
        g.input = [valueInfo(inputName, dims: [.param(batchDimension), .value(graph.inputChannels),
                                              .value(imageSize.height), .value(imageSize.width)])]
        let classes = builder.shapes[graph.output]
        guard classes.count == 1 else {
            throw ONNXExportError.badShape(node: graph.nodes.count - 1, op: "output",
                                           detail: "the graph's output has shape \(classes) per image, not [classes]")
        }
        g.output = [valueInfo(outputName, dims: [.param(batchDimension), .value(classes[0])])]

        var m = Onnx_ModelProto()
        m.irVersion = irVersion
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = opsetVersion
        m.opsetImport = [opset]
        m.producerName = "graft"
        if !producerVersion.isEmpty { m.producerVersion = producerVersion }
        m.graph = g
        m.metadataProps = metadata.keys.sorted().map { k in
            var e = Onnx_StringStringEntryProto()
            e.key = k
            e.value = metadata[k]!
            return e
        }
        return m
    }

    enum Dim { case value(Int), param(String) }

    static func valueInfo(_ name: String, dims: [Dim]) -> Onnx_ValueInfoProto {
        var shape = Onnx_TensorShapeProto()
        shape.dim = dims.map { d in
            var x = Onnx_TensorShapeProto.Dimension()
            switch d {
            case .value(let v): x.dimValue = Int64(v)
            case .param(let p): x.dimParam = p
            }
            return x
        }
        var t = Onnx_TypeProto.Tensor()
        t.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        t.shape = shape
        var type = Onnx_TypeProto()
        type.tensorType = t
        var v = Onnx_ValueInfoProto()
        v.name = name
        v.type = type
        return v
    }

    /// A float32 tensor (raw little-endian data).
    static func floatTensor(_ name: String, dims: [Int], values: [Float]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = dims.map(Int64.init)
        t.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        #if _endian(little)
        t.rawData = values.withUnsafeBytes { Data($0) }
        #else
        var bytes = [UInt8]()
        bytes.reserveCapacity(values.count * 4)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        t.rawData = Data(bytes)
        #endif
        return t
    }

    /// A state-dict tensor as a float32 initializer: its bytes as they are when it is float32
    /// (little-endian, as torch stores it), converted otherwise.
    static func floatTensor(_ name: String, _ data: TensorData) -> Onnx_TensorProto {
        guard data.dtype == .float32, data.bytes.count == data.count * 4 else {
            return floatTensor(name, dims: data.shape, values: data.floats())
        }
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = data.shape.map(Int64.init)
        t.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        t.rawData = Data(data.bytes)
        return t
    }

    /// An int64 tensor (raw little-endian data).
    static func int64Tensor(_ name: String, dims: [Int], values: [Int64]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = dims.map(Int64.init)
        t.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
        var bytes = [UInt8]()
        for v in values { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        t.rawData = Data(bytes)
        return t
    }

    static func attribute(_ name: String, int: Int) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name; a.type = .int; a.i = Int64(int)
        return a
    }

    static func attribute(_ name: String, ints: [Int]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name; a.type = .ints; a.ints = ints.map(Int64.init)
        return a
    }

    static func attribute(_ name: String, float: Float) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name; a.type = .float; a.f = float
        return a
    }

    /// torch's adaptive-average-pooling bins along one axis of `size` into `out`: (start, end).
    public static func bins(size: Int, out: Int) -> [(start: Int, end: Int)] {
        (0..<out).map { i in (i * size / out, ((i + 1) * size + out - 1) / out) }
    }

    /// The [H*W, h*w] matrix (row-major) that averages each of torch's bins: column i*w+j is
    /// 1/(bin size) over the pixels of bin (i, j).
    public static func poolingMatrix(height: Int, width: Int, outHeight: Int, outWidth: Int) -> [Float] {
        let rows = bins(size: height, out: outHeight), cols = bins(size: width, out: outWidth)
        var m = [Float](repeating: 0, count: height * width * outHeight * outWidth)
        let columns = outHeight * outWidth
        for (i, r) in rows.enumerated() {
            for (j, c) in cols.enumerated() {
                let weight = 1 / Float((r.end - r.start) * (c.end - c.start))
                for y in r.start..<r.end {
                    for x in c.start..<c.end { m[(y * width + x) * columns + i * outWidth + j] = weight }
                }
            }
        }
        return m
    }

    /// Walks the graph: value names, per-image shapes, nodes and initializers.
    struct Builder {
        let graph: Graph
        let stateDict: StateDict
        /// Per value: its ONNX name (dropout's output is its input's name).
        var names: [String] = []
        /// Per value: the shape of one image's value ([C, H, W] or [features]).
        var shapes: [[Int]] = []
        var nodes: [Onnx_NodeProto] = []
        var initializers: [Onnx_TensorProto] = []
        var initialized: Set<String> = []

        init(graph: Graph, stateDict: StateDict) { self.graph = graph; self.stateDict = stateDict }

        mutating func build(height: Int, width: Int) throws {
            names = [ONNXExport.inputName]
            shapes = [[graph.inputChannels, height, width]]
            let output = graph.output
            for (i, node) in graph.nodes.enumerated() {
                let value = i + 1
                let name = value == output ? ONNXExport.outputName : "x\(value)"
                let (shape, alias) = try emit(node, index: i, output: name)
                names.append(alias ?? name)
                shapes.append(shape)
            }
            // The output is another value's alias (a trailing dropout): name it `logits`.
            if names[output] != ONNXExport.outputName {
                nodes.append(node("Identity", inputs: [names[output]], output: ONNXExport.outputName, name: "Identity_output"))
                names[output] = ONNXExport.outputName
            }
        }

        func node(_ op: String, inputs: [String], output: String, name: String, attributes: [Onnx_AttributeProto] = []) -> Onnx_NodeProto {
            var n = Onnx_NodeProto()
            n.opType = op
            n.input = inputs
            n.output = [output]
            n.name = name
            n.attribute = attributes
            return n
        }

        /// The state dict's tensor of `path` as an initializer (once), checked against `shape`.
        /// `dims`: the initializer's, where the op reads the same values in another shape (a
        /// Linear's `[out, in]` weight as a 1x1 Conv's `[out, in, 1, 1]`).
        mutating func weight(_ node: Node, _ tensor: String, shape: [Int], as dims: [Int]? = nil) throws -> String {
            let key = node.path[tensor]
            guard let t = stateDict[key] else { throw ONNXExportError.missingTensor(key: key) }
            guard t.shape == shape else { throw ONNXExportError.wrongShape(key: key, shape: t.shape, expected: shape) }
            guard t.dtype.isFloatingPoint else { throw ONNXExportError.notFloatingPoint(key: key, dtype: t.dtype.rawValue) }
            if initialized.insert(key).inserted {
                let data = dims.map { $0 == shape ? t : TensorData(shape: $0, floats: t.floats()) } ?? t
                initializers.append(ONNXExport.floatTensor(key, data))
            }
            return key
        }

        func nodeName(_ node: Node, _ op: String, _ index: Int) -> String {
            node.path.components.isEmpty ? "\(op)_\(index)" : node.path.description
        }

        /// Appends the ONNX nodes of graph node `index`; returns the shape of its value and,
        /// when it makes no node (dropout), the name of the value it passes on.
        mutating func emit(_ n: Node, index: Int, output: String) throws -> (shape: [Int], alias: String?) {
            for v in n.inputs where v < 0 || v > index {
                throw ONNXExportError.badShape(node: index, op: "\(n.op)", detail: "reads value \(v), not made before it")
            }
            let ins = n.inputs.map { names[$0] }, inShapes = n.inputs.map { shapes[$0] }
            func bad(_ detail: String) -> ONNXExportError { .badShape(node: index, op: "\(n.op)", detail: detail) }
            func one() throws -> [Int] {
                guard inShapes.count == 1 else { throw bad("reads \(inShapes.count) values, not 1") }
                return inShapes[0]
            }
            func image() throws -> (c: Int, h: Int, w: Int) {
                let s = try one()
                guard s.count == 3 else { throw bad("its input has shape \(s) per image, not [C, H, W]") }
                return (s[0], s[1], s[2])
            }
            switch n.op {
            case .conv(let c):
                let (ch, h, w) = try image()
                guard ch == c.inChannels else { throw bad("\(ch) input channels, the conv takes \(c.inChannels)") }
                let oh = (h + 2 * c.padding - c.kernel) / c.stride + 1, ow = (w + 2 * c.paddingWidth - c.kernelWidth) / c.stride + 1
                guard h + 2 * c.padding >= c.kernel, w + 2 * c.paddingWidth >= c.kernelWidth, c.stride > 0 else {
                    throw bad("a \(h)x\(w) input is smaller than the \(c.kernel)x\(c.kernelWidth) kernel")
                }
                var inputs = [ins[0], try weight(n, "weight", shape: c.weightShape, as: c.kernelShape)]
                if c.bias { inputs.append(try weight(n, "bias", shape: [c.outChannels])) }
                nodes.append(node("Conv", inputs: inputs, output: output, name: nodeName(n, "Conv", index), attributes: [
                    ONNXExport.attribute("dilations", ints: [1, 1]),
                    ONNXExport.attribute("group", int: c.groups),
                    ONNXExport.attribute("kernel_shape", ints: [c.kernel, c.kernelWidth]),
                    ONNXExport.attribute("pads", ints: [c.padding, c.paddingWidth, c.padding, c.paddingWidth]),
                    ONNXExport.attribute("strides", ints: [c.stride, c.stride]),
                ]))
                return ([c.outChannels, oh, ow], nil)
            case .batchNorm(let b):
                let s = try one()
                guard s.count >= 1, s[0] == b.channels else { throw bad("input \(s) has not \(b.channels) channels") }
                let inputs = [ins[0]] + (try ["weight", "bias", "running_mean", "running_var"].map { try weight(n, $0, shape: [b.channels]) })
                nodes.append(node("BatchNormalization", inputs: inputs, output: output, name: nodeName(n, "BatchNormalization", index), attributes: [
                    ONNXExport.attribute("epsilon", float: b.eps),
                    ONNXExport.attribute("momentum", float: 1 - b.momentum),  // ONNX: running = running * momentum + batch * (1 - momentum)
                ]))
                return (s, nil)
            case .layerScale(let c):
                // layer_scale [C, 1, 1] broadcast over [N, C, H, W], as torch.onnx exports it.
                let s = try one()
                guard s.count == 3, s[0] == c else { throw bad("input \(s) has not \(c) channels") }
                nodes.append(node("Mul", inputs: [ins[0], try weight(n, "layer_scale", shape: [c, 1, 1])], output: output,
                                  name: nodeName(n, "Mul", index)))
                return (s, nil)
            case let .channelAffine(scale, shift):
                // x * scale + shift with [C, 1, 1] constants: Mul then Add, torch's two roundings.
                let s = try one()
                guard s.count == 3, s[0] == scale.count else { throw bad("input \(s) has not \(scale.count) channels") }
                let (m, a) = ("onnx::affine_scale_\(index)", "onnx::affine_shift_\(index)")
                initializers.append(ONNXExport.floatTensor(m, dims: [scale.count, 1, 1], values: scale))
                initializers.append(ONNXExport.floatTensor(a, dims: [shift.count, 1, 1], values: shift))
                nodes.append(node("Mul", inputs: [ins[0], m], output: output + "_scaled", name: nodeName(n, "Mul", index)))
                nodes.append(node("Add", inputs: [output + "_scaled", a], output: output, name: nodeName(n, "Add", index)))
                return (s, nil)
            case let .layerNorm(c, eps):
                // LayerNorm2d as torch.onnx exports its permutes: to channels-last, LayerNormalization
                // over the last axis, back.
                let s = try one()
                guard s.count == 3, s[0] == c else { throw bad("input \(s) has not \(c) channels") }
                let base = nodeName(n, "LayerNormalization", index)
                nodes.append(node("Transpose", inputs: ins, output: output + "_nhwc", name: base + "_to_nhwc", attributes: [
                    ONNXExport.attribute("perm", ints: [0, 2, 3, 1]),
                ]))
                nodes.append(node("LayerNormalization", inputs: [output + "_nhwc", try weight(n, "weight", shape: [c]), try weight(n, "bias", shape: [c])],
                                  output: output + "_normalised", name: base, attributes: [
                    ONNXExport.attribute("axis", int: -1),
                    ONNXExport.attribute("epsilon", float: eps),
                ]))
                nodes.append(node("Transpose", inputs: [output + "_normalised"], output: output, name: base + "_to_nchw", attributes: [
                    ONNXExport.attribute("perm", ints: [0, 3, 1, 2]),
                ]))
                return (s, nil)
            case .activation(let a):
                let s = try one()
                switch a {
                case .relu:
                    nodes.append(node("Relu", inputs: ins, output: output, name: nodeName(n, "Relu", index)))
                case .relu6:
                    // Clip's bounds are inputs (scalars) since opset 11.
                    let lo = "onnx::clip_min_\(index)", hi = "onnx::clip_max_\(index)"
                    initializers.append(ONNXExport.floatTensor(lo, dims: [], values: [0]))
                    initializers.append(ONNXExport.floatTensor(hi, dims: [], values: [6]))
                    nodes.append(node("Clip", inputs: [ins[0], lo, hi], output: output, name: nodeName(n, "Clip", index)))
                case .hardswish:
                    nodes.append(node("HardSwish", inputs: ins, output: output, name: nodeName(n, "HardSwish", index)))
                case .hardsigmoid:
                    nodes.append(node("HardSigmoid", inputs: ins, output: output, name: nodeName(n, "HardSigmoid", index), attributes: [
                        ONNXExport.attribute("alpha", float: 1.0 / 6),
                        ONNXExport.attribute("beta", float: 0.5),
                    ]))
                case .sigmoid:
                    nodes.append(node("Sigmoid", inputs: ins, output: output, name: nodeName(n, "Sigmoid", index)))
                case .silu:
                    // opset 17 has no SiLU: x * Sigmoid(x), as torch.onnx exports nn.SiLU.
                    let sig = "\(output)_sigmoid"
                    nodes.append(node("Sigmoid", inputs: ins, output: sig, name: nodeName(n, "Sigmoid", index) + "_sigmoid"))
                    nodes.append(node("Mul", inputs: [ins[0], sig], output: output, name: nodeName(n, "Mul", index)))
                case .gelu:
                    // opset 17 has no Gelu (20 has): x * (1 + Erf(x / sqrt(2))) * 0.5, as torch.onnx exports nn.GELU.
                    let root2 = "onnx::gelu_sqrt2_\(index)", one = "onnx::gelu_one_\(index)", half = "onnx::gelu_half_\(index)"
                    initializers.append(ONNXExport.floatTensor(root2, dims: [], values: [Float(2.0.squareRoot())]))
                    initializers.append(ONNXExport.floatTensor(one, dims: [], values: [1]))
                    initializers.append(ONNXExport.floatTensor(half, dims: [], values: [0.5]))
                    let base = nodeName(n, "Gelu", index)
                    nodes.append(node("Div", inputs: [ins[0], root2], output: output + "_scaled", name: base + "_div"))
                    nodes.append(node("Erf", inputs: [output + "_scaled"], output: output + "_erf", name: base + "_erf"))
                    nodes.append(node("Add", inputs: [output + "_erf", one], output: output + "_plus1", name: base + "_add"))
                    nodes.append(node("Mul", inputs: [ins[0], output + "_plus1"], output: output + "_product", name: base + "_mul"))
                    nodes.append(node("Mul", inputs: [output + "_product", half], output: output, name: base + "_half"))
                }
                return (s, nil)
            case .multiply:
                guard inShapes.count == 2 else { throw bad("multiplies \(inShapes.count) values, not 2") }
                let (x, g) = (inShapes[0], inShapes[1])
                guard x.count == 3, g == [x[0], 1, 1] else { throw bad("multiplies \(x) by \(g) (a [C, 1, 1] scale per image)") }
                nodes.append(node("Mul", inputs: ins, output: output, name: nodeName(n, "Mul", index)))
                return (x, nil)
            case .add:
                guard inShapes.count == 2 else { throw bad("adds \(inShapes.count) values, not 2") }
                guard inShapes[0] == inShapes[1] else { throw bad("adds shapes \(inShapes[0]) and \(inShapes[1])") }
                nodes.append(node("Add", inputs: ins, output: output, name: nodeName(n, "Add", index)))
                return (inShapes[0], nil)
            case .maxPool(let p), .avgPool(let p):
                let (ch, h, w) = try image()
                guard h + 2 * p.padding >= p.kernel, w + 2 * p.padding >= p.kernel, p.stride > 0 else {
                    throw bad("a \(h)x\(w) input is smaller than the \(p.kernel)x\(p.kernel) pool")
                }
                let oh = (h + 2 * p.padding - p.kernel) / p.stride + 1, ow = (w + 2 * p.padding - p.kernel) / p.stride + 1
                var attributes = [
                    ONNXExport.attribute("kernel_shape", ints: [p.kernel, p.kernel]),
                    ONNXExport.attribute("pads", ints: [p.padding, p.padding, p.padding, p.padding]),
                    ONNXExport.attribute("strides", ints: [p.stride, p.stride]),
                ]
                var op = "MaxPool"
                if case .avgPool = n.op {
                    // nn.AvgPool2d's default: the padding counts in the divisor.
                    op = "AveragePool"
                    attributes.append(ONNXExport.attribute("count_include_pad", int: 1))
                }
                nodes.append(node(op, inputs: ins, output: output, name: nodeName(n, op, index), attributes: attributes))
                return ([ch, oh, ow], nil)
            case let .adaptiveAvgPool(oh, ow):
                let (ch, h, w) = try image()
                guard oh > 0, ow > 0, h > 0, w > 0 else { throw bad("pools \(h)x\(w) to \(oh)x\(ow)") }
                if oh == 1 && ow == 1 {
                    nodes.append(node("GlobalAveragePool", inputs: ins, output: output, name: nodeName(n, "GlobalAveragePool", index)))
                } else if h % oh == 0 && w % ow == 0 {
                    let kh = h / oh, kw = w / ow
                    nodes.append(node("AveragePool", inputs: ins, output: output, name: nodeName(n, "AveragePool", index), attributes: [
                        ONNXExport.attribute("kernel_shape", ints: [kh, kw]),
                        ONNXExport.attribute("strides", ints: [kh, kw]),
                    ]))
                } else {
                    let base = nodeName(n, "AdaptiveAvgPool", index)
                    let flatShape = "onnx::pool_flat_shape_\(index)", matrix = "onnx::pool_matrix_\(index)"
                    let outShape = "onnx::pool_out_shape_\(index)"
                    initializers.append(ONNXExport.int64Tensor(flatShape, dims: [3], values: [0, Int64(ch), Int64(h * w)]))
                    initializers.append(ONNXExport.floatTensor(matrix, dims: [h * w, oh * ow],
                                                               values: ONNXExport.poolingMatrix(height: h, width: w, outHeight: oh, outWidth: ow)))
                    initializers.append(ONNXExport.int64Tensor(outShape, dims: [4], values: [0, Int64(ch), Int64(oh), Int64(ow)]))
                    nodes.append(node("Reshape", inputs: [ins[0], flatShape], output: output + "_flat", name: base + "_flatten"))
                    nodes.append(node("MatMul", inputs: [output + "_flat", matrix], output: output + "_pooled", name: base + "_bins"))
                    nodes.append(node("Reshape", inputs: [output + "_pooled", outShape], output: output, name: base + "_unflatten"))
                }
                return ([ch, oh, ow], nil)
            case .flatten:
                let s = try one()
                nodes.append(node("Flatten", inputs: ins, output: output, name: nodeName(n, "Flatten", index), attributes: [
                    ONNXExport.attribute("axis", int: 1),
                ]))
                return ([s.reduce(1, *)], nil)
            case .linear(let l):
                let s = try one()
                guard s == [l.inFeatures] else { throw bad("input \(s) per image, the Linear takes [\(l.inFeatures)]") }
                var inputs = [ins[0], try weight(n, "weight", shape: [l.outFeatures, l.inFeatures])]
                if l.bias { inputs.append(try weight(n, "bias", shape: [l.outFeatures])) }
                nodes.append(node("Gemm", inputs: inputs, output: output, name: nodeName(n, "Gemm", index), attributes: [
                    ONNXExport.attribute("alpha", float: 1),
                    ONNXExport.attribute("beta", float: 1),
                    ONNXExport.attribute("transB", int: 1),
                ]))
                return ([l.outFeatures], nil)
            case .dropout, .stochasticDepth:
                return (try one(), ins[0])
            case .concat:
                guard let first = inShapes.first else { throw bad("concatenates nothing") }
                for s in inShapes where s.count != first.count || s.dropFirst() != first.dropFirst() {
                    throw bad("concatenates shapes \(inShapes) (all but the channels must agree)")
                }
                nodes.append(node("Concat", inputs: ins, output: output, name: nodeName(n, "Concat", index), attributes: [
                    ONNXExport.attribute("axis", int: 1),
                ]))
                return ([inShapes.map { $0.first ?? 0 }.reduce(0, +)] + first.dropFirst(), nil)
            @unknown default:
                throw ONNXExportError.unsupported(node: index, op: "\(n.op)")
            }
        }
    }
}
