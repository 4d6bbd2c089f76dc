import Checkpoint
import Engine
import Random

/// A model that trains, derived from its architecture's graph: a train-mode forward (batch
/// statistics, dropout), softmax cross-entropy, and backward as the reverse walk of the same
/// steps into `Parameter.grad`, running statistics updated as PyTorch does; evaluation with
/// running statistics; and the folded `InferenceModel` of its current values. Parameters are
/// named by their state-dict keys. Activations stay in oneDNN's blocked layouts; nothing
/// below the lowest trainable parameter is differentiated; a frozen trunk runs the folded
/// inference plan.
public final class Network {
    /// The graph, with the head this network has, and the family's conventions.
    public let architecture: Architecture
    public let engine: CPUEngine
    /// Every weight and bias, in state-dict order.
    public let parameters: [Parameter]
    /// Batch norms whose weight is frozen: `.train` (PyTorch's behaviour with
    /// `requires_grad=False`, the default) or `.eval` (running statistics, not updated).
    public var frozenBN: FrozenBN = .train
    /// Called during a training step's backward each time an op's gradients are final, with
    /// its parameters: a data-parallel trainer starts reducing them while backward goes on
    /// (`GradientReducer`).
    public var onGradientsReady: (([Parameter]) -> Void)?
    /// Whether backward overwrites a gradient once it has been read (oneDNN's in-place batch
    /// norm, ReLU and add backward), which keeps fewer activation-sized buffers alive. Off, every
    /// gradient gets its own buffer: the same bits, more memory (a check, for the tests).
    var overwritesGradients = true
    /// Sums per-channel figures over the job's processes (MPI allreduce), or nil: with it, every
    /// batch norm that uses batch statistics normalises with the statistics of all processes'
    /// batches together, as `torch.nn.SyncBatchNorm` (see `TrainBatchNorm.crossProcessSum`).
    public var batchNormSum: ((inout [Double]) -> Void)? {
        didSet { for b in batchNorms { b.bn.crossProcessSum = batchNormSum } }
    }

    /// Whether dropout layers drop in training mode (off: the identity, to compare with a
    /// torch model whose dropout has p = 0).
    public var dropoutEnabled = true {
        didSet { for d in steps { (d as? DropoutStep)?.dropout.enabled = dropoutEnabled } }
    }
    /// The seed of dropout's masks; each training step draws them from
    /// `SeededRandom(seed: dropoutSeed, stream: dropoutStream..., layer)`: a trainer sets the
    /// stream per batch (epoch, batch, rank), so that a resumed run draws the same masks.
    public var dropoutSeed: UInt64
    public var dropoutStream: [UInt64] = [0]

    let steps: [TrainStep]
    /// For each value, the outputs of the steps that read it.
    let readers: [[Int]]
    /// The graph node each parameter belongs to.
    private let nodeOf: [ObjectIdentifier: Int]

    /// Marks of the last `freeze`: whether each value's gradient is needed (it depends on a
    /// trainable parameter), and the value the trainable part reads when everything before it
    /// is frozen (nil when the trainable part reads more than one value).
    private(set) var requiresGrad: [Bool] = []
    private(set) var cut: Int?

    /// The folded inference model of the frozen trunk and the `trunkVersion` it was built at.
    var foldedTrunk: (model: InferenceModel, version: Int)?
    var trunkVersion = 0

    public var numClasses: Int { architecture.numClasses }
    /// `resnet34`, `vgg16_bn`...
    public var name: String { architecture.name }

    /// How the 3x3 stride-1 convs compute: `.direct` (PyTorch's arithmetic, the default here),
    /// `.winograd` (about 1.4-1.6x as fast a training step, with larger rounding differences,
    /// see `ConvolutionAlgorithm`), or `.auto`: per input shape, the faster of the two as
    /// `convolutionTuner` measured it. bf16 convs are always direct. With `.winograd` a frozen
    /// trunk runs unfolded (Winograd beats the folded graph); with `.auto` it runs the folded
    /// graph, each 3x3 stride-1 conv as the tuner chose for its shape in evaluation.
    public var convolution: ConvolutionChoice = .direct {
        didSet { applyConvolution(); foldedTrunk = nil }
    }

    /// Measures and records `.auto`'s choices; give it an earlier run's decisions to reuse them.
    public var convolutionTuner = ConvolutionTuner() {
        didSet { applyConvolution(); foldedTrunk = nil }
    }

    /// `.f32` (the default) or `.bf16`: mixed precision as PyTorch's CPU autocast to bfloat16
    /// does it. With `.bf16` every conv computes forward, backward-data and backward-weights in
    /// bfloat16 with f32 accumulation, and (with `bf16Activations`, the default) writes its output
    /// and input gradient as bf16, so batch norm, ReLU, the residual add and pooling read and
    /// write bf16 too (computing in f32 inside), as under PyTorch's autocast. Master weights stay
    /// f32. Linears, logits and the loss stay f32. A frozen trunk's folded graph runs the bf16
    /// inference plan. Winograd is f32-only. Set it with `setPrecision(_:)`.
    public private(set) var precision: Precision = .f32

    /// With `.bf16`: true (the default) keeps what flows between convs bf16, as PyTorch's CPU
    /// autocast does; false converts each conv's output and input gradient to f32.
    public var bf16Activations = true {
        didSet { if bf16Activations != oldValue { applyPrecision() } }
    }

    /// - Parameters:
    ///   - stateDict: torchvision-keyed weights (an appended head included); nil to start from
    ///     torchvision's initialisation of `architecture` (a variant name of any family, see
    ///     `Families`) drawn from `seed`.
    ///   - head: what becomes of the classifier; new layers are initialised from `seed`.
    ///   - precision: `.bf16` throws `EngineError.bf16Unavailable` on a CPU without bf16 kernels.
    public init(stateDict: StateDict?, architecture name: String? = nil, head policy: HeadPolicy, seed: UInt64,
                precision: Precision = .f32, engine: CPUEngine = .shared) throws {
        try precision.requireSupport()
        var rng = SeededRandom(initialisationSeed: seed)
        let sd: StateDict
        if let given = stateDict {
            sd = given
        } else {
            guard let name, let arch = Families.architecture(variant: name) else { throw ModelError.unknownArchitecture(name: name) }
            sd = arch.initialStateDict(rng: &rng)
        }
        // A new head needs nothing of the old one: a backbone saved without its classifier will do.
        var replacing = false
        if case .replace = policy { replacing = true }
        let source = try Architecture.detect(sd, requireHead: !replacing)
        if stateDict != nil, let name, name != source.name {
            throw ModelError.architectureMismatch(holds: source.name, asked: name)
        }

        // The classifier the policy asks for, and the values of its layers.
        let headPath = source.headPath
        var headValues: [String: [Float]] = [:]
        let head: HeadShape
        switch policy {
        case .keep:
            guard let h = source.head else { throw ModelError.badInput("the state dict has no classifier (\(headPath)) to keep") }
            head = h
        case let .replace(n):
            guard n > 0 else { throw ModelError.noClasses(n) }
            head = .linear(classes: n)
            let (w, b) = rng.linear(out: n, in: Self.headInput(source))
            headValues = [headPath["weight"]: w, headPath["bias"]: b]
        case let .append(n):
            guard n > 0, let old = source.head else { throw ModelError.noClasses(n) }
            // The pretrained Linear stays: `fc`, or `fc.0` of a state dict whose head was appended before.
            let (pretrained, at): (Int, ModulePath)
            switch old {
            case .linear(let p): (pretrained, at) = (p, headPath)
            case .appended(let p, _): (pretrained, at) = (p, headPath.pp(0))
            }
            head = .appended(pretrained: pretrained, classes: n)
            let (w, b) = rng.linear(out: n, in: pretrained)
            headValues = [headPath.pp(0)["weight"]: try sd.floats(at["weight"]), headPath.pp(0)["bias"]: try sd.floats(at["bias"]),
                          headPath.pp(1)["weight"]: w, headPath.pp(1)["bias"]: b]
        }
        let arch = source.with(head: head)
        // An auxiliary classifier (Inception's AuxLogits.fc) gets a new Linear with the new
        // head: it predicts the same classes.
        if policy != .keep {
            for aux in arch.graph.auxiliary {
                let (w, b) = rng.linear(out: head.classes, in: aux.inFeatures)
                headValues[aux.head["weight"]] = w
                headValues[aux.head["bias"]] = b
            }
        }
        architecture = arch
        self.engine = engine
        func floats(_ key: String) throws -> [Float] { try headValues[key] ?? sd.floats(key) }

        var params: [Parameter] = [], nodeOf: [ObjectIdentifier: Int] = [:]
        func param(_ node: Int, _ name: String, _ shape: [Int]) throws -> Parameter {
            let key = arch.graph.nodes[node].path[name]
            let p = Parameter(name: key, shape: shape, values: try floats(key))
            params.append(p)
            nodeOf[ObjectIdentifier(p)] = node
            return p
        }
        let g = arch.graph
        let consumers = g.consumers
        // The activation reading `v` alone, which the op making `v` takes as a post-op: one
        // differentiated from the op's output (ReLU, ReLU6), and for batch norm and add ReLU
        // alone (oneDNN's training batch norm fuses ReLU only; the add's step applies ReLU);
        // any other is a step of its own.
        func activation(after v: Int, reluOnly: Bool = false) -> (node: Int, kind: Activation)? {
            guard consumers[v].count == 1, case .activation(let a) = g.nodes[consumers[v][0]].op,
                  a.backwardFromOutput, !reluOnly || a == .relu else { return nil }
            return (consumers[v][0], a)
        }
        var steps: [TrainStep] = []
        var done = Set<Int>()
        for (i, node) in g.nodes.enumerated() where !done.contains(i) {
            let x = node.inputs.first ?? 0
            switch node.op {
            case .conv(let c):
                let weight = try param(i, "weight", c.weightShape)
                let bias = c.bias ? try param(i, "bias", [c.outChannels]) : nil
                // An activation straight after the conv (no batch norm between: VGG) is its post-op.
                let act = activation(after: i + 1)
                if let a = act { done.insert(a.node) }
                let conv = try TrainConv2d(weight: weight, bias: bias, stride: c.stride, padding: c.padding, paddingWidth: c.paddingWidth, groups: c.groups,
                                           activation: act?.kind, engine: engine)
                steps.append(ConvStep(conv, input: x, nodes: [i] + (act.map { [$0.node] } ?? [])))
            case .batchNorm(let b):
                let act = activation(after: i + 1, reluOnly: true)
                let ch = [b.channels]
                let bn = try TrainBatchNorm(weight: param(i, "weight", ch), bias: param(i, "bias", ch),
                                            runningMean: floats(node.path["running_mean"]), runningVar: floats(node.path["running_var"]),
                                            numBatchesTracked: sd[node.path["num_batches_tracked"]]?.int64s().first ?? 0,
                                            eps: b.eps, momentum: b.momentum, activation: act?.kind, engine: engine)
                if let a = act { done.insert(a.node) }
                steps.append(BatchNormStep(bn, input: x, nodes: [i] + (act.map { [$0.node] } ?? [])))
            case .add:
                let act = activation(after: i + 1, reluOnly: true)
                if let a = act { done.insert(a.node) }
                steps.append(AddStep(inputs: node.inputs, nodes: [i] + (act.map { [$0.node] } ?? []), activation: act?.kind, engine: engine))
            case .activation(let a):
                steps.append(ActivationStep(try TrainActivation(a, engine: engine), input: x, node: i))
            case .maxPool(let p):
                steps.append(PoolStep(TrainPool2d(.max(kernel: p.kernel, stride: p.stride, padding: p.padding), engine: engine), input: x, node: i))
            case .avgPool(let p):
                steps.append(PoolStep(TrainPool2d(.average(kernel: p.kernel, stride: p.stride, padding: p.padding), engine: engine), input: x, node: i))
            case let .adaptiveAvgPool(h, w):
                let kind: TrainPool2d.Kind = h == 1 && w == 1 ? .globalAverage : .adaptiveAverage(height: h, width: w)
                steps.append(PoolStep(TrainPool2d(kind, engine: engine), input: x, node: i))
            case .flatten:
                steps.append(FlattenStep(input: x, node: i, engine: engine))
            case .linear(let l):
                let w = try param(i, "weight", [l.outFeatures, l.inFeatures])
                let b = l.bias ? try param(i, "bias", [l.outFeatures]) : nil
                let act = activation(after: i + 1)
                if let a = act { done.insert(a.node) }
                steps.append(LinearStep(try TrainLinear(weight: w, bias: b, activation: act?.kind, engine: engine),
                                        input: x, nodes: [i] + (act.map { [$0.node] } ?? [])))
            case .dropout(let p):
                steps.append(DropoutStep(try TrainDropout(p: Float(p), engine: engine), input: x, node: i))
            case .stochasticDepth(let p):
                steps.append(DropoutStep(try TrainDropout(p: Float(p), perSample: true, engine: engine), input: x, node: i))
            case .multiply:
                steps.append(MultiplyStep(TrainMultiply(engine: engine), inputs: node.inputs, node: i))
            case .layerScale(let c):
                steps.append(LayerScaleStep(try TrainChannelScale(gamma: param(i, "layer_scale", [c, 1, 1]), engine: engine), input: x, node: i))
            case let .layerNorm(c, eps):
                let ln = try TrainChannelLayerNorm(weight: param(i, "weight", [c]), bias: param(i, "bias", [c]), eps: eps, engine: engine)
                steps.append(LayerNormStep(ln, input: x, node: i))
            case .concat:
                steps.append(ConcatStep(TrainConcat(engine: engine), inputs: node.inputs, node: i))
            case let .channelAffine(scale, shift):
                steps.append(ChannelAffineStep(try ChannelAffine(scale: scale, shift: shift, engine: engine), input: x, node: i))
            }
        }
        self.steps = steps
        var readers = [[Int]](repeating: [], count: g.nodes.count + 1)
        for st in steps { for v in st.inputs { readers[v].append(st.output) } }
        self.readers = readers
        dropoutSeed = seed
        // In state_dict() order (a layer scale's before its block's).
        let position = Dictionary(uniqueKeysWithValues: g.stateOrder.enumerated().map { ($0.element, $0.offset) })
        parameters = params.enumerated().sorted { a, b in
            let (na, nb) = (position[nodeOf[ObjectIdentifier(a.element)]!]!, position[nodeOf[ObjectIdentifier(b.element)]!]!)
            return na != nb ? na < nb : a.offset < b.offset
        }.map(\.element)
        self.nodeOf = nodeOf
        self.precision = precision
        freeze(.none)
        applyPrecision()
    }

    /// The width the classifier reads (the features, or the output of the layers before the head).
    static func headInput(_ a: Architecture) -> Int {
        for n in a.graph.nodes where a.isHead(n) { if case .linear(let l) = n.op { return l.inFeatures } }
        return a.featureCount
    }

    var batchNorms: [BatchNormStep] { steps.compactMap { $0 as? BatchNormStep } }
    public var convolutions: [TrainConv2d] { steps.compactMap { ($0 as? ConvStep)?.conv } }

    /// Whether `p` is the pretrained Linear kept under an appended head (always frozen).
    private func isPretrainedHead(_ node: Node) -> Bool {
        if case .appended = architecture.head { return node.path == architecture.headPath.pp(0) }
        return false
    }

    /// Marks which parameters train (`trainable`) and caches what a step needs to know: which
    /// values need gradients (how far down backward goes) and where the trainable part begins.
    /// A pretrained `<head>.0` under an appended head stays frozen.
    public func freeze(_ policy: FreezePolicy) {
        freezePolicy = policy
        let g = architecture.graph
        for p in parameters {
            let node = g.nodes[nodeOf[ObjectIdentifier(p)]!]
            let head = architecture.isHead(node)
            switch policy {
            case .none: p.trainable = true
            case .headOnly: p.trainable = head
            case .lastStages(let n): p.trainable = head || node.stage.map { $0 >= architecture.stageCount - n } ?? false
            case .trainOnly(let keys): p.trainable = keys.contains(p.name)
            }
            if isPretrainedHead(node) { p.trainable = false }
        }
        var needs = [Bool](repeating: false, count: g.nodes.count + 1)
        for s in steps {
            needs[s.output] = s.parameters.contains(where: \.trainable) || s.inputs.contains { needs[$0] }
        }
        requiresGrad = needs
        // The trainable part's one input: the input of the first step that trains, taken back
        // over the dropouts before it (they are the trainable part's, in training mode).
        cut = nil
        if let first = steps.firstIndex(where: { $0.output <= g.output && $0.parameters.contains(where: \.trainable) }), steps[first].inputs.count == 1 {
            var start = first
            while start > 0, steps[start - 1] is DropoutStep, steps[start - 1].output == steps[start].inputs[0] { start -= 1 }
            let c = steps[start].inputs[0]
            // An auxiliary classifier's steps (after the output) read the trunk: a forward from the
            // cut leaves out those reading below it, which must then have nothing to train.
            let left = g.auxiliary.filter { $0.input < c }.map(\.value)
            if steps[start...].allSatisfy({ s in s.output > g.output ? !(left.contains { s.output <= $0 } && s.parameters.contains(where: \.trainable))
                                                                    : s.inputs.allSatisfy { $0 >= c } }) { cut = c }
        }
        for p in parameters { p.zeroGrad() }  // a frozen parameter's gradient is zero
        weightsChanged()
    }

    /// The policy of the last `freeze` (nothing frozen before the first).
    public private(set) var freezePolicy: FreezePolicy = .none

    /// Where `p` sits for per-stage rates (fastai's layer groups): 0 to stageCount - 1 for the
    /// family's stages (the stem, before the first stage, counts as stage 0), stageCount for
    /// the head.
    public func layerGroup(of p: Parameter) -> Int {
        let node = architecture.graph.nodes[nodeOf[ObjectIdentifier(p)]!]
        if architecture.isHead(node) { return architecture.stageCount }
        return node.stage ?? 0
    }

    /// Whether nothing before the pooled features trains (only the classifier does): the
    /// trunk's outputs can be cached.
    public var trunkIsFrozen: Bool { cut.map { $0 >= architecture.features } ?? false }

    /// Call after changing parameter values other than by an optimizer step on trainable
    /// parameters (loading weights, editing frozen ones): cached copies of frozen weights go.
    public func weightsChanged() {
        trunkVersion += 1
        convolutions.forEach { $0.weightsChanged() }
    }

    /// Switches the arithmetic of the next steps; throws `EngineError.bf16Unavailable` for
    /// `.bf16` on a CPU without bf16 kernels (see `CPUCapabilities`), leaving it unchanged.
    public func setPrecision(_ newValue: Precision) throws {
        try newValue.requireSupport()
        guard newValue != precision else { return }
        precision = newValue
        applyPrecision()
    }

    private func applyPrecision() {
        for c in convolutions {
            c.computeType = precision.dataType
            c.activationType = precision == .bf16 && bf16Activations ? .bf16 : .f32
        }
        foldedTrunk = nil
    }

    private func applyConvolution() {
        for c in convolutions {
            c.algorithm = convolution == .winograd ? .winograd : .direct
            c.tuner = convolution == .auto ? convolutionTuner : nil
        }
    }

    /// Each conv's weight name and the oneDNN implementations its last forward ran (forward,
    /// and backward-data / backward-weights when a training step created them): a diagnostic.
    public var convolutionImplementations: [(name: String, implementations: [String])] {
        convolutions.map { ($0.weight.name, $0.implementations) }.filter { !$0.1.isEmpty }
    }
}

// MARK: - State dict in and out

extension Network {
    /// The current weights and running statistics with torchvision's keys, in `state_dict()`
    /// order; `num_batches_tracked` as 0-d int64. With `.replace` it loads into the torchvision
    /// constructor with `num_classes=N` and `strict=True`.
    public func stateDict() -> StateDict {
        var out = StateDict()
        let byName = Dictionary(parameters.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let bnByNode = Dictionary(batchNorms.map { ($0.nodes[0], $0.bn) }, uniquingKeysWith: { a, _ in a })
        for i in architecture.graph.stateOrder {
            let n = architecture.graph.nodes[i]
            for (name, shape) in n.op.tensors {
                let key = n.path[name]
                if let p = byName[key] { out[key] = TensorData(shape: p.shape, floats: p.values); continue }
                guard let bn = bnByNode[i] else { continue }
                switch name {
                case "running_mean": out[key] = TensorData(shape: shape, floats: bn.runningMean)
                case "running_var": out[key] = TensorData(shape: shape, floats: bn.runningVar)
                case "num_batches_tracked": out[key] = TensorData(shape: [], int64s: [bn.numBatchesTracked])
                default: break
                }
            }
        }
        return out
    }

    /// Copies parameter values saved under the parameters' names.
    public func load(parameters sd: StateDict) {
        for p in parameters {
            guard let t = sd[p.name], t.count == p.count else { continue }
            let v = t.floats()
            for i in 0..<p.count { p.value[i] = v[i] }
        }
        weightsChanged()
    }

    /// The folded inference model of the current weights and running statistics (see
    /// `InferenceModel`). `tuner`: its 3x3 stride-1 convs run what the tuner chooses per shape.
    public func inferenceModel(precision: Precision = .f32, foldBatchNorm: Bool = true, tuner: ConvolutionTuner? = nil,
                               keep: Set<Int> = []) throws -> InferenceModel {
        try InferenceModel(architecture: architecture, values: NetworkValues(self), precision: precision,
                           foldBatchNorm: foldBatchNorm, tuner: tuner, keep: keep, engine: engine)
    }

    /// Every batch norm's running mean and running variance, in state-dict order, as one vector:
    /// what a data-parallel job copies from rank 0 to the others. Setting it replaces them
    /// (the folded trunk is rebuilt at the next use).
    public var runningStatistics: [Float] {
        get { batchNorms.flatMap { $0.bn.runningMean + $0.bn.runningVar } }
        set {
            var offset = 0
            for b in batchNorms {
                let c = b.bn.channels
                precondition(offset + 2 * c <= newValue.count, "runningStatistics: \(newValue.count) values are too few")
                b.bn.runningMean = Array(newValue[offset..<(offset + c)])
                b.bn.runningVar = Array(newValue[(offset + c)..<(offset + 2 * c)])
                offset += 2 * c
            }
            weightsChanged()
        }
    }
}

/// A network's current values by state-dict key.
struct NetworkValues: TensorSource {
    let values: [String: [Float]]
    init(_ net: Network) {
        var v: [String: [Float]] = [:]
        for p in net.parameters { v[p.name] = p.values }
        let g = net.architecture.graph
        for b in net.batchNorms {
            let path = g.nodes[b.nodes[0]].path
            v[path["running_mean"]] = b.bn.runningMean
            v[path["running_var"]] = b.bn.runningVar
        }
        values = v
    }
    func floats(_ key: String) throws -> [Float] {
        guard let v = values[key] else { throw ModelError.layoutMismatch(family: "model", missing: [key], unexpected: [], wrongShapes: []) }
        return v
    }
}
