import CDNNL
import Foundation

/// An activation function, as a fused post-op of a conv, linear, batch norm or add, or as an
/// op of its own: ReLU (ResNet, VGG), ReLU6 (MobileNet v2), hardswish and hardsigmoid
/// (MobileNet v3), SiLU and sigmoid (EfficientNet), GELU (ConvNeXt).
public enum Activation: String, Sendable, Equatable, Codable, CaseIterable {
    /// `max(x, 0)`: `nn.ReLU`.
    case relu
    /// `min(max(x, 0), 6)`: `nn.ReLU6` (`nn.Hardtanh(0, 6)`).
    case relu6
    /// `x * min(max(x + 3, 0), 6) / 6`: `nn.Hardswish`.
    case hardswish
    /// `min(max(x + 3, 0), 6) / 6`: `nn.Hardsigmoid`.
    case hardsigmoid
    /// `x * sigmoid(x)`: `nn.SiLU` (swish).
    case silu
    /// `1 / (1 + exp(-x))`: `nn.Sigmoid`.
    case sigmoid
    /// `x * Φ(x) = x * (1 + erf(x / sqrt(2))) / 2`: `nn.GELU()` (`approximate='none'`).
    case gelu
}

/// One oneDNN eltwise algorithm with its parameters.
struct EltwiseStage {
    let algorithm: dnnl_alg_kind_t
    let alpha: Float, beta: Float
}

/// How oneDNN computes an activation: the one place where an `Activation` becomes oneDNN's
/// eltwise algorithms (post-ops, the standalone op and its backward all read it from here).
struct EltwiseKind {
    /// The forward, as one or more eltwise stages applied in order (oneDNN 2.6 has no
    /// hardsigmoid: `x + 3`, clipped to [0, 6], times 1/6, as PyTorch computes it but for the
    /// last division).
    let stages: [EltwiseStage]
    /// The backward algorithm; `backwardReadsOutput`: it reads the forward's output
    /// (`use_dst_for_bwd`) rather than its input. `backwardScale` multiplies the result (the
    /// 1/6 of hardsigmoid, whose backward is `clip_v2(-3, 3)`'s on the input).
    let backward: EltwiseStage
    let backwardReadsOutput: Bool
    let backwardScale: Float

    /// The single stage of a one-stage activation.
    var forward: dnnl_alg_kind_t { stages[0].algorithm }
}

extension Activation {
    var eltwise: EltwiseKind {
        switch self {
        case .relu:
            return EltwiseKind(stages: [EltwiseStage(algorithm: dnnl_eltwise_relu, alpha: 0, beta: 0)],
                               backward: EltwiseStage(algorithm: dnnl_eltwise_relu_use_dst_for_bwd, alpha: 0, beta: 0),
                               backwardReadsOutput: true, backwardScale: 1)
        case .relu6:
            // Hardtanh's gradient passes where 0 < x < 6, which is where 0 < y < 6.
            return EltwiseKind(stages: [EltwiseStage(algorithm: dnnl_eltwise_clip_v2, alpha: 0, beta: 6)],
                               backward: EltwiseStage(algorithm: dnnl_eltwise_clip_v2_use_dst_for_bwd, alpha: 0, beta: 6),
                               backwardReadsOutput: true, backwardScale: 1)
        case .hardswish:
            return EltwiseKind(stages: [EltwiseStage(algorithm: dnnl_eltwise_hardswish, alpha: 0, beta: 0)],
                               backward: EltwiseStage(algorithm: dnnl_eltwise_hardswish, alpha: 0, beta: 0),
                               backwardReadsOutput: false, backwardScale: 1)
        case .hardsigmoid:
            return EltwiseKind(stages: [EltwiseStage(algorithm: dnnl_eltwise_linear, alpha: 1, beta: 3),
                                        EltwiseStage(algorithm: dnnl_eltwise_clip_v2, alpha: 0, beta: 6),
                                        EltwiseStage(algorithm: dnnl_eltwise_linear, alpha: 1.0 / 6, beta: 0)],
                               backward: EltwiseStage(algorithm: dnnl_eltwise_clip_v2, alpha: -3, beta: 3),
                               backwardReadsOutput: false, backwardScale: 1.0 / 6)
        case .silu:
            // oneDNN's swish is x * sigmoid(alpha * x).
            return EltwiseKind(stages: [EltwiseStage(algorithm: dnnl_eltwise_swish, alpha: 1, beta: 0)],
                               backward: EltwiseStage(algorithm: dnnl_eltwise_swish, alpha: 1, beta: 0),
                               backwardReadsOutput: false, backwardScale: 1)
        case .sigmoid:
            // sigmoid' = y (1 - y).
            return EltwiseKind(stages: [EltwiseStage(algorithm: dnnl_eltwise_logistic, alpha: 0, beta: 0)],
                               backward: EltwiseStage(algorithm: dnnl_eltwise_logistic_use_dst_for_bwd, alpha: 0, beta: 0),
                               backwardReadsOutput: true, backwardScale: 1)
        case .gelu:
            // The erf form, torch's default; its gradient Φ(x) + x φ(x) from the input.
            return EltwiseKind(stages: [EltwiseStage(algorithm: dnnl_eltwise_gelu_erf, alpha: 0, beta: 0)],
                               backward: EltwiseStage(algorithm: dnnl_eltwise_gelu_erf, alpha: 0, beta: 0),
                               backwardReadsOutput: false, backwardScale: 1)
        }
    }

    /// Whether the gradient can be computed from the activation's output alone: what a fused
    /// activation of a training op needs (the op keeps its output, not the value before the
    /// activation). ReLU, ReLU6 and sigmoid can; hardswish, hardsigmoid, SiLU and GELU are a `TrainActivation` of
    /// their own in a training graph (which keeps the input).
    public var backwardFromOutput: Bool { eltwise.backwardReadsOutput }

    /// Whether an op takes it as a post-op: one eltwise stage. (oneDNN 2.6's brgemm 1x1 convs
    /// on AVX-512 get a chain of eltwise post-ops wrong, linear + clip + linear giving the first
    /// stage alone: hardsigmoid runs as an op of its own, on the small squeeze-and-excitation
    /// tensor it is used on.)
    public var fusesAsPostOp: Bool { eltwise.stages.count == 1 }

    /// Appends the activation's stages to `ops` (post-ops of a conv, linear, batch norm or add).
    func appendPostOps(_ ops: dnnl_post_ops_t?) throws {
        for s in eltwise.stages {
            try dnnlCheck(dnnl_post_ops_append_eltwise(ops, 1.0, s.algorithm, s.alpha, s.beta),
                          "dnnl_post_ops_append_eltwise(\(rawValue))")
        }
    }

    /// The activation of one value, as PyTorch computes it (for the plain-Swift paths and tests).
    @inline(__always)
    public func apply(_ x: Float) -> Float {
        switch self {
        case .relu: return max(x, 0)
        case .relu6: return min(max(x, 0), 6)
        case .hardswish: return x * min(max(x + 3, 0), 6) / 6
        case .hardsigmoid: return min(max(x + 3, 0), 6) / 6
        case .silu: return x / (1 + expf(-x))
        case .sigmoid: return 1 / (1 + expf(-x))
        case .gelu: return Float(0.5 * Double(x) * (1 + erf(Double(x) / 2.0.squareRoot())))
        }
    }

    /// `dy * f'(x)` from the output `y = f(x)` (only where `backwardFromOutput`; 0 elsewhere).
    @inline(__always)
    func gradient(output y: Float, outputGrad dy: Float) -> Float {
        switch self {
        case .relu: return y > 0 ? dy : 0
        case .relu6: return y > 0 && y < 6 ? dy : 0
        case .sigmoid: return dy * y * (1 - y)
        case .hardswish, .hardsigmoid, .silu, .gelu: return 0
        }
    }

    /// Throws unless a training op can fuse it (see `backwardFromOutput`).
    func requireFusableInTraining(op: String) throws {
        guard backwardFromOutput else {
            throw EngineError.invalidArgument(op: op, what: "a fused \(rawValue) cannot be differentiated from the op's output; use a TrainActivation after it")
        }
    }
}
