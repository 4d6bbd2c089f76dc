import Engine

extension ResNetModule {
    private func statistics(_ bn: TrainBatchNorm) -> TrainBatchNorm.Statistics {
        bn.isFrozen && frozenBN == .eval ? .running : .batch
    }

    private func input(_ images: UnsafeBufferPointer<Float>, _ batch: Int, _ height: Int, _ width: Int) throws -> Tensor {
        try imageBatch(images, batch: batch, height: height, width: width, engine: engine)
    }

    /// The folded inference model of the current (frozen) trunk.
    private func folded() throws -> ResNetModel {
        if let f = foldedTrunk, f.version == trunkVersion { return f.model }
        foldedTrunk = nil
        let model = try inferenceModel(precision: precision, tuner: convolution == .auto ? convolutionTuner : nil)
        foldedTrunk = (model, trunkVersion)
        return model
    }

    /// Eval-mode pooled features as a plain `[N, C]` tensor: the folded graph when the trunk is
    /// frozen, else the tree with running statistics.
    private func evalFeatures(_ images: UnsafeBufferPointer<Float>, _ batch: Int, _ height: Int, _ width: Int) throws -> Tensor {
        // --conv winograd runs the unfolded tree (Winograd in every 3x3 stride-1 conv, as its
        // training passes do); direct and auto run the folded graph, auto with the tuner's choices.
        guard trunkIsFrozen, convolution != .winograd else {
            return try trunk(input(images, batch, height, width), lowest: blocks.count + 2, statistics: { _ in .running })
        }
        let f = try folded().features(images: images, batch: batch, height: height, width: width)
        return try Tensor(shape: [batch, f.count / batch], values: f, engine: engine)
    }

    /// Stem, blocks and pooling: pooled features as a plain `[N, C]` tensor.
    private func trunk(_ x: Tensor, lowest: Int, statistics: (TrainBatchNorm) -> TrainBatchNorm.Statistics) throws -> Tensor {
        func pass(_ node: Int) -> PassKind { node >= lowest ? .training : .inference }
        var h = try stem.forward(x, pass: pass(0), statistics: statistics(stem.bn))
        h = try maxPool.forward(h, pass: pass(0))
        for (i, b) in blocks.enumerated() { h = try b.forward(h, pass: pass(i + 1), statistics: statistics) }
        let pooled = try avgPool.forward(h, pass: pass(blocks.count))
        let n = pooled.shape[0], c = pooled.shape[1]
        return try Tensor(shape: [n, c], values: pooled.floats(), engine: engine)
    }

    /// The loss and its gradient at the logits, then backward through the head layers from
    /// the last down to `lowest`; returns the gradient at the head's input when the trunk trains.
    private func headBackward(_ logits: [Float], labels: [Int], labelSmoothing: Float, classWeights: [Float]?,
                              trunkTrains: Bool) throws -> (Float, Tensor?) {
        let (loss, grad) = try SoftmaxCrossEntropyLoss.lossAndGradient(logits: logits, labels: labels, classes: numClasses,
                                                                       labelSmoothing: labelSmoothing, weights: classWeights)
        var g = try Tensor(shape: [labels.count, numClasses], values: grad, engine: engine)
        for j in head.indices.reversed() {
            let gi = try head[j].backward(outputGrad: g, needInputGrad: trunkTrains || headTrainsBelow[j])
            onGradientsReady?([head[j].weight, head[j].bias])
            guard let gi else {
                return (loss, nil)
            }
            g = gi
        }
        return (loss, trunkTrains ? g : nil)
    }

    /// One training step: train-mode forward (batch statistics, except frozen batch norms with
    /// `frozenBN == .eval`), softmax cross-entropy, backward into the trainable parameters'
    /// gradients. Zeroes the trainable parameters' gradients first. `classWeights`: the loss's
    /// per-class weights (`--class-weights`), as `CrossEntropyLoss(weight:)`.
    public func trainStep(images: UnsafeBufferPointer<Float>, labels: [Int], batch: Int, height: Int, width: Int,
                          labelSmoothing: Float = 0, classWeights: [Float]? = nil) throws -> (loss: Float, logits: [Float]) {
        guard labels.count == batch else { throw ResNetError.badInput("\(labels.count) labels for a batch of \(batch)") }
        let x = try input(images, batch, height, width)
        zeroTrainableGradients()
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
        for fc in head { h = try fc.forward(h) }
        let logits = try h.floats()
        let (loss, gradAtFeatures) = try headBackward(logits, labels: labels, labelSmoothing: labelSmoothing, classWeights: classWeights,
                                                      trunkTrains: trunkTrains)
        guard var g = gradAtFeatures else { return (loss, logits) }
        let c = g.shape[1]
        g = try avgPool.backward(outputGrad: Tensor(shape: [batch, c, 1, 1], values: g.floats(), engine: engine))
        for i in blocks.indices.reversed() where i + 1 >= lowest {
            let gi = try blocks[i].backward(outputGrad: g, needInputGrad: i + 1 > lowest, inPlace: overwritesGradients)
            onGradientsReady?(blocks[i].modules.flatMap(\.parameters))
            guard let gi else { break }
            g = gi
        }
        if lowest == 0 {
            g = try maxPool.backward(outputGrad: g)
            _ = try stem.backward(outputGrad: g, needInputGrad: false, overwriting: overwritesGradients)
            onGradientsReady?(stem.parameters)
        }
        return (loss, logits)
    }

    /// Frozen parameters' gradients stay zero (`freeze` zeroes them; backward never writes
    /// them), so a step zeroes only the trainable ones: with a frozen trunk, a few KB instead of
    /// every weight's gradient.
    private func zeroTrainableGradients() {
        for p in parameters where p.trainable { p.zeroGrad() }
    }

    func release() {
        stem.release(); maxPool.release()
        for b in blocks { b.release() }
        avgPool.release()
        for f in head { f.release() }
    }

    /// Eval-mode logits `[batch, numClasses]` (running statistics throughout).
    public func evalLogits(images: UnsafeBufferPointer<Float>, batch: Int, height: Int, width: Int) throws -> [Float] {
        defer { release() }
        var h = try evalFeatures(images, batch, height, width)
        for fc in head { h = try fc.forward(h) }
        return try h.floats()
    }

    /// Eval-mode pooled features `[batch, C]`: the input of `fc`.
    public func features(images: UnsafeBufferPointer<Float>, batch: Int, height: Int, width: Int) throws -> [Float] {
        defer { release() }
        return try evalFeatures(images, batch, height, width).floats()
    }

    // MARK: - A frozen trunk's outputs, cached

    /// The head layers that train, from the first trainable one (a frozen `fc.0` comes before).
    private var trainableHead: ArraySlice<TrainLinear> {
        head[(head.firstIndex { $0.weight.trainable || $0.bias.trainable } ?? head.count)...]
    }

    /// What the trainable head layers read, `[batch, width]`: eval-mode features through the
    /// frozen head layers before them. Deterministic while the trunk is frozen, so a trainer
    /// may compute it once per image and then step with `trainStep(headInputs:)`.
    public func headInputs(images: UnsafeBufferPointer<Float>, batch: Int, height: Int, width: Int) throws -> [Float] {
        defer { release() }
        var h = try evalFeatures(images, batch, height, width)
        for fc in head[..<trainableHead.startIndex] { h = try fc.forward(h) }
        return try h.floats()
    }

    /// A training step of the head alone on cached `headInputs` (the trunk frozen).
    public func trainStep(headInputs x: [Float], labels: [Int], labelSmoothing: Float = 0,
                          classWeights: [Float]? = nil) throws -> (loss: Float, logits: [Float]) {
        zeroTrainableGradients()
        defer { release() }
        let layers = trainableHead
        guard let first = layers.first else { throw ResNetError.nothingTrains }
        var h = try Tensor(shape: [labels.count, first.inFeatures], values: x, engine: engine)
        for fc in layers { h = try fc.forward(h) }
        let logits = try h.floats()
        let (loss, _) = try headBackward(logits, labels: labels, labelSmoothing: labelSmoothing, classWeights: classWeights, trunkTrains: false)
        return (loss, logits)
    }

    /// Eval-mode logits from cached `headInputs`.
    public func evalLogits(headInputs x: [Float], rows: Int) throws -> [Float] {
        defer { release() }
        guard let first = trainableHead.first else { throw ResNetError.nothingTrains }
        var h = try Tensor(shape: [rows, first.inFeatures], values: x, engine: engine)
        for fc in trainableHead { h = try fc.forward(h) }
        return try h.floats()
    }
}
