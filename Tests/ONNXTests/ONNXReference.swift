import Foundation
import ONNX


/// A plain evaluator of the few ONNX operators `ONNXExport` writes (float32, NCHW, batch
/// first), written from the ONNX operator specs, to check exported models against PyTorch's
/// logits without ONNX Runtime. Slow and simple on purpose: loops as the specs define them.
struct ONNXReference {
    struct Tensor {
        var shape: [Int]
        var values: [Float]
        var ints: [Int64] = []
    }

    enum Failure: Error, CustomStringConvertible {
        case unknown(String), missing(String), attribute(String), shape(String)
        var description: String {
            switch self {
            case .unknown(let s): return "unknown op \(s)"
            case .missing(let s): return "missing value \(s)"
            case .attribute(let s): return "attribute \(s)"
            case .shape(let s): return "shapes \(s)"
            }
        }
    }

    let model: Onnx_ModelProto

    static func tensor(_ t: Onnx_TensorProto) -> Tensor {
        let dims = t.dims.map { Int($0) }
        let raw = [UInt8](t.rawData)
        if t.dataType == Int32(Onnx_TensorProto.DataType.int64.rawValue) {
            let ints = (0..<raw.count / 8).map { i in raw[(i * 8)..<(i * 8 + 8)].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) } }
            return Tensor(shape: dims, values: [], ints: ints.map { Int64(bitPattern: $0) })
        }
        let floats = (0..<raw.count / 4).map { i in
            Float(bitPattern: raw[(i * 4)..<(i * 4 + 4)].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) })
        }
        return Tensor(shape: dims, values: floats)
    }

    /// The graph's output for `input` ([N, C, H, W]).
    func run(_ input: Tensor) throws -> Tensor {
        var env: [String: Tensor] = [:]
        for t in model.graph.initializer { env[t.name] = Self.tensor(t) }
        env[model.graph.input[0].name] = input
        for n in model.graph.node {
            func x(_ i: Int) throws -> Tensor {
                guard i < n.input.count, let t = env[n.input[i]] else { throw Failure.missing(n.input.count > i ? n.input[i] : "#\(i)") }
                return t
            }
            func ints(_ name: String, _ def: [Int]? = nil) throws -> [Int] {
                if let a = n.attribute.first(where: { $0.name == name }) { return a.ints.map { Int($0) } }
                if let d = def { return d }
                throw Failure.attribute(name)
            }
            func int(_ name: String, _ def: Int) -> Int { n.attribute.first { $0.name == name }.map { Int($0.i) } ?? def }
            func float(_ name: String, _ def: Float) -> Float { n.attribute.first { $0.name == name }?.f ?? def }
            let out: Tensor
            switch n.opType {
            case "Conv":
                out = conv(try x(0), try x(1), n.input.count > 2 ? try x(2) : nil, kernel: try ints("kernel_shape"),
                           strides: try ints("strides", [1, 1]), pads: try ints("pads", [0, 0, 0, 0]), group: int("group", 1))
            case "BatchNormalization":
                let a = try x(0), scale = try x(1), bias = try x(2), mean = try x(3), variance = try x(4)
                let eps = float("epsilon", 1e-5)
                let c = a.shape[1], plane = a.shape[2...].reduce(1, *)
                var v = a.values
                for i in 0..<v.count {
                    let ch = (i / plane) % c
                    v[i] = (v[i] - mean.values[ch]) / (variance.values[ch] + eps).squareRoot() * scale.values[ch] + bias.values[ch]
                }
                out = Tensor(shape: a.shape, values: v)
            case "Relu":
                let a = try x(0)
                out = Tensor(shape: a.shape, values: a.values.map { max($0, 0) })
            case "Clip":
                let a = try x(0)
                let lo = n.input.count > 1 ? try x(1).values[0] : -.infinity, hi = n.input.count > 2 ? try x(2).values[0] : .infinity
                out = Tensor(shape: a.shape, values: a.values.map { min(max($0, lo), hi) })
            case "HardSigmoid":
                let a = try x(0), alpha = float("alpha", 0.2), beta = float("beta", 0.5)
                out = Tensor(shape: a.shape, values: a.values.map { max(0, min(1, alpha * $0 + beta)) })
            case "HardSwish":
                let a = try x(0)
                out = Tensor(shape: a.shape, values: a.values.map { $0 * max(0, min(1, $0 / 6 + 0.5)) })
            case "Add" where try x(1).shape.isEmpty:
                let a = try x(0), b = try x(1).values[0]
                out = Tensor(shape: a.shape, values: a.values.map { $0 + b })
            case "Add" where try x(1).shape.count == 3 && x(1).shape.dropFirst() == [1, 1]:
                // [N, C, H, W] + [C, 1, 1] (Inception's transform_input).
                let a = try x(0), b = try x(1)
                guard a.shape.count == 4, b.shape[0] == a.shape[1] else { throw Failure.shape("Add \(a.shape) + \(b.shape)") }
                let plane = a.shape[2] * a.shape[3]
                out = Tensor(shape: a.shape, values: a.values.indices.map { a.values[$0] + b.values[($0 / plane) % a.shape[1]] })
            case "Add":
                let a = try x(0), b = try x(1)
                guard a.shape == b.shape else { throw Failure.shape("Add \(a.shape) + \(b.shape)") }
                out = Tensor(shape: a.shape, values: zip(a.values, b.values).map(+))
            case "Div" where try x(1).shape.isEmpty:
                let a = try x(0), b = try x(1).values[0]
                out = Tensor(shape: a.shape, values: a.values.map { $0 / b })
            case "Transpose":
                let a = try x(0), perm = try ints("perm")
                guard a.shape.count == 4, perm.count == 4 else { throw Failure.shape("Transpose \(a.shape) by \(perm)") }
                let shape = perm.map { a.shape[$0] }
                var strides = [1, 1, 1, 1]
                for d in stride(from: 2, through: 0, by: -1) { strides[d] = strides[d + 1] * a.shape[d + 1] }
                var v = [Float](repeating: 0, count: a.values.count), i = 0
                for p0 in 0..<shape[0] { for p1 in 0..<shape[1] { for p2 in 0..<shape[2] { for p3 in 0..<shape[3] {
                    let idx = [p0, p1, p2, p3]
                    v[i] = a.values[(0..<4).map { idx[$0] * strides[perm[$0]] }.reduce(0, +)]; i += 1
                } } } }
                out = Tensor(shape: shape, values: v)
            case "LayerNormalization" where int("axis", -1) == -1:
                let a = try x(0), scale = try x(1), bias = try x(2), eps = Double(float("epsilon", 1e-5))
                let c = a.shape.last!
                var v = a.values
                for r in 0..<(v.count / c) {
                    let row = (0..<c).map { Double(a.values[r * c + $0]) }
                    let mean = row.reduce(0, +) / Double(c)
                    let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(c)
                    for k in 0..<c { v[r * c + k] = Float((row[k] - mean) / (variance + eps).squareRoot()) * scale.values[k] + bias.values[k] }
                }
                out = Tensor(shape: a.shape, values: v)
            case "Erf":
                let a = try x(0)
                out = Tensor(shape: a.shape, values: a.values.map { Float(erf(Double($0))) })
            case "Mul" where try x(1).shape.count == 3 && x(1).shape.dropFirst() == [1, 1]:
                // [N, C, H, W] * [C, 1, 1] (ConvNeXt's layer scale).
                let a = try x(0), b = try x(1)
                guard a.shape.count == 4, b.shape[0] == a.shape[1] else { throw Failure.shape("Mul \(a.shape) x \(b.shape)") }
                let plane = a.shape[2] * a.shape[3]
                out = Tensor(shape: a.shape, values: a.values.indices.map { a.values[$0] * b.values[($0 / plane) % a.shape[1]] })
            case "Mul" where try x(1).shape.isEmpty:
                let a = try x(0), b = try x(1).values[0]
                out = Tensor(shape: a.shape, values: a.values.map { $0 * b })
            case "Sigmoid":
                let a = try x(0)
                out = Tensor(shape: a.shape, values: a.values.map { 1 / (1 + expf(-$0)) })
            case "Mul" where try x(0).shape == x(1).shape:
                // Same shapes (SiLU's x * Sigmoid(x)).
                let a = try x(0), b = try x(1)
                out = Tensor(shape: a.shape, values: zip(a.values, b.values).map(*))
            case "Mul":
                // Multidirectional broadcasting as the exporter writes it: [N, C, H, W] * [N, C, 1, 1].
                let a = try x(0), b = try x(1)
                guard a.shape.count == 4, b.shape == [a.shape[0], a.shape[1], 1, 1] else { throw Failure.shape("Mul \(a.shape) x \(b.shape)") }
                let plane = a.shape[2] * a.shape[3]
                out = Tensor(shape: a.shape, values: a.values.indices.map { a.values[$0] * b.values[$0 / plane] })
            case "MaxPool", "AveragePool":
                out = pool(try x(0), kernel: try ints("kernel_shape"), strides: try ints("strides", [1, 1]),
                           pads: try ints("pads", [0, 0, 0, 0]), max: n.opType == "MaxPool", countPadding: int("count_include_pad", 0) == 1)
            case "GlobalAveragePool":
                let a = try x(0)
                out = pool(a, kernel: [a.shape[2], a.shape[3]], strides: [1, 1], pads: [0, 0, 0, 0], max: false)
            case "Flatten":
                let a = try x(0)
                out = Tensor(shape: [a.shape[0], a.shape[1...].reduce(1, *)], values: a.values)
            case "Reshape":
                let a = try x(0), s = try x(1).ints
                var shape = s.enumerated().map { $0.element == 0 ? a.shape[$0.offset] : Int($0.element) }
                if let i = shape.firstIndex(of: -1) { shape[i] = a.values.count / shape.filter { $0 != -1 }.reduce(1, *) }
                out = Tensor(shape: shape, values: a.values)
            case "MatMul":
                let a = try x(0), b = try x(1)
                let k = a.shape.last!, m = a.values.count / k, cols = b.shape[1]
                guard k == b.shape[0] else { throw Failure.shape("MatMul \(a.shape) x \(b.shape)") }
                var v = [Float](repeating: 0, count: m * cols)
                for r in 0..<m { for j in 0..<cols { var s: Float = 0; for i in 0..<k { s += a.values[r * k + i] * b.values[i * cols + j] }; v[r * cols + j] = s } }
                out = Tensor(shape: Array(a.shape.dropLast()) + [cols], values: v)
            case "Gemm":
                let a = try x(0), b = try x(1), c = n.input.count > 2 ? try x(2) : nil
                let transB = int("transB", 0) == 1, alpha = float("alpha", 1), beta = float("beta", 1)
                let rows = a.shape[0], k = a.shape[1], cols = transB ? b.shape[0] : b.shape[1]
                guard k == (transB ? b.shape[1] : b.shape[0]) else { throw Failure.shape("Gemm \(a.shape) x \(b.shape), transB \(transB)") }
                var v = [Float](repeating: 0, count: rows * cols)
                for r in 0..<rows {
                    for j in 0..<cols {
                        var s: Float = 0
                        for i in 0..<k { s += a.values[r * k + i] * (transB ? b.values[j * k + i] : b.values[i * cols + j]) }
                        v[r * cols + j] = alpha * s + beta * (c?.values[j] ?? 0)
                    }
                }
                out = Tensor(shape: [rows, cols], values: v)
            case "Concat":
                let parts = try (0..<n.input.count).map(x)
                let n0 = parts[0].shape[0]
                var v: [Float] = []
                for b in 0..<n0 { for p in parts { let per = p.values.count / n0; v += p.values[(b * per)..<((b + 1) * per)] } }
                var shape = parts[0].shape
                shape[1] = parts.map { $0.shape[1] }.reduce(0, +)
                out = Tensor(shape: shape, values: v)
            case "Identity":
                out = try x(0)
            default:
                throw Failure.unknown(n.opType)
            }
            env[n.output[0]] = out
        }
        guard let y = env[model.graph.output[0].name] else { throw Failure.missing(model.graph.output[0].name) }
        return y
    }

    func conv(_ a: Tensor, _ w: Tensor, _ bias: Tensor?, kernel: [Int], strides: [Int], pads: [Int], group: Int) -> Tensor {
        let (n, c, h, wd) = (a.shape[0], a.shape[1], a.shape[2], a.shape[3])
        let o = w.shape[0], cg = c / group, og = o / group
        let oh = (h + pads[0] + pads[2] - kernel[0]) / strides[0] + 1, ow = (wd + pads[1] + pads[3] - kernel[1]) / strides[1] + 1
        var v = [Float](repeating: 0, count: n * o * oh * ow)
        for b in 0..<n {
            for oc in 0..<o {
                let g = oc / og
                for y in 0..<oh {
                    for x in 0..<ow {
                        var s: Float = bias?.values[oc] ?? 0
                        for ic in 0..<cg {
                            for ky in 0..<kernel[0] {
                                let iy = y * strides[0] - pads[0] + ky
                                if iy < 0 || iy >= h { continue }
                                for kx in 0..<kernel[1] {
                                    let ix = x * strides[1] - pads[1] + kx
                                    if ix < 0 || ix >= wd { continue }
                                    s += a.values[((b * c + g * cg + ic) * h + iy) * wd + ix] * w.values[((oc * cg + ic) * kernel[0] + ky) * kernel[1] + kx]
                                }
                            }
                        }
                        v[((b * o + oc) * oh + y) * ow + x] = s
                    }
                }
            }
        }
        return Tensor(shape: [n, o, oh, ow], values: v)
    }

    /// MaxPool (padding ignored) or AveragePool (count_include_pad 0: the pads are zero here).
    /// `countPadding`: AveragePool's `count_include_pad` (divide by the whole kernel).
    func pool(_ a: Tensor, kernel: [Int], strides: [Int], pads: [Int], max isMax: Bool, countPadding: Bool = false) -> Tensor {
        let (n, c, h, w) = (a.shape[0], a.shape[1], a.shape[2], a.shape[3])
        let oh = (h + pads[0] + pads[2] - kernel[0]) / strides[0] + 1, ow = (w + pads[1] + pads[3] - kernel[1]) / strides[1] + 1
        var v = [Float](repeating: 0, count: n * c * oh * ow)
        for p in 0..<(n * c) {
            for y in 0..<oh {
                for x in 0..<ow {
                    var m = -Float.infinity, s: Float = 0, count = 0
                    for ky in 0..<kernel[0] {
                        let iy = y * strides[0] - pads[0] + ky
                        if iy < 0 || iy >= h { continue }
                        for kx in 0..<kernel[1] {
                            let ix = x * strides[1] - pads[1] + kx
                            if ix < 0 || ix >= w { continue }
                            let e = a.values[(p * h + iy) * w + ix]
                            m = max(m, e); s += e; count += 1
                        }
                    }
                    v[(p * oh + y) * ow + x] = isMax ? m : s / Float(countPadding ? kernel[0] * kernel[1] : count)
                }
            }
        }
        return Tensor(shape: [n, c, oh, ow], values: v)
    }
}
