import CDNNL

/// PyTorch's `nn.BatchNorm2d` parameters and running statistics.
public struct BatchNormParameters: Sendable {
    public var weight: [Float]
    public var bias: [Float]
    public var runningMean: [Float]
    public var runningVar: [Float]
    public var eps: Float

    public init(weight: [Float], bias: [Float], runningMean: [Float], runningVar: [Float], eps: Float = 1e-5) throws {
        let c = weight.count
        guard bias.count == c, runningMean.count == c, runningVar.count == c else {
            throw EngineError.shapeMismatch(op: "BatchNorm2d", expected: "four vectors of \(c)",
                                            actual: "\([weight.count, bias.count, runningMean.count, runningVar.count])")
        }
        self.weight = weight; self.bias = bias; self.runningMean = runningMean; self.runningVar = runningVar; self.eps = eps
    }

    public var channels: Int { weight.count }

    /// Per-channel `gamma / sqrt(var + eps)` and `beta - mean * scale`, computed in Double.
    public func scaleAndShift() -> (scale: [Double], shift: [Double]) {
        var scale = [Double](repeating: 0, count: channels), shift = scale
        for c in 0..<channels {
            let s = Double(weight[c]) / (Double(runningVar[c]) + Double(eps)).squareRoot()
            scale[c] = s
            shift[c] = Double(bias[c]) - Double(runningMean[c]) * s
        }
        return (scale, shift)
    }

    /// Folds inference-mode batch norm into the preceding convolution:
    /// `w' = w * scale[o]`, `b' = (b ?? 0) * scale + shift`. `weight` is `[out, ...]` row-major.
    public func fold(convWeight weight: [Float], convBias: [Float]?) throws -> (weight: [Float], bias: [Float]) {
        guard channels > 0, weight.count % channels == 0, (convBias?.count ?? channels) == channels else {
            throw EngineError.shapeMismatch(op: "BatchNorm2d fold", expected: "a conv with \(channels) output channels",
                                            actual: "\(weight.count) weights")
        }
        let (scale, shift) = scaleAndShift()
        let per = weight.count / channels
        var w = [Float](repeating: 0, count: weight.count)
        var b = [Float](repeating: 0, count: channels)
        weight.withUnsafeBufferPointer { src in
            w.withUnsafeMutableBufferPointer { dst in
                for o in 0..<channels {
                    let s = scale[o]
                    for i in (o * per)..<((o + 1) * per) { dst[i] = Float(Double(src[i]) * s) }
                }
            }
        }
        for o in 0..<channels { b[o] = Float(Double(convBias?[o] ?? 0) * scale[o] + shift[o]) }
        return (w, b)
    }
}

/// Inference-mode batch norm as its own op (running statistics, not folded), optionally
/// followed by an activation. The folded conv is the fast path; this is the reference and the
/// representation a training graph (with backward) starts from.
public final class BatchNorm2d {
    public private(set) var parameters: BatchNormParameters
    /// ReLU is oneDNN's fused `fuse_norm_relu`; another activation runs after it as an op of its own.
    public let activation: Activation?
    public let engine: CPUEngine
    private let plans = PrimitiveCache<MemoryDesc, Primitive>()
    private var tensors: (scaleShift: Tensor, mean: Tensor, variance: Tensor)?

    public init(_ parameters: BatchNormParameters, activation: Activation? = nil, engine: CPUEngine = .shared) {
        self.parameters = parameters
        self.activation = activation
        self.engine = engine
        after = BatchNormActivation(activation).postOp.map { ActivationLayer($0, engine: engine) }
    }

    /// An activation other than ReLU, run after the batch norm (oneDNN 2.6's batch norm takes no eltwise post-op).
    private let after: ActivationLayer?

    /// The same as `init(_:activation: fusedReLU ? .relu : nil)` (to go once callers pass `activation`).
    public convenience init(_ parameters: BatchNormParameters, fusedReLU: Bool, engine: CPUEngine = .shared) {
        self.init(parameters, activation: fusedReLU ? .relu : nil, engine: engine)
    }

    /// Whether the activation is ReLU (to go with `init(_:fusedReLU:)`).
    public var fusedReLU: Bool { activation == .relu }

    /// `activation?((x - mean) / sqrt(var + eps) * weight + bias)`, same layout and type as `x`.
    public func forward(_ x: Tensor) throws -> Tensor {
        let c = parameters.channels
        guard x.shape.count == 4, x.shape[1] == c else {
            throw EngineError.shapeMismatch(op: "BatchNorm2d(\(c))", expected: "[N, \(c), H, W]", actual: "\(x.shape)")
        }
        let prim = try plans.value(for: x.desc) {
            var data = x.desc.raw
            var bd = dnnl_batch_normalization_desc_t()
            var flags = dnnl_use_global_stats.rawValue | dnnl_use_scaleshift.rawValue
            let fused = BatchNormActivation(activation)
            if fused.flag { flags |= dnnl_fuse_norm_relu.rawValue }
            try dnnlCheck(dnnl_batch_normalization_forward_desc_init(&bd, dnnl_forward_inference, &data, parameters.eps, UInt32(flags)),
                          "dnnl_batch_normalization_forward_desc_init")
            return try Primitive.make(&bd, engine: engine, name: "batch_norm(\(c))")
        }
        if tensors == nil {
            tensors = (try Tensor(shape: [2, c], values: parameters.weight + parameters.bias, engine: engine),
                       try Tensor(shape: [c], values: parameters.runningMean, engine: engine),
                       try Tensor(shape: [c], values: parameters.runningVar, engine: engine))
        }
        let t = tensors!
        let dst = try Tensor(desc: prim.md(dnnl_query_dst_md), engine: engine)
        try prim.execute([(DNNL_ARG_SRC, x), (DNNL_ARG_DST, dst), (DNNL_ARG_SCALE_SHIFT, t.scaleShift),
                          (DNNL_ARG_MEAN, t.mean), (DNNL_ARG_VARIANCE, t.variance)], on: engine)
        return try after?.forward(dst) ?? dst
    }
}

/// How batch norm applies an activation: ReLU with oneDNN's `fuse_norm_relu` flag (what
/// training's backward differentiates through), any other after it (`postOp`: an op of its own).
struct BatchNormActivation {
    let flag: Bool
    let postOp: Activation?
    init(_ activation: Activation?) {
        switch activation {
        case .relu: flag = true; postOp = nil
        case nil: flag = false; postOp = nil
        case let a?: flag = false; postOp = a
        }
    }
}
