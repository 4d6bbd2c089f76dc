import CDNNL

/// The gradient of an activation computed from its output `y` (`dy * f'(x)` where `y = f(x)`;
/// ReLU: `dy * (y > 0)`), in `y`'s layout: the backward of a fused activation (conv, linear,
/// batch norm) and of `TrainActivation`. Only for activations with `backwardFromOutput`. With
/// `overwriting`, the gradient may be written into `dy`'s storage (oneDNN's in-place eltwise
/// backward): for a caller that no longer needs `dy`.
public final class ActivationBackward {
    public let activation: Activation
    let engine: CPUEngine
    private let plans = PrimitiveCache<MemoryDesc, Primitive>()

    public init(_ activation: Activation, engine: CPUEngine = .shared) {
        self.activation = activation
        self.engine = engine
    }

    public func callAsFunction(output y: Tensor, outputGrad dy: Tensor, overwriting: Bool = false) throws -> Tensor {
        let e = activation.eltwise
        guard e.backwardReadsOutput else {
            throw EngineError.invalidArgument(op: "ActivationBackward(\(activation.rawValue))", what: "its gradient needs the input, not the output")
        }
        guard y.shape == dy.shape else {
            throw EngineError.shapeMismatch(op: "\(activation.rawValue) backward", expected: "\(y.shape)", actual: "\(dy.shape)")
        }
        let prim = try plans.value(for: y.desc) {
            var data = y.desc.raw
            var fd = dnnl_eltwise_desc_t()
            try dnnlCheck(dnnl_eltwise_forward_desc_init(&fd, dnnl_forward_training, e.backward, &data, e.alpha, e.beta),
                          "dnnl_eltwise_forward_desc_init(\(activation.rawValue))")
            let hint = try Primitive.make(&fd, engine: engine, name: "\(activation.rawValue) fwd hint")
            var diff = y.desc.raw
            var bd = dnnl_eltwise_desc_t()
            try dnnlCheck(dnnl_eltwise_backward_desc_init(&bd, e.backward, &diff, &data, e.alpha, e.beta),
                          "dnnl_eltwise_backward_desc_init(\(activation.rawValue))")
            return try Primitive.makeBackward(&bd, hint: hint, engine: engine, name: "\(activation.rawValue) backward on \(y.shape)")
        }
        let g = try engine.reorder(dy, to: y.desc)
        // A reordered copy is this call's own; dy itself only when the caller gives it up.
        let dx = g !== dy || overwriting ? g : try Tensor(desc: y.desc, engine: engine)
        try prim.execute([(DNNL_ARG_DST, y), (DNNL_ARG_DIFF_DST, g), (DNNL_ARG_DIFF_SRC, dx)], on: engine)
        return dx
    }
}

/// An activation as an op of its own (PyTorch's `nn.ReLU`...) that trains: the forward in the
/// input's layout and type; a training forward keeps its output, which the backward reads
/// (`ActivationBackward`). The output must stay unchanged until `backward` (no in-place op
/// may overwrite it).
public final class TrainActivation {
    public let activation: Activation
    public let engine: CPUEngine
    private let plans = PrimitiveCache<PlanKey, Primitive>()
    struct PlanKey: Hashable { let src: MemoryDesc; let pass: PassKind }
    private let backwardOp: ActivationBackward
    private var savedOutput: Tensor?

    /// Throws for an activation whose gradient needs its input (none yet; see `Activation.backwardFromOutput`).
    public init(_ activation: Activation, engine: CPUEngine = .shared) throws {
        try activation.requireFusableInTraining(op: "TrainActivation")
        self.activation = activation
        self.engine = engine
        backwardOp = ActivationBackward(activation, engine: engine)
    }

    /// `f(x)`, in `x`'s layout and type.
    public func forward(_ x: Tensor, pass: PassKind) throws -> Tensor {
        let e = activation.eltwise
        let prim = try plans.value(for: PlanKey(src: x.desc, pass: pass)) {
            var data = x.desc.raw
            var fd = dnnl_eltwise_desc_t()
            try dnnlCheck(dnnl_eltwise_forward_desc_init(&fd, pass.dnnl, e.forward, &data, e.alpha, e.beta),
                          "dnnl_eltwise_forward_desc_init(\(activation.rawValue))")
            return try Primitive.make(&fd, engine: engine, name: "\(activation.rawValue) on \(x.shape)")
        }
        let y = try Tensor(desc: x.desc, engine: engine)
        try prim.execute([(DNNL_ARG_SRC, x), (DNNL_ARG_DST, y)], on: engine)
        savedOutput = pass == .training ? y : nil
        return y
    }

    /// The input gradient of the last training forward, in its output's layout. With
    /// `overwriting`, it may be written into `dy`'s storage. Consumes what the forward kept.
    public func backward(outputGrad dy: Tensor, overwriting: Bool = false) throws -> Tensor {
        guard let y = savedOutput else {
            throw EngineError.invalidArgument(op: "TrainActivation(\(activation.rawValue)).backward", what: "no training forward pass to differentiate")
        }
        defer { release() }
        return try backwardOp(output: y, outputGrad: dy, overwriting: overwriting)
    }

    public func release() { savedOutput = nil }
}
