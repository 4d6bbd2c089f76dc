import CDNNL
import Dispatch

/// A 2-d convolution (PyTorch's `nn.Conv2d`, dilation 1) with optional bias and fused post-ops:
/// an activation, and a residual add (oneDNN's `sum` post-op) before it. Weights are kept as PyTorch
/// lays them out, `[out, in/groups, kh, kw]` float32; the primitive's own copy (blocked layout,
/// f32 or bf16) is made once per layout it asks for. One primitive per input layout, cached.
public final class Conv2d {
    public let inChannels: Int
    public let outChannels: Int
    public let kernelHeight: Int
    public let kernelWidth: Int
    public let stride: Int
    /// Zero padding above and below (`padding`) and left and right (`paddingWidth`): torch's
    /// `padding=(ph, pw)`, which Inception's 1x7 and 7x1 convs have.
    public let padding: Int
    public let paddingWidth: Int
    public let groups: Int
    /// Applied to the output (after the residual add, when there is one).
    public let activation: Activation?
    /// Whether the activation is ReLU (to go with `init(...fusedReLU:...)`).
    public var fusedReLU: Bool { activation == .relu }
    /// The type the convolution reads, writes and keeps its weights in (accumulation is f32).
    public let computeType: DataType
    /// `.winograd`: Winograd F(4x4, 3x3) for f32 3x3 stride-1 ungrouped convs (oneDNN's on
    /// AVX-512, Graft's own elsewhere); direct otherwise. It rounds differently (see
    /// `ConvolutionAlgorithm`). Bias, residual add and activation are fused on every path; a
    /// conv whose activation no Winograd here fuses (`WinogradConvolution.fuses`, and oneDNN's
    /// primitive creation) stays direct.
    public let algorithm: ConvolutionAlgorithm
    /// When set, the algorithm of each input shape is the tuner's (measured the first time, or
    /// recorded before; `algorithm` is then ignored): what `--conv auto` runs.
    public let tuner: ConvolutionTuner?
    public let engine: CPUEngine

    /// `[out, in/groups, kh, kw]`, PyTorch's layout.
    public private(set) var weight: [Float]
    public private(set) var bias: [Float]?

    private var plans = PrimitiveCache<PlanKey, Plan>()
    private var weightCopies = PrimitiveCache<MemoryDesc, Tensor>()
    private var biasTensor: Tensor?

    struct PlanKey: Hashable { let src: MemoryDesc; let sum: Bool }
    final class Plan {
        /// oneDNN's primitive, or (where oneDNN has no Winograd for this CPU) Graft's own.
        let primitive: Primitive?
        let winograd: WinogradConvolution?
        let src: MemoryDesc
        let dst: MemoryDesc
        let weights: Tensor
        init(primitive: Primitive?, winograd: WinogradConvolution? = nil, src: MemoryDesc, dst: MemoryDesc, weights: Tensor) {
            self.primitive = primitive; self.winograd = winograd; self.src = src; self.dst = dst; self.weights = weights
        }
        var implementation: String { primitive?.implementation ?? WinogradConvolution.implementation }
    }

    /// - Parameters:
    ///   - weight: `shape.product` values, `[out, in/groups, kh, kw]` row-major.
    ///   - shape: `[out, in/groups, kh, kw]`.
    ///   - paddingWidth: the left and right padding, where it is not `padding`.
    public init(weight: [Float], shape: [Int], bias: [Float]? = nil, stride: Int = 1, padding: Int = 0, paddingWidth: Int? = nil,
                groups: Int = 1, activation: Activation? = nil, computeType: DataType = .f32,
                algorithm: ConvolutionAlgorithm = .direct, tuner: ConvolutionTuner? = nil, engine: CPUEngine = .shared) throws {
        let paddingWidth = paddingWidth ?? padding
        guard shape.count == 4, shape.allSatisfy({ $0 > 0 }) else {
            throw EngineError.invalidArgument(op: "Conv2d", what: "weight shape must be [out, in/groups, kh, kw], got \(shape)")
        }
        guard groups >= 1, shape[0] % groups == 0, stride >= 1, padding >= 0, paddingWidth >= 0 else {
            throw EngineError.invalidArgument(op: "Conv2d", what: "groups \(groups) must divide out channels \(shape[0]); stride \(stride) >= 1; padding \(padding), \(paddingWidth) >= 0")
        }
        guard weight.count == shape.reduce(1, *) else {
            throw EngineError.shapeMismatch(op: "Conv2d weight", expected: "\(shape.reduce(1, *)) values for \(shape)", actual: "\(weight.count)")
        }
        if let b = bias, b.count != shape[0] {
            throw EngineError.shapeMismatch(op: "Conv2d bias", expected: "[\(shape[0])]", actual: "[\(b.count)]")
        }
        outChannels = shape[0]
        inChannels = shape[1] * groups
        kernelHeight = shape[2]
        kernelWidth = shape[3]
        self.stride = stride
        self.padding = padding
        self.paddingWidth = paddingWidth
        self.groups = groups
        self.activation = activation
        self.computeType = computeType
        self.algorithm = algorithm
        self.tuner = tuner
        self.engine = engine
        self.weight = weight
        self.bias = bias
        biasTensor = try bias.map { try Tensor(shape: [shape[0]], values: $0, engine: engine) }
    }

    /// The same as `init(...activation: fusedReLU ? .relu : nil...)` (to go once callers pass `activation`).
    public convenience init(weight: [Float], shape: [Int], bias: [Float]? = nil, stride: Int = 1, padding: Int = 0,
                            groups: Int = 1, fusedReLU: Bool, computeType: DataType = .f32,
                            algorithm: ConvolutionAlgorithm = .direct, tuner: ConvolutionTuner? = nil, engine: CPUEngine = .shared) throws {
        try self.init(weight: weight, shape: shape, bias: bias, stride: stride, padding: padding, groups: groups,
                      activation: fusedReLU ? .relu : nil, computeType: computeType, algorithm: algorithm, tuner: tuner, engine: engine)
    }

    /// Replaces weights and bias (same shapes); cached primitive weight copies are dropped.
    public func setParameters(weight: [Float], bias: [Float]?) throws {
        guard weight.count == self.weight.count, (bias?.count ?? outChannels) == outChannels else {
            throw EngineError.shapeMismatch(op: "Conv2d.setParameters", expected: "\(self.weight.count) weights", actual: "\(weight.count)")
        }
        self.weight = weight
        self.bias = bias
        plans.removeAll(); weightCopies.removeAll()
        biasTensor = try bias.map { try Tensor(shape: [outChannels], values: $0, engine: engine) }
    }

    /// The output dims for an input of dims `[n, c, h, w]`.
    public func outputShape(for input: [Int]) throws -> [Int] {
        guard input.count == 4, input[1] == inChannels else {
            throw EngineError.shapeMismatch(op: "Conv2d(\(inChannels)->\(outChannels))", expected: "[N, \(inChannels), H, W]", actual: "\(input)")
        }
        let oh = (input[2] + 2 * padding - kernelHeight) / stride + 1
        let ow = (input[3] + 2 * paddingWidth - kernelWidth) / stride + 1
        guard input[2] + 2 * padding >= kernelHeight, input[3] + 2 * paddingWidth >= kernelWidth else {
            throw EngineError.shapeMismatch(op: "Conv2d", expected: "an image at least \(kernelHeight)x\(kernelWidth) after padding", actual: "\(input)")
        }
        return [input[0], outChannels, oh, ow]
    }

    /// `activation?(conv(x) + b)`, in the layout oneDNN chose for the output.
    public func forward(_ x: Tensor) throws -> Tensor {
        let plan = try self.plan(for: x.desc, sum: false)
        let dst = try Tensor(desc: plan.dst, engine: engine)
        try run(plan, x, dst, sum: false)
        return dst
    }

    /// `activation?(conv(x) + b + residual)`. When `residual` already has the output's layout it is
    /// overwritten with the result and returned (no copy); otherwise a converted copy is used.
    public func forward(_ x: Tensor, accumulatingInto residual: Tensor) throws -> Tensor {
        let plan = try self.plan(for: x.desc, sum: true)
        guard residual.shape == plan.dst.dims else {
            throw EngineError.shapeMismatch(op: "Conv2d residual", expected: "\(plan.dst.dims)", actual: "\(residual.shape)")
        }
        let dst = try engine.reorder(residual, to: plan.dst)
        try run(plan, x, dst, sum: true)
        return dst
    }

    private func run(_ plan: Plan, _ x: Tensor, _ dst: Tensor, sum: Bool) throws {
        let src = try engine.reorder(x, to: plan.src)
        if let wino = plan.winograd {
            return try wino.forward(src: src, weights: plan.weights, bias: biasTensor?.storage.assumingMemoryBound(to: Float.self),
                                    dst: dst, sum: sum, relu: activation == .relu)
        }
        var args: [(Int32, Tensor)] = [(DNNL_ARG_SRC, src), (DNNL_ARG_WEIGHTS, plan.weights), (DNNL_ARG_DST, dst)]
        if let b = biasTensor { args.append((DNNL_ARG_BIAS, b)) }
        try plan.primitive!.execute(args, on: engine)
    }

    /// Weight dims as oneDNN wants them: `[o, i, kh, kw]`, or `[g, o/g, i/g, kh, kw]` grouped.
    private var weightDims: [Int] {
        groups == 1 ? [outChannels, inChannels, kernelHeight, kernelWidth]
            : [groups, outChannels / groups, inChannels / groups, kernelHeight, kernelWidth]
    }

    func plan(for input: MemoryDesc, sum: Bool) throws -> Plan {
        try plans.value(for: PlanKey(src: input, sum: sum)) {
            let winogradApplies = ConvolutionAlgorithm.winogradApplies(
                computeType: computeType, kernelHeight: kernelHeight, kernelWidth: kernelWidth, stride: stride, groups: groups)
                && padding == paddingWidth
            guard winogradApplies else { return try makePlan(input, sum, .direct)! }
            guard let tuner else { return try makePlan(input, sum, algorithm) ?? makePlan(input, sum, .direct)! }
            var measured: [ConvolutionAlgorithm: Plan] = [:]
            let key = ConvolutionTuner.shapeKey(inChannels: inChannels, outChannels: outChannels, kernelHeight: kernelHeight,
                                                kernelWidth: kernelWidth, stride: stride, padding: padding, input: input.dims, pass: .inference)
            let chosen = try tuner.algorithm(for: key) {
                // Each side: its run time, plus its one-time preparation (primitive, weights)
                // spread over the batches expected.
                func made(_ alg: ConvolutionAlgorithm) throws -> (plan: Plan, nanoseconds: Int64)? {
                    let t0 = ConvolutionTuner.now()
                    guard let p = try makePlan(input, sum, alg) else { return nil }
                    return (p, Int64(clamping: ConvolutionTuner.now() - t0))
                }
                guard let wino = try made(.winograd) else { return nil }
                let direct = try made(.direct)!
                measured = [.direct: direct.plan, .winograd: wino.plan]
                let t = try ConvolutionTuner.compare(direct: try runner(direct.plan, sum: sum), winograd: try runner(wino.plan, sum: sum))
                return ConvolutionTuner.Timing(direct: t.direct, winograd: t.winograd,
                                               directSetup: direct.nanoseconds, winogradSetup: wino.nanoseconds)
            }
            return try measured[chosen] ?? makePlan(input, sum, chosen) ?? makePlan(input, sum, .direct)!
        }
    }

    /// The plan of `alg`; nil for `.winograd` where neither oneDNN's Winograd nor Graft's own
    /// computes this conv.
    private func makePlan(_ input: MemoryDesc, _ sum: Bool, _ alg: ConvolutionAlgorithm) throws -> Plan? {
        let outDims = try outputShape(for: input.dims)
        var src = try MemoryDesc.any(input.dims, computeType).raw
        var wts = try MemoryDesc.any(weightDims, computeType).raw
        var dst = try MemoryDesc.any(outDims, computeType).raw
        var bia = try MemoryDesc.plain([outChannels], .f32).raw
        let strides: [Int64] = [Int64(stride), Int64(stride)]
        let pad: [Int64] = [Int64(padding), Int64(paddingWidth)]
        // PyTorch's floor division leaves the bottom/right padding that the last window does not reach.
        let padR: [Int64] = [
            Int64((outDims[2] - 1) * stride + kernelHeight - input.dims[2] - padding),
            Int64((outDims[3] - 1) * stride + kernelWidth - input.dims[3] - paddingWidth),
        ]
        let attr = try PrimitiveAttr(sum: sum, activation: activation)
        let name = "conv \(inChannels)->\(outChannels) k\(kernelHeight) s\(stride) on \(input.dims)"
        func make(_ alg: dnnl_alg_kind_t) throws -> Primitive {
            var cd = dnnl_convolution_desc_t()
            try withUnsafeMutablePointer(to: &bia) { b in
                try dnnlCheck(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, alg, &src, &wts, bias != nil ? b : nil,
                                                                 &dst, strides, pad, padR), "dnnl_convolution_forward_desc_init")
            }
            return try withExtendedLifetime(attr) { try Primitive.make(&cd, attr: attr.attr, engine: engine, name: name) }
        }
        let prim: Primitive
        if alg == .winograd {
            guard ConvolutionAlgorithm.winogradApplies(computeType: computeType, kernelHeight: kernelHeight, kernelWidth: kernelWidth,
                                                       stride: stride, groups: groups), padding == paddingWidth else { return nil }
            if let p = try? make(dnnl_convolution_winograd) {
                prim = p
            } else if WinogradConvolution.applies(kernelHeight: kernelHeight, kernelWidth: kernelWidth, stride: stride,
                                                  padding: padding, groups: groups, computeType: computeType, activation: activation) {
                // oneDNN has no Winograd for this CPU: Graft's own.
                let wino = WinogradConvolution(inChannels: inChannels, outChannels: outChannels, padding: padding, engine: engine)
                let weights = try weightCopies.value(for: try wino.weightsDesc) {
                    try weight.withUnsafeBufferPointer {
                        try WinogradConvolution.transformWeights($0.baseAddress!, out: outChannels, in: inChannels, transposed: false, engine: engine)
                    }
                }
                return Plan(primitive: nil, winograd: wino, src: try WinogradConvolution.activationDesc(input.dims),
                            dst: try WinogradConvolution.activationDesc(outDims), weights: weights)
            } else {
                return nil
            }
        } else {
            prim = try make(dnnl_convolution_direct)
        }
        let wmd = prim.md(dnnl_query_weights_md)
        let weights = try weightCopies.value(for: wmd) {
            let plainW = try weight.withUnsafeBufferPointer { buf -> Tensor in
                let t = try Tensor(desc: .plain(weightDims, .f32), engine: engine)
                t.storage.copyMemory(from: buf.baseAddress!, byteCount: buf.count * 4)
                return t
            }
            return try engine.reorder(plainW, to: wmd)
        }
        return Plan(primitive: prim, src: prim.md(dnnl_query_src_md), dst: prim.md(dnnl_query_dst_md), weights: weights)
    }

    /// A plan's forward on scratch tensors of its shapes, to be timed (see `ConvolutionTuner`).
    private func runner(_ p: Plan, sum: Bool) throws -> () throws -> Void {
        let x = try ConvolutionTuner.scratch(p.src, engine: engine)
        let y = sum ? try ConvolutionTuner.scratch(p.dst, engine: engine) : try Tensor(desc: p.dst, engine: engine)
        return { try self.run(p, x, y, sum: sum) }
    }

    /// The oneDNN implementations of the cached primitives (`jit_wino_4x3:avx512_core`...).
    public var implementations: [String] { plans.values.map(\.implementation) }

    /// How many (input layout, fusion) primitives are cached.
    public var cachedPlanCount: Int { plans.count }

    /// The oneDNN implementation chosen for an input layout (for diagnostics and benchmarks).
    public func implementation(for input: MemoryDesc) throws -> String {
        try plan(for: input, sum: false).implementation
    }
}
