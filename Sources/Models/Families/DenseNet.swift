import Checkpoint
import Engine
import Random

/// torchvision's DenseNets (torchvision/models/densenet.py): `features` holds the stem
/// (`conv0` 7x7 stride 2, `norm0`, ReLU, 3x3 stride-2 max pool), the dense blocks
/// `denseblockB` with layers `denselayerJ`, a transition `transitionB` between blocks (`norm`,
/// ReLU, `conv` 1x1 to half the width, 2x2 average pool) and `norm5`; then ReLU, global average
/// pooling and `classifier`. A dense layer reads the concatenation of its block's input and
/// every earlier layer's output and adds `growth` channels: `norm1`, ReLU, `conv1` (1x1 to the
/// bottleneck, `bn_size` x growth), `norm2`, ReLU, `conv2` (3x3 to growth). Batch norm eps
/// 1e-5, momentum 0.1; convs without bias. The batch norms come before their convs (each layer
/// normalises the concatenation afresh), so only `norm2` folds; the others run as batch norms
/// with ReLU fused. Concatenation copies, as `torch.cat` does.
///
/// Everything is in the shapes: the stem's width, each block's layers, the growth, the
/// bottleneck and the transitions' widths. Named by torchvision's variant with exactly its
/// growth, blocks and stem width (bn_size 4), else `densenet(custom)`. torchvision's download
/// files spell the layers' modules the old way (`denselayer1.norm.1.weight`); the checkpoint
/// reader renames them as torchvision's loader does (`ModelKeys.legacyJoin`).
///
/// Stages (`--train last --last-stages N`): one per dense block, each with the transition
/// before it; `norm5` and `classifier` are in the last.
public struct DenseNetSpec: Equatable, Sendable {
    public var stem: Int
    public var growth: Int
    /// The 1x1 conv's width in every layer (`bn_size * growth_rate`).
    public var bottleneck: Int
    /// Layers per dense block.
    public var blocks: [Int]
    /// Each transition's output width (torchvision: half its input, rounded down).
    public var transitions: [Int]

    /// torchvision's spec of a variant: growth, blocks, stem, `bn_size` 4, transitions halving.
    init(stem: Int, growth: Int, blocks: [Int]) {
        self.stem = stem; self.growth = growth; bottleneck = 4 * growth; self.blocks = blocks
        var width = stem, widths: [Int] = []
        for (b, layers) in blocks.enumerated() {
            width += layers * growth
            if b < blocks.count - 1 { width /= 2; widths.append(width) }
        }
        transitions = widths
    }

    init(stem: Int, growth: Int, bottleneck: Int, blocks: [Int], transitions: [Int]) {
        self.stem = stem; self.growth = growth; self.bottleneck = bottleneck; self.blocks = blocks; self.transitions = transitions
    }

    public var variant: String? { DenseNetFamily.variants.first { $0.spec == self }?.name }
    public var name: String { variant ?? "densenet(custom)" }

    /// The width of block `b`'s input.
    func input(of b: Int) -> Int { b == 0 ? stem : transitions[b - 1] }
    public var featureCount: Int { blocks.isEmpty ? stem : input(of: blocks.count - 1) + blocks[blocks.count - 1] * growth }
}

/// torchvision's `densenet121`, `densenet161`, `densenet169`, `densenet201`.
public struct DenseNetFamily: ModelFamily {
    public init() {}

    struct Variant: Sendable {
        let name: String
        let spec: DenseNetSpec
    }

    /// torchvision's builders: growth rate, block config, initial features (bn_size 4).
    static let variants: [Variant] = [
        Variant(name: "densenet121", spec: DenseNetSpec(stem: 64, growth: 32, blocks: [6, 12, 24, 16])),
        Variant(name: "densenet161", spec: DenseNetSpec(stem: 96, growth: 48, blocks: [6, 12, 36, 24])),
        Variant(name: "densenet169", spec: DenseNetSpec(stem: 64, growth: 32, blocks: [6, 12, 32, 32])),
        Variant(name: "densenet201", spec: DenseNetSpec(stem: 64, growth: 32, blocks: [6, 12, 48, 32])),
    ]

    public var name: String { "DenseNet" }
    public var variantNames: [String] { Self.variants.map(\.name) }
    public var headPath: ModulePath { ModulePath.root.pp("classifier") }
    public var customFileName: String { "densenet.pth" }

    static let features = ModulePath.root.pp("features")
    static func layer(_ b: Int, _ j: Int) -> ModulePath { features.pp("denseblock\(b + 1)").pp("denselayer\(j + 1)") }
    static func transition(_ b: Int) -> ModulePath { features.pp("transition\(b + 1)") }

    public var keys: ModelKeys {
        let conv0 = Self.features.pp("conv0")["weight"], norm5 = Self.features.pp("norm5")["weight"]
        return ModelKeys(name: "torchvision \(name)", noun: name, id: "densenet", anchor: conv0, required: [conv0, norm5],
                         modules: ["features", "classifier"],
                         legacyJoin: LegacyKeyJoin(parent: "denselayer", modules: ["norm", "relu", "conv"], indices: ["1", "2"],
                                                   tensors: ["weight", "bias", "running_mean", "running_var"]))
    }
    public func claims(_ shapes: [String: [Int]]) -> Bool {
        shapes[Self.features.pp("conv0")["weight"]] != nil && shapes[Self.features.pp("norm0")["weight"]] != nil
    }

    public func architecture(variant: String, head: HeadShape) -> Architecture? {
        Self.variants.first { $0.name == variant }.map { architecture($0.spec, head: head) }
    }

    public func architecture(shapes: [String: [Int]], head: HeadShape?) throws -> Architecture {
        func rows(_ key: String) -> Int? { shapes[key].flatMap { $0.count == 4 && $0.allSatisfy { $0 > 0 } ? $0[0] : nil } }
        var blocks: [Int] = []
        while shapes.keys.contains(where: { $0.hasPrefix(Self.features.pp("denseblock\(blocks.count + 1)").description + ".") }) {
            var layers = 0
            while shapes[Self.layer(blocks.count, layers).pp("conv1")["weight"]] != nil { layers += 1 }
            blocks.append(layers)
        }
        guard !blocks.isEmpty, blocks.allSatisfy({ $0 > 0 }) else {
            throw ModelError.badInput("a DenseNet with \(blocks) layers in its dense blocks (features.denseblock1.denselayer1.conv1 first): "
                + "torchvision's have four blocks of at least 6 layers")
        }
        // Widths from the batch norms that read them (a conv whose shape disagrees is then the
        // one the key-by-key check that follows names); anything malformed falls back to a width
        // that check refuses.
        func width(_ norm: ModulePath) -> Int? { shapes[norm["weight"]].flatMap { $0.count == 1 && $0[0] > 0 ? $0[0] : nil } }
        let first = Self.layer(0, 0)
        let stem = width(first.pp("norm1")) ?? rows(Self.features.pp("conv0")["weight"]) ?? 64
        let growth = blocks[0] > 1 ? (width(Self.layer(0, 1).pp("norm1")) ?? stem) - stem : rows(first.pp("conv2")["weight"]) ?? 32
        let bottleneck = width(first.pp("norm2")) ?? rows(first.pp("conv1")["weight"]) ?? 4 * growth
        let transitions = (0..<(blocks.count - 1)).map { width(Self.layer($0 + 1, 0).pp("norm1")) ?? rows(Self.transition($0).pp("conv")["weight"]) ?? 1 }
        guard growth > 0 else {
            throw ModelError.badInput("a DenseNet whose layers do not grow (\(Self.layer(0, 1).pp("norm1")["weight"]) is \(stem + growth) wide, "
                + "\(first.pp("norm1")["weight"]) \(stem)): torchvision's add the growth rate in every layer")
        }
        return architecture(DenseNetSpec(stem: stem, growth: growth, bottleneck: bottleneck, blocks: blocks, transitions: transitions), head: head)
    }

    public func architecture(_ spec: DenseNetSpec, head: HeadShape?) -> Architecture {
        var g = Graph()
        // norm, ReLU, conv: the pre-activation unit of the layers and transitions.
        func normReLUConv(_ x: Int, _ c: Op.Convolution, norm: ModulePath, conv: ModulePath, stage: Int) -> Int {
            var y = g.add(.batchNorm(.init(channels: c.inChannels)), x, path: norm, stage: stage)
            y = g.add(.activation(.relu), y, stage: stage)
            return g.add(.conv(c), y, path: conv, stage: stage)
        }
        let f = Self.features
        var x = g.add(.conv(.init(out: spec.stem, in: 3, kernel: 7, stride: 2, padding: 3)), 0, path: f.pp("conv0"))
        x = g.add(.batchNorm(.init(channels: spec.stem)), x, path: f.pp("norm0"))
        x = g.add(.activation(.relu), x)
        x = g.add(.maxPool(.init(kernel: 3, stride: 2, padding: 1)), x)
        for (b, layers) in spec.blocks.enumerated() {
            if b > 0 {
                let t = Self.transition(b - 1)
                x = normReLUConv(x, .init(out: spec.transitions[b - 1], in: spec.input(of: b - 1) + spec.blocks[b - 1] * spec.growth, kernel: 1),
                                 norm: t.pp("norm"), conv: t.pp("conv"), stage: b)
                x = g.add(.avgPool(.init(kernel: 2, stride: 2)), x, stage: b)
            }
            var features = [x]
            for j in 0..<layers {
                let l = Self.layer(b, j), width = spec.input(of: b) + j * spec.growth
                // torch.cat(features, 1); of one tensor, a copy of it.
                let input = features.count == 1 ? x : g.add(.concat, inputs: features, stage: b)
                var h = normReLUConv(input, .init(out: spec.bottleneck, in: width, kernel: 1), norm: l.pp("norm1"), conv: l.pp("conv1"), stage: b)
                h = normReLUConv(h, .init(out: spec.growth, in: spec.bottleneck, kernel: 3, padding: 1), norm: l.pp("norm2"), conv: l.pp("conv2"), stage: b)
                features.append(h)
            }
            x = g.add(.concat, inputs: features, stage: b)
        }
        let last = max(spec.blocks.count - 1, 0)
        x = g.add(.batchNorm(.init(channels: spec.featureCount)), x, path: f.pp("norm5"), stage: last)
        x = g.add(.activation(.relu), x, stage: last)
        x = g.add(.adaptiveAvgPool(height: 1, width: 1), x, stage: last)
        let pooled = g.add(.flatten, x, stage: last)
        if let head { g.addHead(head, at: headPath, input: pooled, inFeatures: spec.featureCount, stage: last) }
        return Architecture(family: self, name: spec.name, graph: g, head: head, features: pooled, featureCount: spec.featureCount,
                            stageCount: spec.blocks.count, fileName: spec.variant.map { $0 + ".pth" } ?? customFileName,
                            rebuild: { [self] in architecture(spec, head: $0) })
    }

    /// torchvision's DenseNet init: convs `kaiming_normal_` with its defaults (fan in, gain
    /// sqrt(2)), batch norms 1 and 0, `classifier` as `nn.Linear` with a zero bias.
    public func initialValues(_ node: Node, rng: inout SeededRandom) -> [String: TensorData] {
        switch node.op {
        case .conv(let c):
            let fanIn = c.weightShape.dropFirst().reduce(1, *)
            return ["weight": TensorData(shape: c.weightShape, floats: rng.normal(c.weightShape.reduce(1, *), std: (2 / Double(fanIn)).squareRoot()))]
        case .linear(let l):
            let (w, _) = rng.linear(out: l.outFeatures, in: l.inFeatures)
            return ["weight": TensorData(shape: [l.outFeatures, l.inFeatures], floats: w),
                    "bias": TensorData(shape: [l.outFeatures], floats: [Float](repeating: 0, count: l.outFeatures))]
        default:
            return defaultInitialValues(node, rng: &rng)
        }
    }
}
