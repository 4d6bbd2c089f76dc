import Engine

/// A conv followed by its batch norm and optionally a ReLU: either folded into one conv with
/// fused post-ops (the fast inference graph), or kept as separate conv, batch-norm and add
/// ops (the unfused graph, which mirrors PyTorch's modules one for one).
final class ConvBN {
    let conv: Conv2d
    let bn: BatchNorm2d?
    let add: Add?

    init(conv: Conv2d, bn: BatchNorm2d?, add: Add?) { self.conv = conv; self.bn = bn; self.add = add }

    func forward(_ x: Tensor) throws -> Tensor {
        let y = try conv.forward(x)
        return try bn?.forward(y) ?? y
    }

    /// `relu(bn(conv(x)) + residual)`. Folded, `residual`'s storage may receive the result.
    func forward(_ x: Tensor, adding residual: Tensor) throws -> Tensor {
        guard let bn = bn, let add = add else { return try conv.forward(x, accumulatingInto: residual) }
        return try add.forward(bn.forward(conv.forward(x)), residual)
    }
}

/// A BasicBlock or Bottleneck: `relu(units(x) + downsample(x))`.
final class ResidualBlock {
    let units: [ConvBN]
    let last: ConvBN
    let downsample: ConvBN?

    init(units: [ConvBN], last: ConvBN, downsample: ConvBN?) {
        self.units = units; self.last = last; self.downsample = downsample
    }

    /// Consumes `x`: when there is no downsample branch, `x`'s storage may receive the output.
    func forward(_ x: Tensor) throws -> Tensor {
        let identity = try downsample?.forward(x) ?? x
        var h = x
        for u in units { h = try u.forward(h) }
        return try last.forward(h, adding: identity)
    }
}

/// Builds the inference plan's units from a layout and its layers' values.
struct PlanBuilder {
    let values: LayerValues
    let computeType: DataType
    let foldBatchNorm: Bool
    /// For the 3x3 stride-1 convs (f32 only; the others are direct).
    var convolution: ConvolutionAlgorithm = .direct
    /// When set, it chooses per shape instead (`--conv auto`).
    var tuner: ConvolutionTuner? = nil
    let engine: CPUEngine

    /// A conv + batch-norm unit; `residual`: the unit ends its block (add the identity, then ReLU).
    func unit(_ u: ConvBNLayout, residual: Bool = false) throws -> ConvBN {
        let params = try values.batchNorm(u)
        let weight = try values.convWeight(u)
        if foldBatchNorm {
            let folded = try params.fold(convWeight: weight, convBias: nil)
            return ConvBN(conv: try Conv2d(weight: folded.weight, shape: u.weightShape, bias: folded.bias, stride: u.stride,
                                           padding: u.padding, groups: u.groups, fusedReLU: u.relu || residual,
                                           computeType: computeType, algorithm: convolution, tuner: tuner, engine: engine),
                          bn: nil, add: nil)
        }
        return ConvBN(conv: try Conv2d(weight: weight, shape: u.weightShape, stride: u.stride, padding: u.padding,
                                       groups: u.groups, computeType: computeType, algorithm: convolution, tuner: tuner, engine: engine),
                      bn: BatchNorm2d(params, fusedReLU: u.relu, engine: engine),
                      add: residual ? Add(fusedReLU: true, engine: engine) : nil)
    }

    func block(_ b: BlockLayout) throws -> ResidualBlock {
        guard let last = b.units.last else { throw ResNetError.badInput("block \(b.path) has no convs") }
        return ResidualBlock(units: try b.units.dropLast().map { try unit($0) }, last: try unit(last, residual: true),
                             downsample: try b.downsample.map { try unit($0) })
    }

    func linear(_ l: LinearLayout) throws -> Linear {
        let (w, bias) = try values.linear(l)
        return try Linear(weight: w, outFeatures: l.outFeatures, inFeatures: l.inFeatures, bias: bias,
                          computeType: computeType, engine: engine)
    }
}
