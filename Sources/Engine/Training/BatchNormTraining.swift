import CDNNL

/// PyTorch's `nn.BatchNorm2d(eps, momentum)` (by default eps 1e-5, momentum 0.1) for training,
/// optionally followed by a fused activation (ReLU: oneDNN's `fuse_norm_relu`, differentiated
/// through by oneDNN's backward). With batch statistics it normalises with the biased batch
/// variance and updates the running statistics with the unbiased one,
/// `running = (1 - momentum) * running + momentum * batch`, as PyTorch does; with running
/// statistics it is a fixed affine map (a frozen batch norm in eval mode, or evaluation).
public final class TrainBatchNorm {
    public enum Statistics: Sendable { case batch, running }

    public let weight: Parameter
    public let bias: Parameter
    public var runningMean: [Float]
    public var runningVar: [Float]
    public var numBatchesTracked: Int64
    /// Applied to the output.
    public let activation: Activation?
    /// Whether the activation is ReLU (to go with `init(...fusedReLU:...)`).
    public var fusedReLU: Bool { activation == .relu }
    public let eps: Float
    public let momentum: Float
    public let engine: CPUEngine

    private let plans = PrimitiveCache<PlanKey, Plan>()
    struct PlanKey: Hashable { let src: MemoryDesc; let stats: Statistics; let pass: PassKind }
    final class Plan {
        let fwd: Primitive
        let flags: UInt32
        var bwd: Primitive?
        var bwdData: Primitive?
        init(fwd: Primitive, flags: UInt32) { self.fwd = fwd; self.flags = flags }
    }

    private struct Saved {
        let plan: Plan, src: Tensor, mean: Tensor, variance: Tensor, scaleShift: Tensor, workspace: Tensor?
    }
    private var saved: Saved?
    /// What the synchronised path's backward needs (see SyncBatchNorm.swift).
    var syncSaved: SyncSaved?

    /// Sums per-channel figures over the job's processes (an MPI allreduce), or nil. With it,
    /// batch statistics are those of every process's batch together, as `torch.nn.SyncBatchNorm`
    /// computes them (forward: the global mean and biased variance; running statistics updated
    /// with the global unbiased variance; backward: the input gradient from the summed
    /// `sum_dy` and `sum_dy_xmu`, the weight's and bias's gradients from this process's batch).
    /// Every process must call `forward` and `backward` the same number of times, in the same order.
    public var crossProcessSum: ((inout [Double]) -> Void)?

    public init(weight: Parameter, bias: Parameter, runningMean: [Float], runningVar: [Float], numBatchesTracked: Int64 = 0,
                eps: Float = 1e-5, momentum: Float = 0.1, activation: Activation? = nil, engine: CPUEngine = .shared) throws {
        let c = weight.count
        guard bias.count == c, runningMean.count == c, runningVar.count == c else {
            throw EngineError.shapeMismatch(op: "TrainBatchNorm(\(weight.name))", expected: "four vectors of \(c)",
                                            actual: "\([bias.count, runningMean.count, runningVar.count])")
        }
        guard eps > 0, eps.isFinite, momentum >= 0, momentum <= 1 else {
            throw EngineError.invalidArgument(op: "TrainBatchNorm(\(weight.name))", what: "eps \(eps) must be positive and momentum \(momentum) in [0, 1]")
        }
        if let a = activation {
            try a.requireFusableInTraining(op: "TrainBatchNorm(\(weight.name))")
            guard BatchNormActivation(a).postOp == nil else {
                throw EngineError.invalidArgument(op: "TrainBatchNorm(\(weight.name))", what: "oneDNN's training batch norm fuses ReLU only, not \(a.rawValue)")
            }
        }
        self.weight = weight; self.bias = bias; self.runningMean = runningMean; self.runningVar = runningVar
        self.numBatchesTracked = numBatchesTracked; self.eps = eps; self.momentum = momentum; self.activation = activation
        self.engine = engine
    }

    /// The same as `init(...activation: fusedReLU ? .relu : nil...)` with eps 1e-5 and momentum
    /// 0.1 (to go once callers pass `activation`).
    public convenience init(weight: Parameter, bias: Parameter, runningMean: [Float], runningVar: [Float], numBatchesTracked: Int64 = 0,
                            fusedReLU: Bool, engine: CPUEngine = .shared) throws {
        try self.init(weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar, numBatchesTracked: numBatchesTracked,
                      activation: fusedReLU ? .relu : nil, engine: engine)
    }

    public var channels: Int { weight.count }
    /// Frozen when its weight does not train.
    public var isFrozen: Bool { !weight.trainable }

    private func plan(_ x: MemoryDesc, _ stats: Statistics, _ pass: PassKind) throws -> Plan {
        try plans.value(for: PlanKey(src: x, stats: stats, pass: pass)) {
            var data = x.raw
            var flags = dnnl_use_scaleshift.rawValue
            if stats == .running { flags |= dnnl_use_global_stats.rawValue }
            if BatchNormActivation(activation).flag { flags |= dnnl_fuse_norm_relu.rawValue }
            var bd = dnnl_batch_normalization_desc_t()
            // Batch statistics are computed in training mode only.
            let prop = stats == .batch ? dnnl_forward_training : pass.dnnl
            try dnnlCheck(dnnl_batch_normalization_forward_desc_init(&bd, prop, &data, eps, UInt32(flags)),
                          "dnnl_batch_normalization_forward_desc_init")
            return Plan(fwd: try Primitive.make(&bd, engine: engine, name: "batch_norm \(weight.name) on \(x.dims)"), flags: UInt32(flags))
        }
    }

    /// `activation?(batchnorm(x))` in `x`'s layout. With `.batch` statistics, updates the running
    /// statistics and `numBatchesTracked` (what one PyTorch train-mode forward does).
    public func forward(_ x: Tensor, statistics: Statistics, pass: PassKind) throws -> Tensor {
        let c = channels
        guard x.shape.count == 4, x.shape[1] == c else {
            throw EngineError.shapeMismatch(op: "TrainBatchNorm(\(weight.name))", expected: "[N, \(c), H, W]", actual: "\(x.shape)")
        }
        if statistics == .batch && x.shape[0] * x.shape[2] * x.shape[3] < 2 {
            throw EngineError.invalidArgument(op: "TrainBatchNorm(\(weight.name))",
                                              what: "batch statistics need more than one value per channel, got input \(x.shape) (use a batch of at least 2)")
        }
        if statistics == .batch, let sum = crossProcessSum {
            saved = nil
            return try synchronizedForward(x, pass: pass, sum: sum)
        }
        syncSaved = nil
        let p = try plan(x.desc, statistics, pass)
        let ss = try Tensor(desc: .plain([2, c], .f32), engine: engine)
        ss.plainFloats.baseAddress!.update(from: weight.value.baseAddress!, count: c)
        (ss.plainFloats.baseAddress! + c).update(from: bias.value.baseAddress!, count: c)
        let mean = try Tensor(desc: .plain([c], .f32), engine: engine)
        let variance = try Tensor(desc: .plain([c], .f32), engine: engine)
        if statistics == .running {
            runningMean.withUnsafeBufferPointer { mean.plainFloats.baseAddress!.update(from: $0.baseAddress!, count: c) }
            runningVar.withUnsafeBufferPointer { variance.plainFloats.baseAddress!.update(from: $0.baseAddress!, count: c) }
        }
        let dst = try Tensor(desc: x.desc, engine: engine)
        let ws = try p.fwd.workspaceDesc.map { try Tensor(desc: $0, engine: engine) }
        var args: [(Int32, Tensor)] = [(DNNL_ARG_SRC, x), (DNNL_ARG_DST, dst), (DNNL_ARG_SCALE_SHIFT, ss),
                                       (DNNL_ARG_MEAN, mean), (DNNL_ARG_VARIANCE, variance)]
        if let w = ws { args.append((DNNL_ARG_WORKSPACE, w)) }
        try p.fwd.execute(args, on: engine)
        if statistics == .batch {
            let n = x.shape[0] * x.shape[2] * x.shape[3]
            let unbias = n > 1 ? Float(n) / Float(n - 1) : 1
            let m = mean.plainFloats, v = variance.plainFloats
            for i in 0..<c {
                runningMean[i] = (1 - momentum) * runningMean[i] + momentum * m[i]
                runningVar[i] = (1 - momentum) * runningVar[i] + momentum * (v[i] * unbias)
            }
            numBatchesTracked += 1
        }
        saved = pass == .training ? Saved(plan: p, src: x, mean: mean, variance: variance, scaleShift: ss, workspace: ws) : nil
        return dst
    }

    /// Backward of the last training forward (the fused activation included): writes the weight's and
    /// bias's gradients when they train and returns the input gradient (in the input's layout).
    /// Consumes what the forward kept (its input is freed when this returns). With
    /// `overwriting`, the input gradient may be written into `dy`'s storage (oneDNN's in-place
    /// backward): for a caller that no longer needs `dy`.
    public func backward(outputGrad dy: Tensor, overwriting: Bool = false) throws -> Tensor {
        defer { release() }
        if let s = syncSaved, let sum = crossProcessSum { return try synchronizedBackward(dy, s, sum: sum) }
        guard let s = saved else {
            throw EngineError.invalidArgument(op: "TrainBatchNorm(\(weight.name)).backward", what: "no training forward pass to differentiate")
        }
        let c = channels
        let wantParams = weight.trainable || bias.trainable
        let existing = wantParams ? s.plan.bwd : s.plan.bwdData
        let prim: Primitive
        if let e = existing { prim = e } else {
            var diff = s.src.desc.raw, data = s.src.desc.raw
            var bd = dnnl_batch_normalization_desc_t()
            try dnnlCheck(dnnl_batch_normalization_backward_desc_init(&bd, wantParams ? dnnl_backward : dnnl_backward_data,
                                                                      &diff, &data, eps, s.plan.flags),
                          "dnnl_batch_normalization_backward_desc_init")
            prim = try Primitive.makeBackward(&bd, hint: s.plan.fwd, engine: engine, name: "batch_norm \(weight.name) backward")
            if wantParams { s.plan.bwd = prim } else { s.plan.bwdData = prim }
        }
        let g = try engine.reorder(dy, to: s.src.desc)
        // A reordered copy is this call's own; dy itself only when the caller gives it up.
        let dx = g !== dy || overwriting ? g : try Tensor(desc: s.src.desc, engine: engine)
        var args: [(Int32, Tensor)] = [(DNNL_ARG_SRC, s.src), (DNNL_ARG_MEAN, s.mean), (DNNL_ARG_VARIANCE, s.variance),
                                       (DNNL_ARG_DIFF_DST, g), (DNNL_ARG_SCALE_SHIFT, s.scaleShift), (DNNL_ARG_DIFF_SRC, dx)]
        if let w = s.workspace { args.append((DNNL_ARG_WORKSPACE, w)) }
        var dss: Tensor?
        if wantParams {
            let t = try Tensor(desc: .plain([2, c], .f32), engine: engine)
            args.append((DNNL_ARG_DIFF_SCALE_SHIFT, t)); dss = t
        }
        try prim.execute(args, on: engine)
        if let t = dss {
            let f = t.plainFloats
            if weight.trainable { weight.grad.baseAddress!.update(from: f.baseAddress!, count: c) }
            if bias.trainable { bias.grad.baseAddress!.update(from: f.baseAddress! + c, count: c) }
        }
        return dx
    }

    public func release() { saved = nil; syncSaved = nil }
}
