import Checkpoint
import Random

/// torchvision's VGG family (torchvision/models/vgg.py): configurations A, B, D and E (vgg11,
/// vgg13, vgg16, vgg19), each with or without batch norm. `features` is `make_layers(cfg)`:
/// 3x3 convs with bias, each followed by a batch norm (the `_bn` forms) and a ReLU, a 2x2 max
/// pool after every stage; then adaptive average pooling to 7x7 and the classifier
/// Linear-ReLU-Dropout, Linear-ReLU-Dropout, Linear (`classifier.6`, the head).
public struct VGGFamily: ModelFamily {
    public init() {}

    /// Convs per stage (between max pools) of each configuration, with torchvision's widths.
    static let configurations: [(name: String, convs: [Int])] = [
        ("vgg11", [1, 1, 2, 2, 2]), ("vgg13", [2, 2, 2, 2, 2]), ("vgg16", [2, 2, 3, 3, 3]), ("vgg19", [2, 2, 4, 4, 4]),
    ]
    static let widths = [64, 128, 256, 512, 512]

    public var name: String { "VGG" }
    public var variantNames: [String] { Self.configurations.flatMap { [$0.name, $0.name + "_bn"] } }
    public var headPath: ModulePath { ModulePath.root.pp("classifier").pp(6) }
    public var customFileName: String { "vgg.pth" }

    public var keys: ModelKeys {
        let root = ModulePath.root
        return ModelKeys(name: "torchvision VGG", noun: "VGG", id: "vgg", anchor: root.pp("features").pp(0)["weight"],
                         required: [root.pp("features").pp(0)["weight"], root.pp("classifier").pp(0)["weight"]],
                         modules: ["features", "classifier"])
    }

    public func claims(_ shapes: [String: [Int]]) -> Bool { shapes["features.0.weight"] != nil }

    /// A VGG's layers: per stage, the output width of each conv; whether convs have batch
    /// norms; the classifier's hidden widths.
    public struct Spec: Equatable, Sendable {
        public var stages: [[Int]]
        public var batchNorm: Bool
        public var hidden: [Int] = [4096, 4096]
        public var dropout: Double = 0.5

        public var name: String {
            let counts = stages.map(\.count)
            guard let c = VGGFamily.configurations.first(where: { $0.convs == counts }) else { return "vgg(custom)" }
            return c.name + (batchNorm ? "_bn" : "")
        }
    }

    public func architecture(variant: String, head: HeadShape) -> Architecture? {
        let bn = variant.hasSuffix("_bn")
        let base = bn ? String(variant.dropLast(3)) : variant
        guard let c = Self.configurations.first(where: { $0.name == base }) else { return nil }
        return architecture(Spec(stages: zip(c.convs, Self.widths).map { [Int](repeating: $1, count: $0) }, batchNorm: bn), head: head)
    }

    /// Reads `features.K` (convs have 4-d weights, batch norms 1-d; a skipped index between
    /// two convs' modules is a max pool; the last stage ends in one, as in every configuration)
    /// and the classifier's widths.
    public func architecture(shapes: [String: [Int]], head: HeadShape?) throws -> Architecture {
        var convs: [(index: Int, out: Int)] = []
        var batchNorm = false
        for (k, s) in shapes where k.hasPrefix("features.") {
            let parts = k.split(separator: ".")
            guard parts.count == 3, let i = Int(parts[1]) else { continue }
            if parts[2] == "weight" && s.count == 4 { convs.append((i, s[0])) }
            if parts[2] == "running_mean" { batchNorm = true }
        }
        convs.sort { $0.index < $1.index }
        let step = batchNorm ? 3 : 2  // conv, [bn,] relu
        var stages: [[Int]] = [[]]
        var next = 0
        for c in convs {
            if c.index > next, !stages[stages.count - 1].isEmpty { stages.append([]) }  // a max pool came between
            stages[stages.count - 1].append(c.out)
            next = c.index + step
        }
        func rows(_ key: String) -> Int? { shapes[key].flatMap { $0.count == 2 ? $0[0] : nil } }
        let hidden = [rows("classifier.0.weight") ?? 4096, rows("classifier.3.weight") ?? 4096]
        return architecture(Spec(stages: stages.filter { !$0.isEmpty }, batchNorm: batchNorm, hidden: hidden), head: head)
    }

    /// The graph of `spec`: torchvision's `VGG.forward`.
    public func architecture(_ spec: Spec, head: HeadShape?) -> Architecture {
        var g = Graph()
        let features = ModulePath.root.pp("features"), classifier = ModulePath.root.pp("classifier")
        var x = 0, index = 0, channels = 3
        for (s, stage) in spec.stages.enumerated() {
            for width in stage {
                x = g.add(.conv(.init(out: width, in: channels, kernel: 3, padding: 1, bias: true)), x, path: features.pp(index), stage: s)
                index += 1
                if spec.batchNorm {
                    x = g.add(.batchNorm(.init(channels: width)), x, path: features.pp(index), stage: s)
                    index += 1
                }
                x = g.add(.activation(.relu), x, stage: s)
                index += 1
                channels = width
            }
            x = g.add(.maxPool(.init(kernel: 2, stride: 2)), x, stage: s)
            index += 1
        }
        x = g.add(.adaptiveAvgPool(height: 7, width: 7), x)
        let flat = g.add(.flatten, x)
        let last = spec.stages.count  // the classifier is the last stage
        var width = channels * 49
        x = flat
        for (i, h) in spec.hidden.enumerated() {
            x = g.add(.linear(.init(out: h, in: width)), x, path: classifier.pp(3 * i), stage: last)
            x = g.add(.activation(.relu), x, stage: last)
            x = g.add(.dropout(p: spec.dropout), x, stage: last)
            width = h
        }
        if let head { g.addHead(head, at: headPath, input: x, inFeatures: width, stage: last) }
        return Architecture(family: self, name: spec.name, graph: g, head: head, features: flat, featureCount: channels * 49,
                            stageCount: last + 1, fileName: spec.name == "vgg(custom)" ? customFileName : spec.name + ".pth",
                            rebuild: { [self] in architecture(spec, head: $0) })
    }

    /// torchvision's `VGG._initialize_weights`: convs `kaiming_normal_(fan_out, relu)` with zero
    /// bias, batch norms 1 and 0, Linears N(0, 0.01) with zero bias.
    public func initialValues(_ node: Node, rng: inout SeededRandom) -> [String: TensorData] {
        guard case .linear(let l) = node.op else { return defaultInitialValues(node, rng: &rng) }
        return ["weight": TensorData(shape: [l.outFeatures, l.inFeatures], floats: rng.normal(l.outFeatures * l.inFeatures, std: 0.01)),
                "bias": TensorData(shape: [l.outFeatures], floats: [Float](repeating: 0, count: l.outFeatures))]
    }
}
