import CDNNL

/// An activation function, as a fused post-op of a conv, linear, batch norm or add, or as an
/// op of its own. ReLU now; the next families add hardswish, SiLU, GELU, sigmoid.
public enum Activation: String, Sendable, Equatable, Codable, CaseIterable {
    case relu
}

/// How oneDNN computes an activation: the one place where an `Activation` becomes oneDNN's
/// eltwise algorithm (post-ops, the standalone op and its backward all read it from here).
struct EltwiseKind {
    /// The forward algorithm (post-ops and the standalone forward).
    let forward: dnnl_alg_kind_t
    /// The backward algorithm, and whether it reads the forward's output (`use_dst_for_bwd`)
    /// rather than its input.
    let backward: dnnl_alg_kind_t
    let backwardReadsOutput: Bool
    let alpha: Float, beta: Float
}

extension Activation {
    var eltwise: EltwiseKind {
        switch self {
        case .relu:
            return EltwiseKind(forward: dnnl_eltwise_relu, backward: dnnl_eltwise_relu_use_dst_for_bwd,
                               backwardReadsOutput: true, alpha: 0, beta: 0)
        }
    }

    /// Whether the gradient can be computed from the activation's output alone: what a fused
    /// activation of a training op needs (the op keeps its output, not the value before the
    /// activation). ReLU can; an activation that cannot (hardswish, SiLU, GELU) has to be a
    /// `TrainActivation` of its own in a training graph.
    public var backwardFromOutput: Bool { eltwise.backwardReadsOutput }

    /// The activation of one value, as oneDNN computes it (for the plain-Swift paths).
    @inline(__always)
    func apply(_ x: Float) -> Float {
        switch self {
        case .relu: return max(x, 0)
        }
    }

    /// `dy * f'(x)` from the output `y = f(x)` (only where `backwardFromOutput`).
    @inline(__always)
    func gradient(output y: Float, outputGrad dy: Float) -> Float {
        switch self {
        case .relu: return y > 0 ? dy : 0
        }
    }

    /// Throws unless a training op can fuse it (see `backwardFromOutput`).
    func requireFusableInTraining(op: String) throws {
        guard backwardFromOutput else {
            throw EngineError.invalidArgument(op: op, what: "a fused \(rawValue) cannot be differentiated from the op's output; use a TrainActivation after it")
        }
    }
}
