import CDNNL

/// PyTorch's `nn.Linear(in, out, bias)` that trains, on plain row-major `[N, in]` float32
/// features: `y = activation?(x W^T + b)`, with oneDNN's inner-product forward, backward-data
/// and backward-weights. The optional fused activation (a post-op) is differentiated from the
/// output, which the forward keeps: nothing may overwrite that output before `backward`.
public final class TrainLinear {
    public let weight: Parameter
    /// `[out]`, or nil (`nn.Linear(bias=False)`).
    public let bias: Parameter?
    public let activation: Activation?
    public let engine: CPUEngine
    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    private let plans = PrimitiveCache<Int, Plan>()
    final class Plan {
        let fwd: Primitive, bwdData: Primitive, bwdWeights: Primitive
        init(fwd: Primitive, bwdData: Primitive, bwdWeights: Primitive) { self.fwd = fwd; self.bwdData = bwdData; self.bwdWeights = bwdWeights }
    }
    private var saved: (x: Tensor, w: Tensor, y: Tensor?, batch: Int)?
    private let activationBackward: ActivationBackward?

    public init(weight: Parameter, bias: Parameter?, activation: Activation? = nil, engine: CPUEngine = .shared) throws {
        guard weight.shape.count == 2, bias.map({ $0.shape == [weight.shape[0]] }) ?? true else {
            throw EngineError.shapeMismatch(op: "TrainLinear(\(weight.name))", expected: "weight [out, in] and bias [out]",
                                            actual: "\(weight.shape), \(bias.map { "\($0.shape)" } ?? "no bias")")
        }
        try activation?.requireFusableInTraining(op: "TrainLinear(\(weight.name))")
        self.weight = weight; self.bias = bias; self.activation = activation; self.engine = engine
        activationBackward = activation.map { ActivationBackward($0, engine: engine) }
    }

    /// The parameters: the weight, then the bias when there is one.
    public var parameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }

    private func plan(_ n: Int) throws -> Plan {
        try plans.value(for: n) {
            var src = try MemoryDesc.plain([n, inFeatures]).raw
            var wts = try MemoryDesc.plain([outFeatures, inFeatures]).raw
            var bia = try MemoryDesc.plain([outFeatures]).raw
            var dst = try MemoryDesc.plain([n, outFeatures]).raw
            let hasBias = bias != nil
            var fd = dnnl_inner_product_desc_t()
            var wd = dnnl_inner_product_desc_t()
            try withUnsafeMutablePointer(to: &bia) { b in
                try dnnlCheck(dnnl_inner_product_forward_desc_init(&fd, dnnl_forward_training, &src, &wts, hasBias ? b : nil, &dst),
                              "dnnl_inner_product_forward_desc_init")
                try dnnlCheck(dnnl_inner_product_backward_weights_desc_init(&wd, &src, &wts, hasBias ? b : nil, &dst),
                              "dnnl_inner_product_backward_weights_desc_init")
            }
            let fwd: Primitive
            if let a = activation {
                let attr = try PrimitiveAttr(sum: false, activation: a)
                fwd = try withExtendedLifetime(attr) { try Primitive.make(&fd, attr: attr.attr, engine: engine, name: "linear \(weight.name)") }
            } else {
                fwd = try Primitive.make(&fd, engine: engine, name: "linear \(weight.name)")
            }
            var bd = dnnl_inner_product_desc_t()
            try dnnlCheck(dnnl_inner_product_backward_data_desc_init(&bd, &src, &wts, &dst), "dnnl_inner_product_backward_data_desc_init")
            let bwdData = try Primitive.makeBackward(&bd, hint: fwd, engine: engine, name: "linear \(weight.name) backward data")
            let bwdWeights = try Primitive.makeBackward(&wd, hint: fwd, engine: engine, name: "linear \(weight.name) backward weights")
            return Plan(fwd: fwd, bwdData: bwdData, bwdWeights: bwdWeights)
        }
    }

    /// `[n, out]` plain float32 for `[n, in]` plain float32 (a forward keeps `x`, and the
    /// output when there is an activation, for `backward`).
    public func forward(_ x: Tensor) throws -> Tensor {
        guard x.shape.count == 2, x.shape[1] == inFeatures, x.desc.isPlain, x.dataType == .f32 else {
            throw EngineError.shapeMismatch(op: "TrainLinear(\(weight.name))", expected: "plain f32 [N, \(inFeatures)]", actual: "\(x.desc)")
        }
        let n = x.shape[0]
        let p = try plan(n)
        let w = try Tensor.values(of: weight, shape: weight.shape, engine: engine)
        let y = try Tensor(desc: .plain([n, outFeatures]), engine: engine)
        var args: [(Int32, Tensor)] = [(DNNL_ARG_SRC, x), (DNNL_ARG_WEIGHTS, w), (DNNL_ARG_DST, y)]
        if let b = bias { args.append((DNNL_ARG_BIAS, try Tensor.values(of: b, shape: b.shape, engine: engine))) }
        try p.fwd.execute(args, on: engine)
        saved = (x, w, activation != nil ? y : nil, n)
        return y
    }

    /// The activation's backward first (from the saved output; into `dy`'s storage when
    /// `overwriting`), then writes (overwrites) the gradients of the trainable weight and bias;
    /// returns `dx` (`[n, in]`) when `needInputGrad`.
    public func backward(outputGrad: Tensor, needInputGrad: Bool, overwriting: Bool = false) throws -> Tensor? {
        guard let s = saved else {
            throw EngineError.invalidArgument(op: "TrainLinear(\(weight.name)).backward", what: "no forward pass to differentiate")
        }
        let p = try plan(s.batch)
        var dy = outputGrad
        if let back = activationBackward, let y = s.y {
            dy = try back(output: y, outputGrad: dy, overwriting: overwriting)
        }
        let g = try engine.reorder(dy, to: .plain([s.batch, outFeatures]))
        let biasTrains = bias?.trainable == true
        if weight.trainable || biasTrains {
            let dw = try Tensor(desc: .plain(weight.shape), engine: engine)
            var args: [(Int32, Tensor)] = [(DNNL_ARG_SRC, s.x), (DNNL_ARG_DIFF_DST, g), (DNNL_ARG_DIFF_WEIGHTS, dw)]
            let db = try bias.map { try Tensor(desc: .plain($0.shape), engine: engine) }
            if let db { args.append((DNNL_ARG_DIFF_BIAS, db)) }
            try p.bwdWeights.execute(args, on: engine)
            if weight.trainable { weight.grad.baseAddress!.update(from: dw.plainFloats.baseAddress!, count: weight.count) }
            if biasTrains, let b = bias, let db { b.grad.baseAddress!.update(from: db.plainFloats.baseAddress!, count: b.count) }
        }
        guard needInputGrad else { return nil }
        let dx = try Tensor(desc: .plain([s.batch, inFeatures]), engine: engine)
        try p.bwdData.execute([(DNNL_ARG_WEIGHTS, s.w), (DNNL_ARG_DIFF_DST, g), (DNNL_ARG_DIFF_SRC, dx)], on: engine)
        return dx
    }

    public func release() { saved = nil }
}
