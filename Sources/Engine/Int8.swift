import CDNNL
import Foundation

/// The element type of a quantised tensor: `u8` (values after a ReLU, `0...255`), `s8`
/// (signed values, `-128...127`), or `f32` (a quantised op's output read by an op that is not).
/// A quantised tensor holds `q` for the real value `scale * q` (symmetric: no zero point).
public enum QuantizedType: String, Sendable, Codable {
    case u8, s8, f32

    var dnnl: dnnl_data_type_t {
        switch self {
        case .u8: return dnnl_u8
        case .s8: return dnnl_s8
        case .f32: return dnnl_f32
        }
    }

    /// The largest magnitude a value of this type holds (255, 127; f32: none).
    public var maxMagnitude: Float {
        switch self {
        case .u8: return 255
        case .s8: return 127
        case .f32: return .greatestFiniteMagnitude
        }
    }

    /// `x` rounded to nearest-even and saturated to this type, as oneDNN stores it.
    @inline(__always)
    public func saturate(_ x: Float) -> Float {
        switch self {
        case .u8: return min(max(x.rounded(.toNearestOrEven), 0), 255)
        case .s8: return min(max(x.rounded(.toNearestOrEven), -128), 127)
        case .f32: return x
        }
    }
}

extension MemoryDesc {
    /// "Let the primitive choose", in any oneDNN type.
    static func any(_ dims: [Int], quantized type: QuantizedType) throws -> MemoryDesc {
        var md = dnnl_memory_desc_t()
        let d = dims.map { Int64($0) }
        try dnnlCheck(dnnl_memory_desc_init_by_tag(&md, Int32(d.count), d, type.dnnl, dnnl_format_tag_any), "dnnl_memory_desc_init_by_tag(any)")
        return MemoryDesc(raw: md)
    }

    /// Dense row-major, in any oneDNN type.
    public static func plain(_ dims: [Int], quantized type: QuantizedType) throws -> MemoryDesc {
        var md = dnnl_memory_desc_t()
        let d = dims.map { Int64($0) }
        try dnnlCheck(dnnl_memory_desc_init_by_tag(&md, Int32(d.count), d, type.dnnl, plainTag(dims.count)), "dnnl_memory_desc_init_by_tag(plain)")
        return MemoryDesc(raw: md)
    }

    /// The same layout with another element type of the same size (u8 and s8).
    func retyped(_ type: QuantizedType) -> MemoryDesc {
        var r = raw
        r.data_type = type.dnnl
        return MemoryDesc(raw: r)
    }

    /// The quantised type of this descriptor, nil for f32/bf16.
    public var quantizedType: QuantizedType? {
        switch raw.data_type {
        case dnnl_u8: return .u8
        case dnnl_s8: return .s8
        default: return nil
        }
    }
}

/// Converts a tensor between f32 and u8/s8, multiplying by `scale` on the way (oneDNN's reorder
/// with an output scale: `out = saturate(round(scale * in))`), keeping its layout.
public final class Requantize {
    public let scale: Float
    public let type: QuantizedType
    public let engine: CPUEngine
    private let plans = PrimitiveCache<ReorderKey, Primitive>()

    public init(scale: Float, to type: QuantizedType, engine: CPUEngine = .shared) {
        self.scale = scale; self.type = type; self.engine = engine
    }

    /// `x` converted to `type` in `x`'s layout (or in `layout`'s, retyped).
    public func forward(_ x: Tensor, layout: MemoryDesc? = nil) throws -> Tensor {
        let out = try Tensor(desc: (layout ?? x.desc).retyped(type), engine: engine)
        try forward(x, into: out)
        return out
    }

    func forward(_ x: Tensor, into out: Tensor) throws {
        let prim = try plans.value(for: ReorderKey(src: x.desc, dst: out.desc)) {
            var a: dnnl_primitive_attr_t?
            try dnnlCheck(dnnl_primitive_attr_create(&a), "dnnl_primitive_attr_create")
            defer { dnnl_primitive_attr_destroy(a) }
            var s = [scale]
            try dnnlCheck(dnnl_primitive_attr_set_output_scales(a, 1, 0, &s), "dnnl_primitive_attr_set_output_scales")
            var pd: dnnl_primitive_desc_t?
            var sd = x.desc.raw, dd = out.desc.raw
            try dnnlCheck(dnnl_reorder_primitive_desc_create(&pd, &sd, engine.engine, &dd, engine.engine, a),
                          "dnnl_reorder_primitive_desc_create(quantize \(x.desc) -> \(out.desc))")
            return try Primitive(pd!, name: "requantize")
        }
        try prim.execute([(DNNL_ARG_FROM, x), (DNNL_ARG_TO, out)], on: engine)
    }
}

/// What an int8 op computes, per output channel `c` (oneDNN 2.x's int8 arithmetic):
///
///     acc = sum(src_q * weight_q)                    (exact, s32)
///     y   = outputScales[c] * (acc + bias[c])        (f32; bias in accumulator units)
///     y  += sumScale * residual_q                    (the residual add, when there is one)
///     dst = saturate(round(activation(y)))           (u8, s8; or y itself for f32)
///
/// `y` is in the output's units (`activationUnit` real units each): ReLU does not mind; ReLU6
/// clips at `6 / activationUnit`; hardswish and hardsigmoid need real units (an f32 output,
/// unit 1).
///
/// The output scales are set when the primitive is made: libdnnl 2.6.3 has no int8 conv that
/// takes them at execution (`DNNL_RUNTIME_F32_VAL`: every conv variant tried is "unimplemented"
/// on AVX-512 VNNI), and the primitive is made once per input layout anyway.
struct Int8Attributes {
    let outputScales: [Float]
    let activation: Activation?
    var activationUnit: Float = 1
    let sum: (scale: Float, type: QuantizedType)?

    func make() throws -> PrimitiveAttrHandle {
        var a: dnnl_primitive_attr_t?
        try dnnlCheck(dnnl_primitive_attr_create(&a), "dnnl_primitive_attr_create")
        let h = PrimitiveAttrHandle(a!)
        var scales = outputScales
        try dnnlCheck(dnnl_primitive_attr_set_output_scales(h.attr, Int64(scales.count), 1 << 1, &scales), "dnnl_primitive_attr_set_output_scales")
        if sum != nil || activation != nil {
            var ops: dnnl_post_ops_t?
            try dnnlCheck(dnnl_post_ops_create(&ops), "dnnl_post_ops_create")
            defer { dnnl_post_ops_destroy(ops) }
            if let s = sum { try dnnlCheck(dnnl_post_ops_append_sum_v2(ops, s.scale, s.type.dnnl), "dnnl_post_ops_append_sum_v2") }
            switch activation {
            case .relu6? where activationUnit != 1:
                try dnnlCheck(dnnl_post_ops_append_eltwise(ops, 1.0, dnnl_eltwise_clip_v2, 0, 6 / activationUnit), "dnnl_post_ops_append_eltwise(relu6)")
            case let a? where a == .relu || activationUnit == 1:
                try a.appendPostOps(ops)
            case let a?:
                throw EngineError.invalidArgument(op: "int8 post-op", what: "\(a.rawValue) in units of \(activationUnit): it needs an f32 output")
            case nil:
                break
            }
            try dnnlCheck(dnnl_primitive_attr_set_post_ops(h.attr, ops), "dnnl_primitive_attr_set_post_ops")
        }
        return h
    }
}

final class PrimitiveAttrHandle {
    let attr: dnnl_primitive_attr_t
    init(_ a: dnnl_primitive_attr_t) { attr = a }
    deinit { dnnl_primitive_attr_destroy(attr) }
}

/// Quantised weights: `s8` values `[out, in/groups, kh, kw]` (or `[out, in]`) and the scale of
/// each output channel, `scale[c] = max|w[c]| / 127` (1 for an all-zero channel).
public struct QuantizedWeights: Sendable {
    public let values: [Int8]
    public let scales: [Float]

    /// Per-output-channel symmetric quantisation of `weight` (`outChannels` rows).
    public init(_ weight: [Float], outChannels: Int) {
        let per = weight.count / outChannels
        var v = [Int8](repeating: 0, count: weight.count)
        var s = [Float](repeating: 1, count: outChannels)
        for c in 0..<outChannels {
            var m: Float = 0
            for i in 0..<per { m = max(m, abs(weight[c * per + i])) }
            let scale: Float = m > 0 ? m / 127 : 1
            s[c] = scale
            for i in 0..<per { v[c * per + i] = Int8(QuantizedType.s8.saturate(weight[c * per + i] / scale)) }
        }
        values = v; scales = s
    }

    public init(values: [Int8], scales: [Float]) { self.values = values; self.scales = scales }
}

/// An int8 2-d convolution (dilation 1) through oneDNN: `source` u8 or s8, weights s8 per output
/// channel, s32 accumulation, then `Int8Attributes`'s requantisation with the residual add and
/// the activation fused as post-ops, into u8, s8 or f32. One primitive per input layout.
public final class QuantizedConv2d {
    public let inChannels: Int, outChannels: Int, kernelHeight: Int, kernelWidth: Int, stride: Int, groups: Int
    /// Above and below, left and right (as `Conv2d`'s).
    public let padding: Int, paddingWidth: Int
    public let sourceType: QuantizedType
    public let outputType: QuantizedType
    public let activation: Activation?
    /// The real value of one unit of the requantised output (its scale) where the activation
    /// is not ReLU's (`Int8Attributes`); 1 for an f32 output.
    public let activationUnit: Float
    /// The residual's type and `sumScale` (residual scale / output scale), when the op adds one;
    /// an f32 output adds an f32 residual (scale 1), a u8/s8 output a u8/s8 one.
    public let sum: (scale: Float, type: QuantizedType)?
    public let engine: CPUEngine
    public let weights: [Int8]
    public let bias: [Float]?
    public let outputScales: [Float]

    private let biasTensor: Tensor?
    private let plans = PrimitiveCache<MemoryDesc, Plan>()
    private let weightCopies = PrimitiveCache<MemoryDesc, Tensor>()

    final class Plan {
        let primitive: Primitive, src: MemoryDesc, dst: MemoryDesc, weights: Tensor
        init(primitive: Primitive, src: MemoryDesc, dst: MemoryDesc, weights: Tensor) {
            self.primitive = primitive; self.src = src; self.dst = dst; self.weights = weights
        }
    }

    /// - Parameters:
    ///   - weights: s8 `[out, in/groups, kh, kw]` row-major (`shape`).
    ///   - bias: per output channel, in accumulator units (the real bias / (source scale * weight scale)).
    ///   - outputScales: per output channel: source scale * weight scale / output scale.
    public init(weights: [Int8], shape: [Int], bias: [Float]?, outputScales: [Float], stride: Int = 1, padding: Int = 0,
                paddingWidth: Int? = nil, groups: Int = 1, activation: Activation? = nil, activationUnit: Float = 1, sourceType: QuantizedType = .u8,
                outputType: QuantizedType = .u8, sum: (scale: Float, type: QuantizedType)? = nil, engine: CPUEngine = .shared) throws {
        let paddingWidth = paddingWidth ?? padding
        guard shape.count == 4, shape.allSatisfy({ $0 > 0 }), padding >= 0, paddingWidth >= 0, weights.count == shape.reduce(1, *),
              outputScales.count == shape[0], bias.map({ $0.count == shape[0] }) ?? true, groups >= 1, shape[0] % groups == 0,
              sourceType != .f32, sum.map({ ($0.type == .f32) == (outputType == .f32) }) ?? true else {
            throw EngineError.invalidArgument(op: "QuantizedConv2d", what: "weights \(weights.count) for \(shape), \(outputScales.count) scales, bias \(bias?.count ?? 0), source \(sourceType)")
        }
        outChannels = shape[0]; inChannels = shape[1] * groups; kernelHeight = shape[2]; kernelWidth = shape[3]
        self.stride = stride; self.padding = padding; self.paddingWidth = paddingWidth; self.groups = groups
        self.sourceType = sourceType; self.outputType = outputType; self.activation = activation; self.sum = sum
        self.activationUnit = activationUnit
        self.engine = engine; self.weights = weights; self.bias = bias; self.outputScales = outputScales
        biasTensor = try bias.map { try Tensor(shape: [shape[0]], values: $0, engine: engine) }
    }

    private var weightDims: [Int] {
        groups == 1 ? [outChannels, inChannels, kernelHeight, kernelWidth]
            : [groups, outChannels / groups, inChannels / groups, kernelHeight, kernelWidth]
    }

    public func outputShape(for input: [Int]) throws -> [Int] {
        guard input.count == 4, input[1] == inChannels, input[2] + 2 * padding >= kernelHeight, input[3] + 2 * paddingWidth >= kernelWidth else {
            throw EngineError.shapeMismatch(op: "QuantizedConv2d(\(inChannels)->\(outChannels))", expected: "[N, \(inChannels), H, W]", actual: "\(input)")
        }
        return [input[0], outChannels, (input[2] + 2 * padding - kernelHeight) / stride + 1, (input[3] + 2 * paddingWidth - kernelWidth) / stride + 1]
    }

    func plan(for input: MemoryDesc) throws -> Plan {
        try plans.value(for: input) {
            let outDims = try outputShape(for: input.dims)
            var src = try MemoryDesc.any(input.dims, quantized: sourceType).raw
            var wts = try MemoryDesc.any(weightDims, quantized: .s8).raw
            var dst = try MemoryDesc.any(outDims, quantized: outputType).raw
            var bia = try MemoryDesc.plain([outChannels], quantized: .f32).raw
            let strides: [Int64] = [Int64(stride), Int64(stride)]
            let pad: [Int64] = [Int64(padding), Int64(paddingWidth)]
            let padR: [Int64] = [Int64((outDims[2] - 1) * stride + kernelHeight - input.dims[2] - padding),
                                 Int64((outDims[3] - 1) * stride + kernelWidth - input.dims[3] - paddingWidth)]
            var cd = dnnl_convolution_desc_t()
            try withUnsafeMutablePointer(to: &bia) { b in
                try dnnlCheck(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &src, &wts,
                                                                 bias != nil ? b : nil, &dst, strides, pad, padR),
                              "dnnl_convolution_forward_desc_init(int8)")
            }
            let attr = try Int8Attributes(outputScales: outputScales, activation: activation, activationUnit: activationUnit, sum: sum).make()
            let prim = try withExtendedLifetime(attr) {
                try Primitive.make(&cd, attr: attr.attr, engine: engine,
                                   name: "int8 conv \(inChannels)->\(outChannels) k\(kernelHeight)x\(kernelWidth) s\(stride) on \(input.dims)")
            }
            let wmd = prim.md(dnnl_query_weights_md)
            let w = try weightCopies.value(for: wmd) {
                // Plain f32 holding the integers, reordered (exactly) into oneDNN's s8 layout,
                // which may carry the compensation oneDNN adds for s8 sources.
                let plainW = try Tensor(shape: weightDims, values: weights.map { Float($0) }, engine: engine)
                return try engine.reorder(plainW, to: wmd)
            }
            return Plan(primitive: prim, src: prim.md(dnnl_query_src_md), dst: prim.md(dnnl_query_dst_md), weights: w)
        }
    }

    /// The output for a `sourceType` input in any layout.
    public func forward(_ x: Tensor) throws -> Tensor {
        guard sum == nil else { throw EngineError.invalidArgument(op: "QuantizedConv2d", what: "this conv adds a residual: forward(_:residual:)") }
        let plan = try self.plan(for: try sourceDesc(x))
        let dst = try Tensor(desc: plan.dst, engine: engine)
        try run(plan, x, dst)
        return dst
    }

    /// The output with the residual added (before the activation). `inPlace`: the residual
    /// (of `sum.type`) may be overwritten with the result when its layout is the output's;
    /// otherwise it is copied first.
    public func forward(_ x: Tensor, residual: Tensor, inPlace: Bool) throws -> Tensor {
        guard let s = sum else { throw EngineError.invalidArgument(op: "QuantizedConv2d", what: "this conv has no residual") }
        guard (residual.desc.quantizedType ?? .f32) == s.type else {
            throw EngineError.invalidArgument(op: "QuantizedConv2d", what: "a residual of \(s.type) expected, got \(residual.desc)")
        }
        let plan = try self.plan(for: try sourceDesc(x))
        guard residual.shape == plan.dst.dims else {
            throw EngineError.shapeMismatch(op: "QuantizedConv2d residual", expected: "\(plan.dst.dims)", actual: "\(residual.shape)")
        }
        let sumDesc = plan.dst.retyped(s.type)
        let holder: Tensor
        if inPlace && residual.desc == sumDesc {
            holder = residual
        } else {
            holder = try Tensor(desc: sumDesc, engine: engine)
            try engine.reorder(residual, into: holder)
        }
        let dst = try Tensor(aliasing: holder, as: plan.dst)
        try run(plan, x, dst)
        return dst
    }

    private func sourceDesc(_ x: Tensor) throws -> MemoryDesc {
        guard x.desc.quantizedType == sourceType else {
            throw EngineError.invalidArgument(op: "QuantizedConv2d", what: "a \(sourceType) input expected, got \(x.desc)")
        }
        return x.desc
    }

    private func run(_ plan: Plan, _ x: Tensor, _ dst: Tensor) throws {
        let src = try engine.reorder(x, to: plan.src)
        var args: [(Int32, Tensor)] = [(DNNL_ARG_SRC, src), (DNNL_ARG_WEIGHTS, plan.weights), (DNNL_ARG_DST, dst)]
        if let b = biasTensor { args.append((DNNL_ARG_BIAS, b)) }
        try plan.primitive.execute(args, on: engine)
    }

    /// The oneDNN implementations of the cached primitives (`brgconv:avx512_core_vnni`...).
    public var implementations: [String] { plans.values.map(\.primitive.implementation) }
}

/// An int8 `nn.Linear` through oneDNN's inner product: `source` u8 or s8 (`[N, in]` or
/// `[N, C, H, W]` with `C*H*W == in`, any layout), weights s8 per output feature, s32
/// accumulation, `Int8Attributes`'s requantisation (no residual) into plain `[N, out]` of
/// `outputType`.
public final class QuantizedLinear {
    public let inFeatures: Int, outFeatures: Int
    public let sourceType: QuantizedType, outputType: QuantizedType
    public let activation: Activation?
    public let engine: CPUEngine
    public let weights: [Int8]
    public let bias: [Float]?
    public let outputScales: [Float]
    private let biasTensor: Tensor?
    private let plans = PrimitiveCache<MemoryDesc, (Primitive, MemoryDesc, Tensor)>()

    public init(weights: [Int8], outFeatures: Int, inFeatures: Int, bias: [Float]?, outputScales: [Float], activation: Activation? = nil,
                sourceType: QuantizedType = .u8, outputType: QuantizedType = .f32, engine: CPUEngine = .shared) throws {
        guard outFeatures > 0, inFeatures > 0, weights.count == outFeatures * inFeatures, outputScales.count == outFeatures,
              bias.map({ $0.count == outFeatures }) ?? true, sourceType != .f32 else {
            throw EngineError.invalidArgument(op: "QuantizedLinear", what: "weights \(weights.count) for [\(outFeatures), \(inFeatures)], \(outputScales.count) scales")
        }
        self.inFeatures = inFeatures; self.outFeatures = outFeatures; self.sourceType = sourceType; self.outputType = outputType
        self.activation = activation; self.engine = engine; self.weights = weights; self.bias = bias; self.outputScales = outputScales
        biasTensor = try bias.map { try Tensor(shape: [outFeatures], values: $0, engine: engine) }
    }

    public func forward(_ x: Tensor) throws -> Tensor {
        let s = x.shape
        guard s.count == 2 || s.count == 4, s.dropFirst().reduce(1, *) == inFeatures, x.desc.quantizedType == sourceType else {
            throw EngineError.shapeMismatch(op: "QuantizedLinear(\(inFeatures)->\(outFeatures))", expected: "\(sourceType) [N, \(inFeatures)]", actual: "\(x.desc)")
        }
        let (prim, srcDesc, w) = try plans.value(for: x.desc) {
            let wDims = [outFeatures] + Array(s.dropFirst())
            var src = try MemoryDesc.any(s, quantized: sourceType).raw
            var wts = try MemoryDesc.any(wDims, quantized: .s8).raw
            var bia = try MemoryDesc.plain([outFeatures], quantized: .f32).raw
            var dst = try MemoryDesc.plain([s[0], outFeatures], quantized: outputType).raw
            var ip = dnnl_inner_product_desc_t()
            try withUnsafeMutablePointer(to: &bia) { b in
                try dnnlCheck(dnnl_inner_product_forward_desc_init(&ip, dnnl_forward_inference, &src, &wts, bias != nil ? b : nil, &dst),
                              "dnnl_inner_product_forward_desc_init(int8)")
            }
            let attr = try Int8Attributes(outputScales: outputScales, activation: activation, sum: nil).make()
            let prim = try withExtendedLifetime(attr) {
                try Primitive.make(&ip, attr: attr.attr, engine: engine, name: "int8 linear \(inFeatures)->\(outFeatures) on \(s)")
            }
            let wmd = prim.md(dnnl_query_weights_md)
            let w = try engine.reorder(Tensor(shape: wDims, values: weights.map { Float($0) }, engine: engine), to: wmd)
            return (prim, prim.md(dnnl_query_src_md), w)
        }
        let src = try engine.reorder(x, to: srcDesc)
        let dst = try Tensor(desc: .plain([s[0], outFeatures], quantized: outputType), engine: engine)
        var args: [(Int32, Tensor)] = [(DNNL_ARG_SRC, src), (DNNL_ARG_WEIGHTS, w), (DNNL_ARG_DST, dst)]
        if let b = biasTensor { args.append((DNNL_ARG_BIAS, b)) }
        try prim.execute(args, on: engine)
        return dst
    }

    public var implementations: [String] { plans.values.map(\.0.implementation) }
}

extension CPUCapabilities {
    /// Whether oneDNN's int8 kernels here have VNNI or AMX (u8 x s8 dot products in one
    /// instruction): `avx512_core_vnni`, `avx512_core_bf16` (Cooper Lake and Zen 4 have VNNI),
    /// `avx512_core_amx`, `avx2_vnni`. Below that int8 runs on AVX2/AVX-512 without VNNI,
    /// about as slow as f32 (see README, "CPUs").
    ///
    /// `GRAFT_INT8_ANY_CPU=1` lets int8 run anyway, to measure what it costs there (make bench).
    public var int8Fast: Bool {
        ["vnni", "bf16", "amx"].contains { isa.contains($0) } || ProcessInfo.processInfo.environment["GRAFT_INT8_ANY_CPU"] == "1"
    }
}
