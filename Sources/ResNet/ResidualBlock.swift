import Checkpoint
import Engine

/// A BasicBlock or Bottleneck for inference, with each batch norm folded into its conv:
/// `relu(convs(x) + downsample(x))`, where every conv but the last carries a fused ReLU and the
/// last one adds the identity (oneDNN `sum` post-op) and applies the ReLU.
final class ResidualBlock {
    let convs: [Conv2d]
    let last: Conv2d
    let downsample: Conv2d?

    init(convs: [Conv2d], last: Conv2d, downsample: Conv2d?) {
        self.convs = convs; self.last = last; self.downsample = downsample
    }

    /// Consumes `x`: when there is no downsample branch, `x`'s storage receives the output.
    func forward(_ x: Tensor) throws -> Tensor {
        let identity = try downsample?.forward(x) ?? x
        var h = x
        for c in convs { h = try c.forward(h) }
        return try last.forward(h, accumulatingInto: identity)
    }
}

/// Builds convs with folded batch norm from a state dict (keys already checked by `ResNetSpec.detect`).
struct FoldedConvBuilder {
    let stateDict: StateDict
    let computeType: DataType
    let engine: CPUEngine

    func floats(_ key: String) throws -> [Float] {
        guard let t = stateDict[key] else {
            throw ResNetError.layoutMismatch(missing: [key], unexpected: [], wrongShapes: [])
        }
        guard t.dtype.isFloatingPoint else { throw ResNetError.unsupportedDType(key: key, dtype: t.dtype.rawValue) }
        return t.floats()
    }

    func shape(_ key: String) -> [Int] { stateDict[key]?.shape ?? [] }

    /// `conv` (a prefix such as `layer1.0.conv1`) followed by batch norm `bn` (`layer1.0.bn1`).
    func conv(_ conv: String, bn: String, stride: Int, padding: Int, groups: Int = 1, relu: Bool) throws -> Conv2d {
        let wKey = "\(conv).weight"
        let params = try BatchNormParameters(weight: floats("\(bn).weight"), bias: floats("\(bn).bias"),
                                             runningMean: floats("\(bn).running_mean"),
                                             runningVar: floats("\(bn).running_var"), eps: 1e-5)
        let folded = try params.fold(convWeight: floats(wKey), convBias: nil)
        return try Conv2d(weight: folded.weight, shape: shape(wKey), bias: folded.bias, stride: stride,
                          padding: padding, groups: groups, fusedReLU: relu, computeType: computeType, engine: engine)
    }

    func block(_ spec: ResNetSpec, stage: Int, index: Int) throws -> ResidualBlock {
        let pre = "layer\(stage + 1).\(index)"
        let stride = index == 0 ? spec.stride(stage: stage) : 1
        let ds = index == 0 && spec.hasDownsample(stage: stage)
            ? try conv("\(pre).downsample.0", bn: "\(pre).downsample.1", stride: stride, padding: 0, relu: false) : nil
        switch spec.block {
        case .basic:
            return ResidualBlock(
                convs: [try conv("\(pre).conv1", bn: "\(pre).bn1", stride: stride, padding: 1, relu: true)],
                last: try conv("\(pre).conv2", bn: "\(pre).bn2", stride: 1, padding: 1, relu: true),
                downsample: ds)
        case .bottleneck:
            return ResidualBlock(
                convs: [try conv("\(pre).conv1", bn: "\(pre).bn1", stride: 1, padding: 0, relu: true),
                        try conv("\(pre).conv2", bn: "\(pre).bn2", stride: stride, padding: 1, groups: spec.groups, relu: true)],
                last: try conv("\(pre).conv3", bn: "\(pre).bn3", stride: 1, padding: 0, relu: true),
                downsample: ds)
        }
    }
}
