import Engine

/// A BasicBlock or Bottleneck that trains: `relu(bn_k(conv_k(...relu(bn_1(conv_1(x))))) + downsample(x))`.
/// Every batch norm but the last carries a fused ReLU; the join is one add+ReLU primitive.
final class TrainableBlock {
    let convs: [TrainConv2d]
    let bns: [TrainBatchNorm]
    let downsample: (conv: TrainConv2d, bn: TrainBatchNorm)?
    private let add: ElementwiseAdd
    private let reluBackward: ReLUBackward
    private var output: Tensor?

    init(convs: [TrainConv2d], bns: [TrainBatchNorm], downsample: (conv: TrainConv2d, bn: TrainBatchNorm)?, engine: CPUEngine) {
        self.convs = convs; self.bns = bns; self.downsample = downsample
        add = ElementwiseAdd(engine: engine)
        reluBackward = ReLUBackward(engine: engine)
    }

    var parameters: [Parameter] {
        var ps: [Parameter] = []
        for (c, b) in zip(convs, bns) { ps += [c.weight, b.weight, b.bias] }
        if let d = downsample { ps += [d.conv.weight, d.bn.weight, d.bn.bias] }
        return ps
    }

    var batchNorms: [TrainBatchNorm] { bns + (downsample.map { [$0.bn] } ?? []) }

    func forward(_ x: Tensor, pass: PassKind, statistics: (TrainBatchNorm) -> TrainBatchNorm.Statistics) throws -> Tensor {
        var h = x
        for (c, b) in zip(convs, bns) {
            h = try b.forward(c.forward(h, pass: pass), statistics: statistics(b), pass: pass)
        }
        let identity = try downsample.map { d in try d.bn.forward(d.conv.forward(x, pass: pass), statistics: statistics(d.bn), pass: pass) } ?? x
        let y = try add(h, identity, relu: true)
        output = pass == .training ? y : nil
        return y
    }

    /// Fills the gradients of trainable parameters; returns the input gradient when asked.
    func backward(outputGrad dy: Tensor, needInputGrad: Bool) throws -> Tensor? {
        guard let y = output else {
            throw EngineError.invalidArgument(op: "TrainableBlock.backward", what: "no training forward pass to differentiate")
        }
        let dz = try reluBackward(output: y, outputGrad: dy)
        // The main path, from the last conv down, as far as anything below still needs a gradient.
        var g = dz
        var dxMain: Tensor?
        for i in convs.indices.reversed() {
            let below = (0..<i).contains { convs[$0].weight.trainable || bns[$0].weight.trainable || bns[$0].bias.trainable }
            let here = convs[i].weight.trainable || bns[i].weight.trainable || bns[i].bias.trainable
            if !here && !below && !needInputGrad { break }
            g = try bns[i].backward(outputGrad: g)
            let needData = i > 0 ? (below || needInputGrad) : needInputGrad
            guard let gi = try convs[i].backward(outputGrad: g, needInputGrad: needData) else { break }
            if i == 0 { dxMain = gi } else { g = gi }
        }
        var dxSkip: Tensor? = needInputGrad ? dz : nil
        if let d = downsample, needInputGrad || d.conv.weight.trainable || d.bn.weight.trainable || d.bn.bias.trainable {
            dxSkip = try d.conv.backward(outputGrad: d.bn.backward(outputGrad: dz), needInputGrad: needInputGrad)
        }
        guard needInputGrad, let a = dxMain, let b = dxSkip else { return nil }
        return try add(a, b, relu: false)
    }

    func release() {
        output = nil
        for c in convs { c.release() }
        for b in bns { b.release() }
        downsample?.conv.release(); downsample?.bn.release()
    }
}
