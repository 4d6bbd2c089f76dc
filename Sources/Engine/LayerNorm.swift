import CDNNL

/// torchvision's `LayerNorm2d` (ConvNeXt's; and its blocks' `nn.LayerNorm` after a permute to
/// channels-last): each pixel's C values normalised by their own mean and biased variance,
/// `(x - mean) / sqrt(var + eps) * weight + bias`. oneDNN's layer normalisation over the last
/// dimension, on the input in channels-last viewed as `[N * H * W, C]`; the output is
/// channels-last float32 whatever the input's type (a bf16 plan's layer norms compute in
/// float32, as under PyTorch's autocast).
public final class ChannelLayerNorm {
    public let channels: Int
    public let eps: Float
    public let engine: CPUEngine
    let scale: Tensor, shift: Tensor
    private let plans = PrimitiveCache<MemoryDesc, Primitive>()

    public init(weight: [Float], bias: [Float], eps: Float = 1e-6, engine: CPUEngine = .shared) throws {
        guard !weight.isEmpty, bias.count == weight.count, eps > 0, eps.isFinite else {
            throw EngineError.invalidArgument(op: "ChannelLayerNorm", what: "weight \(weight.count), bias \(bias.count), eps \(eps)")
        }
        channels = weight.count; self.eps = eps; self.engine = engine
        scale = try Tensor(shape: [weight.count], values: weight, engine: engine)
        shift = try Tensor(shape: [bias.count], values: bias, engine: engine)
    }

    public func forward(_ x: Tensor) throws -> Tensor {
        // Float32, as PyTorch's bf16 autocast runs layer_norm (on its list of float32 ops).
        let rows = try ChannelRows(x, channels: channels, engine: engine, type: .f32)
        let prim = try plans.value(for: rows.view.desc) {
            try ChannelRows.primitive(rows.view.desc, eps: eps, pass: .inference, engine: engine)
        }
        let dst = try Tensor(desc: prim.md(dnnl_query_dst_md), engine: engine)
        try prim.execute([(DNNL_ARG_SRC, rows.view), (DNNL_ARG_DST, dst), (DNNL_ARG_SCALE, scale), (DNNL_ARG_SHIFT, shift)], on: engine)
        return try rows.image(dst)
    }
}

/// `ChannelLayerNorm` that trains, in float32: the forward keeps the input and its per-pixel
/// statistics; backward gives the input's gradient and fills `weight.grad` and `bias.grad`
/// (oneDNN's layer normalisation backward).
public final class TrainChannelLayerNorm {
    public let weight: Parameter, bias: Parameter
    public let eps: Float
    public let engine: CPUEngine
    /// Per rows layout and pass: the forward, and (training) its backward, made at the first backward.
    private let plans = PrimitiveCache<PlanKey, Plan>()
    struct PlanKey: Hashable { let rows: MemoryDesc; let pass: PassKind }
    final class Plan {
        let fwd: Primitive
        var bwd: Primitive?
        init(_ fwd: Primitive) { self.fwd = fwd }
    }
    private var saved: (plan: Plan, rows: ChannelRows, mean: Tensor, variance: Tensor)?

    public init(weight: Parameter, bias: Parameter, eps: Float = 1e-6, engine: CPUEngine = .shared) throws {
        guard weight.count > 0, bias.count == weight.count, eps > 0, eps.isFinite else {
            throw EngineError.invalidArgument(op: "TrainChannelLayerNorm(\(weight.name))", what: "weight \(weight.count), bias \(bias.count), eps \(eps)")
        }
        self.weight = weight; self.bias = bias; self.eps = eps; self.engine = engine
    }

    public func forward(_ x: Tensor, pass: PassKind) throws -> Tensor {
        saved = nil
        // Float32 rows: the backward's gradient is float32.
        let rows = try ChannelRows(x, channels: weight.count, engine: engine, type: .f32)
        let plan = try plans.value(for: PlanKey(rows: rows.view.desc, pass: pass)) {
            Plan(try ChannelRows.primitive(rows.view.desc, eps: eps, pass: pass, engine: engine))
        }
        let prim = plan.fwd
        let dst = try Tensor(desc: prim.md(dnnl_query_dst_md), engine: engine)
        var args: [(Int32, Tensor)] = [(DNNL_ARG_SRC, rows.view), (DNNL_ARG_DST, dst),
                                       (DNNL_ARG_SCALE, try .values(of: weight, shape: [weight.count], engine: engine)),
                                       (DNNL_ARG_SHIFT, try .values(of: bias, shape: [bias.count], engine: engine))]
        if pass == .training {
            // One mean and variance per row (pixel).
            let mean = try Tensor(desc: .plain([rows.view.shape[0]], .f32), engine: engine)
            let variance = try Tensor(desc: .plain([rows.view.shape[0]], .f32), engine: engine)
            args += [(DNNL_ARG_MEAN, mean), (DNNL_ARG_VARIANCE, variance)]
            try prim.execute(args, on: engine)
            saved = (plan, rows, mean, variance)
        } else {
            try prim.execute(args, on: engine)
        }
        return try rows.image(dst)
    }

    /// The input's gradient (channels-last); `weight.grad` and `bias.grad` set (not added to)
    /// where the parameter is trainable. Consumes what the forward kept.
    public func backward(outputGrad dy: Tensor) throws -> Tensor {
        guard let s = saved else {
            throw EngineError.invalidArgument(op: "TrainChannelLayerNorm.backward", what: "no training forward pass to differentiate")
        }
        defer { release() }
        guard dy.shape == s.rows.shape else {
            throw EngineError.shapeMismatch(op: "TrainChannelLayerNorm.backward", expected: "\(s.rows.shape)", actual: "\(dy.shape)")
        }
        let c = weight.count
        if s.plan.bwd == nil {
            var data = s.rows.view.desc.raw
            var diff = try MemoryDesc(dims: s.rows.view.shape, type: .f32, tag: dnnl_ab).raw
            var ld = dnnl_layer_normalization_desc_t()
            try dnnlCheck(dnnl_layer_normalization_backward_desc_init(&ld, dnnl_backward, &diff, &data, nil, eps,
                                                                      dnnl_use_scale.rawValue | dnnl_use_shift.rawValue),
                          "dnnl_layer_normalization_backward_desc_init")
            s.plan.bwd = try Primitive.makeBackward(&ld, hint: s.plan.fwd, engine: engine, name: "layer norm backward (\(c))")
        }
        let bwd = s.plan.bwd!
        let g = try ChannelRows(dy, channels: c, engine: engine, type: .f32)
        let dx = try Tensor(desc: bwd.md(dnnl_query_diff_src_md), engine: engine)
        try bwd.execute([(DNNL_ARG_SRC, s.rows.view), (DNNL_ARG_MEAN, s.mean), (DNNL_ARG_VARIANCE, s.variance),
                         (DNNL_ARG_DIFF_DST, g.view), (DNNL_ARG_SCALE, try .values(of: weight, shape: [c], engine: engine)),
                         // oneDNN 2.6's backward asks for the shift too ("invalid arguments" without it).
                         (DNNL_ARG_SHIFT, try .values(of: bias, shape: [c], engine: engine)),
                         (DNNL_ARG_DIFF_SRC, dx),
                         // A frozen parameter's gradient stays as it is (zero): scratch instead.
                         (DNNL_ARG_DIFF_SCALE, weight.trainable ? try .gradient(of: weight, shape: [c], engine: engine)
                                                                : try Tensor(desc: .plain([c], .f32), engine: engine)),
                         (DNNL_ARG_DIFF_SHIFT, bias.trainable ? try .gradient(of: bias, shape: [c], engine: engine)
                                                              : try Tensor(desc: .plain([c], .f32), engine: engine))], on: engine)
        return try s.rows.image(dx)
    }

    public func release() { saved = nil }
}

/// An `[N, C, H, W]` tensor in channels-last, seen as the rows `[N * H * W, C]` oneDNN's layer
/// normalisation reads (the same bytes), and the way back.
struct ChannelRows {
    let shape: [Int]
    let view: Tensor

    /// `type`: the rows' type (default: the input's).
    init(_ x: Tensor, channels: Int, engine: CPUEngine, type: DataType? = nil) throws {
        let s = x.shape
        guard s.count == 4, s[1] == channels, s.allSatisfy({ $0 > 0 }) else {
            throw EngineError.shapeMismatch(op: "layer norm over channels", expected: "[N, \(channels), H, W]", actual: "\(s)")
        }
        shape = s
        let t = type ?? x.dataType
        let nhwc = try engine.reorder(x, to: MemoryDesc(dims: s, type: t, tag: dnnl_acdb))
        view = try Tensor(aliasing: nhwc, as: MemoryDesc(dims: [s[0] * s[2] * s[3], channels], type: t, tag: dnnl_ab))
    }

    /// Rows `[N * H * W, C]` back as the channels-last image.
    func image(_ rows: Tensor) throws -> Tensor {
        try Tensor(aliasing: rows, as: MemoryDesc(dims: shape, type: rows.dataType, tag: dnnl_acdb))
    }

    /// The forward primitive for rows laid out as `desc`: with scale and shift, statistics
    /// computed (and, in training, written out).
    static func primitive(_ desc: MemoryDesc, eps: Float, pass: PassKind, engine: CPUEngine) throws -> Primitive {
        var data = desc.raw
        var ld = dnnl_layer_normalization_desc_t()
        try dnnlCheck(dnnl_layer_normalization_forward_desc_init(&ld, pass.dnnl, &data, nil, eps, dnnl_use_scale.rawValue | dnnl_use_shift.rawValue),
                      "dnnl_layer_normalization_forward_desc_init(\(desc.dims))")
        return try Primitive.make(&ld, engine: engine, name: "layer norm \(desc.dims)")
    }
}
