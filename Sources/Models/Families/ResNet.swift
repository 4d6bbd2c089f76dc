import Checkpoint
import Random

/// The two residual block types of torchvision's ResNet.
public enum BlockKind: String, Sendable {
    case basic = "BasicBlock"
    case bottleneck = "Bottleneck"

    /// Output channels per `planes`: 1 for BasicBlock, 4 for Bottleneck.
    public var expansion: Int { self == .basic ? 1 : 4 }
}

/// One member of torchvision's ResNet family: what `torchvision.models.<name>()` builds.
public struct ResNetVariant: Sendable, Equatable {
    public let name: String
    public let block: BlockKind
    /// Blocks per stage (`layer1`...`layer4`).
    public let layers: [Int]
    public let groups: Int
    public let widthPerGroup: Int

    /// The variant's widths (torchvision's).
    public var spec: ResNetSpec { .torchvision(block, layers: layers, groups: groups, widthPerGroup: widthPerGroup) }

    /// Plain blocks: one group, 3x3 convs as wide as `planes` (resnet18...resnet152).
    var isPlain: Bool { groups == 1 && widthPerGroup == 64 }
}

/// torchvision's ResNet family (torchvision/models/resnet.py): the table of depths, block
/// kinds and widths, and the graph `ResNet.forward` runs, written once.
public struct ResNetFamily: ModelFamily {
    public init() {}

    public static let variants: [ResNetVariant] = [
        ResNetVariant(name: "resnet18", block: .basic, layers: [2, 2, 2, 2], groups: 1, widthPerGroup: 64),
        ResNetVariant(name: "resnet34", block: .basic, layers: [3, 4, 6, 3], groups: 1, widthPerGroup: 64),
        ResNetVariant(name: "resnet50", block: .bottleneck, layers: [3, 4, 6, 3], groups: 1, widthPerGroup: 64),
        ResNetVariant(name: "resnet101", block: .bottleneck, layers: [3, 4, 23, 3], groups: 1, widthPerGroup: 64),
        ResNetVariant(name: "resnet152", block: .bottleneck, layers: [3, 8, 36, 3], groups: 1, widthPerGroup: 64),
        ResNetVariant(name: "resnext50_32x4d", block: .bottleneck, layers: [3, 4, 6, 3], groups: 32, widthPerGroup: 4),
        ResNetVariant(name: "resnext101_32x8d", block: .bottleneck, layers: [3, 4, 23, 3], groups: 32, widthPerGroup: 8),
        ResNetVariant(name: "resnext101_64x4d", block: .bottleneck, layers: [3, 4, 23, 3], groups: 64, widthPerGroup: 4),
        ResNetVariant(name: "wide_resnet50_2", block: .bottleneck, layers: [3, 4, 6, 3], groups: 1, widthPerGroup: 128),
        ResNetVariant(name: "wide_resnet101_2", block: .bottleneck, layers: [3, 4, 23, 3], groups: 1, widthPerGroup: 128),
    ]

    /// Every variant's name, in the table's order.
    public static var names: [String] { variants.map(\.name) }
    public static func variant(named name: String) -> ResNetVariant? { variants.first { $0.name == name } }

    public var name: String { "ResNet" }
    public var variantNames: [String] { Self.names }
    public var headPath: ModulePath { ModulePath.root.pp("fc") }
    public var customFileName: String { "resNet.pth" }

    /// The stem and the first block of every stage must be there; `fc` need not be (a backbone
    /// saved without its classifier is still a ResNet: whoever needs `fc` says so).
    public var keys: ModelKeys { .torchvisionResNet }

    public func claims(_ shapes: [String: [Int]]) -> Bool {
        shapes["conv1.weight"] != nil || shapes.keys.contains { $0.hasPrefix("layer1.") }
    }

    public func architecture(shapes: [String: [Int]], head: HeadShape?) throws -> Architecture {
        architecture(ResNetSpec.read(shapes), head: head)
    }

    public func architecture(variant: String, head: HeadShape) -> Architecture? {
        Self.variant(named: variant).map { architecture($0.spec, head: head) }
    }

    public func initialValues(_ node: Node, rng: inout SeededRandom) -> [String: TensorData] {
        defaultInitialValues(node, rng: &rng)
    }

    /// The graph of `spec` with `head`: torchvision's `ResNet.forward`, `BasicBlock.forward`
    /// and `Bottleneck.forward`, module for module.
    public func architecture(_ spec: ResNetSpec, head: HeadShape?) -> Architecture {
        var g = Graph()
        let root = ModulePath.root
        func convBN(_ x: Int, _ conv: ModulePath, _ bn: ModulePath, out: Int, in c: Int, kernel: Int, stride: Int,
                    padding: Int, groups: Int = 1, relu: Bool, stage: Int?) -> Int {
            let y = g.add(.conv(.init(out: out, in: c, kernel: kernel, stride: stride, padding: padding, groups: groups)), x,
                          path: conv, stage: stage)
            let z = g.add(.batchNorm(.init(channels: out)), y, path: bn, stage: stage)
            return relu ? g.add(.activation(.relu), z, stage: stage) : z
        }
        var x = convBN(0, root.pp("conv1"), root.pp("bn1"), out: spec.stemWidth, in: 3, kernel: 7, stride: 2, padding: 3,
                       relu: true, stage: nil)
        x = g.add(.maxPool(.init(kernel: 3, stride: 2, padding: 1)), x)
        var inplanes = spec.stemWidth
        for (s, n) in spec.layers.enumerated() {
            let p = spec.planes[s], w = spec.widths[s], outC = p * spec.block.expansion
            for i in 0..<n {
                let m = root.pp("layer\(s + 1)").pp(i)
                let stride = i == 0 ? spec.stride(stage: s) : 1
                func unit(_ x: Int, _ k: Int, out: Int, in c: Int, kernel: Int, stride: Int, groups: Int = 1, relu: Bool) -> Int {
                    convBN(x, m.pp("conv\(k)"), m.pp("bn\(k)"), out: out, in: c, kernel: kernel, stride: stride,
                           padding: kernel / 2, groups: groups, relu: relu, stage: s)
                }
                var h: Int
                switch spec.block {
                case .basic:
                    h = unit(x, 1, out: p, in: inplanes, kernel: 3, stride: stride, relu: true)
                    h = unit(h, 2, out: p, in: p, kernel: 3, stride: 1, relu: false)
                case .bottleneck:
                    h = unit(x, 1, out: w, in: inplanes, kernel: 1, stride: 1, relu: true)
                    h = unit(h, 2, out: w, in: w, kernel: 3, stride: stride, groups: spec.groups, relu: true)
                    h = unit(h, 3, out: outC, in: w, kernel: 1, stride: 1, relu: false)
                }
                var identity = x
                if i == 0 && spec.hasDownsample(stage: s) {
                    identity = convBN(x, m.pp("downsample").pp(0), m.pp("downsample").pp(1), out: outC, in: inplanes, kernel: 1,
                                      stride: stride, padding: 0, relu: false, stage: s)
                }
                x = g.add(.activation(.relu), g.add(.add, h, identity, stage: s), stage: s)
                inplanes = outC
            }
        }
        x = g.add(.adaptiveAvgPool(height: 1, width: 1), x)
        let features = g.add(.flatten, x)
        if let head { g.addHead(head, at: headPath, input: features, inFeatures: spec.featureCount, stage: spec.layers.count - 1) }
        let variant = spec.variant
        // The tutorial's name for the plain depths (`resNet34.pth`); the others as themselves.
        let fileName = variant.map { ($0.isPlain ? "resNet" + $0.name.filter(\.isNumber) : $0.name) + ".pth" } ?? customFileName
        return Architecture(family: self, name: spec.name, graph: g, head: head, features: features,
                            featureCount: spec.featureCount, stageCount: spec.layers.count, fileName: fileName,
                            rebuild: { [self] in architecture(spec, head: $0) })
    }
}

/// A torchvision ResNet's widths and depths, as far as the state dict determines them.
public struct ResNetSpec: Equatable, Sendable {
    public var block: BlockKind
    /// Blocks per stage (`layer1`...`layer4`).
    public var layers: [Int]
    /// Output channels of the stem `conv1` (torchvision: 64).
    public var stemWidth: Int
    /// `planes` of each stage (torchvision: 64, 128, 256, 512); a stage outputs `planes * expansion`.
    public var planes: [Int]
    /// Channels of a Bottleneck's 3x3 conv per stage (`planes * width_per_group / 64 * groups`); = planes for BasicBlock.
    public var widths: [Int]
    public var groups: Int

    public init(block: BlockKind, layers: [Int], stemWidth: Int, planes: [Int], widths: [Int], groups: Int) {
        self.block = block; self.layers = layers; self.stemWidth = stemWidth; self.planes = planes
        self.widths = widths; self.groups = groups
    }

    /// torchvision's standard widths for `block`, `layers`, `groups` and `width_per_group`.
    public static func torchvision(_ block: BlockKind, layers: [Int], groups: Int = 1, widthPerGroup: Int = 64) -> ResNetSpec {
        let planes = [64, 128, 256, 512]
        let widths = block == .basic ? planes : planes.map { $0 * widthPerGroup / 64 * groups }
        return ResNetSpec(block: block, layers: layers, stemWidth: 64, planes: planes, widths: widths, groups: groups)
    }

    /// The family member this is (`resnet34`, `resnext50_32x4d`...), or `resnet(custom)`. Plain
    /// blocks (one group, 3x3 convs as wide as `planes`) take their depth's name at any widths;
    /// grouped and wide ones only at torchvision's widths.
    public var name: String { variant?.name ?? "resnet(custom)" }

    /// The `ResNetFamily` member with these blocks and widths, if any.
    public var variant: ResNetVariant? {
        let plain = groups == 1 && widths == planes
        if plain, let v = ResNetFamily.variants.first(where: { $0.isPlain && $0.block == block && $0.layers == layers }) {
            return v
        }
        return ResNetFamily.variants.first { v in
            !v.isPlain && v.block == block && v.layers == layers && groups == v.groups && stemWidth == 64
                && planes == [64, 128, 256, 512] && widths == planes.map { $0 * v.widthPerGroup / 64 * v.groups }
        }
    }

    /// Stride of a stage's first block (torchvision: 1 for layer1, 2 after).
    public func stride(stage: Int) -> Int { stage == 0 ? 1 : 2 }

    /// Input channels of a stage's first block.
    public func inputChannels(stage: Int) -> Int { stage == 0 ? stemWidth : planes[stage - 1] * block.expansion }

    /// torchvision's rule: a downsample branch when the stride is not 1 or the channels change.
    public func hasDownsample(stage: Int) -> Bool {
        stride(stage: stage) != 1 || inputChannels(stage: stage) != planes[stage] * block.expansion
    }

    /// Width of the pooled features `fc` reads.
    public var featureCount: Int { planes[3] * block.expansion }

    /// Reads the widths and depths from a state dict's keys and shapes (without checking the
    /// rest: `Architecture.check` does, key by key).
    public static func read(_ shapes: [(key: String, shape: [Int])]) -> ResNetSpec {
        var table: [String: [Int]] = [:]
        for (k, s) in shapes { table[k] = s }
        return read(table)
    }

    static func read(_ table: [String: [Int]]) -> ResNetSpec {
        let keys = Array(table.keys)
        let block: BlockKind = keys.contains { $0.hasPrefix("layer") && $0.contains(".conv3.") } ? .bottleneck : .basic
        let layers = blockCounts(keys)
        func dim(_ key: String, _ axis: Int) -> Int? {
            guard let s = table[key], s.count > axis, s[axis] > 0 else { return nil }
            return s[axis]
        }
        let stem = dim("conv1.weight", 0) ?? dim("bn1.weight", 0) ?? 64
        var planes = [Int](), widths = [Int]()
        for s in 0..<4 {
            let pre = "layer\(s + 1).0"
            let standard = 64 << s
            switch block {
            case .basic:
                let p = dim("\(pre).conv1.weight", 0) ?? dim("\(pre).bn1.weight", 0) ?? standard
                planes.append(p); widths.append(p)
            case .bottleneck:
                let outC = dim("\(pre).conv3.weight", 0) ?? dim("\(pre).bn3.weight", 0)
                let p = outC.map { max($0 / 4, 1) } ?? standard
                planes.append(p)
                widths.append(dim("\(pre).conv1.weight", 0) ?? dim("\(pre).bn1.weight", 0) ?? p)
            }
        }
        var groups = 1
        if let w = dim("layer1.0.conv2.weight", 0), let perGroup = dim("layer1.0.conv2.weight", 1), w % perGroup == 0 {
            groups = w / perGroup
        }
        return ResNetSpec(block: block, layers: layers, stemWidth: stem, planes: planes, widths: widths, groups: groups)
    }

    /// Blocks per stage: how many of `layer<s>.0`, `layer<s>.1`... have keys (at least 1, so
    /// that a stage with none is reported missing). A gap ends the count; the keys after it
    /// are then unexpected.
    static func blockCounts(_ keys: [String]) -> [Int] {
        var blockPaths = Set<String>()
        for k in keys where k.hasPrefix("layer") {
            let parts = k.split(separator: ".", maxSplits: 2)
            if parts.count == 3 { blockPaths.insert(parts[0] + "." + parts[1]) }
        }
        return (0..<4).map { s in
            let stage = ModulePath.root.pp("layer\(s + 1)")
            var n = 0
            while blockPaths.contains(stage.pp(n).description) { n += 1 }
            return max(n, 1)
        }
    }
}
