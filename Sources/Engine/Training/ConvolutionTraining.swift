import CDNNL

/// How a 3x3 stride-1 convolution is computed. `.direct` is what PyTorch computes; `.winograd`
/// (F(4x4, 3x3), forward and both backward passes: oneDNN's on AVX-512, Graft's own
/// `WinogradConvolution` where oneDNN has none) is about twice as fast per conv on ResNets (a
/// full resnet34 step: 1.4x on AVX-512, 1.6x on AVX2) but rounds differently: measured on a full
/// resnet34 step (batch 8, 224x224), its gradients are about twice as far from float64 ones as
/// `.direct`'s. Other convs stay direct.
public enum ConvolutionAlgorithm: String, CaseIterable, Sendable, Equatable, Codable {
    case direct, winograd

    /// Whether Winograd can compute a conv of this kind: f32, 3x3, stride 1, ungrouped (oneDNN's
    /// where the CPU has it, primitive creation says; else Graft's own, for padding up to 2).
    static func winogradApplies(computeType: DataType, kernelHeight: Int, kernelWidth: Int, stride: Int, groups: Int) -> Bool {
        computeType == .f32 && kernelHeight == 3 && kernelWidth == 3 && stride == 1 && groups == 1
    }
}

/// A convolution that trains (PyTorch's `nn.Conv2d`, dilation 1): forward in train or
/// inference mode, backward-data and backward-weights with oneDNN's primitives (or Graft's own
/// Winograd). The weight (and the optional bias) are `Parameter`s (PyTorch layout); every
/// forward pass reads their current values.
///
/// An optional fused `activation` (a post-op of the forward) is differentiated from the
/// output, which a training forward keeps: nothing may overwrite that output before
/// `backward`. Bias and activation are computed by every algorithm: direct; oneDNN's Winograd
/// (AVX-512), where oneDNN creates it with them (else the conv runs direct); Graft's own
/// Winograd (AVX2), which adds the bias and applies the activation in its output transform
/// (an activation it does not fuse, `WinogradConvolution.fuses`, keeps the conv direct), the
/// bias gradient summed from the output gradient; and so the tuner, which chooses between them.
public final class TrainConv2d {
    public let weight: Parameter
    /// `[out]`, added to every output (nil: no bias, as ResNet's convs).
    public let bias: Parameter?
    /// Applied to the output (a post-op); its backward reads the saved output.
    public let activation: Activation?
    public let stride: Int
    /// Above and below (`padding`), left and right (`paddingWidth`).
    public let padding: Int
    public let paddingWidth: Int
    public let groups: Int
    public let engine: CPUEngine
    /// `.winograd` applies to 3x3 stride-1 ungrouped convs where oneDNN has it; others stay direct.
    /// Ignored while `tuner` is set.
    public var algorithm: ConvolutionAlgorithm = .direct {
        didSet { if algorithm != oldValue { release(); plans.removeAll(); frozenWeights = nil } }
    }
    /// When set, the algorithm of each input shape is the tuner's: measured the first time the
    /// shape is seen (direct against Winograd, where Winograd applies), or recorded before.
    public var tuner: ConvolutionTuner? {
        didSet { if tuner !== oldValue { release(); plans.removeAll(); frozenWeights = nil } }
    }
    /// The type the convolution computes in. `.bf16`: forward, backward-data and backward-weights
    /// read their input, weights and output gradient as bfloat16 (f32 accumulation); what they
    /// write is `activationType`. The weight stays the f32 `Parameter` (converted to bf16 at each
    /// forward) and its gradient is written as f32 (oneDNN's bf16 backward-weights writes f32
    /// `diff_weights` directly). Winograd is f32-only: with `.bf16` every conv is direct.
    public var computeType: DataType = .f32 {
        didSet { if computeType != oldValue { release(); plans.removeAll(); frozenWeights = nil; lastPlan = nil } }
    }
    /// The type of the output and of the input gradient. With `computeType == .bf16`, `.bf16`
    /// is what PyTorch's CPU autocast does (a conv's output is bf16 and the layers after it keep
    /// that type); `.f32` hands f32 to the layers between convs (closer to an f32 run, more
    /// memory traffic).
    public var activationType: DataType = .f32 {
        didSet { if activationType != oldValue { release(); plans.removeAll(); frozenWeights = nil; lastPlan = nil } }
    }
    public let outChannels: Int, inChannels: Int, kh: Int, kw: Int
    /// Graft's own depthwise weight gradient wherever it applies, not only where oneDNN's is
    /// gemm (to test it against oneDNN's).
    public var forceOwnDepthwiseGradient = false

    private let plans = PrimitiveCache<PlanKey, Plan>()
    struct PlanKey: Hashable { let src: MemoryDesc; let pass: PassKind }
    final class Plan {
        /// oneDNN's forward primitive; with `winograd`, only the hint backward-weights needs.
        let fwd: Primitive
        let src: MemoryDesc, dst: MemoryDesc, weights: MemoryDesc
        var bwdData: Primitive?
        var bwdWeights: Primitive?
        var transposedWinograd: WinogradConvolution?
        let alg: dnnl_alg_kind_t
        /// Graft's own Winograd (where oneDNN has none for this CPU): forward, backward-data and
        /// backward-weights.
        let winograd: WinogradConvolution?
        init(fwd: Primitive, alg: dnnl_alg_kind_t, winograd: WinogradConvolution? = nil) throws {
            self.fwd = fwd; self.alg = alg; self.winograd = winograd
            if let wino = winograd {
                src = try WinogradConvolution.activationDesc(fwd.md(dnnl_query_src_md).dims)
                dst = try WinogradConvolution.activationDesc(fwd.md(dnnl_query_dst_md).dims)
                weights = try wino.weightsDesc
            } else {
                src = fwd.md(dnnl_query_src_md); dst = fwd.md(dnnl_query_dst_md); weights = fwd.md(dnnl_query_weights_md)
            }
        }
        var algorithm: ConvolutionAlgorithm { winograd != nil || alg == dnnl_convolution_winograd ? .winograd : .direct }
    }

    /// Saved by a training forward for `backward`.
    private var savedInput: Tensor?
    /// The output, when an activation's backward needs it.
    private var savedOutput: Tensor?
    private let activationBackward: ActivationBackward?
    private var savedPlan: Plan?
    /// A frozen weight in the forward primitive's layout, kept while the weight stays frozen
    /// (nothing updates a frozen parameter); dropped by `weightsChanged()`.
    private var frozenWeights: Tensor?
    /// The plan of the last forward (kept after `release`, for `implementations`).
    private var lastPlan: Plan?

    public init(weight: Parameter, bias: Parameter? = nil, stride: Int, padding: Int, paddingWidth: Int? = nil, groups: Int = 1,
                activation: Activation? = nil, engine: CPUEngine = .shared) throws {
        let paddingWidth = paddingWidth ?? padding
        // A 2-d weight [out, in] is a 1x1 conv's (an nn.Linear on each pixel).
        let shape = weight.shape.count == 2 ? weight.shape + [1, 1] : weight.shape
        guard shape.count == 4, groups >= 1, shape[0] % groups == 0, stride >= 1, padding >= 0, paddingWidth >= 0 else {
            throw EngineError.invalidArgument(op: "TrainConv2d(\(weight.name))",
                                              what: "weight shape \(weight.shape) with groups \(groups), stride \(stride), padding \(padding), \(paddingWidth)")
        }
        if let b = bias, b.shape != [weight.shape[0]] {
            throw EngineError.shapeMismatch(op: "TrainConv2d(\(weight.name)) bias", expected: "[\(weight.shape[0])]", actual: "\(b.shape)")
        }
        try activation?.requireFusableInTraining(op: "TrainConv2d(\(weight.name))")
        self.weight = weight; self.bias = bias; self.stride = stride; self.padding = padding; self.paddingWidth = paddingWidth
        self.groups = groups; self.activation = activation; self.engine = engine
        activationBackward = activation.map { ActivationBackward($0, engine: engine) }
        outChannels = shape[0]; inChannels = shape[1] * groups; kh = shape[2]; kw = shape[3]
    }

    var weightDims: [Int] {
        groups == 1 ? [outChannels, inChannels, kh, kw] : [groups, outChannels / groups, inChannels / groups, kh, kw]
    }

    func outputDims(_ x: [Int]) throws -> [Int] {
        guard x.count == 4, x[1] == inChannels, x[2] + 2 * padding >= kh, x[3] + 2 * paddingWidth >= kw else {
            throw EngineError.shapeMismatch(op: "TrainConv2d(\(weight.name))", expected: "[N, \(inChannels), H, W]", actual: "\(x)")
        }
        return [x[0], outChannels, (x[2] + 2 * padding - kh) / stride + 1, (x[3] + 2 * paddingWidth - kw) / stride + 1]
    }

    private func geometry(_ inDims: [Int], _ outDims: [Int]) -> (strides: [Int64], padL: [Int64], padR: [Int64]) {
        ([Int64(stride), Int64(stride)], [Int64(padding), Int64(paddingWidth)],
         [Int64((outDims[2] - 1) * stride + kh - inDims[2] - padding), Int64((outDims[3] - 1) * stride + kw - inDims[3] - paddingWidth)])
    }

    /// Whether Winograd can compute this conv: f32, 3x3, stride 1, ungrouped, the same padding each way.
    public var winogradApplies: Bool {
        ConvolutionAlgorithm.winogradApplies(computeType: computeType, kernelHeight: kh, kernelWidth: kw, stride: stride, groups: groups)
            && padding == paddingWidth
    }

    /// Whether Graft's own Winograd can compute it, where oneDNN has none (padding up to 2).
    private var ownWinogradApplies: Bool {
        WinogradConvolution.applies(kernelHeight: kh, kernelWidth: kw, stride: stride, padding: padding, groups: groups,
                                    computeType: computeType, activation: activation)
    }

    private func plan(_ input: MemoryDesc, _ pass: PassKind) throws -> Plan {
        try plans.value(for: PlanKey(src: input, pass: pass)) {
            guard winogradApplies else { return try makePlan(input, pass, .direct)! }
            guard let tuner else { return try makePlan(input, pass, algorithm) ?? makePlan(input, pass, .direct)! }
            var measured: [ConvolutionAlgorithm: Plan] = [:]
            let chosen = try tuner.algorithm(for: shapeKey(input.dims, pass)) {
                guard let wino = try makePlan(input, pass, .winograd) else { return nil }
                let direct = try makePlan(input, pass, .direct)!
                measured = [.direct: direct, .winograd: wino]
                let t = try ConvolutionTuner.compare(direct: try runner(direct, pass), winograd: try runner(wino, pass))
                return ConvolutionTuner.Timing(direct: t.direct, winograd: t.winograd)
            }
            return try measured[chosen] ?? makePlan(input, pass, chosen) ?? makePlan(input, pass, .direct)!
        }
    }

    /// The shape a tuner decides for: the same for every conv of this geometry, input dims and
    /// fusion (a bias and an activation add ` bias`, ` relu`; ResNet's convs have neither).
    func shapeKey(_ dims: [Int], _ pass: PassKind) -> String {
        ConvolutionTuner.shapeKey(inChannels: inChannels, outChannels: outChannels, kernelHeight: kh, kernelWidth: kw,
                                  stride: stride, padding: padding, input: dims, pass: pass)
            + (paddingWidth != padding ? " pad width \(paddingWidth)" : "")
            + (bias != nil ? " bias" : "") + (activation.map { " \($0.rawValue)" } ?? "")
    }

    /// The plan of `alg`; nil for `.winograd` where neither oneDNN's Winograd nor Graft's own
    /// computes this conv.
    private func makePlan(_ input: MemoryDesc, _ pass: PassKind, _ alg: ConvolutionAlgorithm) throws -> Plan? {
        let outDims = try outputDims(input.dims)
        let g = geometry(input.dims, outDims)
        var src = try MemoryDesc.any(input.dims, computeType).raw
        var wts = try MemoryDesc.any(weightDims, computeType).raw
        var dst = try MemoryDesc.any(outDims, activationType).raw
        var bia = try MemoryDesc.plain([outChannels], .f32).raw
        let hasBias = bias != nil
        // No attribute at all without an activation: the primitives ResNet's convs always had.
        let attr = try activation.map { try PrimitiveAttr(sum: false, activation: $0) }
        func descriptor(_ a: dnnl_alg_kind_t) -> (dnnl_convolution_desc_t, dnnl_status_t) {
            var cd = dnnl_convolution_desc_t()
            let status = withUnsafeMutablePointer(to: &bia) { b in
                dnnl_convolution_forward_desc_init(&cd, pass.dnnl, a, &src, &wts, hasBias ? b : nil, &dst, g.strides, g.padL, g.padR)
            }
            return (cd, status)
        }
        func make(_ cd: inout dnnl_convolution_desc_t, _ name: String) throws -> Primitive {
            try withExtendedLifetime(attr) { try Primitive.make(&cd, attr: attr?.attr, engine: engine, name: name) }
        }
        if alg == .winograd {
            guard winogradApplies else { return nil }
            var (cd, status) = descriptor(dnnl_convolution_winograd)
            if status == dnnl_success, let prim = try? make(&cd, "wino conv \(weight.name) on \(input.dims)") {
                return try Plan(fwd: prim, alg: dnnl_convolution_winograd)
            }
            guard ownWinogradApplies else { return nil }
        }
        var (cd, status) = descriptor(dnnl_convolution_direct)
        try dnnlCheck(status, "dnnl_convolution_forward_desc_init")
        let prim = try make(&cd, "conv \(weight.name) on \(input.dims)")
        return try Plan(fwd: prim, alg: dnnl_convolution_direct,
                        winograd: alg == .winograd ? WinogradConvolution(inChannels: inChannels, outChannels: outChannels, padding: padding, engine: engine) : nil)
    }

    /// The plan's backward-weights primitive, made the first time it is asked for.
    func backwardWeights(_ p: Plan) throws -> Primitive {
        if let b = p.bwdWeights { return b }
        let g = geometry(p.src.dims, p.dst.dims)
        var src = try MemoryDesc.any(p.src.dims, computeType).raw
        var dw = try MemoryDesc.any(weightDims, .f32).raw  // f32 diff_weights, bf16 or not
        var ddst = try MemoryDesc.any(p.dst.dims, computeType).raw
        var db = try MemoryDesc.plain([outChannels], .f32).raw
        let hasBias = bias != nil
        var cd = dnnl_convolution_desc_t()
        try withUnsafeMutablePointer(to: &db) { b in
            try dnnlCheck(dnnl_convolution_backward_weights_desc_init(&cd, p.alg, &src, &dw, hasBias ? b : nil, &ddst, g.strides, g.padL, g.padR),
                          "dnnl_convolution_backward_weights_desc_init")
        }
        let b = try Primitive.makeBackward(&cd, hint: p.fwd, engine: engine, name: "conv \(weight.name) backward weights")
        p.bwdWeights = b
        return b
    }

    /// The plan's backward-data primitive, made the first time it is asked for.
    func backwardData(_ p: Plan) throws -> Primitive {
        if let b = p.bwdData { return b }
        let g = geometry(p.src.dims, p.dst.dims)
        var dsrc = try MemoryDesc.any(p.src.dims, activationType).raw
        var wts = try MemoryDesc.any(weightDims, computeType).raw
        var ddst = try MemoryDesc.any(p.dst.dims, computeType).raw
        var cd = dnnl_convolution_desc_t()
        try dnnlCheck(dnnl_convolution_backward_data_desc_init(&cd, p.alg, &dsrc, &wts, &ddst, g.strides, g.padL, g.padR),
                      "dnnl_convolution_backward_data_desc_init")
        let b = try Primitive.makeBackward(&cd, hint: p.fwd, engine: engine, name: "conv \(weight.name) backward data")
        p.bwdData = b
        return b
    }

    /// `activation?(conv(x) + bias)` with the parameters' current values, in the layout oneDNN
    /// chose. A training forward keeps the input (and, with an activation, the output).
    public func forward(_ x: Tensor, pass: PassKind) throws -> Tensor {
        let p = try plan(x.desc, pass)
        lastPlan = p
        if weight.trainable { frozenWeights = nil }
        let w: Tensor
        if !weight.trainable, let f = frozenWeights, f.desc == p.weights, pass == .inference {
            w = f
        } else {
            w = try forwardWeights(p)
            if !weight.trainable { frozenWeights = w }
        }
        let src = try engine.reorder(x, to: p.src)
        let dst = try Tensor(desc: p.dst, engine: engine)
        try runForward(p, src: src, weights: w, dst: dst)
        if pass == .training {
            savedInput = src; savedPlan = p
            savedOutput = activation != nil ? dst : nil
        } else {
            release()
        }
        return dst
    }

    /// Backward of the last training forward: the activation's backward first (from the saved
    /// output; into `dy`'s storage when `overwriting`, for a caller that no longer needs `dy`),
    /// then writes (overwrites) `weight.grad` when the weight is trainable and `bias.grad` when
    /// the bias is, and returns the input gradient when `needInputGrad`. Consumes what the
    /// forward kept (as PyTorch's autograd frees saved tensors): the saved input is let go as
    /// soon as backward-weights has read it, so a network's activations are freed layer by
    /// layer. The weights are read from the parameter (unchanged since forward: the optimizer
    /// steps after).
    public func backward(outputGrad: Tensor, needInputGrad: Bool, overwriting: Bool = false) throws -> Tensor? {
        guard let p = savedPlan, savedInput != nil else {
            throw EngineError.invalidArgument(op: "TrainConv2d(\(weight.name)).backward", what: "no training forward pass to differentiate")
        }
        defer { release() }
        var dy = outputGrad
        if let back = activationBackward, let y = savedOutput {
            dy = try back(output: y, outputGrad: dy, overwriting: overwriting)
            savedOutput = nil
        }
        let biasTrains = bias?.trainable == true
        var convertedGrad: Tensor?
        if weight.trainable, let wino = p.winograd {
            convertedGrad = try engine.reorder(dy, to: p.dst)
            try wino.weightGradient(src: savedInput!, outputGrad: convertedGrad!, into: weight.grad.baseAddress!)
            if biasTrains { try sumOverBatchAndPlane(convertedGrad!, into: bias!.grad) }
        } else if weight.trainable {
            let bw = try backwardWeights(p)
            if ownDepthwiseGradient(bw) {
                convertedGrad = try engine.reorder(dy, to: .plain(dy.shape, .f32))
                try depthwiseWeightGradient(input: savedInput!, outputGrad: convertedGrad!)
                if biasTrains { try sumOverBatchAndPlane(convertedGrad!, into: bias!.grad) }
            } else {
                convertedGrad = try engine.reorder(dy, to: bw.md(dnnl_query_diff_dst_md))
                try computeWeightGradient(bw, input: savedInput!, outputGrad: convertedGrad!)
            }
        } else if biasTrains {
            try sumOverBatchAndPlane(dy, into: bias!.grad)
        }
        savedInput = nil  // before backward-data allocates the input gradient
        guard needInputGrad else { return nil }
        let data = try backwardDataPlan(p)
        let w = try data.weights(self)
        // The output gradient as backward-weights converted it, when backward-data wants the same.
        let gdst = try convertedGrad.flatMap { $0.desc == data.outputGrad ? $0 : nil } ?? engine.reorder(dy, to: data.outputGrad)
        let dx = try Tensor(desc: data.inputGrad, engine: engine)
        try data.run(w, gdst, dx)
        return dx
    }

    /// The weight in the layout `p`'s forward reads: reordered, or Winograd-transformed.
    func forwardWeights(_ p: Plan) throws -> Tensor {
        if p.winograd != nil {
            return try WinogradConvolution.transformWeights(weight.value.baseAddress!, out: outChannels, in: inChannels, transposed: false, engine: engine)
        }
        return try engine.reorder(Tensor.values(of: weight, shape: weightDims, engine: engine), to: p.weights)
    }

    /// `dst = conv(src)` with `p`'s algorithm.
    func runForward(_ p: Plan, src: Tensor, weights: Tensor, dst: Tensor) throws {
        if let wino = p.winograd {
            return try wino.forward(src: src, weights: weights, bias: bias.map { UnsafePointer($0.value.baseAddress!) }, dst: dst,
                                    sum: false, relu: activation == .relu)
        }
        var args: [(Int32, Tensor)] = [(DNNL_ARG_SRC, src), (DNNL_ARG_WEIGHTS, weights), (DNNL_ARG_DST, dst)]
        if let b = bias { args.append((DNNL_ARG_BIAS, try Tensor.values(of: b, shape: b.shape, engine: engine))) }
        try p.fwd.execute(args, on: engine)
    }

    /// How a plan computes the input gradient: layouts, its weights, and the run.
    struct BackwardData {
        let outputGrad: MemoryDesc, inputGrad: MemoryDesc
        let weights: (TrainConv2d) throws -> Tensor
        let run: (_ weights: Tensor, _ outputGrad: Tensor, _ inputGrad: Tensor) throws -> Void
    }

    func backwardDataPlan(_ p: Plan) throws -> BackwardData {
        let engine = self.engine
        if let wino = p.winograd {
            // The input gradient of a 3x3 stride-1 conv with padding p is a 3x3 stride-1 conv
            // of the output gradient with padding 2 - p, each filter rotated by 180 degrees and
            // in/out swapped.
            let transposed = p.transposedWinograd ?? wino.transposed()
            p.transposedWinograd = transposed
            return BackwardData(outputGrad: p.dst, inputGrad: p.src, weights: { c in
                try WinogradConvolution.transformWeights(c.weight.value.baseAddress!, out: c.outChannels, in: c.inChannels, transposed: true, engine: engine)
            }, run: { w, dy, dx in try transposed.forward(src: dy, weights: w, bias: nil, dst: dx, sum: false, relu: false) })
        }
        let bd = try backwardData(p)
        return BackwardData(outputGrad: bd.md(dnnl_query_diff_dst_md), inputGrad: bd.md(dnnl_query_diff_src_md), weights: { c in
            try engine.reorder(Tensor.values(of: c.weight, shape: c.weightDims, engine: engine), to: bd.md(dnnl_query_weights_md))
        }, run: { w, dy, dx in try bd.execute([(DNNL_ARG_WEIGHTS, w), (DNNL_ARG_DIFF_DST, dy), (DNNL_ARG_DIFF_SRC, dx)], on: engine) })
    }

    /// Backward-weights from the forward's input into `weight.grad`, and into `bias.grad` when
    /// the bias trains (the input and its reordered copy are this call's, so they go as soon as
    /// it returns).
    private func computeWeightGradient(_ bw: Primitive, input x: Tensor, outputGrad gdst: Tensor) throws {
        let src = try engine.reorder(x, to: bw.md(dnnl_query_src_md))
        let dw = try Tensor(desc: bw.md(dnnl_query_diff_weights_md), engine: engine)
        var args: [(Int32, Tensor)] = [(DNNL_ARG_SRC, src), (DNNL_ARG_DIFF_DST, gdst), (DNNL_ARG_DIFF_WEIGHTS, dw)]
        if let b = bias {
            // oneDNN writes the bias gradient with the weights' (diff_bias is plain f32 [out]).
            args.append((DNNL_ARG_DIFF_BIAS, b.trainable ? try Tensor.gradient(of: b, shape: b.shape, engine: engine)
                                                         : try Tensor(desc: .plain(b.shape, .f32), engine: engine)))
        }
        try bw.execute(args, on: engine)
        try engine.reorder(dw, into: Tensor.gradient(of: weight, shape: weightDims, engine: engine))
    }

    /// Whether Graft computes the weight gradient (`DepthwiseWeightGradient`): an f32 depthwise
    /// conv with square filters whose backward-weights oneDNN would run as gemm (its 5x5 ones).
    /// `forceOwnDepthwiseGradient` takes it for every f32 depthwise conv (tests).
    func ownDepthwiseGradient(_ bw: Primitive) -> Bool {
        groups > 1 && groups == inChannels && groups == outChannels && kh == kw && padding == paddingWidth && computeType == .f32
            && (forceOwnDepthwiseGradient || bw.implementation.contains("gemm"))
    }

    /// `DepthwiseWeightGradient` from the forward's input and the (plain) output gradient into `weight.grad`.
    private func depthwiseWeightGradient(input x: Tensor, outputGrad g: Tensor) throws {
        let src = try engine.reorder(x, to: .plain(x.shape, .f32))
        let shape = DepthwiseWeightGradient.Shape(batch: x.shape[0], channels: inChannels, inHeight: x.shape[2], inWidth: x.shape[3],
                                                  outHeight: g.shape[2], outWidth: g.shape[3], kernel: kh, stride: stride, padding: padding)
        withExtendedLifetime((src, g)) {
            DepthwiseWeightGradient.compute(src: src.plainFloats.baseAddress!, outputGrad: g.plainFloats.baseAddress!,
                                            into: weight.grad.baseAddress!, shape)
        }
    }

    /// `out[c] = sum over n, y, x of g[n, c, y, x]` (sums in float64): the bias gradient where no
    /// oneDNN backward-weights computes it (Graft's Winograd, or a frozen weight).
    private func sumOverBatchAndPlane(_ g: Tensor, into out: UnsafeMutableBufferPointer<Float>) throws {
        let d = g.shape
        let t = try engine.reorder(g, to: .plain(d, .f32))
        let (n, c, plane) = (d[0], d[1], d[2] * d[3])
        withExtendedLifetime(t) {
            let plain = t.plainFloats
            for ch in 0..<c {
                var s = 0.0
                for b in 0..<n {
                    let base = (b * c + ch) * plane
                    for i in base..<(base + plane) { s += Double(plain[i]) }
                }
                out[ch] = Float(s)
            }
        }
    }

    /// The algorithm the last forward ran.
    public var lastAlgorithm: ConvolutionAlgorithm? {
        lastPlan.map(\.algorithm)
    }

    /// The oneDNN implementations and data types of the last forward's primitives (forward, and
    /// the backward ones once created), e.g. `forward jit_bf16:avx512_core_bf16 src bf16 dst f32`.
    public var implementations: [String] {
        guard let p = lastPlan else { return [] }
        func type(_ prim: Primitive, _ q: dnnl_query_t) -> DataType { prim.md(q).dataType }
        if p.winograd != nil {
            let name = WinogradConvolution.implementation
            return ["forward \(name) src f32 dst f32"]
                + (p.transposedWinograd != nil ? ["backward-data \(name) diff_dst f32 diff_src f32", "backward-weights \(name) src f32 diff_weights f32"] : [])
        }
        var out = ["forward \(p.fwd.implementation) src \(type(p.fwd, dnnl_query_src_md)) dst \(type(p.fwd, dnnl_query_dst_md))"]
        if let b = p.bwdData {
            out.append("backward-data \(b.implementation) diff_dst \(type(b, dnnl_query_diff_dst_md)) diff_src \(type(b, dnnl_query_diff_src_md))")
        }
        if let b = p.bwdWeights {
            out.append("backward-weights \(b.implementation) src \(type(b, dnnl_query_src_md)) diff_weights \(type(b, dnnl_query_diff_weights_md))")
        }
        return out
    }

    /// Drops what the last training forward kept.
    public func release() { savedInput = nil; savedPlan = nil; savedOutput = nil }

    /// Call when the weight's values were changed other than through training (or its
    /// `trainable` flag changed): a cached copy of a frozen weight is dropped.
    public func weightsChanged() { frozenWeights = nil }
}
