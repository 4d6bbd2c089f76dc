import CDNNL

/// PyTorch's `nn.Linear(in, out)` that trains, on plain row-major `[N, in]` float32 features:
/// `y = x W^T + b`, with oneDNN's inner-product forward, backward-data and backward-weights.
public final class TrainLinear {
    public let weight: Parameter
    public let bias: Parameter
    public let engine: CPUEngine
    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    private let plans = PrimitiveCache<Int, Plan>()
    final class Plan {
        let fwd: Primitive, bwdData: Primitive, bwdWeights: Primitive
        init(fwd: Primitive, bwdData: Primitive, bwdWeights: Primitive) { self.fwd = fwd; self.bwdData = bwdData; self.bwdWeights = bwdWeights }
    }
    private var saved: (x: Tensor, w: Tensor, batch: Int)?

    public init(weight: Parameter, bias: Parameter, engine: CPUEngine = .shared) throws {
        guard weight.shape.count == 2, bias.shape == [weight.shape[0]] else {
            throw EngineError.shapeMismatch(op: "TrainLinear(\(weight.name))", expected: "weight [out, in] and bias [out]",
                                            actual: "\(weight.shape), \(bias.shape)")
        }
        self.weight = weight; self.bias = bias; self.engine = engine
    }

    private func plan(_ n: Int) throws -> Plan {
        try plans.value(for: n) {
            var src = try MemoryDesc.plain([n, inFeatures]).raw
            var wts = try MemoryDesc.plain([outFeatures, inFeatures]).raw
            var bia = try MemoryDesc.plain([outFeatures]).raw
            var dst = try MemoryDesc.plain([n, outFeatures]).raw
            var fd = dnnl_inner_product_desc_t()
            try dnnlCheck(dnnl_inner_product_forward_desc_init(&fd, dnnl_forward_training, &src, &wts, &bia, &dst),
                          "dnnl_inner_product_forward_desc_init")
            let fwd = try Primitive.make(&fd, engine: engine, name: "linear \(weight.name)")
            var bd = dnnl_inner_product_desc_t()
            try dnnlCheck(dnnl_inner_product_backward_data_desc_init(&bd, &src, &wts, &dst), "dnnl_inner_product_backward_data_desc_init")
            let bwdData = try Primitive.makeBackward(&bd, hint: fwd, engine: engine, name: "linear \(weight.name) backward data")
            var wd = dnnl_inner_product_desc_t()
            try dnnlCheck(dnnl_inner_product_backward_weights_desc_init(&wd, &src, &wts, &bia, &dst),
                          "dnnl_inner_product_backward_weights_desc_init")
            let bwdWeights = try Primitive.makeBackward(&wd, hint: fwd, engine: engine, name: "linear \(weight.name) backward weights")
            return Plan(fwd: fwd, bwdData: bwdData, bwdWeights: bwdWeights)
        }
    }

    /// `[n, out]` plain float32 for `[n, in]` plain float32 (a training forward keeps `x`).
    public func forward(_ x: Tensor) throws -> Tensor {
        guard x.shape.count == 2, x.shape[1] == inFeatures, x.desc.isPlain else {
            throw EngineError.shapeMismatch(op: "TrainLinear(\(weight.name))", expected: "plain [N, \(inFeatures)]", actual: "\(x.desc)")
        }
        let n = x.shape[0]
        let p = try plan(n)
        let w = try Tensor.values(of: weight, shape: weight.shape, engine: engine)
        let b = try Tensor.values(of: bias, shape: bias.shape, engine: engine)
        let y = try Tensor(desc: .plain([n, outFeatures]), engine: engine)
        try p.fwd.execute([(DNNL_ARG_SRC, x), (DNNL_ARG_WEIGHTS, w), (DNNL_ARG_BIAS, b), (DNNL_ARG_DST, y)], on: engine)
        saved = (x, w, n)
        return y
    }

    /// Writes the gradients of trainable weight/bias; returns `dx` (`[n, in]`) when `needInputGrad`.
    public func backward(outputGrad dy: Tensor, needInputGrad: Bool) throws -> Tensor? {
        guard let s = saved else {
            throw EngineError.invalidArgument(op: "TrainLinear(\(weight.name)).backward", what: "no forward pass to differentiate")
        }
        let p = try plan(s.batch)
        let g = try engine.reorder(dy, to: .plain([s.batch, outFeatures]))
        if weight.trainable || bias.trainable {
            let dw = try Tensor(desc: .plain(weight.shape), engine: engine)
            let db = try Tensor(desc: .plain(bias.shape), engine: engine)
            try p.bwdWeights.execute([(DNNL_ARG_SRC, s.x), (DNNL_ARG_DIFF_DST, g), (DNNL_ARG_DIFF_WEIGHTS, dw), (DNNL_ARG_DIFF_BIAS, db)], on: engine)
            if weight.trainable { weight.grad.baseAddress!.update(from: dw.plainFloats.baseAddress!, count: weight.count) }
            if bias.trainable { bias.grad.baseAddress!.update(from: db.plainFloats.baseAddress!, count: bias.count) }
        }
        guard needInputGrad else { return nil }
        let dx = try Tensor(desc: .plain([s.batch, inFeatures]), engine: engine)
        try p.bwdData.execute([(DNNL_ARG_WEIGHTS, s.w), (DNNL_ARG_DIFF_DST, g), (DNNL_ARG_DIFF_SRC, dx)], on: engine)
        return dx
    }

    public func release() { saved = nil }
}
