import CDNNL

/// A pooling window slid over H and W (dilation 1, floor mode), on any layout and type the
/// input has; the output keeps them. `MaxPool2d` and `AvgPool2d`.
public class WindowPool2d {
    public let kernel: Int
    public let stride: Int
    public let padding: Int
    public let engine: CPUEngine
    let kind: PoolKind
    private let plans = PrimitiveCache<MemoryDesc, Primitive>()

    init(_ kind: PoolKind, kernel: Int, stride: Int, padding: Int, engine: CPUEngine) throws {
        guard kernel >= 1, stride >= 1, padding >= 0, padding * 2 <= kernel else {
            throw EngineError.invalidArgument(op: "\(kind.module)", what: "kernel \(kernel), stride \(stride), padding \(padding) (padding must be at most half the kernel)")
        }
        self.kind = kind; self.kernel = kernel; self.stride = stride; self.padding = padding; self.engine = engine
    }

    public func outputShape(for input: [Int]) throws -> [Int] {
        guard input.count == 4, input[2] + 2 * padding >= kernel, input[3] + 2 * padding >= kernel else {
            throw EngineError.shapeMismatch(op: "\(kind.module)(\(kernel))", expected: "[N, C, H, W] with H, W + padding >= \(kernel)", actual: "\(input)")
        }
        return [input[0], input[1], (input[2] + 2 * padding - kernel) / stride + 1, (input[3] + 2 * padding - kernel) / stride + 1]
    }

    public func forward(_ x: Tensor) throws -> Tensor {
        let out = try outputShape(for: x.shape)
        let prim = try plans.value(for: x.desc) {
            try poolPrimitive(kind, x.desc, out, kernel: (kernel, kernel), stride: (stride, stride), padding: padding, engine: engine)
        }
        let dst = try Tensor(desc: prim.md(dnnl_query_dst_md), engine: engine)
        try prim.execute([(DNNL_ARG_SRC, x), (DNNL_ARG_DST, dst)], on: engine)
        return dst
    }
}

/// PyTorch's `nn.MaxPool2d(kernel, stride, padding)` (dilation 1, floor mode).
public final class MaxPool2d: WindowPool2d {
    public init(kernel: Int, stride: Int, padding: Int = 0, engine: CPUEngine = .shared) throws {
        try super.init(.max, kernel: kernel, stride: stride, padding: padding, engine: engine)
    }
}

/// PyTorch's `nn.AvgPool2d(kernel, stride, padding)` with its defaults (`count_include_pad=True`:
/// a window over the padding divides by the whole kernel's size; floor mode).
public final class AvgPool2d: WindowPool2d {
    public init(kernel: Int, stride: Int, padding: Int = 0, engine: CPUEngine = .shared) throws {
        try super.init(.avgIncludingPadding, kernel: kernel, stride: stride, padding: padding, engine: engine)
    }
}

/// PyTorch's `nn.AdaptiveAvgPool2d((1, 1))`: the mean over each channel's H x W, giving
/// `[N, C, 1, 1]` in the input's layout family and type.
public final class GlobalAvgPool2d {
    public let engine: CPUEngine
    private let plans = PrimitiveCache<MemoryDesc, Primitive>()

    public init(engine: CPUEngine = .shared) { self.engine = engine }

    public func forward(_ x: Tensor) throws -> Tensor {
        let s = x.shape
        guard s.count == 4, s[2] > 0, s[3] > 0 else {
            throw EngineError.shapeMismatch(op: "GlobalAvgPool2d", expected: "[N, C, H, W]", actual: "\(s)")
        }
        func primitive(_ src: MemoryDesc) throws -> Primitive {
            try plans.value(for: src) {
                try poolPrimitive(.avg, src, [s[0], s[1], 1, 1], kernel: (s[2], s[3]), stride: (s[2], s[3]), padding: 0, engine: engine)
            }
        }
        var x = x, prim = try primitive(x.desc)
        // oneDNN 2.6 pools bf16 in 8-channel blocks (grouped convs of 8 channels a group choose
        // them: RegNet's) with its reference kernel, three quarters of regnet_y_400mf's bf16
        // inference; in channels-last with a jit one.
        if prim.isReference, x.desc.quantizedType == nil {
            let nhwc = try MemoryDesc(dims: s, type: x.dataType, tag: dnnl_acdb)
            if nhwc != x.desc, try !primitive(nhwc).isReference {
                x = try engine.reorder(x, to: nhwc)
                prim = try primitive(nhwc)
            }
        }
        let dst = try Tensor(desc: prim.md(dnnl_query_dst_md), engine: engine)
        try prim.execute([(DNNL_ARG_SRC, x), (DNNL_ARG_DST, dst)], on: engine)
        return dst
    }
}

/// PyTorch's `nn.AdaptiveAvgPool2d((height, width))`: output cell `(i, j)` is the mean of the
/// input rows `floor(i * H / height) ..< ceil((i + 1) * H / height)` and the columns likewise
/// (torch's bins, which overlap when the sizes do not divide, and repeat input cells when the
/// output is larger). Where `height` divides H and `width` divides W the bins are a oneDNN
/// average pooling (kernel = stride = H / height), in the input's layout family and type;
/// otherwise a plain loop over NCHW (the input converted to plain first), giving a plain tensor
/// of the input's type.
public final class AdaptiveAvgPool2d {
    public let outputHeight: Int
    public let outputWidth: Int
    public let engine: CPUEngine
    private let plans = PrimitiveCache<MemoryDesc, Primitive>()

    public init(outputHeight: Int, outputWidth: Int, engine: CPUEngine = .shared) throws {
        guard outputHeight >= 1, outputWidth >= 1 else {
            throw EngineError.invalidArgument(op: "AdaptiveAvgPool2d", what: "output size \(outputHeight)x\(outputWidth) must be at least 1x1")
        }
        self.outputHeight = outputHeight; self.outputWidth = outputWidth; self.engine = engine
    }

    public func outputShape(for input: [Int]) throws -> [Int] {
        guard input.count == 4, input.allSatisfy({ $0 > 0 }) else {
            throw EngineError.shapeMismatch(op: "AdaptiveAvgPool2d", expected: "[N, C, H, W]", actual: "\(input)")
        }
        return [input[0], input[1], outputHeight, outputWidth]
    }

    public func forward(_ x: Tensor) throws -> Tensor {
        let out = try outputShape(for: x.shape)
        let s = x.shape
        if let k = AdaptiveBins.uniformKernel(s[2], s[3], outputHeight, outputWidth) {
            let prim = try plans.value(for: x.desc) {
                try poolPrimitive(.avg, x.desc, out, kernel: k, stride: k, padding: 0, engine: engine)
            }
            let dst = try Tensor(desc: prim.md(dnnl_query_dst_md), engine: engine)
            try prim.execute([(DNNL_ARG_SRC, x), (DNNL_ARG_DST, dst)], on: engine)
            return dst
        }
        return try adaptiveAveragePlain(x, outputHeight, outputWidth, engine: engine)
    }
}

/// torch's adaptive pooling bins along one axis.
enum AdaptiveBins {
    @inline(__always) static func start(_ i: Int, _ input: Int, _ output: Int) -> Int { (i * input) / output }
    @inline(__always) static func end(_ i: Int, _ input: Int, _ output: Int) -> Int { ((i + 1) * input + output - 1) / output }

    /// (H / oh, W / ow) when both divide: the bins are then a plain pooling window.
    static func uniformKernel(_ h: Int, _ w: Int, _ oh: Int, _ ow: Int) -> (Int, Int)? {
        h % oh == 0 && w % ow == 0 ? (h / oh, w / ow) : nil
    }
}

/// Adaptive average pooling by torch's loop: `sum / kh / kw` per bin, in float32, on a plain
/// NCHW copy of `x`; the result plain, of `x`'s type.
func adaptiveAveragePlain(_ x: Tensor, _ oh: Int, _ ow: Int, engine: CPUEngine) throws -> Tensor {
    let s = x.shape
    let (planes, h, w) = (s[0] * s[1], s[2], s[3])
    let src = try engine.reorder(x, to: .plain(s, .f32))
    let out = try Tensor(desc: .plain([s[0], s[1], oh, ow], .f32), engine: engine)
    withExtendedLifetime(src) {
        let a = src.plainFloats, o = out.plainFloats
        for pl in 0..<planes {
            let ib = pl * h * w, ob = pl * oh * ow
            for i in 0..<oh {
                let y0 = AdaptiveBins.start(i, h, oh), y1 = AdaptiveBins.end(i, h, oh)
                for j in 0..<ow {
                    let x0 = AdaptiveBins.start(j, w, ow), x1 = AdaptiveBins.end(j, w, ow)
                    var sum: Float = 0
                    for yy in y0..<y1 { for xx in x0..<x1 { sum += a[ib + yy * w + xx] } }
                    o[ob + i * ow + j] = sum / Float(y1 - y0) / Float(x1 - x0)
                }
            }
        }
    }
    return try engine.reorder(out, to: .plain(out.shape, x.dataType))
}

/// The input gradient of `adaptiveAveragePlain`: each output cell's gradient `/ kh / kw` added
/// to every input cell of its bin (torch's loop), plain float32 `[N, C, H, W]`.
func adaptiveAverageBackwardPlain(_ dy: Tensor, inputDims s: [Int], engine: CPUEngine) throws -> Tensor {
    let (planes, h, w, oh, ow) = (s[0] * s[1], s[2], s[3], dy.shape[2], dy.shape[3])
    let g = try engine.reorder(dy, to: .plain(dy.shape, .f32))
    let dx = try Tensor(desc: .plain(s, .f32), engine: engine)
    withExtendedLifetime(g) {
        let gy = g.plainFloats, d = dx.plainFloats
        d.update(repeating: 0)
        for pl in 0..<planes {
            let ib = pl * h * w, ob = pl * oh * ow
            for i in 0..<oh {
                let y0 = AdaptiveBins.start(i, h, oh), y1 = AdaptiveBins.end(i, h, oh)
                for j in 0..<ow {
                    let x0 = AdaptiveBins.start(j, w, ow), x1 = AdaptiveBins.end(j, w, ow)
                    let delta = gy[ob + i * ow + j] / Float(y1 - y0) / Float(x1 - x0)
                    for yy in y0..<y1 { for xx in x0..<x1 { d[ib + yy * w + xx] += delta } }
                }
            }
        }
    }
    return dx
}

enum PoolKind {
    case max
    /// The mean over the window's cells inside the input (adaptive pooling's bins have no padding).
    case avg
    /// The sum over the window divided by the kernel's size (`nn.AvgPool2d`'s `count_include_pad`).
    case avgIncludingPadding

    var module: String { self == .max ? "MaxPool2d" : "AvgPool2d" }

    var dnnl: dnnl_alg_kind_t {
        switch self {
        case .max: return dnnl_pooling_max
        case .avg: return dnnl_pooling_avg_exclude_padding
        case .avgIncludingPadding: return dnnl_pooling_avg_include_padding
        }
    }
}

func poolPrimitive(_ kind: PoolKind, _ src: MemoryDesc, _ outDims: [Int], kernel: (Int, Int), stride: (Int, Int),
                   padding: Int, engine: CPUEngine) throws -> Primitive {
    var s = src.raw
    // u8/s8 too: int8 plans pool their values in their type and scale.
    var d = try (src.quantizedType.map { try MemoryDesc.any(outDims, quantized: $0) } ?? MemoryDesc.any(outDims, src.dataType)).raw
    let inDims = src.dims
    let st: [Int64] = [Int64(stride.0), Int64(stride.1)]
    let k: [Int64] = [Int64(kernel.0), Int64(kernel.1)]
    let pl: [Int64] = [Int64(padding), Int64(padding)]
    let pr: [Int64] = [
        Int64((outDims[2] - 1) * stride.0 + kernel.0 - inDims[2] - padding),
        Int64((outDims[3] - 1) * stride.1 + kernel.1 - inDims[3] - padding),
    ]
    var pd = dnnl_pooling_desc_t()
    try dnnlCheck(dnnl_pooling_forward_desc_init(&pd, dnnl_forward_inference, kind.dnnl, &s, &d, st, k, pl, pr),
                  "dnnl_pooling_forward_desc_init(\(kind) on \(inDims))")
    return try Primitive.make(&pd, engine: engine, name: "\(kind) pool \(kernel) on \(inDims)")
}
