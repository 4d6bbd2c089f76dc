import CDNNL

/// Pooling that trains: PyTorch's `MaxPool2d(kernel, stride, padding)` (the workspace of a
/// training forward records the arg-max for backward), `AvgPool2d(kernel, stride, padding)`,
/// `AdaptiveAvgPool2d((1, 1))` (`globalAverage`) and `AdaptiveAvgPool2d((height, width))`
/// (`adaptiveAverage`: torch's bins, see `AdaptiveAvgPool2d`; oneDNN's average pooling where
/// the sizes divide, else a plain loop whose output and input gradient are plain NCHW).
public final class TrainPool2d {
    public enum Kind: Sendable {
        case max(kernel: Int, stride: Int, padding: Int)
        /// `AvgPool2d(kernel, stride, padding)`, `count_include_pad=True`.
        case average(kernel: Int, stride: Int, padding: Int)
        case globalAverage
        case adaptiveAverage(height: Int, width: Int)
    }

    public let kind: Kind
    public let engine: CPUEngine
    private let plans = PrimitiveCache<PlanKey, Plan>()
    struct PlanKey: Hashable { let src: MemoryDesc; let pass: PassKind }
    final class Plan {
        let fwd: Primitive
        let geometry: (strides: [Int64], kernel: [Int64], padL: [Int64], padR: [Int64])
        let alg: dnnl_alg_kind_t
        var bwd: Primitive?
        init(fwd: Primitive, geometry: (strides: [Int64], kernel: [Int64], padL: [Int64], padR: [Int64]), alg: dnnl_alg_kind_t) {
            self.fwd = fwd; self.geometry = geometry; self.alg = alg
        }
    }
    private var saved: (plan: Plan, src: MemoryDesc, dst: MemoryDesc, workspace: Tensor?)?
    /// The input dims of the last training forward of the plain loop (adaptive bins that do not divide).
    private var savedLoopInput: [Int]?

    public init(_ kind: Kind, engine: CPUEngine = .shared) { self.kind = kind; self.engine = engine }

    /// The output bins of an adaptive pooling that runs the plain loop for input dims `d`, else nil.
    private func loopOutput(_ d: [Int]) throws -> (Int, Int)? {
        guard case let .adaptiveAverage(oh, ow) = kind else { return nil }
        guard oh >= 1, ow >= 1, d.count == 4, d.allSatisfy({ $0 > 0 }) else {
            throw EngineError.shapeMismatch(op: "TrainPool2d(adaptive \(oh)x\(ow))", expected: "[N, C, H, W] and an output of at least 1x1", actual: "\(d)")
        }
        return AdaptiveBins.uniformKernel(d[2], d[3], oh, ow) == nil ? (oh, ow) : nil
    }

    private func plan(_ x: MemoryDesc, _ pass: PassKind) throws -> Plan {
        try plans.value(for: PlanKey(src: x, pass: pass)) {
            let d = x.dims
            guard d.count == 4 else { throw EngineError.shapeMismatch(op: "TrainPool2d", expected: "[N, C, H, W]", actual: "\(d)") }
            let (k, s, pad, alg): (Int, Int, Int, dnnl_alg_kind_t)
            var kh: Int, kw: Int, sh: Int, sw: Int
            switch kind {
            case let .max(kernel, stride, padding):
                (k, s, pad, alg) = (kernel, stride, padding, dnnl_pooling_max)
                kh = k; kw = k; sh = s; sw = s
            case let .average(kernel, stride, padding):
                (k, s, pad, alg) = (kernel, stride, padding, dnnl_pooling_avg_include_padding)
                kh = k; kw = k; sh = s; sw = s
            case .globalAverage:
                pad = 0; alg = dnnl_pooling_avg_exclude_padding
                kh = d[2]; kw = d[3]; sh = d[2]; sw = d[3]
            case let .adaptiveAverage(oh, ow):
                // Only where the bins are uniform (`loopOutput` is nil).
                pad = 0; alg = dnnl_pooling_avg_exclude_padding
                kh = d[2] / oh; kw = d[3] / ow; sh = kh; sw = kw
            }
            guard d[2] + 2 * pad >= kh, d[3] + 2 * pad >= kw else {
                throw EngineError.shapeMismatch(op: "TrainPool2d", expected: "an input at least \(kh)x\(kw) after padding", actual: "\(d)")
            }
            let oh = (d[2] + 2 * pad - kh) / sh + 1, ow = (d[3] + 2 * pad - kw) / sw + 1
            let geo = (strides: [Int64(sh), Int64(sw)], kernel: [Int64(kh), Int64(kw)], padL: [Int64(pad), Int64(pad)],
                       padR: [Int64((oh - 1) * sh + kh - d[2] - pad), Int64((ow - 1) * sw + kw - d[3] - pad)])
            var src = x.raw
            var dst = try MemoryDesc.any([d[0], d[1], oh, ow], x.dataType).raw
            var pd = dnnl_pooling_desc_t()
            try dnnlCheck(dnnl_pooling_forward_desc_init(&pd, pass.dnnl, alg, &src, &dst, geo.strides, geo.kernel, geo.padL, geo.padR),
                          "dnnl_pooling_forward_desc_init")
            return Plan(fwd: try Primitive.make(&pd, engine: engine, name: "pool on \(d)"), geometry: geo, alg: alg)
        }
    }

    public func forward(_ x: Tensor, pass: PassKind) throws -> Tensor {
        saved = nil; savedLoopInput = nil
        if let (oh, ow) = try loopOutput(x.shape) {
            let y = try adaptiveAveragePlain(x, oh, ow, engine: engine)
            savedLoopInput = pass == .training ? x.shape : nil
            return y
        }
        let p = try plan(x.desc, pass)
        let dst = try Tensor(desc: p.fwd.md(dnnl_query_dst_md), engine: engine)
        let ws = pass == .training ? try p.fwd.workspaceDesc.map { try Tensor(desc: $0, engine: engine) } : nil
        var args: [(Int32, Tensor)] = [(DNNL_ARG_SRC, x), (DNNL_ARG_DST, dst)]
        if let w = ws { args.append((DNNL_ARG_WORKSPACE, w)) }
        try p.fwd.execute(args, on: engine)
        saved = pass == .training ? (p, x.desc, dst.desc, ws) : nil
        return dst
    }

    /// The input gradient of the last training forward, in the input's layout. Consumes what
    /// the forward kept.
    public func backward(outputGrad dy: Tensor) throws -> Tensor {
        if let d = savedLoopInput {
            defer { release() }
            guard dy.shape.count == 4, Array(dy.shape.prefix(2)) == Array(d.prefix(2)), try loopOutput(d).map({ [$0.0, $0.1] }) == Array(dy.shape.suffix(2)) else {
                throw EngineError.shapeMismatch(op: "TrainPool2d.backward", expected: "the output of \(d)", actual: "\(dy.shape)")
            }
            return try adaptiveAverageBackwardPlain(dy, inputDims: d, engine: engine)
        }
        guard let s = saved else {
            throw EngineError.invalidArgument(op: "TrainPool2d.backward", what: "no training forward pass to differentiate")
        }
        defer { release() }
        if s.plan.bwd == nil {
            var dsrc = s.src.raw, ddst = s.dst.raw
            let g = s.plan.geometry
            var pd = dnnl_pooling_desc_t()
            try dnnlCheck(dnnl_pooling_backward_desc_init(&pd, s.plan.alg, &dsrc, &ddst, g.strides, g.kernel, g.padL, g.padR),
                          "dnnl_pooling_backward_desc_init")
            s.plan.bwd = try Primitive.makeBackward(&pd, hint: s.plan.fwd, engine: engine, name: "pool backward on \(s.src.dims)")
        }
        let bwd = s.plan.bwd!
        let g = try engine.reorder(dy, to: bwd.md(dnnl_query_diff_dst_md))
        let dx = try Tensor(desc: bwd.md(dnnl_query_diff_src_md), engine: engine)
        var args: [(Int32, Tensor)] = [(DNNL_ARG_DIFF_DST, g), (DNNL_ARG_DIFF_SRC, dx)]
        if let w = s.workspace { args.append((DNNL_ARG_WORKSPACE, w)) }
        try bwd.execute(args, on: engine)
        return dx
    }

    public func release() { saved = nil; savedLoopInput = nil }
}
