import Engine
import Random

extension Network {
    private func input(_ images: UnsafeBufferPointer<Float>, _ batch: Int, _ height: Int, _ width: Int) throws -> Tensor {
        try imageBatch(images, batch: batch, height: height, width: width, engine: engine)
    }

    /// The folded inference model of the current (frozen) trunk.
    private func folded() throws -> InferenceModel {
        if let f = foldedTrunk, f.version == trunkVersion { return f.model }
        foldedTrunk = nil
        let model = try inferenceModel(precision: precision, tuner: convolution == .auto ? convolutionTuner : nil)
        foldedTrunk = (model, trunkVersion)
        return model
    }

    /// Runs the steps `targets` need whose outputs come after value `from` (given in `values`),
    /// letting go of each value once no later step of these reads it; returns the first target.
    private func run(_ values: inout [Tensor?], from: Int, to targets: [Int], mode: TrainStep.Mode, training: Bool) throws -> Tensor {
        var live = [Bool](repeating: false, count: readers.count)
        for t in targets { live[t] = true }
        for s in steps.reversed() where live[s.output] { for v in s.inputs { live[v] = true } }
        for s in steps where s.output > from && live[s.output] {
            let x = try s.inputs.map { v -> Tensor in
                guard let t = values[v] else { throw ModelError.badInput("value \(v) is not computed before the step making \(s.output)") }
                return t
            }
            let pass: PassKind = training && requiresGrad[s.output] ? .training : .inference
            values[s.output] = try s.forward(x, pass: pass, mode: mode)
            // Let go of what no later step here reads (a step that trains keeps what it saved).
            for v in s.inputs where !targets.contains(v) && !readers[v].contains(where: { $0 > s.output && live[$0] }) {
                values[v] = nil
            }
        }
        guard let y = values[targets[0]] else { throw ModelError.badInput("value \(targets[0]) was not computed") }
        return y
    }

    private func run(_ values: inout [Tensor?], from: Int, to target: Int, mode: TrainStep.Mode, training: Bool) throws -> Tensor {
        try run(&values, from: from, to: [target], mode: mode, training: training)
    }

    /// A training forward from value `start`: the logits, and the auxiliary classifiers' logits
    /// (Inception's AuxLogits) where this forward computes what they read, as torchvision's
    /// train-mode forward does. A forward that starts past it (only the head trains, frozen batch
    /// norms in eval mode) leaves them out: they could change nothing that trains.
    private func trainForward(_ values: inout [Tensor?], from start: Int) throws -> (logits: [Float], auxiliary: [(Graph.AuxiliaryOutput, [Float])]) {
        let output = architecture.graph.output
        let aux = architecture.graph.auxiliary.filter { $0.input >= start }
        let logits = try run(&values, from: start, to: [output] + aux.map(\.value), mode: .train(frozenBN), training: true).floats()
        let auxLogits = try aux.map { a -> (Graph.AuxiliaryOutput, [Float]) in
            guard let t = values[a.value] else { throw ModelError.badInput("value \(a.value) was not computed") }
            return (a, try t.floats())
        }
        return (logits, auxLogits)
    }

    /// Eval-mode value `target` (at or after the pooled features when the trunk is frozen): the
    /// folded plan up to the features when the trunk is frozen, else the steps with running statistics.
    private func evalValue(_ target: Int, _ images: UnsafeBufferPointer<Float>, _ batch: Int, _ height: Int, _ width: Int) throws -> Tensor {
        var values = [Tensor?](repeating: nil, count: architecture.graph.nodes.count + 1)
        let features = architecture.features
        // --conv winograd runs the unfolded steps (Winograd in every 3x3 stride-1 conv, as its
        // training passes do); direct and auto run the folded graph, auto with the tuner's choices.
        guard trunkIsFrozen, convolution != .winograd, target >= features else {
            values[0] = try input(images, batch, height, width)
            return try run(&values, from: 0, to: target, mode: .eval, training: false)
        }
        let f = try folded().features(images: images, batch: batch, height: height, width: width)
        values[features] = try Tensor(shape: [batch, f.count / batch], values: f, engine: engine)
        return try run(&values, from: features, to: target, mode: .eval, training: false)
    }

    /// The loss and its gradient at the logits, then backward through the steps from the last
    /// down to the lowest that needs a gradient, each op's backward paired with its forward.
    /// An auxiliary classifier's loss counts `lossWeight` times (torchvision's Inception recipe:
    /// `out + 0.4 * aux`, the same criterion), and its gradient goes back from its logits.
    private func backward(_ logits: [Float], auxiliary: [(Graph.AuxiliaryOutput, [Float])] = [], labels: [Int], softTargets: [Float]?,
                          labelSmoothing: Float, classWeights: [Float]?) throws -> Float {
        if let q = softTargets, q.count != labels.count * numClasses {
            throw ModelError.badInput("\(q.count) target probabilities for \(labels.count) rows of \(numClasses) classes")
        }
        let targets: CrossEntropyTargets = softTargets.map { .probabilities($0) } ?? .labels(labels)
        let (main, grad) = try SoftmaxCrossEntropyLoss.lossAndGradient(logits: logits, targets: targets, classes: numClasses,
                                                                       labelSmoothing: labelSmoothing, weights: classWeights)
        var loss = main
        var grads: [Int: Tensor] = [architecture.graph.output: try Tensor(shape: [labels.count, numClasses], values: grad, engine: engine)]
        for (aux, z) in auxiliary {
            let (l, g) = try SoftmaxCrossEntropyLoss.lossAndGradient(logits: z, targets: targets, classes: numClasses,
                                                                     labelSmoothing: labelSmoothing, weights: classWeights)
            loss += aux.lossWeight * l
            if requiresGrad[aux.value] {
                grads[aux.value] = try Tensor(shape: [labels.count, numClasses], values: g.map { $0 * aux.lossWeight }, engine: engine)
            }
        }
        let add = ElementwiseAdd(engine: engine)
        for s in steps.reversed() where requiresGrad[s.output] {
            guard let dy = grads.removeValue(forKey: s.output) else { continue }
            let need = s.inputs.map { requiresGrad[$0] }
            // dy may be read again by another path (an add hands one gradient to both inputs).
            let shared = grads.values.contains { $0 === dy }
            let dxs = try s.backward(dy, need: need, overwriting: overwritesGradients && !shared)
            if !s.parameters.isEmpty { onGradientsReady?(s.parameters) }
            for (k, v) in s.inputs.enumerated() where need[k] {
                guard let dx = dxs[k] else { continue }
                guard let earlier = grads[v] else { grads[v] = dx; continue }
                // A value read by two paths: the sum of their gradients, written into one this step made.
                let own = { (t: Tensor) in !grads.contains { $0.key != v && $0.value === t } && !dxs.enumerated().contains { $0.offset != k && $0.element === t } }
                if own(dx) { grads[v] = try add(dx, earlier, relu: false, overwritingA: overwritesGradients) }
                else { grads[v] = try add(earlier, dx, relu: false, overwritingA: overwritesGradients && own(earlier)) }
            }
        }
        return loss
    }

    /// One training step: train-mode forward (batch statistics, except frozen batch norms with
    /// `frozenBN == .eval`; dropout), softmax cross-entropy, backward into the trainable
    /// parameters' gradients. Zeroes the trainable parameters' gradients first. `classWeights`:
    /// the loss's per-class weights (`--class-weights`), as `CrossEntropyLoss(weight:)`.
    /// `softTargets`: a probability row per image (`[batch, numClasses]`: mixup's and cutmix's
    /// mixed one-hot labels), the loss's target instead of `labels`, as `F.cross_entropy` with a
    /// floating-point target.
    public func trainStep(images: UnsafeBufferPointer<Float>, labels: [Int], batch: Int, height: Int, width: Int,
                          labelSmoothing: Float = 0, classWeights: [Float]? = nil,
                          softTargets: [Float]? = nil) throws -> (loss: Float, logits: [Float]) {
        guard labels.count == batch else { throw ModelError.badInput("\(labels.count) labels for a batch of \(batch)") }
        let x = try input(images, batch, height, width)
        zeroTrainableGradients()
        drawDropout()
        defer { release() }
        var values = [Tensor?](repeating: nil, count: architecture.graph.nodes.count + 1)
        let forward: (logits: [Float], auxiliary: [(Graph.AuxiliaryOutput, [Float])])
        if trunkIsFrozen && frozenBN == .eval, let c = cut {
            values[c] = try evalValue(c, images, batch, height, width)
            forward = try trainForward(&values, from: c)
        } else {
            trunkVersion += 1  // weights may train, running statistics move
            // Keep a step's activation buffers for the next step instead of faulting them in again.
            engine.buffers.limitBytes = max(engine.buffers.limitBytes, 3 << 30)
            try checkTrainingSize(height, width)
            values[0] = x
            forward = try trainForward(&values, from: 0)
        }
        values = []
        let loss = try backward(forward.logits, auxiliary: forward.auxiliary, labels: labels, softTargets: softTargets,
                                labelSmoothing: labelSmoothing, classWeights: classWeights)
        return (loss, forward.logits)
    }

    /// Refuses images too small for a training step's auxiliary classifier, which would otherwise
    /// fail deep inside (torchvision's Inception fails the same way), with the size to use.
    private func checkTrainingSize(_ height: Int, _ width: Int) throws {
        let least = architecture.minimumTrainingSize
        guard !architecture.graph.auxiliary.isEmpty, min(height, width) < least else { return }
        throw ModelError.badInput("\(architecture.name) trains on images of at least \(least)x\(least) (what its auxiliary "
            + "classifier reads is too small otherwise), not \(height)x\(width)")
    }

    /// Each dropout layer's generator for this step: from the seed, the stream and the layer.
    private func drawDropout() {
        for case let d as DropoutStep in steps {
            d.dropout.generator = SeededRandom(seed: dropoutSeed, streams: dropoutStream + [UInt64(d.nodes[0])])
        }
    }

    /// Frozen parameters' gradients stay zero (`freeze` zeroes them; backward never writes
    /// them), so a step zeroes only the trainable ones: with a frozen trunk, a few KB instead of
    /// every weight's gradient.
    private func zeroTrainableGradients() {
        for p in parameters where p.trainable { p.zeroGrad() }
    }

    func release() { steps.forEach { $0.release() } }

    /// Eval-mode logits `[batch, numClasses]` (running statistics throughout).
    public func evalLogits(images: UnsafeBufferPointer<Float>, batch: Int, height: Int, width: Int) throws -> [Float] {
        defer { release() }
        return try evalValue(architecture.graph.output, images, batch, height, width).floats()
    }

    /// Eval-mode pooled features `[batch, C]`: what the classifier reads.
    public func features(images: UnsafeBufferPointer<Float>, batch: Int, height: Int, width: Int) throws -> [Float] {
        defer { release() }
        return try evalValue(architecture.features, images, batch, height, width).floats()
    }

    // MARK: - A frozen trunk's outputs, cached

    /// What the trainable part reads, `[batch, width]`: eval-mode features through the frozen
    /// layers after them. Deterministic while the trunk is frozen, so a trainer may compute it
    /// once per image and then step with `trainStep(headInputs:)`.
    public func headInputs(images: UnsafeBufferPointer<Float>, batch: Int, height: Int, width: Int) throws -> [Float] {
        defer { release() }
        guard let c = cut else { throw ModelError.nothingTrains }
        return try evalValue(c, images, batch, height, width).floats()
    }

    private func headValues(_ x: [Float], rows: Int) throws -> (Int, [Tensor?]) {
        guard let c = cut, rows > 0, x.count % rows == 0 else { throw ModelError.nothingTrains }
        var values = [Tensor?](repeating: nil, count: architecture.graph.nodes.count + 1)
        values[c] = try Tensor(shape: [rows, x.count / rows], values: x, engine: engine)
        return (c, values)
    }

    /// A training step of the trainable part alone on cached `headInputs` (the trunk frozen).
    /// No soft targets: a mixed image's features are not the mix of its images' features, so
    /// mixing never trains on cached ones.
    public func trainStep(headInputs x: [Float], labels: [Int], labelSmoothing: Float = 0,
                          classWeights: [Float]? = nil) throws -> (loss: Float, logits: [Float]) {
        zeroTrainableGradients()
        drawDropout()
        defer { release() }
        var (c, values) = try headValues(x, rows: labels.count)
        let forward = try trainForward(&values, from: c)
        values = []
        let loss = try backward(forward.logits, auxiliary: forward.auxiliary, labels: labels, softTargets: nil,
                                labelSmoothing: labelSmoothing, classWeights: classWeights)
        return (loss, forward.logits)
    }

    /// Eval-mode logits from cached `headInputs`.
    public func evalLogits(headInputs x: [Float], rows: Int) throws -> [Float] {
        defer { release() }
        var (c, values) = try headValues(x, rows: rows)
        return try run(&values, from: c, to: architecture.graph.output, mode: .eval, training: false).floats()
    }
}
