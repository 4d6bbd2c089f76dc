import Engine

/// One op of a trainable network, derived from one or a few graph nodes (a batch norm with
/// the ReLU after it, an add with its ReLU): Engine's forward and backward of that op, the
/// values it reads and the value it makes. Backward consumes what forward saved.
class TrainStep {
    let inputs: [Int]
    let output: Int
    /// The graph nodes it computes (first to last).
    let nodes: [Int]

    init(inputs: [Int], output: Int, nodes: [Int]) { self.inputs = inputs; self.output = output; self.nodes = nodes }

    /// Its weights and biases, in `state_dict()` order.
    var parameters: [Parameter] { [] }

    /// `mode`: `.train` with the batch norms' statistics and dropout as in `model.train()`,
    /// `.eval` as in `model.eval()`. `pass`: `.training` saves what backward needs.
    func forward(_ x: [Tensor], pass: PassKind, mode: Mode) throws -> Tensor { fatalError("forward of \(type(of: self))") }

    /// The gradients of the inputs marked in `need` (nil for the others); fills its trainable
    /// parameters' gradients. `overwriting`: the caller no longer needs `dy`.
    func backward(_ dy: Tensor, need: [Bool], overwriting: Bool) throws -> [Tensor?] { fatalError("backward of \(type(of: self))") }

    /// Lets go of what forward saved.
    func release() {}

    enum Mode { case train(FrozenBN), eval }
}

final class ConvStep: TrainStep {
    let conv: TrainConv2d
    init(_ conv: TrainConv2d, input: Int, nodes: [Int]) { self.conv = conv; super.init(inputs: [input], output: nodes.last! + 1, nodes: nodes) }
    override var parameters: [Parameter] { [conv.weight] + (conv.bias.map { [$0] } ?? []) }
    override func forward(_ x: [Tensor], pass: PassKind, mode: Mode) throws -> Tensor { try conv.forward(x[0], pass: pass) }
    override func backward(_ dy: Tensor, need: [Bool], overwriting: Bool) throws -> [Tensor?] {
        [try conv.backward(outputGrad: dy, needInputGrad: need[0], overwriting: overwriting)]
    }
    override func release() { conv.release() }
}

/// A batch norm, and the ReLU after it fused.
final class BatchNormStep: TrainStep {
    let bn: TrainBatchNorm
    init(_ bn: TrainBatchNorm, input: Int, nodes: [Int]) { self.bn = bn; super.init(inputs: [input], output: nodes.last! + 1, nodes: nodes) }
    override var parameters: [Parameter] { [bn.weight, bn.bias] }
    override func forward(_ x: [Tensor], pass: PassKind, mode: Mode) throws -> Tensor {
        let statistics: TrainBatchNorm.Statistics
        switch mode {
        case .eval: statistics = .running
        case .train(let frozen): statistics = bn.isFrozen && frozen == .eval ? .running : .batch
        }
        return try bn.forward(x[0], statistics: statistics, pass: pass)
    }
    override func backward(_ dy: Tensor, need: [Bool], overwriting: Bool) throws -> [Tensor?] {
        // Batch norm's backward is needed for its own parameters' gradients even when its input needs none.
        let dx = try bn.backward(outputGrad: dy, overwriting: overwriting)
        return [need[0] ? dx : nil]
    }
    override func release() { bn.release() }
}

/// `a + b`, and the activation after it fused (one add+ReLU primitive).
final class AddStep: TrainStep {
    let activation: Activation?
    private let add: ElementwiseAdd
    private let activationBackward: ActivationBackward?
    private var saved: Tensor?
    init(inputs: [Int], nodes: [Int], activation: Activation?, engine: CPUEngine) {
        self.activation = activation
        add = ElementwiseAdd(engine: engine)
        activationBackward = activation.map { ActivationBackward($0, engine: engine) }
        super.init(inputs: inputs, output: nodes.last! + 1, nodes: nodes)
    }
    override func forward(_ x: [Tensor], pass: PassKind, mode: Mode) throws -> Tensor {
        let y = try add(x[0], x[1], relu: activation == .relu)  // the network fuses ReLU alone into an add
        saved = pass == .training && activation != nil ? y : nil
        return y
    }
    override func backward(_ dy: Tensor, need: [Bool], overwriting: Bool) throws -> [Tensor?] {
        var g = dy
        if let backward = activationBackward {
            guard let y = saved else {
                throw EngineError.invalidArgument(op: "add backward", what: "no training forward pass to differentiate")
            }
            saved = nil
            g = try backward(output: y, outputGrad: dy, overwriting: overwriting)
        }
        return need.map { $0 ? g : nil }
    }
    override func release() { saved = nil }
}

/// An activation on its own (one that no op before it could take as a post-op).
final class ActivationStep: TrainStep {
    let op: TrainActivation
    init(_ op: TrainActivation, input: Int, node: Int) { self.op = op; super.init(inputs: [input], output: node + 1, nodes: [node]) }
    override func forward(_ x: [Tensor], pass: PassKind, mode: Mode) throws -> Tensor { try op.forward(x[0], pass: pass) }
    override func backward(_ dy: Tensor, need: [Bool], overwriting: Bool) throws -> [Tensor?] {
        guard need[0] else { op.release(); return [nil] }
        return [try op.backward(outputGrad: dy, overwriting: overwriting)]
    }
    override func release() { op.release() }
}

final class PoolStep: TrainStep {
    let pool: TrainPool2d
    init(_ pool: TrainPool2d, input: Int, node: Int) { self.pool = pool; super.init(inputs: [input], output: node + 1, nodes: [node]) }
    override func forward(_ x: [Tensor], pass: PassKind, mode: Mode) throws -> Tensor { try pool.forward(x[0], pass: pass) }
    override func backward(_ dy: Tensor, need: [Bool], overwriting: Bool) throws -> [Tensor?] {
        [need[0] ? try pool.backward(outputGrad: dy) : nil]
    }
    override func release() { pool.release() }
}

/// `torch.flatten(x, 1)` (Engine's `Flatten`): to a plain `[N, C * H * W]`, C slowest.
final class FlattenStep: TrainStep {
    let flatten: Flatten
    init(input: Int, node: Int, engine: CPUEngine) { flatten = Flatten(engine: engine); super.init(inputs: [input], output: node + 1, nodes: [node]) }
    override func forward(_ x: [Tensor], pass: PassKind, mode: Mode) throws -> Tensor { try flatten.forward(x[0], pass: pass) }
    override func backward(_ dy: Tensor, need: [Bool], overwriting: Bool) throws -> [Tensor?] {
        guard need[0] else { flatten.release(); return [nil] }
        return [try flatten.backward(outputGrad: dy)]
    }
    override func release() { flatten.release() }
}

/// A Linear, and the ReLU after it fused.
final class LinearStep: TrainStep {
    let linear: TrainLinear
    init(_ linear: TrainLinear, input: Int, nodes: [Int]) { self.linear = linear; super.init(inputs: [input], output: nodes.last! + 1, nodes: nodes) }
    override var parameters: [Parameter] { [linear.weight] + (linear.bias.map { [$0] } ?? []) }
    override func forward(_ x: [Tensor], pass: PassKind, mode: Mode) throws -> Tensor { try linear.forward(x[0]) }
    override func backward(_ dy: Tensor, need: [Bool], overwriting: Bool) throws -> [Tensor?] {
        [try linear.backward(outputGrad: dy, needInputGrad: need[0], overwriting: overwriting)]
    }
    override func release() { linear.release() }
}

/// `nn.Dropout(p)` in training mode (a mask drawn from the step's stream, see
/// `Network.dropoutStream`); the identity in evaluation and when switched off.
final class DropoutStep: TrainStep {
    let dropout: TrainDropout
    private var active = false
    init(_ dropout: TrainDropout, input: Int, node: Int) { self.dropout = dropout; super.init(inputs: [input], output: node + 1, nodes: [node]) }
    override func forward(_ x: [Tensor], pass: PassKind, mode: Mode) throws -> Tensor {
        if case .train = mode { active = true } else { active = false }
        // A frozen step runs an inference pass; its dropout still draws, as model.train() does.
        return active ? try dropout.forward(x[0], pass: .training) : x[0]
    }
    override func backward(_ dy: Tensor, need: [Bool], overwriting: Bool) throws -> [Tensor?] {
        guard need[0] else { dropout.release(); return [nil] }
        return [active ? try dropout.backward(outputGrad: dy) : dy]
    }
    override func release() { dropout.release() }
}

/// ConvNeXt's layer scale: `layer_scale * x`, its gradient and the input's.
final class LayerScaleStep: TrainStep {
    let scale: TrainChannelScale
    init(_ scale: TrainChannelScale, input: Int, node: Int) { self.scale = scale; super.init(inputs: [input], output: node + 1, nodes: [node]) }
    override var parameters: [Parameter] { [scale.gamma] }
    override func forward(_ x: [Tensor], pass: PassKind, mode: Mode) throws -> Tensor { try scale.forward(x[0], pass: pass) }
    override func backward(_ dy: Tensor, need: [Bool], overwriting: Bool) throws -> [Tensor?] {
        let dx = try scale.backward(outputGrad: dy)
        return [need[0] ? dx : nil]
    }
    override func release() { scale.release() }
}

/// A per-channel affine map with constants (Inception's `transform_input`): nothing to train.
final class ChannelAffineStep: TrainStep {
    let affine: ChannelAffine
    init(_ affine: ChannelAffine, input: Int, node: Int) { self.affine = affine; super.init(inputs: [input], output: node + 1, nodes: [node]) }
    override func forward(_ x: [Tensor], pass: PassKind, mode: Mode) throws -> Tensor { try affine.forward(x[0]) }
    override func backward(_ dy: Tensor, need: [Bool], overwriting: Bool) throws -> [Tensor?] {
        [need[0] ? try affine.backward(outputGrad: dy) : nil]
    }
}

/// torchvision's `LayerNorm2d`: no running statistics, the same in training and evaluation.
final class LayerNormStep: TrainStep {
    let norm: TrainChannelLayerNorm
    init(_ norm: TrainChannelLayerNorm, input: Int, node: Int) { self.norm = norm; super.init(inputs: [input], output: node + 1, nodes: [node]) }
    override var parameters: [Parameter] { [norm.weight, norm.bias] }
    override func forward(_ x: [Tensor], pass: PassKind, mode: Mode) throws -> Tensor { try norm.forward(x[0], pass: pass) }
    override func backward(_ dy: Tensor, need: [Bool], overwriting: Bool) throws -> [Tensor?] {
        // Its backward gives the weight's and bias's gradients even when its input needs none.
        let dx = try norm.backward(outputGrad: dy)
        return [need[0] ? dx : nil]
    }
    override func release() { norm.release() }
}

/// `torch.cat(inputs, 1)`; backward hands each input its channels of the gradient.
final class ConcatStep: TrainStep {
    let concat: TrainConcat
    init(_ concat: TrainConcat, inputs: [Int], node: Int) { self.concat = concat; super.init(inputs: inputs, output: node + 1, nodes: [node]) }
    override func forward(_ x: [Tensor], pass: PassKind, mode: Mode) throws -> Tensor { try concat.forward(x, pass: pass) }
    override func backward(_ dy: Tensor, need: [Bool], overwriting: Bool) throws -> [Tensor?] {
        guard need.contains(true) else { concat.release(); return need.map { _ in nil } }
        return try concat.backward(outputGrad: dy, need: need)
    }
    override func release() { concat.release() }
}

/// `s * x` (squeeze-and-excitation's scale): inputs `[x, s]`, `s` `[N, C, 1, 1]`.
final class MultiplyStep: TrainStep {
    let multiply: TrainMultiply
    init(_ multiply: TrainMultiply, inputs: [Int], node: Int) { self.multiply = multiply; super.init(inputs: inputs, output: node + 1, nodes: [node]) }
    override func forward(_ x: [Tensor], pass: PassKind, mode: Mode) throws -> Tensor { try multiply.forward(x[0], x[1], pass: pass) }
    override func backward(_ dy: Tensor, need: [Bool], overwriting: Bool) throws -> [Tensor?] {
        guard need[0] || need[1] else { multiply.release(); return [nil, nil] }
        let (dx, ds) = try multiply.backward(outputGrad: dy, need: (need[0], need[1]))
        return [dx, ds]
    }
    override func release() { multiply.release() }
}
