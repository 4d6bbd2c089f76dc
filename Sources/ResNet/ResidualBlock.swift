import Checkpoint
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

/// Builds conv + batch-norm units from a state dict (keys already checked by `ResNetSpec.detect`).
struct ConvBNBuilder {
    let stateDict: StateDict
    let computeType: DataType
    let foldBatchNorm: Bool
    let engine: CPUEngine

    func floats(_ key: String) throws -> [Float] {
        guard let t = stateDict[key] else {
            throw ResNetError.layoutMismatch(missing: [key], unexpected: [], wrongShapes: [])
        }
        guard t.dtype.isFloatingPoint else { throw ResNetError.unsupportedDType(key: key, dtype: t.dtype.rawValue) }
        return t.floats()
    }

    func shape(_ key: String) -> [Int] { stateDict[key]?.shape ?? [] }

    /// `conv` (a prefix such as `layer1.0.conv1`) followed by batch norm `bn` (`layer1.0.bn1`),
    /// then ReLU if `relu`; `residual`: the unit ends its block (add the identity, then ReLU).
    func unit(_ conv: String, bn: String, stride: Int, padding: Int, groups: Int = 1,
              relu: Bool, residual: Bool = false) throws -> ConvBN {
        let wKey = "\(conv).weight"
        let params = try BatchNormParameters(weight: floats("\(bn).weight"), bias: floats("\(bn).bias"),
                                             runningMean: floats("\(bn).running_mean"),
                                             runningVar: floats("\(bn).running_var"), eps: 1e-5)
        if foldBatchNorm {
            let folded = try params.fold(convWeight: floats(wKey), convBias: nil)
            return ConvBN(conv: try Conv2d(weight: folded.weight, shape: shape(wKey), bias: folded.bias, stride: stride,
                                           padding: padding, groups: groups, fusedReLU: relu || residual,
                                           computeType: computeType, engine: engine),
                          bn: nil, add: nil)
        }
        return ConvBN(conv: try Conv2d(weight: floats(wKey), shape: shape(wKey), stride: stride, padding: padding,
                                       groups: groups, computeType: computeType, engine: engine),
                      bn: BatchNorm2d(params, fusedReLU: relu && !residual, engine: engine),
                      add: residual ? Add(fusedReLU: true, engine: engine) : nil)
    }

    func block(_ spec: ResNetSpec, stage: Int, index: Int) throws -> ResidualBlock {
        let pre = "layer\(stage + 1).\(index)"
        let stride = index == 0 ? spec.stride(stage: stage) : 1
        let ds = index == 0 && spec.hasDownsample(stage: stage)
            ? try unit("\(pre).downsample.0", bn: "\(pre).downsample.1", stride: stride, padding: 0, relu: false) : nil
        switch spec.block {
        case .basic:
            return ResidualBlock(
                units: [try unit("\(pre).conv1", bn: "\(pre).bn1", stride: stride, padding: 1, relu: true)],
                last: try unit("\(pre).conv2", bn: "\(pre).bn2", stride: 1, padding: 1, relu: true, residual: true),
                downsample: ds)
        case .bottleneck:
            return ResidualBlock(
                units: [try unit("\(pre).conv1", bn: "\(pre).bn1", stride: 1, padding: 0, relu: true),
                        try unit("\(pre).conv2", bn: "\(pre).bn2", stride: stride, padding: 1, groups: spec.groups, relu: true)],
                last: try unit("\(pre).conv3", bn: "\(pre).bn3", stride: 1, padding: 0, relu: true, residual: true),
                downsample: ds)
        }
    }
}
