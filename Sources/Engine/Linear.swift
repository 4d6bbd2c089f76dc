import CDNNL

/// PyTorch's `nn.Linear(in, out)`: `y = x W^T + b`, with `weight` `[out, in]` row-major,
/// optionally followed by an activation (a oneDNN post-op).
/// Takes `[N, in]` or `[N, C, H, W]` with `C*H*W == in` (e.g. a pooled `[N, C, 1, 1]`) in
/// any layout; the output is plain `[N, out]` float32, whatever the compute type.
public final class Linear {
    public let inFeatures: Int
    public let outFeatures: Int
    public let computeType: DataType
    public let activation: Activation?
    public let engine: CPUEngine
    public private(set) var weight: [Float]
    public private(set) var bias: [Float]?

    private let plans = PrimitiveCache<MemoryDesc, Plan>()
    private let weightCopies = PrimitiveCache<MemoryDesc, Tensor>()
    private let biasTensor: Tensor?

    final class Plan {
        let primitive: Primitive
        let src: MemoryDesc
        let weights: Tensor
        init(primitive: Primitive, src: MemoryDesc, weights: Tensor) { self.primitive = primitive; self.src = src; self.weights = weights }
    }

    public init(weight: [Float], outFeatures: Int, inFeatures: Int, bias: [Float]? = nil, activation: Activation? = nil,
                computeType: DataType = .f32, engine: CPUEngine = .shared) throws {
        guard outFeatures > 0, inFeatures > 0, weight.count == outFeatures * inFeatures else {
            throw EngineError.shapeMismatch(op: "Linear weight", expected: "[\(outFeatures), \(inFeatures)]", actual: "\(weight.count) values")
        }
        if let b = bias, b.count != outFeatures {
            throw EngineError.shapeMismatch(op: "Linear bias", expected: "[\(outFeatures)]", actual: "[\(b.count)]")
        }
        self.weight = weight; self.bias = bias
        self.outFeatures = outFeatures; self.inFeatures = inFeatures
        self.computeType = computeType; self.activation = activation; self.engine = engine
        biasTensor = try bias.map { try Tensor(shape: [outFeatures], values: $0, engine: engine) }
    }

    public func forward(_ x: Tensor) throws -> Tensor {
        let s = x.shape
        guard s.count == 2 || s.count == 4, s.dropFirst().reduce(1, *) == inFeatures else {
            throw EngineError.shapeMismatch(op: "Linear(\(inFeatures)->\(outFeatures))", expected: "[N, \(inFeatures)] or [N, C, H, W] with C*H*W = \(inFeatures)", actual: "\(s)")
        }
        let plan = try plans.value(for: x.desc) {
            let wDims = [outFeatures] + Array(s.dropFirst())
            var src = try MemoryDesc.any(s, computeType).raw
            var wts = try MemoryDesc.any(wDims, computeType).raw
            var bia = try MemoryDesc.plain([outFeatures], .f32).raw
            var dst = try MemoryDesc.plain([s[0], outFeatures], .f32).raw
            var ip = dnnl_inner_product_desc_t()
            if bias != nil {
                try dnnlCheck(dnnl_inner_product_forward_desc_init(&ip, dnnl_forward_inference, &src, &wts, &bia, &dst),
                              "dnnl_inner_product_forward_desc_init")
            } else {
                try dnnlCheck(dnnl_inner_product_forward_desc_init(&ip, dnnl_forward_inference, &src, &wts, nil, &dst),
                              "dnnl_inner_product_forward_desc_init")
            }
            let name = "linear \(inFeatures)->\(outFeatures) on \(s)"
            let prim: Primitive
            if activation != nil {
                let attr = try PrimitiveAttr(sum: false, activation: activation)
                prim = try withExtendedLifetime(attr) { try Primitive.make(&ip, attr: attr.attr, engine: engine, name: name) }
            } else {
                prim = try Primitive.make(&ip, engine: engine, name: name)
            }
            let wmd = prim.md(dnnl_query_weights_md)
            let weights = try weightCopies.value(for: wmd) {
                // [out, in] row-major is [out, C, H, W] row-major: same bytes.
                let plainW = try Tensor(shape: wDims, values: weight, engine: engine)
                return try engine.reorder(plainW, to: wmd)
            }
            return Plan(primitive: prim, src: prim.md(dnnl_query_src_md), weights: weights)
        }
        let src = try engine.reorder(x, to: plan.src)
        let dst = try Tensor(desc: .plain([s[0], outFeatures], .f32), engine: engine)
        var args: [(Int32, Tensor)] = [(DNNL_ARG_SRC, src), (DNNL_ARG_WEIGHTS, plan.weights), (DNNL_ARG_DST, dst)]
        if let b = biasTensor { args.append((DNNL_ARG_BIAS, b)) }
        try plan.primitive.execute(args, on: engine)
        return dst
    }
}
