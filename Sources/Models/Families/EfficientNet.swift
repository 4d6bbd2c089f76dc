import Checkpoint
import Engine
import Random

/// torchvision's EfficientNets (torchvision/models/efficientnet.py): `features` is a stem conv
/// (3x3, stride 2, SiLU), stages of blocks (`features.S.J`), a last 1x1 conv (SiLU); then global
/// average pooling and `classifier` (Dropout, Linear at `classifier.1`).
/// - MBConv (`block`): a 1x1 expansion unless the block keeps its width, a depthwise kxk conv,
///   squeeze-and-excitation (`fc1`, SiLU, `fc2`, sigmoid, times the input; squeezed to a
///   quarter of the block's input width), a 1x1 projection without activation.
/// - FusedMBConv (v2's first stages): a kxk conv in place of the expansion and the depthwise
///   conv, then the 1x1 projection, or the kxk conv alone where the block keeps its width.
/// - Where a block keeps its size and width, stochastic depth on its branch (probability 0.2 x
///   the block's index / the block count), then the input added.
/// - Batch norm eps 1e-5 / momentum 0.1 in b0-b4, 1e-3 / 0.01 in b5-b7, 1e-3 / 0.1 in v2.
///
/// A state dict's widths come from its shapes (any width); the blocks per stage and which
/// stages are fused name the variant and give what shapes do not hold: the strides, the batch
/// norms' eps and momentum, the dropout. b1 and b2 have the same blocks: a state dict is b2
/// when its widths are b2's, else b1 (they differ only in their dropout, 0.2 and 0.3).
///
/// Stages (`--train last --last-stages N`): each `features.S` is one; the last conv and the
/// classifier are in the last.
public struct EfficientNetBlock: Equatable, Sendable {
    public var input: Int, expanded: Int, output: Int
    public var kernel: Int, stride: Int
    /// FusedMBConv (v2): no depthwise conv, no squeeze-and-excitation.
    public var fused: Bool
    /// The squeeze-and-excitation's width (MBConv's); nil in a fused block.
    public var squeeze: Int?
    /// Stochastic depth's drop probability on the residual branch.
    public var dropProbability: Double

    var residual: Bool { stride == 1 && input == output }
}

/// One stage of torchvision's `inverted_residual_setting`: expand ratio, kernel, stride,
/// input and output widths, blocks, fused.
struct EfficientNetStageConfig: Sendable {
    let expand: Int, kernel: Int, stride: Int, input: Int, output: Int, layers: Int, fused: Bool
}

/// An EfficientNet's layers.
public struct EfficientNetSpec: Equatable, Sendable {
    /// torchvision's name (`efficientnet_b0` ... `efficientnet_v2_l`).
    public var name: String
    public var stem: Int
    /// The blocks of each stage (`features.1` ...).
    public var stages: [[EfficientNetBlock]]
    public var last: Int
    public var eps: Float, momentum: Float
    public var dropout: Double

    func norm(_ channels: Int) -> Op.BatchNormalisation { .init(channels: channels, eps: eps, momentum: momentum) }

    func graph(head: HeadShape?, headPath: ModulePath) -> (graph: Graph, features: Int, stageCount: Int) {
        var g = Graph()
        let features = ModulePath.root.pp("features")
        // Conv2dNormActivation: conv at `.0`, batch norm at `.1`, the activation after.
        func convBN(_ x: Int, _ c: Op.Convolution, at path: ModulePath, activation: Activation?, stage: Int?) -> Int {
            var y = g.add(.conv(c), x, path: path.pp(0), stage: stage)
            y = g.add(.batchNorm(norm(c.outChannels)), y, path: path.pp(1), stage: stage)
            if let a = activation { y = g.add(.activation(a), y, stage: stage) }
            return y
        }
        var x = convBN(0, .init(out: stem, in: 3, kernel: 3, stride: 2, padding: 1), at: features.pp(0), activation: .silu, stage: nil)
        for (s, blocks) in stages.enumerated() {
            for (j, b) in blocks.enumerated() {
                let input = x
                let body = features.pp(s + 1).pp(j).pp("block")
                let pad = (b.kernel - 1) / 2
                let project = Op.Convolution(out: b.output, in: b.expanded, kernel: 1)
                if b.fused {
                    let expands = b.expanded != b.input
                    x = convBN(x, .init(out: expands ? b.expanded : b.output, in: b.input, kernel: b.kernel, stride: b.stride, padding: pad),
                               at: body.pp(0), activation: .silu, stage: s)
                    if expands { x = convBN(x, project, at: body.pp(1), activation: nil, stage: s) }
                } else {
                    var k = 0
                    if b.expanded != b.input {
                        x = convBN(x, .init(out: b.expanded, in: b.input, kernel: 1), at: body.pp(k), activation: .silu, stage: s)
                        k += 1
                    }
                    x = convBN(x, .init(out: b.expanded, in: b.expanded, kernel: b.kernel, stride: b.stride, padding: pad, groups: b.expanded),
                               at: body.pp(k), activation: .silu, stage: s)
                    k += 1
                    if let q = b.squeeze {
                        x = g.addSqueezeExcitation(x, at: body.pp(k), channels: b.expanded, squeeze: q,
                                                   activation: .silu, gate: .sigmoid, stage: s)
                        k += 1
                    }
                    x = convBN(x, project, at: body.pp(k), activation: nil, stage: s)
                }
                if b.residual {
                    x = g.add(.stochasticDepth(p: b.dropProbability), x, stage: s)
                    x = g.add(.add, x, input, stage: s)       // result += input
                }
            }
        }
        let lastStage = max(stages.count - 1, 0)
        let lastInput = stages.last?.last?.output ?? stem
        x = convBN(x, .init(out: last, in: lastInput, kernel: 1), at: features.pp(stages.count + 1), activation: .silu, stage: lastStage)
        x = g.add(.adaptiveAvgPool(height: 1, width: 1), x, stage: lastStage)
        let flat = g.add(.flatten, x, stage: lastStage)
        x = g.add(.dropout(p: dropout), flat, stage: lastStage)
        if let head { g.addHead(head, at: headPath, input: x, inFeatures: last, stage: lastStage) }
        return (g, flat, stages.count)
    }
}

/// torchvision's `efficientnet_b0` ... `efficientnet_b7`, `efficientnet_v2_s`, `_m`, `_l`.
public struct EfficientNetFamily: ModelFamily {
    public init() {}

    /// A variant: its stages at width 1, last conv width (nil: 4x the last stage's), batch norm, dropout.
    struct Variant: Sendable {
        let name: String
        let stages: [EfficientNetStageConfig]
        let last: Int?
        let eps: Float, momentum: Float
        let dropout: Double
    }

    /// torchvision's `_efficientnet_conf` for b0-b7 at `width` and `depth`.
    private static func b(_ k: Int, width: Double, depth: Double, dropout: Double) -> Variant {
        let table = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
                     (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1)]
        let stages = table.map { e, kernel, s, i, o, n in
            EfficientNetStageConfig(expand: e, kernel: kernel, stride: s, input: makeDivisible(Double(i) * width),
                                    output: makeDivisible(Double(o) * width), layers: Int((Double(n) * depth).rounded(.up)), fused: false)
        }
        let big = k >= 5
        return Variant(name: "efficientnet_b\(k)", stages: stages, last: nil, eps: big ? 1e-3 : 1e-5, momentum: big ? 0.01 : 0.1, dropout: dropout)
    }

    /// torchvision's `_efficientnet_conf` for v2 (fused stages first).
    private static func v2(_ size: String, _ rows: [(Int, Int, Int, Int, Int, Int, Bool)], dropout: Double) -> Variant {
        Variant(name: "efficientnet_v2_\(size)",
                stages: rows.map { EfficientNetStageConfig(expand: $0.0, kernel: $0.1, stride: $0.2, input: $0.3, output: $0.4, layers: $0.5, fused: $0.6) },
                last: 1280, eps: 1e-3, momentum: 0.1, dropout: dropout)
    }

    static let variants: [Variant] = [
        b(0, width: 1.0, depth: 1.0, dropout: 0.2), b(1, width: 1.0, depth: 1.1, dropout: 0.2), b(2, width: 1.1, depth: 1.2, dropout: 0.3),
        b(3, width: 1.2, depth: 1.4, dropout: 0.3), b(4, width: 1.4, depth: 1.8, dropout: 0.4), b(5, width: 1.6, depth: 2.2, dropout: 0.4),
        b(6, width: 1.8, depth: 2.6, dropout: 0.5), b(7, width: 2.0, depth: 3.1, dropout: 0.5),
        v2("s", [(1, 3, 1, 24, 24, 2, true), (4, 3, 2, 24, 48, 4, true), (4, 3, 2, 48, 64, 4, true),
                 (4, 3, 2, 64, 128, 6, false), (6, 3, 1, 128, 160, 9, false), (6, 3, 2, 160, 256, 15, false)], dropout: 0.2),
        v2("m", [(1, 3, 1, 24, 24, 3, true), (4, 3, 2, 24, 48, 5, true), (4, 3, 2, 48, 80, 5, true), (4, 3, 2, 80, 160, 7, false),
                 (6, 3, 1, 160, 176, 14, false), (6, 3, 2, 176, 304, 18, false), (6, 3, 1, 304, 512, 5, false)], dropout: 0.3),
        v2("l", [(1, 3, 1, 32, 32, 4, true), (4, 3, 2, 32, 64, 7, true), (4, 3, 2, 64, 96, 7, true), (4, 3, 2, 96, 192, 10, false),
                 (6, 3, 1, 192, 224, 19, false), (6, 3, 2, 224, 384, 25, false), (6, 3, 1, 384, 640, 7, false)], dropout: 0.4),
    ]

    /// torchvision's stochastic_depth_prob (every builder's default).
    static let stochasticDepth = 0.2

    /// Blocks from the stages' widths, as torchvision's `EfficientNet.__init__` builds them: a
    /// stage's later blocks take its output width and stride 1; each block's drop probability
    /// grows with its index.
    static func blocks(_ stages: [EfficientNetStageConfig]) -> [[EfficientNetBlock]] {
        let total = stages.reduce(0) { $0 + $1.layers }
        var id = 0
        return stages.map { c in
            (0..<c.layers).map { j in
                let input = j == 0 ? c.input : c.output
                defer { id += 1 }
                return EfficientNetBlock(input: input, expanded: makeDivisible(Double(input * c.expand)), output: c.output, kernel: c.kernel,
                                         stride: j == 0 ? c.stride : 1, fused: c.fused, squeeze: c.fused ? nil : max(1, input / 4),
                                         dropProbability: stochasticDepth * Double(id) / Double(total))
            }
        }
    }

    func spec(_ v: Variant) -> EfficientNetSpec {
        let stages = Self.blocks(v.stages)
        let lastStage = v.stages.last!.output
        return EfficientNetSpec(name: v.name, stem: v.stages[0].input, stages: stages, last: v.last ?? 4 * lastStage,
                                eps: v.eps, momentum: v.momentum, dropout: v.dropout)
    }

    public var name: String { "EfficientNet" }
    public var variantNames: [String] { Self.variants.map(\.name) }
    public var headPath: ModulePath { ModulePath.root.pp("classifier").pp(1) }
    public var customFileName: String { "efficientnet.pth" }

    /// The first block's first conv (`features.1.0.block.0.0.weight`): the family's own key.
    var firstBlockWeight: String { ModulePath.root.pp("features").pp(1).pp(0).pp("block").pp(0).pp(0)["weight"] }

    public var keys: ModelKeys {
        let stem = ModulePath.root.pp("features").pp(0).pp(0)["weight"]
        return ModelKeys(name: "torchvision \(name)", noun: name, id: "efficientnet", anchor: stem, required: [stem, firstBlockWeight],
                         modules: ["features", "classifier"])
    }
    public func claims(_ shapes: [String: [Int]]) -> Bool { shapes[firstBlockWeight] != nil }

    public func architecture(variant: String, head: HeadShape) -> Architecture? {
        Self.variants.first { $0.name == variant }.map { architecture(spec($0), head: head) }
    }

    public func architecture(_ spec: EfficientNetSpec, head: HeadShape?) -> Architecture {
        let (g, flat, stageCount) = spec.graph(head: head, headPath: headPath)
        return Architecture(family: self, name: spec.name, graph: g, head: head, features: flat, featureCount: spec.last,
                            stageCount: stageCount, fileName: spec.name + ".pth", rebuild: { [self] in architecture(spec, head: $0) })
    }

    /// torchvision's EfficientNet init: convs `kaiming_normal_(fan_out)` with zero bias, batch
    /// norms 1 and 0, Linears U(-1/sqrt(out), 1/sqrt(out)) with zero bias.
    public func initialValues(_ node: Node, rng: inout SeededRandom) -> [String: TensorData] {
        guard case .linear(let l) = node.op else { return defaultInitialValues(node, rng: &rng) }
        return ["weight": TensorData(shape: [l.outFeatures, l.inFeatures],
                                     floats: rng.uniform(l.outFeatures * l.inFeatures, bound: 1 / Double(l.outFeatures).squareRoot())),
                "bias": TensorData(shape: [l.outFeatures], floats: [Float](repeating: 0, count: l.outFeatures))]
    }

    /// The blocks per stage of a state dict, and which stages are fused (no `fc1` in their blocks).
    static func layout(_ shapes: [String: [Int]]) -> (counts: [Int], fused: [Bool]) {
        var counts: [Int] = [], fused: [Bool] = []
        while true {
            let s = counts.count + 1
            var n = 0
            while shapes["features.\(s).\(n).block.0.0.weight"] != nil { n += 1 }
            if n == 0 { break }
            counts.append(n)
            fused.append(!shapes.keys.contains { $0.hasPrefix("features.\(s).0.block.") && $0.contains(".fc1.") })
        }
        return (counts, fused)
    }

    public func architecture(shapes: [String: [Int]], head: HeadShape?) throws -> Architecture {
        let (counts, fused) = Self.layout(shapes)
        let matching = Self.variants.filter { $0.stages.map(\.layers) == counts && $0.stages.map(\.fused) == fused }
        guard !matching.isEmpty else {
            throw ModelError.badInput("an EfficientNet with \(counts) blocks per stage" + (fused.contains(true) ? " (fused: \(fused))" : "")
                + ": torchvision's " + Self.variants.map { "\($0.name) has \($0.stages.map(\.layers))" }.joined(separator: ", "))
        }
        func rows(_ key: String) -> Int? { shapes[key].flatMap { $0.count == 4 && $0[0] > 0 ? $0[0] : nil } }
        func conv(_ key: String) -> [Int]? { shapes[key].flatMap { $0.count == 4 && $0.allSatisfy { $0 > 0 } ? $0 : nil } }
        // The widths the shapes give, over the first matching variant's structure; anything
        // malformed falls back to the table, and the key-by-key check that follows refuses it.
        let table = Self.blocks(matching[0].stages)
        let features = ModulePath.root.pp("features")
        let stem = rows(features.pp(0).pp(0)["weight"]) ?? matching[0].stages[0].input
        var input = stem
        let stages = table.enumerated().map { s, blocks in
            blocks.enumerated().map { j, t in
                let body = features.pp(s + 1).pp(j).pp("block")
                var b = t
                b.input = input
                if t.fused {
                    let expands = shapes[body.pp(1).pp(0)["weight"]] != nil
                    let first = conv(body.pp(0).pp(0)["weight"])
                    b.kernel = first?[2] ?? t.kernel
                    b.output = (expands ? rows(body.pp(1).pp(0)["weight"]) : first?[0]) ?? t.output
                    b.expanded = expands ? first?[0] ?? t.expanded : input
                } else {
                    // With an expansion: expand, depthwise, SE, project (`.0` to `.3`); without, from the depthwise.
                    let expands = shapes[body.pp(3).pp(0)["weight"]] != nil
                    let depthwise = conv(body.pp(expands ? 1 : 0).pp(0)["weight"])
                    b.expanded = depthwise?[0] ?? t.expanded
                    b.kernel = depthwise?[2] ?? t.kernel
                    b.squeeze = rows(body.pp(expands ? 2 : 1).pp("fc1")["weight"]) ?? t.squeeze
                    b.output = rows(body.pp(expands ? 3 : 2).pp(0)["weight"]) ?? t.output
                }
                input = b.output
                return b
            }
        }
        let last = rows(features.pp(counts.count + 1).pp(0)["weight"]) ?? 4 * input
        // b1 and b2 share their blocks: b2 when the widths are b2's.
        let variant = matching.first { v in
            let s = spec(v)
            return s.stem == stem && s.last == last && s.stages.map { $0.map(\.output) } == stages.map { $0.map(\.output) }
        } ?? matching[0]
        return architecture(EfficientNetSpec(name: variant.name, stem: stem, stages: stages, last: last, eps: variant.eps,
                                             momentum: variant.momentum, dropout: variant.dropout), head: head)
    }
}
