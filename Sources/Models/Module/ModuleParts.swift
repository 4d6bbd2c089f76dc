import Engine

/// A conv and its batch norm, trainable: the module of a `ConvBNLayout`. Its ReLU (when the
/// layout has one) is fused into the batch norm.
final class ConvBNModule {
    let layout: ConvBNLayout
    let conv: TrainConv2d
    let bn: TrainBatchNorm
    /// Whether any of its parameters trains: a mark set by `ResNetModule.freeze`.
    private(set) var trains = true

    init(_ layout: ConvBNLayout, conv: TrainConv2d, bn: TrainBatchNorm) {
        self.layout = layout; self.conv = conv; self.bn = bn
    }

    var parameters: [Parameter] { [conv.weight, bn.weight, bn.bias] }

    func updateMark() { trains = parameters.contains(where: \.trainable) }

    func forward(_ x: Tensor, pass: PassKind, statistics: TrainBatchNorm.Statistics) throws -> Tensor {
        try bn.forward(conv.forward(x, pass: pass), statistics: statistics, pass: pass)
    }

    /// Fills the gradients of its trainable parameters; returns the input gradient when asked.
    /// `overwriting`: the caller no longer needs `dy`, so the batch norm's backward may write
    /// into it.
    func backward(outputGrad dy: Tensor, needInputGrad: Bool, overwriting: Bool) throws -> Tensor? {
        try conv.backward(outputGrad: bn.backward(outputGrad: dy, overwriting: overwriting), needInputGrad: needInputGrad)
    }

    func release() { conv.release(); bn.release() }
}

/// A BasicBlock or Bottleneck that trains: `relu(units(x) + downsample(x))`; the join is one
/// add+ReLU primitive. The module of a `BlockLayout`.
final class BlockModule {
    let layout: BlockLayout
    let units: [ConvBNModule]
    let downsample: ConvBNModule?
    private let add: ElementwiseAdd
    private let reluBackward: ReLUBackward
    private var output: Tensor?
    /// Marks set by `ResNetModule.freeze`: any unit trains; for each unit, whether one below it trains.
    private(set) var trains = true
    private var trainsBelow: [Bool] = []

    init(_ layout: BlockLayout, units: [ConvBNModule], downsample: ConvBNModule?, engine: CPUEngine) {
        self.layout = layout; self.units = units; self.downsample = downsample
        add = ElementwiseAdd(engine: engine)
        reluBackward = ReLUBackward(engine: engine)
    }

    var modules: [ConvBNModule] { units + (downsample.map { [$0] } ?? []) }

    func updateMarks() {
        modules.forEach { $0.updateMark() }
        trains = modules.contains(where: \.trains)
        trainsBelow = units.indices.map { i in units[..<i].contains(where: \.trains) }
    }

    func forward(_ x: Tensor, pass: PassKind, statistics: (TrainBatchNorm) -> TrainBatchNorm.Statistics) throws -> Tensor {
        var h = x
        for u in units { h = try u.forward(h, pass: pass, statistics: statistics(u.bn)) }
        let identity = try downsample.map { d in try d.forward(x, pass: pass, statistics: statistics(d.bn)) } ?? x
        let y = try add(h, identity, relu: true)
        output = pass == .training ? y : nil
        return y
    }

    /// Fills the gradients of trainable parameters; returns the input gradient when asked.
    /// `inPlace`: the caller no longer needs `dy`, and gradients are overwritten once read (dy
    /// and the block's own, with oneDNN's in-place backward), so a block's backward holds fewer
    /// activation-sized buffers at once. Without it every gradient gets its own buffer; the
    /// results are the same bits.
    func backward(outputGrad dy: Tensor, needInputGrad: Bool, inPlace: Bool) throws -> Tensor? {
        guard let y = output else {
            throw EngineError.invalidArgument(op: "BlockModule.backward", what: "no training forward pass to differentiate")
        }
        output = nil  // consumed, as the units' backward consume theirs
        let dz = try reluBackward(output: y, outputGrad: dy, overwriting: inPlace)
        // The main path, from the last unit down, as far as anything below still needs a gradient.
        var g = dz
        var dxMain: Tensor?
        for i in units.indices.reversed() {
            let below = trainsBelow[i]
            if !units[i].trains && !below && !needInputGrad { break }
            let needData = i > 0 ? (below || needInputGrad) : needInputGrad
            // dz is read again by the skip path; a gradient from the unit above is not.
            guard let gi = try units[i].backward(outputGrad: g, needInputGrad: needData, overwriting: inPlace && g !== dz) else { break }
            if i == 0 { dxMain = gi } else { g = gi }
        }
        var dxSkip: Tensor? = needInputGrad ? dz : nil
        if let d = downsample, needInputGrad || d.trains {
            dxSkip = try d.backward(outputGrad: dz, needInputGrad: needInputGrad, overwriting: inPlace)
        }
        guard needInputGrad, let a = dxMain, let b = dxSkip else { return nil }
        return try add(a, b, relu: false, overwritingA: inPlace)  // dxMain is this call's own
    }

    func release() {
        output = nil
        modules.forEach { $0.release() }
    }
}
