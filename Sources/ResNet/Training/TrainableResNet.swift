import Checkpoint
import Engine

/// A torchvision ResNet that trains on oneDNN: train-mode forward (batch statistics), softmax
/// cross-entropy, backward into `Parameter.grad`, running-statistics updates as PyTorch makes
/// them, and a torchvision-keyed state dict. Activations stay in oneDNN's blocked layouts.
/// Nothing below the lowest trainable layer is differentiated, and it runs as inference when
/// its batch norms use running statistics.
public final class TrainableResNet {
    /// The trunk's architecture (its `numClasses` is the state dict's `fc`).
    public let spec: ResNetSpec
    public let head: HeadPolicy
    public let numClasses: Int
    public let engine: CPUEngine
    /// Every weight and bias, in state-dict order.
    public let parameters: [Parameter]
    /// Batch norms whose weight is frozen: `.train` (PyTorch's behaviour with
    /// `requires_grad=False`, the default) or `.eval`.
    public var frozenBN: FrozenBN = .train
    /// `.direct` (PyTorch's arithmetic, the default) or `.winograd` for 3x3 stride-1 convs: about
    /// twice as fast a training step, with larger rounding differences (see `ConvolutionAlgorithm`).
    /// With `.winograd` the fc-only path runs the trunk unfolded (Winograd beats the folded graph).
    public var convolutionAlgorithm: ConvolutionAlgorithm = .direct {
        didSet {
            stem.conv.algorithm = convolutionAlgorithm
            for b in blocks {
                for c in b.convs { c.algorithm = convolutionAlgorithm }
                b.downsample?.conv.algorithm = convolutionAlgorithm
            }
        }
    }

    /// `.f32` (the default) or `.bf16`: mixed precision as PyTorch's CPU autocast to bfloat16
    /// does it. With `.bf16` every conv computes forward, backward-data and backward-weights in
    /// bfloat16 with f32 accumulation, and (with `bf16Activations`, the default) writes its output
    /// and input gradient as bf16, so batch norm, ReLU, the residual add and pooling read and
    /// write bf16 too (computing in f32 inside), as under PyTorch's autocast, where a conv's
    /// output is bf16 and the layers after it keep that type. Master weights stay f32:
    /// `Parameter.value` and `Parameter.grad` are float32, weights are converted to bf16 at each
    /// step and weight gradients come back as f32 (oneDNN writes f32 `diff_weights`). `fc`,
    /// logits and the loss stay f32. A frozen trunk's folded inference graph (`fc` policy, frozen BN `.eval`) runs
    /// `ResNetModel`'s bf16 inference. Winograd is f32-only: with `.bf16` every conv is direct.
    /// Set it with `setPrecision(_:)`, which refuses bf16 on a CPU without bf16 kernels.
    public private(set) var precision: Precision = .f32

    /// Switches the arithmetic of the next steps; throws `EngineError.bf16Unavailable` for
    /// `.bf16` on a CPU without bf16 kernels (see `CPUCapabilities`), leaving it unchanged.
    public func setPrecision(_ newValue: Precision) throws {
        try newValue.requireSupport()
        guard newValue != precision else { return }
        precision = newValue
        applyPrecision()
    }

    /// Each conv's weight name and the oneDNN implementations its last forward ran (forward,
    /// and backward-data / backward-weights when a training step created them): a diagnostic,
    /// e.g. `jit_bf16:avx512_core_bf16` under `.bf16`.
    public var convolutionImplementations: [(name: String, implementations: [String])] {
        var convs = [stem.conv]
        for b in blocks { convs += b.convs + (b.downsample.map { [$0.conv] } ?? []) }
        return convs.map { ($0.weight.name, $0.implementations) }.filter { !$0.1.isEmpty }
    }

    private func applyPrecision() {
        var convs = [stem.conv]
        for b in blocks { convs += b.convs + (b.downsample.map { [$0.conv] } ?? []) }
        for c in convs {
            c.computeType = precision.dataType
            c.activationType = precision == .bf16 && bf16Activations ? .bf16 : .f32
        }
        foldedTrunk = nil
    }

    /// With `.bf16`: true (the default) keeps what flows between convs (batch norm, ReLU, the
    /// residual add, pooling, and their gradients) bf16, as PyTorch's CPU autocast does (checked:
    /// under `torch.autocast("cpu", torch.bfloat16)` conv, batch norm and ReLU outputs are all
    /// bfloat16), and is about 5 % faster on a resnet34 step; false converts each conv's output
    /// and input gradient to f32, so the layers between convs run f32 (closer to an f32 run,
    /// more memory traffic).
    public var bf16Activations = true {
        didSet { if bf16Activations != oldValue { applyPrecision() } }
    }

    let stem: (conv: TrainConv2d, bn: TrainBatchNorm, pool: TrainPool2d)
    let blocks: [TrainableBlock]
    let avgPool: TrainPool2d
    let fcs: [TrainLinear]
    /// Batch norms by state-dict prefix (`layer1.0.bn1`).
    let batchNorms: [(prefix: String, bn: TrainBatchNorm)]

    public var architecture: String { spec.name }

    /// The inference graph (batch norms folded into convs) of a frozen trunk, and the
    /// `trunkVersion` it was built at. Used while no trunk parameter trains: optimizers then
    /// cannot change the trunk, and only batch-statistics steps change its running statistics.
    private var foldedTrunk: (model: ResNetModel, version: Int)?
    private var trunkVersion = 0

    /// - Parameters:
    ///   - stateDict: torchvision-keyed weights; nil to start from torchvision's initialisation
    ///     of `architecture` (`resnet18`...) drawn from `seed`.
    ///   - head: what becomes of `fc`; new layers are initialised from `seed`.
    ///   - precision: `.f32`, or `.bf16` compute with f32 master weights (see `precision`);
    ///     `.bf16` throws `EngineError.bf16Unavailable` on a CPU without bf16 kernels.
    public init(stateDict: StateDict?, architecture: String? = nil, head: HeadPolicy, seed: UInt64,
                precision: Precision = .f32, engine: CPUEngine = .shared) throws {
        try precision.requireSupport()
        var rng = InitRandom(seed: seed)
        let sd: StateDict
        if let given = stateDict {
            sd = given
        } else {
            guard let name = architecture, let s = TrainableResNet.spec(named: name) else {
                throw ResNetError.badInput("no state dict and no known architecture (\(architecture ?? "nil")); use one of "
                    + TrainableResNet.architectures.joined(separator: ", "))
            }
            sd = TrainableResNet.initialStateDict(s, rng: &rng)
        }
        spec = try ResNetSpec.detect(shapes: sd.items.map { ($0.key, $0.value.shape) })
        if stateDict != nil, let name = architecture, name != spec.name {
            throw ResNetError.badInput("the state dict holds a \(spec.name), not a \(name)")
        }
        self.head = head
        self.engine = engine

        var params: [Parameter] = []
        var bns: [(String, TrainBatchNorm)] = []
        func floats(_ key: String) throws -> [Float] {
            guard let t = sd[key] else { throw ResNetError.layoutMismatch(missing: [key], unexpected: [], wrongShapes: []) }
            guard t.dtype.isFloatingPoint else { throw ResNetError.unsupportedDType(key: key, dtype: t.dtype.rawValue) }
            return t.floats()
        }
        func param(_ name: String, _ shape: [Int], _ values: [Float]) -> Parameter {
            let p = Parameter(name: name, shape: shape, values: values)
            params.append(p)
            return p
        }
        func conv(_ prefix: String, stride: Int, padding: Int, groups: Int = 1) throws -> TrainConv2d {
            let key = "\(prefix).weight"
            return try TrainConv2d(weight: param(key, sd[key]?.shape ?? [], floats(key)), stride: stride, padding: padding,
                                   groups: groups, engine: engine)
        }
        func bn(_ prefix: String, relu: Bool) throws -> TrainBatchNorm {
            let c = sd["\(prefix).weight"]?.shape ?? []
            let b = try TrainBatchNorm(weight: param("\(prefix).weight", c, floats("\(prefix).weight")),
                                       bias: param("\(prefix).bias", c, floats("\(prefix).bias")),
                                       runningMean: floats("\(prefix).running_mean"), runningVar: floats("\(prefix).running_var"),
                                       numBatchesTracked: sd["\(prefix).num_batches_tracked"]?.int64s().first ?? 0,
                                       fusedReLU: relu, engine: engine)
            bns.append((prefix, b))
            return b
        }

        stem = (try conv("conv1", stride: 2, padding: 3), try bn("bn1", relu: true),
                TrainPool2d(.max(kernel: 3, stride: 2, padding: 1), engine: engine))
        var blocks: [TrainableBlock] = []
        for (s, n) in spec.layers.enumerated() {
            for i in 0..<n {
                let pre = "layer\(s + 1).\(i)"
                let stride = i == 0 ? spec.stride(stage: s) : 1
                var convs: [TrainConv2d] = [], norms: [TrainBatchNorm] = []
                switch spec.block {
                case .basic:
                    convs.append(try conv("\(pre).conv1", stride: stride, padding: 1)); norms.append(try bn("\(pre).bn1", relu: true))
                    convs.append(try conv("\(pre).conv2", stride: 1, padding: 1)); norms.append(try bn("\(pre).bn2", relu: false))
                case .bottleneck:
                    convs.append(try conv("\(pre).conv1", stride: 1, padding: 0)); norms.append(try bn("\(pre).bn1", relu: true))
                    convs.append(try conv("\(pre).conv2", stride: stride, padding: 1, groups: spec.groups))
                    norms.append(try bn("\(pre).bn2", relu: true))
                    convs.append(try conv("\(pre).conv3", stride: 1, padding: 0)); norms.append(try bn("\(pre).bn3", relu: false))
                }
                var ds: (conv: TrainConv2d, bn: TrainBatchNorm)?
                if i == 0 && spec.hasDownsample(stage: s) {
                    ds = (try conv("\(pre).downsample.0", stride: stride, padding: 0), try bn("\(pre).downsample.1", relu: false))
                }
                blocks.append(TrainableBlock(convs: convs, bns: norms, downsample: ds, engine: engine))
            }
        }
        self.blocks = blocks
        avgPool = TrainPool2d(.globalAverage, engine: engine)

        let fcIn = spec.planes[3] * spec.block.expansion
        switch head {
        case .keep:
            fcs = [try TrainLinear(weight: param("fc.weight", [spec.numClasses, fcIn], floats("fc.weight")),
                                   bias: param("fc.bias", [spec.numClasses], floats("fc.bias")), engine: engine)]
            numClasses = spec.numClasses
        case let .replace(n):
            guard n > 0 else { throw ResNetError.badInput("the new head needs at least one class, got \(n)") }
            let (w, b) = rng.linear(out: n, in: fcIn)
            fcs = [try TrainLinear(weight: param("fc.weight", [n, fcIn], w), bias: param("fc.bias", [n], b), engine: engine)]
            numClasses = n
        case let .append(n):
            guard n > 0 else { throw ResNetError.badInput("the new head needs at least one class, got \(n)") }
            let k = spec.numClasses
            let old = try TrainLinear(weight: param("fc.0.weight", [k, fcIn], floats("fc.weight")),
                                      bias: param("fc.0.bias", [k], floats("fc.bias")), engine: engine)
            old.weight.trainable = false; old.bias.trainable = false
            let (w, b) = rng.linear(out: n, in: k)
            fcs = [old, try TrainLinear(weight: param("fc.1.weight", [n, k], w), bias: param("fc.1.bias", [n], b), engine: engine)]
            numClasses = n
        }
        parameters = params
        batchNorms = bns
        self.precision = precision
        applyPrecision()
    }

    /// Sets `trainable` on every parameter by its state-dict name. With `.append`, the
    /// pretrained `fc.0` stays frozen whatever `trains` says.
    public func setTrainable(_ trains: (String) -> Bool) {
        var keepFrozen = false
        if case .append = head { keepFrozen = true }
        for p in parameters { p.trainable = trains(p.name) && !(keepFrozen && p.name.hasPrefix("fc.0.")) }
        weightsChanged()
    }

    /// Call after changing parameter values other than by an optimizer step on trainable
    /// parameters (loading weights, editing frozen ones): cached copies of frozen weights go.
    public func weightsChanged() {
        trunkVersion += 1
        stem.conv.weightsChanged()
        for b in blocks {
            for c in b.convs { c.weightsChanged() }
            b.downsample?.conv.weightsChanged()
        }
    }

    // MARK: - Running

    private func statistics(_ bn: TrainBatchNorm) -> TrainBatchNorm.Statistics {
        bn.isFrozen && frozenBN == .eval ? .running : .batch
    }

    /// 0: the stem; 1...blocks.count: the blocks; blocks.count + 1: the head.
    private var lowestTrainableNode: Int {
        if [stem.conv.weight, stem.bn.weight, stem.bn.bias].contains(where: \.trainable) { return 0 }
        if let i = blocks.firstIndex(where: { $0.parameters.contains(where: \.trainable) }) { return i + 1 }
        return blocks.count + 1
    }

    private func input(_ images: UnsafeBufferPointer<Float>, _ batch: Int, _ height: Int, _ width: Int) throws -> Tensor {
        try imageBatch(images, batch: batch, height: height, width: width, engine: engine)
    }

    private var trunkIsFrozen: Bool { lowestTrainableNode > blocks.count }

    /// The folded inference model of the current (frozen) trunk; its `fc` is a placeholder.
    private func folded() throws -> ResNetModel {
        if let f = foldedTrunk, f.version == trunkVersion { return f.model }
        foldedTrunk = nil
        var sd = StateDict()
        for (k, v) in stateDict().items where !k.hasPrefix("fc.") { sd[k] = v }
        let c = spec.planes[3] * spec.block.expansion
        sd["fc.weight"] = TensorData(shape: [1, c], floats: [Float](repeating: 0, count: c))
        sd["fc.bias"] = TensorData(shape: [1], floats: [0])
        let model = try ResNetModel(stateDict: sd, precision: precision, engine: engine)
        foldedTrunk = (model, trunkVersion)
        return model
    }

    /// Eval-mode pooled features as a plain `[N, C]` tensor: the folded graph when the trunk is
    /// frozen, else the training graph with running statistics.
    private func evalFeatures(_ images: UnsafeBufferPointer<Float>, _ batch: Int, _ height: Int, _ width: Int) throws -> Tensor {
        let x = try input(images, batch, height, width)
        // The folded graph computes direct convs; with Winograd the unfolded one is faster.
        guard trunkIsFrozen, convolutionAlgorithm == .direct else {
            return try trunk(x, lowest: blocks.count + 2, statistics: { _ in .running })
        }
        let f = try folded().features(images: images, batch: batch, height: height, width: width)
        return try Tensor(shape: [batch, f.count / batch], values: f, engine: engine)
    }

    /// Stem, blocks and pooling: pooled features as a plain `[N, C]` tensor.
    private func trunk(_ x: Tensor, lowest: Int, statistics: (TrainBatchNorm) -> TrainBatchNorm.Statistics) throws -> Tensor {
        func pass(_ node: Int) -> PassKind { node >= lowest ? .training : .inference }
        var h = try stem.conv.forward(x, pass: pass(0))
        h = try stem.bn.forward(h, statistics: statistics(stem.bn), pass: pass(0))
        h = try stem.pool.forward(h, pass: pass(0))
        for (i, b) in blocks.enumerated() { h = try b.forward(h, pass: pass(i + 1), statistics: statistics) }
        let pooled = try avgPool.forward(h, pass: pass(blocks.count))
        let n = pooled.shape[0], c = pooled.shape[1]
        return try Tensor(shape: [n, c], values: pooled.floats(), engine: engine)
    }

    /// One training step; see the type's documentation. Zeroes every gradient first.
    public func trainStep(images: UnsafeBufferPointer<Float>, labels: [Int], batch: Int, height: Int, width: Int,
                          labelSmoothing: Float = 0) throws -> (loss: Float, logits: [Float]) {
        guard labels.count == batch else { throw ResNetError.badInput("\(labels.count) labels for a batch of \(batch)") }
        let x = try input(images, batch, height, width)
        for p in parameters { p.zeroGrad() }
        defer { release() }
        let lowest = lowestTrainableNode
        let trunkTrains = lowest <= blocks.count
        var h: Tensor
        if !trunkTrains && frozenBN == .eval {
            h = try evalFeatures(images, batch, height, width)
        } else {
            trunkVersion += 1  // weights may train, running statistics move
            // Keep a step's activation buffers for the next step instead of faulting them in again.
            engine.buffers.limitBytes = max(engine.buffers.limitBytes, 3 << 30)
            h = try trunk(x, lowest: lowest, statistics: statistics)
        }
        for fc in fcs { h = try fc.forward(h) }
        let logits = try h.floats()
        let (loss, grad) = try SoftmaxCrossEntropyLoss.lossAndGradient(logits: logits, labels: labels, classes: numClasses,
                                                                       labelSmoothing: labelSmoothing)
        var g = try Tensor(shape: [batch, numClasses], values: grad, engine: engine)
        for j in fcs.indices.reversed() {
            let below = trunkTrains || fcs[0..<j].contains { $0.weight.trainable || $0.bias.trainable }
            guard let gi = try fcs[j].backward(outputGrad: g, needInputGrad: below) else { break }
            g = gi
        }
        guard trunkTrains else { return (loss, logits) }
        let c = g.shape[1]
        g = try avgPool.backward(outputGrad: Tensor(shape: [batch, c, 1, 1], values: g.floats(), engine: engine))
        for i in blocks.indices.reversed() where i + 1 >= lowest {
            guard let gi = try blocks[i].backward(outputGrad: g, needInputGrad: i + 1 > lowest) else { break }
            g = gi
        }
        if lowest == 0 {
            g = try stem.bn.backward(outputGrad: stem.pool.backward(outputGrad: g))
            _ = try stem.conv.backward(outputGrad: g, needInputGrad: false)
        }
        return (loss, logits)
    }

    private func release() {
        stem.conv.release(); stem.bn.release(); stem.pool.release()
        for b in blocks { b.release() }
        avgPool.release()
        for f in fcs { f.release() }
    }

    /// Eval-mode logits `[batch, numClasses]` (running statistics throughout).
    public func evalLogits(images: UnsafeBufferPointer<Float>, batch: Int, height: Int, width: Int) throws -> [Float] {
        defer { release() }
        var h = try evalFeatures(images, batch, height, width)
        for fc in fcs { h = try fc.forward(h) }
        return try h.floats()
    }

    /// Eval-mode pooled features `[batch, C]`: the input of `fc`.
    public func features(images: UnsafeBufferPointer<Float>, batch: Int, height: Int, width: Int) throws -> [Float] {
        defer { release() }
        return try evalFeatures(images, batch, height, width).floats()
    }
}
