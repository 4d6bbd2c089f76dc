import CDNNL

/// PyTorch's `nn.MaxPool2d(kernel, stride, padding)` (dilation 1, floor mode). Works on any
/// layout and type the input has; the output keeps them.
public final class MaxPool2d {
    public let kernel: Int
    public let stride: Int
    public let padding: Int
    public let engine: CPUEngine
    private let plans = PrimitiveCache<MemoryDesc, Primitive>()

    public init(kernel: Int, stride: Int, padding: Int = 0, engine: CPUEngine = .shared) throws {
        guard kernel >= 1, stride >= 1, padding >= 0, padding * 2 <= kernel else {
            throw EngineError.invalidArgument(op: "MaxPool2d", what: "kernel \(kernel), stride \(stride), padding \(padding) (padding must be at most half the kernel)")
        }
        self.kernel = kernel; self.stride = stride; self.padding = padding; self.engine = engine
    }

    public func outputShape(for input: [Int]) throws -> [Int] {
        guard input.count == 4, input[2] + 2 * padding >= kernel, input[3] + 2 * padding >= kernel else {
            throw EngineError.shapeMismatch(op: "MaxPool2d(\(kernel))", expected: "[N, C, H, W] with H, W + padding >= \(kernel)", actual: "\(input)")
        }
        return [input[0], input[1], (input[2] + 2 * padding - kernel) / stride + 1, (input[3] + 2 * padding - kernel) / stride + 1]
    }

    public func forward(_ x: Tensor) throws -> Tensor {
        let out = try outputShape(for: x.shape)
        let prim = try plans.value(for: x.desc) {
            try poolPrimitive(.max, x.desc, out, kernel: (kernel, kernel), stride: (stride, stride), padding: padding, engine: engine)
        }
        let dst = try Tensor(desc: prim.md(dnnl_query_dst_md), engine: engine)
        try prim.execute([(DNNL_ARG_SRC, x), (DNNL_ARG_DST, dst)], on: engine)
        return dst
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
        let prim = try plans.value(for: x.desc) {
            try poolPrimitive(.avg, x.desc, [s[0], s[1], 1, 1], kernel: (s[2], s[3]), stride: (s[2], s[3]), padding: 0, engine: engine)
        }
        let dst = try Tensor(desc: prim.md(dnnl_query_dst_md), engine: engine)
        try prim.execute([(DNNL_ARG_SRC, x), (DNNL_ARG_DST, dst)], on: engine)
        return dst
    }
}

enum PoolKind { case max, avg }

func poolPrimitive(_ kind: PoolKind, _ src: MemoryDesc, _ outDims: [Int], kernel: (Int, Int), stride: (Int, Int),
                   padding: Int, engine: CPUEngine) throws -> Primitive {
    var s = src.raw
    var d = try MemoryDesc.any(outDims, src.dataType).raw
    let inDims = src.dims
    let st: [Int64] = [Int64(stride.0), Int64(stride.1)]
    let k: [Int64] = [Int64(kernel.0), Int64(kernel.1)]
    let pl: [Int64] = [Int64(padding), Int64(padding)]
    let pr: [Int64] = [
        Int64((outDims[2] - 1) * stride.0 + kernel.0 - inDims[2] - padding),
        Int64((outDims[3] - 1) * stride.1 + kernel.1 - inDims[3] - padding),
    ]
    var pd = dnnl_pooling_desc_t()
    let alg = kind == .max ? dnnl_pooling_max : dnnl_pooling_avg_exclude_padding
    try dnnlCheck(dnnl_pooling_forward_desc_init(&pd, dnnl_forward_inference, alg, &s, &d, st, k, pl, pr),
                  "dnnl_pooling_forward_desc_init(\(kind) on \(inDims))")
    return try Primitive.make(&pd, engine: engine, name: "\(kind) pool \(kernel) on \(inDims)")
}
