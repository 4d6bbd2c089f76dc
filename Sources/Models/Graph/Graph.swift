import Engine

/// A model as data: torchvision's forward, one node per module call, each bound to its
/// state-dict prefix. A family writes only this (forward only, from its table, as
/// torchvision's constructors do); the folded inference plan (`InferencePlan`), the trainable
/// network with its backward (`Network`), the expected state-dict keys and shapes, freezing by
/// policy, head replacement and ONNX export all derive from it.
///
/// Values are numbered: 0 is the input image batch `[N, inputChannels, H, W]`; node `i`
/// produces value `i + 1`. Nodes are in execution order (each reads only values made before
/// it), which is the order of torchvision's `forward` and of its `state_dict()`.
public struct Graph: Sendable {
    public var nodes: [Node]
    /// Channels of the input images (3).
    public var inputChannels: Int = 3
    /// Classifiers that only training reads (Inception's `AuxLogits`): their nodes follow the
    /// main output's, so that the main graph is a prefix of `nodes` with the same value numbers.
    public private(set) var auxiliary: [AuxiliaryOutput] = []
    /// The number of nodes before the first auxiliary one (nil: none yet).
    private var mainCount: Int?

    public init(nodes: [Node] = [], inputChannels: Int = 3) {
        self.nodes = nodes; self.inputChannels = inputChannels
    }

    /// The value the graph outputs: the logits `[N, classes]`, the last node's before any
    /// auxiliary classifier's.
    public var output: Int { mainCount ?? nodes.count }

    /// A classifier read only in training, whose loss is added to the main one's times
    /// `lossWeight` (torchvision's Inception recipe: `loss = out + 0.4 * aux`). Evaluation,
    /// inference plans and ONNX export leave it out, as `model.eval()` does.
    public struct AuxiliaryOutput: Sendable, Equatable {
        /// Its logits `[N, classes]`.
        public var value: Int
        /// The main graph's value it reads (Inception's Mixed_6e output).
        public var input: Int
        /// Its Linear, which a new head replaces as it replaces the main one (`AuxLogits.fc`).
        public var head: ModulePath
        public var inFeatures: Int
        public var lossWeight: Float
    }

    /// Marks the end of the main graph: nodes added from here on are auxiliary (see `auxiliary`).
    public mutating func beginAuxiliary() {
        if mainCount == nil { mainCount = nodes.count }
    }

    /// Declares `value`, made after `beginAuxiliary()`, an auxiliary output.
    public mutating func addAuxiliary(_ aux: AuxiliaryOutput) {
        precondition(mainCount.map { aux.value > $0 && aux.value <= nodes.count && aux.input <= $0 } ?? false,
                     "an auxiliary output is made after beginAuxiliary() from a main value")
        auxiliary.append(aux)
    }

    /// The graph evaluation runs: the nodes up to the output, no auxiliary classifier.
    public var main: Graph {
        guard let n = mainCount else { return self }
        return Graph(nodes: Array(nodes[..<n]), inputChannels: inputChannels)
    }

    /// The node that produces `value` (nil for the input, 0).
    public func producer(of value: Int) -> Node? { value > 0 ? nodes[value - 1] : nil }

    /// For each value, the indices of the nodes that read it, in order.
    public var consumers: [[Int]] {
        var out = [[Int]](repeating: [], count: nodes.count + 1)
        for (i, n) in nodes.enumerated() { for v in n.inputs { out[v].append(i) } }
        return out
    }
}

/// One module call.
public struct Node: Sendable {
    public var op: Op
    /// Values read (see `Graph`): one, except `add`, `concat` and `multiply`.
    public var inputs: [Int]
    /// Its state-dict prefix (`layer1.0.conv1`, `features.0`, `fc`); the root for ops without
    /// parameters (activations, pooling, add, flatten, dropout).
    public var path: ModulePath
    /// Which of the family's stages it belongs to, counted from 0, for `--train last
    /// --last-stages N` (the last N stages train); nil for the stem, which trains only with
    /// everything. The head's nodes take the last stage's number or later.
    public var stage: Int?
    /// Where its tensors come in `state_dict()` order when that is not where it runs: just
    /// before node `statePosition`'s. ConvNeXt's `layer_scale` is the block's own parameter,
    /// saved before the block's modules, and applied after them.
    public var statePosition: Int?

    public init(_ op: Op, inputs: [Int], path: ModulePath = .root, stage: Int? = nil) {
        self.op = op; self.inputs = inputs; self.path = path; self.stage = stage
    }
}

/// What a node computes, with torchvision's arguments.
public enum Op: Sendable, Equatable {
    /// `nn.Conv2d`: weight `[out, in / groups, kh, kw]`, and `bias` `[out]` when it has one.
    case conv(Convolution)
    /// `nn.BatchNorm2d`: `weight`, `bias`, `running_mean`, `running_var` `[channels]`, `num_batches_tracked`.
    case batchNorm(BatchNormalisation)
    /// torchvision's `LayerNorm2d` (each pixel's channels normalised by their own mean and
    /// biased variance; ConvNeXt's): `weight`, `bias` `[channels]`.
    case layerNorm(channels: Int, eps: Float)
    /// An activation function (`nn.ReLU` ...).
    case activation(Activation)
    /// `a + b`, same shapes.
    case add
    /// `nn.MaxPool2d`.
    case maxPool(Pool)
    /// `nn.AvgPool2d` with its defaults: `count_include_pad=True` (a window reaching over the
    /// padding divides by the whole kernel's size), floor mode.
    case avgPool(Pool)
    /// `nn.AdaptiveAvgPool2d((h, w))`: torchvision's bins (start `floor(i * H / h)`, end `ceil((i + 1) * H / h)`).
    case adaptiveAvgPool(height: Int, width: Int)
    /// `torch.flatten(x, 1)`: `[N, C, H, W]` to `[N, C * H * W]`, C slowest.
    case flatten
    /// `nn.Linear`: weight `[out, in]`, bias `[out]` when it has one.
    case linear(Dense)
    /// `nn.Dropout(p)`: identity in evaluation; in training, zeroes each value with probability
    /// `p` and scales the rest by `1 / (1 - p)`.
    case dropout(p: Double)
    /// torchvision's `StochasticDepth(p, "row")` on a residual branch: identity in evaluation;
    /// in training, zeroes each image's whole branch with probability `p` and scales the rest by
    /// `1 / (1 - p)`.
    case stochasticDepth(p: Double)
    /// `torch.cat(inputs, 1)`: the inputs' channels in order (same N, H, W).
    case concat
    /// `s * x` with `inputs` `[x, s]`: `x` `[N, C, H, W]`, `s` `[N, C, 1, 1]` broadcast over H and
    /// W (squeeze-and-excitation's `scale * input`).
    case multiply
    /// ConvNeXt's layer scale, `layer_scale * x`: the parameter `layer_scale` `[C, 1, 1]`, one
    /// factor per channel.
    case layerScale(channels: Int)
    /// `x * scale[c] + shift[c]` per channel, with constants (no state-dict tensors), multiply
    /// then add as torch does: Inception's `transform_input`, which turns ImageNet-normalised
    /// images into the `(x - 0.5) / 0.5` its Google weights were trained on.
    case channelAffine(scale: [Float], shift: [Float])

    public struct Convolution: Sendable, Equatable {
        public var outChannels: Int, inChannels: Int
        /// The kernel's height and width (`kernel_size=(kh, kw)`: Inception's 1x7 and 7x1).
        public var kernel: Int, kernelWidth: Int
        public var stride: Int
        /// Zero padding above and below, and left and right (`padding=(ph, pw)`).
        public var padding: Int, paddingWidth: Int
        public var groups: Int
        public var bias: Bool
        /// An `nn.Linear` applied to each pixel's channels (ConvNeXt's, after a permute to
        /// channels-last): a 1x1 conv whose weight the state dict holds as `[out, in]`.
        public var storedAsLinear: Bool
        /// `kernelWidth` and `paddingWidth` default to `kernel` and `padding` (a square conv).
        public init(out: Int, in inChannels: Int, kernel: Int, kernelWidth: Int? = nil, stride: Int = 1, padding: Int = 0,
                    paddingWidth: Int? = nil, groups: Int = 1, bias: Bool = false) {
            outChannels = out; self.inChannels = inChannels; self.kernel = kernel; self.kernelWidth = kernelWidth ?? kernel
            self.stride = stride; self.padding = padding; self.paddingWidth = paddingWidth ?? padding; self.groups = groups; self.bias = bias
            storedAsLinear = false
        }
        /// `nn.Linear(in, out)` on each pixel: a 1x1 conv with the weight `[out, in]`.
        public static func pointwise(out: Int, in inChannels: Int, bias: Bool = true) -> Convolution {
            var c = Convolution(out: out, in: inChannels, kernel: 1, bias: bias)
            c.storedAsLinear = true
            return c
        }
        /// The weight as the state dict holds it: `[out, in / groups, kh, kw]`, PyTorch's
        /// layout, or `[out, in]` for a Linear on each pixel.
        public var weightShape: [Int] { storedAsLinear ? [outChannels, inChannels] : kernelShape }
        /// `[out, in / groups, kh, kw]`: the conv's own.
        public var kernelShape: [Int] { [outChannels, inChannels / max(groups, 1), kernel, kernelWidth] }
    }

    public struct BatchNormalisation: Sendable, Equatable {
        public var channels: Int
        public var eps: Float
        public var momentum: Float
        public init(channels: Int, eps: Float = 1e-5, momentum: Float = 0.1) {
            self.channels = channels; self.eps = eps; self.momentum = momentum
        }
    }

    public struct Pool: Sendable, Equatable {
        public var kernel: Int, stride: Int, padding: Int
        public init(kernel: Int, stride: Int, padding: Int = 0) { self.kernel = kernel; self.stride = stride; self.padding = padding }
    }

    public struct Dense: Sendable, Equatable {
        public var outFeatures: Int, inFeatures: Int
        public var bias: Bool
        public init(out: Int, in inFeatures: Int, bias: Bool = true) { outFeatures = out; self.inFeatures = inFeatures; self.bias = bias }
    }

    /// The tensors this op reads from the state dict, with their shapes, in `state_dict()` order.
    public var tensors: [(name: String, shape: [Int])] {
        switch self {
        case .conv(let c): return [("weight", c.weightShape)] + (c.bias ? [("bias", [c.outChannels])] : [])
        case .batchNorm(let b):
            let c = [b.channels]
            return [("weight", c), ("bias", c), ("running_mean", c), ("running_var", c), ("num_batches_tracked", [])]
        case .linear(let l): return [("weight", [l.outFeatures, l.inFeatures])] + (l.bias ? [("bias", [l.outFeatures])] : [])
        case .layerNorm(let c, _): return [("weight", [c]), ("bias", [c])]
        case .layerScale(let c): return [("layer_scale", [c, 1, 1])]
        default: return []
        }
    }
}

extension Graph {
    /// Every key the graph's modules have in torchvision's `state_dict()`, in order, with its
    /// shape (`num_batches_tracked`: `[]`).
    public var tensors: [(key: String, shape: [Int])] {
        stateOrder.flatMap { i in nodes[i].op.tensors.map { (nodes[i].path[$0.name], $0.shape) } }
    }

    /// The nodes in `state_dict()` order: execution order, but for a node with a
    /// `statePosition`, which comes just before that node.
    public var stateOrder: [Int] {
        nodes.indices.sorted { a, b in
            let (pa, pb) = (nodes[a].statePosition.map { ($0, 0) } ?? (a, 1), nodes[b].statePosition.map { ($0, 0) } ?? (b, 1))
            return pa != pb ? pa < pb : a < b
        }
    }

    /// Appends a node reading `inputs` and returns the value it produces.
    @discardableResult
    public mutating func add(_ op: Op, _ inputs: Int..., path: ModulePath = .root, stage: Int? = nil) -> Int {
        add(op, inputs: inputs, path: path, stage: stage)
    }

    /// Appends a node reading `inputs` (a concat's list) and returns the value it produces.
    @discardableResult
    public mutating func add(_ op: Op, inputs: [Int], path: ModulePath = .root, stage: Int? = nil) -> Int {
        nodes.append(Node(op, inputs: inputs, path: path, stage: stage))
        return nodes.count
    }

    /// torchvision's `SqueezeExcitation` at `path` on `x` (`channels` wide): global average
    /// pooling, `fc1` (a 1x1 conv with bias to `squeeze`), `activation`, `fc2` (back to
    /// `channels`), `gate`, times `x`. Returns the product.
    public mutating func addSqueezeExcitation(_ x: Int, at path: ModulePath, channels: Int, squeeze: Int,
                                              activation: Activation, gate: Activation, stage: Int?) -> Int {
        var p = add(.adaptiveAvgPool(height: 1, width: 1), x, stage: stage)
        p = add(.conv(.init(out: squeeze, in: channels, kernel: 1, bias: true)), p, path: path.pp("fc1"), stage: stage)
        p = add(.activation(activation), p, stage: stage)
        p = add(.conv(.init(out: channels, in: squeeze, kernel: 1, bias: true)), p, path: path.pp("fc2"), stage: stage)
        p = add(.activation(gate), p, stage: stage)
        return add(.multiply, x, p, stage: stage)
    }
}
