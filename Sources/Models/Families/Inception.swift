import Checkpoint
import Engine
import Random

/// torchvision's Inception V3 (torchvision/models/inception.py, `Inception3`): `transform_input`,
/// the stem (`Conv2d_1a_3x3` 3x3 stride 2, `Conv2d_2a_3x3` 3x3, `Conv2d_2b_3x3` 3x3 padding 1,
/// 3x3 stride-2 max pool, `Conv2d_3b_1x1`, `Conv2d_4a_3x3` 3x3, 3x3 stride-2 max pool), the
/// blocks `Mixed_5b`-`5d` (InceptionA), `Mixed_6a` (B), `Mixed_6b`-`6e` (C, with 1x7 and 7x1
/// convs), `Mixed_7a` (D), `Mixed_7b`-`7c` (E), global average pooling, dropout 0.5 and `fc`.
/// Every conv is a `BasicConv2d`: conv without bias, batch norm eps 1e-3, ReLU. A block's
/// branches are concatenated; E's split branches (`branch3x3_2a`/`2b`, `3a`/`3b`) concatenate
/// flat in the same order. The branch pools are 3x3 stride-1 average pools with padding 1
/// (`count_include_pad`), or 3x3 stride-2 max pools in B and D.
///
/// `AuxLogits` (InceptionAux, present when the state dict has it: `aux_logits=True`, as
/// torchvision's weights do) reads Mixed_6e in training only: 5x5 stride-3 average pool,
/// `conv0` 1x1, `conv1` 5x5, global average pooling, `fc`. Its loss counts 0.4 times
/// (`Graph.auxiliary`); evaluation, inference and ONNX leave it out. A new head replaces its
/// `fc` as it replaces the main one. It needs 299x299 images (torchvision's too).
///
/// `transform_input` is not in the state dict: torchvision's `inception_v3` builder turns it on
/// whenever it loads weights, and Graft always applies it (see docs/models.md).
///
/// Every conv's width is read from its shape, so any widths load; named `inception_v3` at
/// torchvision's, else `inception(custom)`.
///
/// Stages (`--train last --last-stages N`): Mixed_5b-5d; Mixed_6a-6e with AuxLogits; Mixed_7a-7c.
public struct InceptionSpec: Equatable, Sendable {
    /// Each BasicConv2d's output width by its module path (`Mixed_5b.branch1x1`).
    public var widths: [ModulePath: Int]
    /// Whether it has the auxiliary classifier (`AuxLogits`).
    public var auxiliary: Bool

    public var variant: String? { widths == InceptionFamily.torchvisionWidths ? "inception_v3" : nil }
    public var name: String { variant ?? "inception(custom)" }
}

/// torchvision's `inception_v3`.
public struct InceptionFamily: ModelFamily {
    public init() {}

    public var name: String { "Inception" }
    public var variantNames: [String] { ["inception_v3"] }
    public var headPath: ModulePath { ModulePath.root.pp("fc") }
    public var customFileName: String { "inception.pth" }
    static let aux = ModulePath.root.pp("AuxLogits")

    /// The stem's convs, each block's name and kind (A's pool width, C's 7x7 width).
    static let stem: [(String, Int)] = [("Conv2d_1a_3x3", 32), ("Conv2d_2a_3x3", 32), ("Conv2d_2b_3x3", 64), ("Conv2d_3b_1x1", 80), ("Conv2d_4a_3x3", 192)]
    enum Block { case a(pool: Int), b, c(c7: Int), d, e }
    static let blocks: [(String, Block, stage: Int)] = [
        ("Mixed_5b", .a(pool: 32), 0), ("Mixed_5c", .a(pool: 64), 0), ("Mixed_5d", .a(pool: 64), 0),
        ("Mixed_6a", .b, 1), ("Mixed_6b", .c(c7: 128), 1), ("Mixed_6c", .c(c7: 160), 1), ("Mixed_6d", .c(c7: 160), 1), ("Mixed_6e", .c(c7: 192), 1),
        ("Mixed_7a", .d, 2), ("Mixed_7b", .e, 2), ("Mixed_7c", .e, 2),
    ]

    /// Every BasicConv2d of a block kind with torchvision's width.
    static func convs(_ kind: Block) -> [(String, Int)] {
        switch kind {
        case .a(let pool):
            return [("branch1x1", 64), ("branch5x5_1", 48), ("branch5x5_2", 64), ("branch3x3dbl_1", 64), ("branch3x3dbl_2", 96),
                    ("branch3x3dbl_3", 96), ("branch_pool", pool)]
        case .b: return [("branch3x3", 384), ("branch3x3dbl_1", 64), ("branch3x3dbl_2", 96), ("branch3x3dbl_3", 96)]
        case .c(let c7):
            return [("branch1x1", 192), ("branch7x7_1", c7), ("branch7x7_2", c7), ("branch7x7_3", 192)]
                + (1...4).map { ("branch7x7dbl_\($0)", c7) } + [("branch7x7dbl_5", 192), ("branch_pool", 192)]
        case .d: return [("branch3x3_1", 192), ("branch3x3_2", 320)] + (1...4).map { ("branch7x7x3_\($0)", 192) }
        case .e:
            return [("branch1x1", 320), ("branch3x3_1", 384), ("branch3x3_2a", 384), ("branch3x3_2b", 384), ("branch3x3dbl_1", 448),
                    ("branch3x3dbl_2", 384), ("branch3x3dbl_3a", 384), ("branch3x3dbl_3b", 384), ("branch_pool", 192)]
        }
    }

    /// torchvision's widths, by module path (AuxLogits' included).
    static let torchvisionWidths: [ModulePath: Int] = {
        var w: [ModulePath: Int] = [:]
        for (n, c) in stem { w[ModulePath.root.pp(n)] = c }
        for (b, kind, _) in blocks { for (n, c) in convs(kind) { w[ModulePath.root.pp(b).pp(n)] = c } }
        w[aux.pp("conv0")] = 128
        w[aux.pp("conv1")] = 768
        return w
    }()

    public var keys: ModelKeys {
        let stem = ModulePath.root.pp("Conv2d_1a_3x3").pp("conv")["weight"], mixed = ModulePath.root.pp("Mixed_5b").pp("branch1x1").pp("conv")["weight"]
        return ModelKeys(name: "torchvision \(name)", noun: name, id: "inception", anchor: stem, required: [stem, mixed],
                         modules: Set(Self.stem.map(\.0) + Self.blocks.map(\.0) + ["AuxLogits", "fc"]))
    }
    public func claims(_ shapes: [String: [Int]]) -> Bool {
        shapes[ModulePath.root.pp("Conv2d_1a_3x3").pp("conv")["weight"]] != nil && shapes[ModulePath.root.pp("Mixed_5b").pp("branch1x1").pp("conv")["weight"]] != nil
    }

    public func architecture(variant: String, head: HeadShape) -> Architecture? {
        variant == "inception_v3" ? architecture(InceptionSpec(widths: Self.torchvisionWidths, auxiliary: true), head: head, auxClasses: nil) : nil
    }

    public func architecture(shapes: [String: [Int]], head: HeadShape?) throws -> Architecture {
        // Each width from its conv's rows; anything malformed falls back to torchvision's, which
        // the key-by-key check that follows then refuses.
        var widths: [ModulePath: Int] = [:]
        for (path, w) in Self.torchvisionWidths {
            let s = shapes[path.pp("conv")["weight"]]
            widths[path] = s.flatMap { $0.count == 4 && $0[0] > 0 ? $0[0] : nil } ?? w
        }
        let auxiliary = shapes.keys.contains { $0.hasPrefix(Self.aux.description + ".") }
        let auxClasses = shapes[Self.aux.pp("fc")["weight"]].flatMap { $0.count == 2 && $0[0] > 0 ? $0[0] : nil }
        return architecture(InceptionSpec(widths: widths, auxiliary: auxiliary), head: head, auxClasses: auxClasses)
    }

    /// `auxClasses`: the auxiliary classifier's outputs when there is no head to follow.
    public func architecture(_ spec: InceptionSpec, head: HeadShape?, auxClasses: Int?) -> Architecture {
        var g = Graph()
        let r = ModulePath.root
        // BasicConv2d: conv without bias, batch norm eps 1e-3, ReLU. Returns the value and its width.
        func basic(_ x: (Int, Int), _ p: ModulePath, kernel: (Int, Int), stride: Int = 1, padding: (Int, Int) = (0, 0), stage: Int?) -> (Int, Int) {
            let out = spec.widths[p] ?? 1
            var y = g.add(.conv(.init(out: out, in: x.1, kernel: kernel.0, kernelWidth: kernel.1, stride: stride, padding: padding.0,
                                      paddingWidth: padding.1)), x.0, path: p.pp("conv"), stage: stage)
            y = g.add(.batchNorm(.init(channels: out, eps: 1e-3)), y, path: p.pp("bn"), stage: stage)
            return (g.add(.activation(.relu), y, stage: stage), out)
        }
        func concat(_ parts: [(Int, Int)], stage: Int) -> (Int, Int) {
            (g.add(.concat, inputs: parts.map(\.0), stage: stage), parts.reduce(0) { $0 + $1.1 })
        }
        func avgPool3(_ x: (Int, Int), stage: Int) -> (Int, Int) { (g.add(.avgPool(.init(kernel: 3, stride: 1, padding: 1)), x.0, stage: stage), x.1) }
        func maxPool3(_ x: (Int, Int), stage: Int?) -> (Int, Int) { (g.add(.maxPool(.init(kernel: 3, stride: 2)), x.0, stage: stage), x.1) }

        // transform_input: ImageNet's normalisation into (x - 0.5) / 0.5, torchvision's constants.
        let mean: [Double] = [0.485, 0.456, 0.406], std: [Double] = [0.229, 0.224, 0.225]
        var x = (g.add(.channelAffine(scale: std.map { Float($0 / 0.5) }, shift: mean.map { Float(($0 - 0.5) / 0.5) }), 0), 3)
        x = basic(x, r.pp("Conv2d_1a_3x3"), kernel: (3, 3), stride: 2, stage: nil)
        x = basic(x, r.pp("Conv2d_2a_3x3"), kernel: (3, 3), stage: nil)
        x = basic(x, r.pp("Conv2d_2b_3x3"), kernel: (3, 3), padding: (1, 1), stage: nil)
        x = maxPool3(x, stage: nil)
        x = basic(x, r.pp("Conv2d_3b_1x1"), kernel: (1, 1), stage: nil)
        x = basic(x, r.pp("Conv2d_4a_3x3"), kernel: (3, 3), stage: nil)
        x = maxPool3(x, stage: nil)
        var auxInput: (Int, Int)?, auxState = 0
        for (name, kind, s) in Self.blocks {
            func b(_ n: String, _ x: (Int, Int), _ k: (Int, Int), stride: Int = 1, padding: (Int, Int) = (0, 0)) -> (Int, Int) {
                basic(x, r.pp(name).pp(n), kernel: k, stride: stride, padding: padding, stage: s)
            }
            if name == "Mixed_7a" { auxState = g.nodes.count }
            switch kind {
            case .a:
                let b1 = b("branch1x1", x, (1, 1))
                let b5 = b("branch5x5_2", b("branch5x5_1", x, (1, 1)), (5, 5), padding: (2, 2))
                let d = b("branch3x3dbl_3", b("branch3x3dbl_2", b("branch3x3dbl_1", x, (1, 1)), (3, 3), padding: (1, 1)), (3, 3), padding: (1, 1))
                x = concat([b1, b5, d, b("branch_pool", avgPool3(x, stage: s), (1, 1))], stage: s)
            case .b:
                let b3 = b("branch3x3", x, (3, 3), stride: 2)
                let d = b("branch3x3dbl_3", b("branch3x3dbl_2", b("branch3x3dbl_1", x, (1, 1)), (3, 3), padding: (1, 1)), (3, 3), stride: 2)
                x = concat([b3, d, maxPool3(x, stage: s)], stage: s)
            case .c:
                let b1 = b("branch1x1", x, (1, 1))
                var b7 = b("branch7x7_1", x, (1, 1))
                b7 = b("branch7x7_3", b("branch7x7_2", b7, (1, 7), padding: (0, 3)), (7, 1), padding: (3, 0))
                var d = b("branch7x7dbl_1", x, (1, 1))
                for k in 2...5 { d = k % 2 == 0 ? b("branch7x7dbl_\(k)", d, (7, 1), padding: (3, 0)) : b("branch7x7dbl_\(k)", d, (1, 7), padding: (0, 3)) }
                x = concat([b1, b7, d, b("branch_pool", avgPool3(x, stage: s), (1, 1))], stage: s)
                if name == "Mixed_6e" { auxInput = x }
            case .d:
                let b3 = b("branch3x3_2", b("branch3x3_1", x, (1, 1)), (3, 3), stride: 2)
                var b7 = b("branch7x7x3_1", x, (1, 1))
                b7 = b("branch7x7x3_3", b("branch7x7x3_2", b7, (1, 7), padding: (0, 3)), (7, 1), padding: (3, 0))
                x = concat([b3, b("branch7x7x3_4", b7, (3, 3), stride: 2), maxPool3(x, stage: s)], stage: s)
            case .e:
                let b1 = b("branch1x1", x, (1, 1))
                let b3 = b("branch3x3_1", x, (1, 1))
                let (b3a, b3b) = (b("branch3x3_2a", b3, (1, 3), padding: (0, 1)), b("branch3x3_2b", b3, (3, 1), padding: (1, 0)))
                let d = b("branch3x3dbl_2", b("branch3x3dbl_1", x, (1, 1)), (3, 3), padding: (1, 1))
                let (d3a, d3b) = (b("branch3x3dbl_3a", d, (1, 3), padding: (0, 1)), b("branch3x3dbl_3b", d, (3, 1), padding: (1, 0)))
                // torch.cat of [branch1x1, cat(3x3_2a, 2b), cat(3x3dbl_3a, 3b), branch_pool]: the same channels flat.
                x = concat([b1, b3a, b3b, d3a, d3b, b("branch_pool", avgPool3(x, stage: s), (1, 1))], stage: s)
            }
        }
        let last = 2
        var y = g.add(.adaptiveAvgPool(height: 1, width: 1), x.0, stage: last)
        let features = g.add(.flatten, y, stage: last)
        y = g.add(.dropout(p: 0.5), features, stage: last)
        let classes = head?.classes ?? auxClasses ?? 1000
        if let head { g.addHead(head, at: headPath, input: y, inFeatures: x.1, stage: last) }
        if spec.auxiliary, let input = auxInput {
            // AuxLogits, after the main graph (evaluation leaves it out); saved before Mixed_7a.
            g.beginAuxiliary()
            let first = g.nodes.count
            var a = (g.add(.avgPool(.init(kernel: 5, stride: 3)), input.0, stage: 1), input.1)
            a = basic(a, Self.aux.pp("conv0"), kernel: (1, 1), stage: 1)
            a = basic(a, Self.aux.pp("conv1"), kernel: (5, 5), stage: 1)
            let pooled = g.add(.flatten, g.add(.adaptiveAvgPool(height: 1, width: 1), a.0, stage: 1), stage: 1)
            let logits = g.add(.linear(.init(out: classes, in: a.1)), pooled, path: Self.aux.pp("fc"), stage: 1)
            for i in first..<g.nodes.count { g.nodes[i].statePosition = auxState }
            g.addAuxiliary(.init(value: logits, input: input.0, head: Self.aux.pp("fc"), inFeatures: a.1, lossWeight: 0.4))
        }
        return Architecture(family: self, name: spec.name, graph: g, head: head, features: features, featureCount: x.1,
                            stageCount: 3, fileName: spec.variant.map { $0 + ".pth" } ?? customFileName,
                            minimumTrainingSize: spec.auxiliary ? 299 : 75,
                            rebuild: { [self] in architecture(spec, head: $0, auxClasses: auxClasses) })
    }

    /// torchvision's Inception3 init: convs and Linears `trunc_normal_(std=0.1, a=-2, b=2)`
    /// (`AuxLogits.conv1` std 0.01, `AuxLogits.fc` 0.001; the bounds, 20 standard deviations and
    /// more, are never reached), Linear biases as `nn.Linear` draws them, batch norms 1 and 0.
    public func initialValues(_ node: Node, rng: inout SeededRandom) -> [String: TensorData] {
        let std: Float = node.path == Self.aux.pp("conv1").pp("conv") ? 0.01 : node.path == Self.aux.pp("fc") ? 0.001 : 0.1
        switch node.op {
        case .conv(let c):
            return ["weight": TensorData(shape: c.weightShape, floats: rng.normal(c.weightShape.reduce(1, *), std: Double(std)))]
        case .linear(let l):
            let w = rng.normal(l.outFeatures * l.inFeatures, std: Double(std))
            let (_, b) = rng.linear(out: l.outFeatures, in: l.inFeatures)
            return ["weight": TensorData(shape: [l.outFeatures, l.inFeatures], floats: w), "bias": TensorData(shape: [l.outFeatures], floats: b)]
        default:
            return defaultInitialValues(node, rng: &rng)
        }
    }
}
