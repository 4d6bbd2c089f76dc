import CDNNL

/// Max or global-average pooling that trains: PyTorch's `MaxPool2d(3, 2, 1)` (the workspace of
/// a training forward records the arg-max for backward) and `AdaptiveAvgPool2d((1, 1))`.
public final class TrainPool2d {
    public enum Kind: Sendable { case max(kernel: Int, stride: Int, padding: Int), globalAverage }

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

    public init(_ kind: Kind, engine: CPUEngine = .shared) { self.kind = kind; self.engine = engine }

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
            case .globalAverage:
                pad = 0; alg = dnnl_pooling_avg_exclude_padding
                kh = d[2]; kw = d[3]; sh = d[2]; sw = d[3]
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

    public func release() { saved = nil }
}
