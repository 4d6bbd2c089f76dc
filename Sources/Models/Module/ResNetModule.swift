import Checkpoint
import Engine
import Random

/// A torchvision ResNet as one tree of trainable modules, built from its `ResNetLayout`: the
/// same modules serve training (train-mode forward with batch statistics, softmax
/// cross-entropy, backward into `Parameter.grad`, running statistics updated as PyTorch does)
/// and evaluation (running statistics), and the folded inference plan (`inferenceModel`) is
/// derived from it. Every module's path is its state-dict prefix. Activations stay in
/// oneDNN's blocked layouts; nothing below the lowest trainable module is differentiated.
public final class ResNetModule {
    /// The tree's blueprint: its architecture (with the head this module has) and every path.
    public let layout: ResNetLayout
    public let engine: CPUEngine
    /// Every weight and bias, in state-dict order.
    public let parameters: [Parameter]
    /// Batch norms whose weight is frozen: `.train` (PyTorch's behaviour with
    /// `requires_grad=False`, the default) or `.eval` (running statistics, not updated).
    public var frozenBN: FrozenBN = .train
    /// Called during a training step's backward each time a module's gradients are final (the
    /// head layers, each block, the stem, in that order), with its parameters: a data-parallel
    /// trainer starts reducing them while backward goes on (`GradientReducer`).
    public var onGradientsReady: (([Parameter]) -> Void)?
    /// Whether backward overwrites a gradient once it has been read (oneDNN's in-place batch
    /// norm, ReLU and add backward), which keeps fewer activation-sized buffers alive. Off, every
    /// gradient gets its own buffer: the same bits, more memory (a check, for the tests).
    var overwritesGradients = true
    /// Sums per-channel figures over the job's processes (MPI allreduce), or nil: with it, every
    /// batch norm that uses batch statistics normalises with the statistics of all processes'
    /// batches together, as `torch.nn.SyncBatchNorm` (see `TrainBatchNorm.crossProcessSum`).
    public var batchNormSum: ((inout [Double]) -> Void)? {
        didSet { for u in units { u.bn.crossProcessSum = batchNormSum } }
    }

    let stem: ConvBNModule
    let maxPool: TrainPool2d
    let blocks: [BlockModule]
    let avgPool: TrainPool2d
    /// `fc`, or `fc.0` and `fc.1` with an appended head.
    let head: [TrainLinear]

    /// Marks of the last `freeze`: the lowest trainable node (0: the stem, 1...blocks.count: the
    /// blocks, blocks.count + 1: the head) and, per head layer, whether one before it trains.
    private(set) var lowestTrainableNode = 0
    private(set) var headTrainsBelow: [Bool] = []

    /// The folded inference model of the frozen trunk and the `trunkVersion` it was built at.
    var foldedTrunk: (model: ResNetModel, version: Int)?
    var trunkVersion = 0

    public var spec: ResNetSpec { layout.spec }
    public var architecture: String { spec.name }
    public var numClasses: Int { spec.numClasses }

    /// How the 3x3 stride-1 convs compute: `.direct` (PyTorch's arithmetic, the default here),
    /// `.winograd` (about 1.4-1.6x as fast a training step, with larger
    /// rounding differences, see `ConvolutionAlgorithm`), or `.auto`: per input shape, the faster
    /// of the two as `convolutionTuner` measured it. bf16 convs are always direct. With
    /// `.winograd` a frozen trunk runs unfolded (Winograd beats the folded graph); with `.auto` it
    /// runs the folded graph (batch norm folded in, as predict runs it), each 3x3 stride-1 conv
    /// as the tuner chose for its shape in evaluation.
    public var convolution: ConvolutionChoice = .direct {
        didSet { applyConvolution(); foldedTrunk = nil }
    }

    /// Measures and records `.auto`'s choices; give it an earlier run's decisions to reuse them.
    public var convolutionTuner = ConvolutionTuner() {
        didSet { applyConvolution(); foldedTrunk = nil }
    }

    private func applyConvolution() {
        for u in units {
            u.conv.algorithm = convolution == .winograd ? .winograd : .direct
            u.conv.tuner = convolution == .auto ? convolutionTuner : nil
        }
    }

    /// `.f32` (the default) or `.bf16`: mixed precision as PyTorch's CPU autocast to bfloat16
    /// does it. With `.bf16` every conv computes forward, backward-data and backward-weights in
    /// bfloat16 with f32 accumulation, and (with `bf16Activations`, the default) writes its output
    /// and input gradient as bf16, so batch norm, ReLU, the residual add and pooling read and
    /// write bf16 too (computing in f32 inside), as under PyTorch's autocast. Master weights stay
    /// f32: `Parameter.value` and `Parameter.grad` are float32, weights are converted to bf16 at
    /// each step and weight gradients come back as f32. `fc`, logits and the loss stay f32. A
    /// frozen trunk's folded inference graph runs `ResNetModel`'s bf16 inference. Winograd is
    /// f32-only: with `.bf16` every conv is direct. Set it with `setPrecision(_:)`.
    public private(set) var precision: Precision = .f32

    /// With `.bf16`: true (the default) keeps what flows between convs bf16, as PyTorch's CPU
    /// autocast does, about 5 % faster on a resnet34 step; false converts each conv's output and
    /// input gradient to f32, so the layers between convs run f32.
    public var bf16Activations = true {
        didSet { if bf16Activations != oldValue { applyPrecision() } }
    }

    /// - Parameters:
    ///   - stateDict: torchvision-keyed weights (an appended head `fc.0`/`fc.1` included); nil
    ///     to start from torchvision's initialisation of `architecture` (a `ResNetFamily` name)
    ///     drawn from `seed`.
    ///   - head: what becomes of `fc`; new layers are initialised from `seed`.
    ///   - precision: `.bf16` throws `EngineError.bf16Unavailable` on a CPU without bf16 kernels.
    public init(stateDict: StateDict?, architecture: String? = nil, head policy: HeadPolicy, seed: UInt64,
                precision: Precision = .f32, engine: CPUEngine = .shared) throws {
        try precision.requireSupport()
        var rng = SeededRandom(initialisationSeed: seed)
        let sd: StateDict
        if let given = stateDict {
            sd = given
        } else {
            guard let name = architecture, let variant = ResNetFamily.variant(named: name) else {
                throw ResNetError.unknownArchitecture(name: architecture)
            }
            sd = ResNetModule.initialStateDict(ResNetLayout(variant.spec()), rng: &rng)
        }
        // A new head needs nothing of the old one: a backbone saved without fc will do.
        var replacing = false
        if case .replace = policy { replacing = true }
        let source = try ResNetSpec.detect(shapes: sd.items.map { ($0.key, $0.value.shape) }, requireFC: !replacing)
        if stateDict != nil, let name = architecture, name != source.name {
            throw ResNetError.architectureMismatch(holds: source.name, asked: name)
        }
        let values = StateDictValues(stateDict: sd)

        // The classifier the policy asks for, and the values of its layers.
        var spec = source
        var headValues: [(weight: [Float], bias: [Float])] = []
        switch policy {
        case .keep:
            headValues = try ResNetLayout(source).head.map { try values.linear($0) }
        case let .replace(n):
            guard n > 0 else { throw ResNetError.noClasses(n) }
            spec.head = .linear
            spec.numClasses = n
            headValues = [rng.linear(out: n, in: spec.featureCount)]
        case let .append(n):
            guard n > 0 else { throw ResNetError.noClasses(n) }
            // The pretrained Linear stays: `fc`, or `fc.0` of a state dict whose head was appended before.
            let pretrained = ResNetLayout(source).head[0]
            spec.head = .appended(pretrainedClasses: pretrained.outFeatures)
            spec.numClasses = n
            headValues = [try values.linear(pretrained), rng.linear(out: n, in: pretrained.outFeatures)]
        }
        layout = ResNetLayout(spec)
        self.engine = engine

        var params: [Parameter] = []
        func param(_ key: String, _ shape: [Int], _ v: [Float]) -> Parameter {
            let p = Parameter(name: key, shape: shape, values: v)
            params.append(p)
            return p
        }
        func unit(_ u: ConvBNLayout) throws -> ConvBNModule {
            let conv = try TrainConv2d(weight: param(u.conv["weight"], u.weightShape, values.convWeight(u)),
                                       stride: u.stride, padding: u.padding, groups: u.groups, engine: engine)
            let s = try values.batchNorm(u)
            let c = [u.channels]
            let bn = try TrainBatchNorm(weight: param(u.bn["weight"], c, s.weight), bias: param(u.bn["bias"], c, s.bias),
                                        runningMean: s.runningMean, runningVar: s.runningVar,
                                        numBatchesTracked: values.batchesTracked(u), fusedReLU: u.relu, engine: engine)
            return ConvBNModule(u, conv: conv, bn: bn)
        }
        stem = try unit(layout.stem)
        maxPool = TrainPool2d(.max(kernel: 3, stride: 2, padding: 1), engine: engine)
        blocks = try layout.blocks.map { b in
            BlockModule(b, units: try b.units.map(unit), downsample: try b.downsample.map(unit), engine: engine)
        }
        avgPool = TrainPool2d(.globalAverage, engine: engine)
        head = try zip(layout.head, headValues).map { l, v in
            try TrainLinear(weight: param(l.path["weight"], [l.outFeatures, l.inFeatures], v.weight),
                            bias: param(l.path["bias"], [l.outFeatures], v.bias), engine: engine)
        }
        parameters = params
        self.precision = precision
        freeze(.none)
        applyPrecision()
    }

    /// Every conv + batch-norm module, in state-dict order.
    var units: [ConvBNModule] { [stem] + blocks.flatMap(\.modules) }

    /// Whether `head[i]` is the pretrained `fc.0` kept under an appended head (always frozen).
    private func isPretrainedHead(_ i: Int) -> Bool {
        if case .appended = spec.head { return i == 0 }
        return false
    }

    /// Marks which modules train: walks the tree once, sets `trainable` on every parameter and
    /// caches what a step needs to know (how far down backward goes). A pretrained `fc.0`
    /// under an appended head stays frozen.
    public func freeze(_ policy: FreezePolicy) {
        func mark(_ ps: [Parameter], stage: Int?) {
            for p in ps {
                switch policy {
                case .none: p.trainable = true
                case .headOnly: p.trainable = stage == nil
                case .lastStages(let n): p.trainable = stage.map { $0 >= 4 - n } ?? true  // the head trains
                case .trainOnly(let keys): p.trainable = keys.contains(p.name)
                }
            }
        }
        mark(stem.parameters, stage: -1)
        for b in blocks { mark(b.modules.flatMap(\.parameters), stage: b.layout.stage) }
        for (i, l) in head.enumerated() {
            mark([l.weight, l.bias], stage: nil)
            if isPretrainedHead(i) { l.weight.trainable = false; l.bias.trainable = false }
        }
        stem.updateMark()
        blocks.forEach { $0.updateMarks() }
        if stem.trains { lowestTrainableNode = 0 }
        else if let i = blocks.firstIndex(where: \.trains) { lowestTrainableNode = i + 1 }
        else { lowestTrainableNode = blocks.count + 1 }
        headTrainsBelow = head.indices.map { j in head[..<j].contains { $0.weight.trainable || $0.bias.trainable } }
        for p in parameters { p.zeroGrad() }  // a frozen parameter's gradient is zero
        weightsChanged()
    }

    /// Whether no trunk parameter trains (only the head does).
    public var trunkIsFrozen: Bool { lowestTrainableNode > blocks.count }

    /// Call after changing parameter values other than by an optimizer step on trainable
    /// parameters (loading weights, editing frozen ones): cached copies of frozen weights go.
    public func weightsChanged() {
        trunkVersion += 1
        units.forEach { $0.conv.weightsChanged() }
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
        for u in units {
            u.conv.computeType = precision.dataType
            u.conv.activationType = precision == .bf16 && bf16Activations ? .bf16 : .f32
        }
        foldedTrunk = nil
    }

    /// Each conv's weight name and the oneDNN implementations its last forward ran (forward,
    /// and backward-data / backward-weights when a training step created them): a diagnostic,
    /// e.g. `jit_bf16:avx512_core_bf16` under `.bf16`.
    public var convolutionImplementations: [(name: String, implementations: [String])] {
        units.map { ($0.conv.weight.name, $0.conv.implementations) }.filter { !$0.1.isEmpty }
    }
}
