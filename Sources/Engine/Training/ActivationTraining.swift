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
    private var scale: ScaleStage?

    public init(_ activation: Activation, engine: CPUEngine = .shared) {
        self.activation = activation
        self.engine = engine
    }

    /// From the output (an activation with `backwardFromOutput`).
    public func callAsFunction(output y: Tensor, outputGrad dy: Tensor, overwriting: Bool = false) throws -> Tensor {
        guard activation.eltwise.backwardReadsOutput else {
            throw EngineError.invalidArgument(op: "ActivationBackward(\(activation.rawValue))", what: "its gradient needs the input, not the output")
        }
        return try run(saved: y, argument: DNNL_ARG_DST, dy, overwriting: overwriting)
    }

    /// From the input `x` (an activation without `backwardFromOutput`: hardswish, hardsigmoid).
    public func callAsFunction(input x: Tensor, outputGrad dy: Tensor, overwriting: Bool = false) throws -> Tensor {
        guard !activation.eltwise.backwardReadsOutput else {
            throw EngineError.invalidArgument(op: "ActivationBackward(\(activation.rawValue))", what: "its gradient reads the output, not the input")
        }
        return try run(saved: x, argument: DNNL_ARG_SRC, dy, overwriting: overwriting)
    }

    private func run(saved: Tensor, argument: Int32, _ dy: Tensor, overwriting: Bool) throws -> Tensor {
        let e = activation.eltwise
        guard saved.shape == dy.shape else {
            throw EngineError.shapeMismatch(op: "\(activation.rawValue) backward", expected: "\(saved.shape)", actual: "\(dy.shape)")
        }
        let prim = try plans.value(for: saved.desc) {
            var data = saved.desc.raw
            var fd = dnnl_eltwise_desc_t()
            try dnnlCheck(dnnl_eltwise_forward_desc_init(&fd, dnnl_forward_training, e.backward.algorithm, &data, e.backward.alpha, e.backward.beta),
                          "dnnl_eltwise_forward_desc_init(\(activation.rawValue))")
            let hint = try Primitive.make(&fd, engine: engine, name: "\(activation.rawValue) fwd hint")
            var diff = saved.desc.raw
            var bd = dnnl_eltwise_desc_t()
            try dnnlCheck(dnnl_eltwise_backward_desc_init(&bd, e.backward.algorithm, &diff, &data, e.backward.alpha, e.backward.beta),
                          "dnnl_eltwise_backward_desc_init(\(activation.rawValue))")
            return try Primitive.makeBackward(&bd, hint: hint, engine: engine, name: "\(activation.rawValue) backward on \(saved.shape)")
        }
        let g = try engine.reorder(dy, to: saved.desc)
        // A reordered copy is this call's own; dy itself only when the caller gives it up.
        let dx = g !== dy || overwriting ? g : try Tensor(desc: saved.desc, engine: engine)
        try prim.execute([(argument, saved), (DNNL_ARG_DIFF_DST, g), (DNNL_ARG_DIFF_SRC, dx)], on: engine)
        if e.backwardScale != 1 {
            if scale == nil { scale = ScaleStage(factor: e.backwardScale, engine: engine) }
            try scale!.apply(inPlace: dx)
        }
        return dx
    }
}

/// `x *= factor` in place, any layout (oneDNN's eltwise linear).
final class ScaleStage {
    let factor: Float
    let engine: CPUEngine
    private let plans = PrimitiveCache<MemoryDesc, Primitive>()
    init(factor: Float, engine: CPUEngine) { self.factor = factor; self.engine = engine }

    func apply(inPlace x: Tensor) throws {
        let prim = try plans.value(for: x.desc) {
            var data = x.desc.raw
            var ed = dnnl_eltwise_desc_t()
            try dnnlCheck(dnnl_eltwise_forward_desc_init(&ed, dnnl_forward_inference, dnnl_eltwise_linear, &data, factor, 0),
                          "dnnl_eltwise_forward_desc_init(linear)")
            return try Primitive.make(&ed, engine: engine, name: "scale by \(factor) on \(x.shape)")
        }
        try prim.execute([(DNNL_ARG_SRC, x), (DNNL_ARG_DST, x)], on: engine)
    }
}

/// An activation as an op of its own (PyTorch's `nn.ReLU`, `nn.Hardswish`...) that trains: the
/// forward in the input's layout and type; a training forward keeps what the backward reads
/// (`ActivationBackward`): its output for ReLU and ReLU6, its input for hardswish and
/// hardsigmoid. What it keeps must stay unchanged until `backward` (no in-place op may
/// overwrite it).
public final class TrainActivation {
    public let activation: Activation
    public let engine: CPUEngine
    private let layer: ActivationLayer
    private let backwardOp: ActivationBackward
    private var saved: Tensor?

    public init(_ activation: Activation, engine: CPUEngine = .shared) throws {
        self.activation = activation
        self.engine = engine
        layer = ActivationLayer(activation, engine: engine)
        backwardOp = ActivationBackward(activation, engine: engine)
    }

    /// `f(x)`, in `x`'s layout and type (`ActivationLayer`'s forward: the values do not depend
    /// on the pass; the backward makes its own training hint).
    public func forward(_ x: Tensor, pass: PassKind) throws -> Tensor {
        let y = try layer.forward(x)
        saved = pass == .training ? (activation.backwardFromOutput ? y : x) : nil
        return y
    }

    /// The input gradient of the last training forward, in its output's layout. With
    /// `overwriting`, it may be written into `dy`'s storage. Consumes what the forward kept.
    public func backward(outputGrad dy: Tensor, overwriting: Bool = false) throws -> Tensor {
        guard let kept = saved else {
            throw EngineError.invalidArgument(op: "TrainActivation(\(activation.rawValue)).backward", what: "no training forward pass to differentiate")
        }
        defer { release() }
        return activation.backwardFromOutput ? try backwardOp(output: kept, outputGrad: dy, overwriting: overwriting)
            : try backwardOp(input: kept, outputGrad: dy, overwriting: overwriting)
    }

    public func release() { saved = nil }
}
