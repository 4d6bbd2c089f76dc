import Checkpoint
import Engine
import Random

/// torchvision's MobileNets (torchvision/models/mobilenetv2.py, mobilenetv3.py): `features` is a
/// stem conv (3x3, stride 2), inverted-residual blocks (a 1x1 expansion unless the block keeps
/// its width, a depthwise kxk conv, in v3 an optional squeeze-and-excitation, a 1x1 projection
/// without activation; the input added back where stride 1 keeps the width) and a last 1x1 conv;
/// then global average pooling and the classifier. v2: ReLU6, batch norm eps 1e-5 / momentum
/// 0.1, classifier Dropout, Linear (`classifier.1`). v3: ReLU or hardswish per block,
/// squeeze-and-excitation (`fc1`, ReLU, `fc2`, hardsigmoid, times the input), batch norm eps
/// 1e-3 / momentum 0.01, classifier Linear, hardswish, Dropout, Linear (`classifier.3`).
///
/// A state dict's widths are read from its shapes (any `width_mult`); the block count names
/// the variant (v2 17 blocks, v3 large 15, small 11) and gives what shapes do not hold: the
/// strides and v3's activation per block. The name is the constructor's whatever the width
/// (`mobilenet_v2(width_mult=0.5)` is a `mobilenet_v2`).
///
/// Stages (`--train last --last-stages N`): a stage starts at each stride-2 block after the
/// first block; the last conv is in the last stage; v2's head takes the last stage, v3's
/// classifier (`classifier.0` and the head) is a stage of its own.
public struct MobileNetBlock: Equatable, Sendable {
    public var input: Int, expanded: Int, output: Int
    public var kernel: Int, stride: Int
    /// The squeeze-and-excitation's squeezed width (v3), nil without one.
    public var squeeze: Int?
    public var activation: Activation

    public init(input: Int, expanded: Int, output: Int, kernel: Int, stride: Int, squeeze: Int?, activation: Activation) {
        self.input = input; self.expanded = expanded; self.output = output; self.kernel = kernel; self.stride = stride
        self.squeeze = squeeze; self.activation = activation
    }

    var residual: Bool { stride == 1 && input == output }
}

/// torchvision's `_make_divisible(v, 8)`: the nearest multiple of 8, at least 8, and not
/// below 90 % of `v`.
func makeDivisible(_ v: Double, _ divisor: Int = 8) -> Int {
    var n = max(divisor, Int(v + Double(divisor) / 2) / divisor * divisor)
    if Double(n) < 0.9 * v { n += divisor }
    return n
}

/// A MobileNet's layers (v2 or v3).
public struct MobileNetSpec: Equatable, Sendable {
    public var version: Int
    public var stem: Int
    public var blocks: [MobileNetBlock]
    public var last: Int
    /// v3's `classifier.0` width (`last_channel`); nil in v2.
    public var hidden: Int?
    public var dropout: Double = 0.2

    /// The variant these blocks are (`mobilenet_v2`, `mobilenet_v3_large`, `mobilenet_v3_small`).
    public var name: String {
        switch (version, blocks.count) {
        case (2, MobileNetV2Family.table.count): return "mobilenet_v2"
        case (3, MobileNetV3Family.large.count): return "mobilenet_v3_large"
        case (3, MobileNetV3Family.small.count): return "mobilenet_v3_small"
        default: return "mobilenet_v\(version)(custom)"
        }
    }

    var stemActivation: Activation { version == 2 ? .relu6 : .hardswish }
    func norm(_ channels: Int) -> Op.BatchNormalisation {
        version == 2 ? .init(channels: channels) : .init(channels: channels, eps: 1e-3, momentum: 0.01)
    }

    /// Each block's stage: the number of stride-2 blocks after the first, up to it.
    var stages: [Int] {
        var s = 0
        return blocks.enumerated().map { i, b in
            if i > 0 && b.stride == 2 { s += 1 }
            return s
        }
    }
}

/// The graph both versions share, with the keys each names its modules by.
extension MobileNetSpec {
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
        var x = convBN(0, .init(out: stem, in: 3, kernel: 3, stride: 2, padding: 1), at: features.pp(0), activation: stemActivation, stage: nil)
        let stageOf = stages
        for (i, b) in blocks.enumerated() {
            let s = stageOf[i]
            let input = x
            // v2: `conv.K`, the projection a plain conv and batch norm; v3: `block.K`, each a Conv2dNormActivation.
            let body = features.pp(i + 1).pp(version == 2 ? "conv" : "block")
            var k = 0
            if b.expanded != b.input {
                x = convBN(x, .init(out: b.expanded, in: b.input, kernel: 1), at: body.pp(k), activation: b.activation, stage: s)
                k += 1
            }
            x = convBN(x, .init(out: b.expanded, in: b.expanded, kernel: b.kernel, stride: b.stride, padding: (b.kernel - 1) / 2,
                                groups: b.expanded), at: body.pp(k), activation: b.activation, stage: s)
            k += 1
            if let q = b.squeeze {
                x = g.addSqueezeExcitation(x, at: body.pp(k), channels: b.expanded, squeeze: q, activation: .relu, gate: .hardsigmoid, stage: s)
                k += 1
            }
            let project = Op.Convolution(out: b.output, in: b.expanded, kernel: 1)
            if version == 2 {
                x = g.add(.conv(project), x, path: body.pp(k), stage: s)
                x = g.add(.batchNorm(norm(b.output)), x, path: body.pp(k + 1), stage: s)
                if b.residual { x = g.add(.add, input, x, stage: s) }       // x + self.conv(x)
            } else {
                x = convBN(x, project, at: body.pp(k), activation: nil, stage: s)
                if b.residual { x = g.add(.add, x, input, stage: s) }       // result += input
            }
        }
        let lastStage = stageOf.last ?? 0
        let lastInput = blocks.last?.output ?? stem
        x = convBN(x, .init(out: last, in: lastInput, kernel: 1), at: features.pp(blocks.count + 1), activation: stemActivation, stage: lastStage)
        x = g.add(.adaptiveAvgPool(height: 1, width: 1), x, stage: lastStage)
        let flat = g.add(.flatten, x, stage: lastStage)
        let classifier = ModulePath.root.pp("classifier")
        if let hidden {
            let c = lastStage + 1
            x = g.add(.linear(.init(out: hidden, in: last)), flat, path: classifier.pp(0), stage: c)
            x = g.add(.activation(.hardswish), x, stage: c)
            x = g.add(.dropout(p: dropout), x, stage: c)
            if let head { g.addHead(head, at: headPath, input: x, inFeatures: hidden, stage: c) }
            return (g, flat, c + 1)
        }
        x = g.add(.dropout(p: dropout), flat, stage: lastStage)
        if let head { g.addHead(head, at: headPath, input: x, inFeatures: last, stage: lastStage) }
        return (g, flat, lastStage + 1)
    }
}

/// What both families share: the architecture from a spec, initialisation.
protocol MobileNetFamily: ModelFamily {
    var version: Int { get }
    /// The spec of a variant at `widthMultiplier`.
    func spec(variant: String, widthMultiplier: Double) -> MobileNetSpec?
}

extension MobileNetFamily {
    public var customFileName: String { "mobilenet_v\(version).pth" }

    /// The first block's first conv weight (`features.1.conv.0.0.weight` in v2, `features.1.block.0.0.weight` in v3): the family's own key.
    var firstBlockWeight: String { ModulePath.root.pp("features").pp(1).pp(version == 2 ? "conv" : "block").pp(0).pp(0)["weight"] }

    /// What the checkpoint reader looks for: the stem's conv under a prefix, with the first block's.
    func mobileNetKeys(id: String) -> ModelKeys {
        let stem = ModulePath.root.pp("features").pp(0).pp(0)["weight"]
        return ModelKeys(name: "torchvision \(name)", noun: name, id: id, anchor: stem, required: [stem, firstBlockWeight],
                         modules: ["features", "classifier"])
    }

    public func architecture(variant: String, head: HeadShape) -> Architecture? {
        spec(variant: variant, widthMultiplier: 1).map { architecture($0, head: head) }
    }

    public func architecture(_ spec: MobileNetSpec, head: HeadShape?) -> Architecture {
        let (g, flat, stageCount) = spec.graph(head: head, headPath: headPath)
        let name = spec.name
        return Architecture(family: self, name: name, graph: g, head: head, features: flat, featureCount: spec.last,
                            stageCount: stageCount, fileName: name.hasSuffix("(custom)") ? customFileName : name + ".pth",
                            rebuild: { [self] in architecture(spec, head: $0) })
    }

    /// torchvision's MobileNet init: convs `kaiming_normal_(fan_out)` with zero bias, batch
    /// norms 1 and 0, Linears N(0, 0.01) with zero bias.
    public func initialValues(_ node: Node, rng: inout SeededRandom) -> [String: TensorData] {
        guard case .linear(let l) = node.op else { return defaultInitialValues(node, rng: &rng) }
        return ["weight": TensorData(shape: [l.outFeatures, l.inFeatures], floats: rng.normal(l.outFeatures * l.inFeatures, std: 0.01)),
                "bias": TensorData(shape: [l.outFeatures], floats: [Float](repeating: 0, count: l.outFeatures))]
    }

    /// The widths a state dict's shapes give, over `table`'s structure (strides, activations);
    /// throws when the blocks are not the variant's count.
    func readBlocks(_ shapes: [String: [Int]], table: [MobileNetBlock]) throws -> (stem: Int, blocks: [MobileNetBlock], last: Int) {
        let features = ModulePath.root.pp("features")
        func rows(_ key: String) -> Int? { shapes[key].flatMap { $0.count == 4 && $0[0] > 0 ? $0[0] : nil } }
        var n = 0
        while shapes.keys.contains(where: { $0.hasPrefix("features.\(n + 1).") }) { n += 1 }
        // The last conv is `features.(n)`, the blocks 1 ..< n.
        guard n - 1 == table.count else {
            throw ModelError.badInput("a MobileNet v\(version) with \(max(n - 1, 0)) inverted-residual blocks: torchvision's "
                + variantNames.map { v in "\(v) has \(spec(variant: v, widthMultiplier: 1)?.blocks.count ?? 0)" }.joined(separator: ", "))
        }
        let stem = rows(features.pp(0).pp(0)["weight"]) ?? 32
        var input = stem
        var blocks: [MobileNetBlock] = []
        for (i, t) in table.enumerated() {
            let body = features.pp(i + 1).pp(version == 2 ? "conv" : "block")
            // With an expansion the depthwise conv is `.1`, else `.0` (its weight [C, 1, k, k]).
            // (Shapes are a stranger's: anything not 4-d falls back to the table, and the key-by-key
            // check that follows refuses it.)
            let first = shapes[body.pp(0).pp(0)["weight"]] ?? []
            let expands = first.count == 4 && first[1] != 1
            let found = shapes[body.pp(expands ? 1 : 0).pp(0)["weight"]] ?? []
            let depthwise = found.count == 4 && found.allSatisfy({ $0 > 0 }) ? found : [t.expanded, 1, t.kernel, t.kernel]
            let expanded = depthwise[0]
            let seAt = body.pp(expands ? 2 : 1)
            let squeeze = version == 3 && shapes[seAt.pp("fc1")["weight"]] != nil ? rows(seAt.pp("fc1")["weight"]) : nil
            let projectAt = body.pp((expands ? 2 : 1) + (squeeze != nil ? 1 : 0))
            let output = rows(version == 2 ? projectAt["weight"] : projectAt.pp(0)["weight"]) ?? t.output
            blocks.append(MobileNetBlock(input: input, expanded: expanded, output: output, kernel: depthwise[2],
                                         stride: t.stride, squeeze: squeeze, activation: t.activation))
            input = output
        }
        let last = rows(features.pp(table.count + 1).pp(0)["weight"]) ?? 1280
        return (stem, blocks, last)
    }
}

/// torchvision's `mobilenet_v2` (MobileNetV2 with any `width_mult`).
public struct MobileNetV2Family: MobileNetFamily {
    public init() {}
    var version: Int { 2 }

    /// torchvision's inverted_residual_setting (t, c, n, s) as blocks at width 1.
    static let setting: [(t: Int, c: Int, n: Int, s: Int)] = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                                                              (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    static let table: [MobileNetBlock] = blocks(widthMultiplier: 1)

    static func blocks(widthMultiplier w: Double) -> [MobileNetBlock] {
        var input = makeDivisible(32 * w), out: [MobileNetBlock] = []
        for (t, c, n, s) in setting {
            let output = makeDivisible(Double(c) * w)
            for i in 0..<n {
                out.append(MobileNetBlock(input: input, expanded: input * t, output: output, kernel: 3, stride: i == 0 ? s : 1,
                                          squeeze: nil, activation: .relu6))
                input = output
            }
        }
        return out
    }

    public var name: String { "MobileNetV2" }
    public var variantNames: [String] { ["mobilenet_v2"] }
    public var headPath: ModulePath { ModulePath.root.pp("classifier").pp(1) }

    public var keys: ModelKeys { mobileNetKeys(id: "mobilenet_v2") }
    public func claims(_ shapes: [String: [Int]]) -> Bool { shapes[firstBlockWeight] != nil }

    func spec(variant: String, widthMultiplier w: Double) -> MobileNetSpec? {
        guard variant == "mobilenet_v2" else { return nil }
        return MobileNetSpec(version: 2, stem: makeDivisible(32 * w), blocks: Self.blocks(widthMultiplier: w),
                             last: makeDivisible(1280 * max(1, w)), hidden: nil)
    }

    public func architecture(shapes: [String: [Int]], head: HeadShape?) throws -> Architecture {
        let (stem, blocks, last) = try readBlocks(shapes, table: Self.table)
        return architecture(MobileNetSpec(version: 2, stem: stem, blocks: blocks, last: last, hidden: nil), head: head)
    }
}

/// torchvision's `mobilenet_v3_large` and `mobilenet_v3_small` (any `width_mult`; not the
/// segmentation backbones' `reduced_tail` or `dilated`).
public struct MobileNetV3Family: MobileNetFamily {
    public init() {}
    var version: Int { 3 }

    private static func b(_ input: Int, _ kernel: Int, _ expanded: Int, _ output: Int, _ se: Bool, _ hs: Bool, _ stride: Int) -> MobileNetBlock {
        MobileNetBlock(input: input, expanded: expanded, output: output, kernel: kernel, stride: stride,
                       squeeze: se ? makeDivisible(Double(expanded / 4)) : nil, activation: hs ? .hardswish : .relu)
    }
    /// torchvision's `_mobilenet_v3_conf` at width 1 (input, kernel, expanded, output, SE, hardswish, stride).
    static let large: [MobileNetBlock] = [
        b(16, 3, 16, 16, false, false, 1), b(16, 3, 64, 24, false, false, 2), b(24, 3, 72, 24, false, false, 1),
        b(24, 5, 72, 40, true, false, 2), b(40, 5, 120, 40, true, false, 1), b(40, 5, 120, 40, true, false, 1),
        b(40, 3, 240, 80, false, true, 2), b(80, 3, 200, 80, false, true, 1), b(80, 3, 184, 80, false, true, 1),
        b(80, 3, 184, 80, false, true, 1), b(80, 3, 480, 112, true, true, 1), b(112, 3, 672, 112, true, true, 1),
        b(112, 5, 672, 160, true, true, 2), b(160, 5, 960, 160, true, true, 1), b(160, 5, 960, 160, true, true, 1),
    ]
    static let small: [MobileNetBlock] = [
        b(16, 3, 16, 16, true, false, 2), b(16, 3, 72, 24, false, false, 2), b(24, 3, 88, 24, false, false, 1),
        b(24, 5, 96, 40, true, true, 2), b(40, 5, 240, 40, true, true, 1), b(40, 5, 240, 40, true, true, 1),
        b(40, 5, 120, 48, true, true, 1), b(48, 5, 144, 48, true, true, 1), b(48, 5, 288, 96, true, true, 2),
        b(96, 5, 576, 96, true, true, 1), b(96, 5, 576, 96, true, true, 1),
    ]

    public var name: String { "MobileNetV3" }
    public var variantNames: [String] { ["mobilenet_v3_large", "mobilenet_v3_small"] }
    public var headPath: ModulePath { ModulePath.root.pp("classifier").pp(3) }

    public var keys: ModelKeys { mobileNetKeys(id: "mobilenet_v3") }
    public func claims(_ shapes: [String: [Int]]) -> Bool { shapes[firstBlockWeight] != nil }

    func spec(variant: String, widthMultiplier w: Double) -> MobileNetSpec? {
        let (table, lastChannel): ([MobileNetBlock], Int)
        switch variant {
        case "mobilenet_v3_large": (table, lastChannel) = (Self.large, 1280)
        case "mobilenet_v3_small": (table, lastChannel) = (Self.small, 1024)
        default: return nil
        }
        let scale = { (c: Int) in makeDivisible(Double(c) * w) }
        let blocks = table.map { t in
            MobileNetBlock(input: scale(t.input), expanded: scale(t.expanded), output: scale(t.output), kernel: t.kernel, stride: t.stride,
                           squeeze: t.squeeze.map { _ in makeDivisible(Double(scale(t.expanded) / 4)) }, activation: t.activation)
        }
        return MobileNetSpec(version: 3, stem: blocks[0].input, blocks: blocks, last: 6 * blocks.last!.output, hidden: scale(lastChannel))
    }

    public func architecture(shapes: [String: [Int]], head: HeadShape?) throws -> Architecture {
        var n = 0
        while shapes.keys.contains(where: { $0.hasPrefix("features.\(n + 1).") }) { n += 1 }
        let table = n - 1 == Self.small.count ? Self.small : Self.large
        let (stem, blocks, last) = try readBlocks(shapes, table: table)
        // classifier.0: Linear(last, hidden).
        let hidden = shapes["classifier.0.weight"].flatMap { $0.count == 2 && $0[0] > 0 ? $0[0] : nil } ?? (table.count == Self.small.count ? 1024 : 1280)
        return architecture(MobileNetSpec(version: 3, stem: stem, blocks: blocks, last: last, hidden: hidden), head: head)
    }
}
