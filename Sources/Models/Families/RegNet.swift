import Checkpoint
import Engine
import Random

/// torchvision's RegNets (torchvision/models/regnet.py): `stem` (3x3 stride-2 conv, batch norm,
/// ReLU), four stages `trunk_output.blockS` of residual bottlenecks `blockS-J` (`f.a` 1x1, `f.b`
/// 3x3 grouped conv in groups of `group width` channels, stride 2 in a stage's first block; in
/// the Y models squeeze-and-excitation `f.se` with ReLU and sigmoid, squeezed to a quarter of
/// the block's input width; `f.c` 1x1 without activation; `proj`, a 1x1 conv and batch norm,
/// on the shortcut where the width or the stride changes; the sum through a ReLU), global
/// average pooling and `fc`. Batch norm eps 1e-5, momentum 0.1.
///
/// Everything but the strides (2 in every stage's first block) is in a state dict's shapes: the
/// stem's width, each stage's blocks and width, the groups (from the 3x3 conv's weight) and the
/// squeeze-and-excitation. A state dict is named by torchvision's variant with exactly its
/// depths, widths and group widths, else `regnet_x(custom)` or `regnet_y(custom)`.
///
/// Stages (`--train last --last-stages N`): `trunk_output.block1` to `block4`; `fc` is in the last.
public struct RegNetSpec: Equatable, Sendable {
    public struct Stage: Equatable, Sendable {
        public var depth: Int, width: Int, groupWidth: Int
    }
    public var stem: Int
    public var stages: [Stage]
    /// Squeeze-and-excitation (the Y models).
    public var squeezeExcitation: Bool

    /// torchvision's variant with these stages, or nil.
    public var variant: String? {
        RegNetFamily.variants.first { $0.spec == self }?.name
    }

    public var name: String { variant ?? (squeezeExcitation ? "regnet_y(custom)" : "regnet_x(custom)") }
    public var featureCount: Int { stages.last?.width ?? stem }
}

/// torchvision's `regnet_x_*` and `regnet_y_*`.
public struct RegNetFamily: ModelFamily {
    public init() {}

    struct Variant: Sendable {
        let name: String
        let spec: RegNetSpec
    }

    private static func v(_ name: String, _ depths: [Int], _ widths: [Int], _ groupWidths: [Int]) -> Variant {
        Variant(name: name, spec: RegNetSpec(stem: 32, stages: (0..<4).map { .init(depth: depths[$0], width: widths[$0], groupWidth: groupWidths[$0]) },
                                             squeezeExcitation: name.hasPrefix("regnet_y")))
    }

    /// `BlockParams.from_init_params(...)._get_expanded_params()` of each torchvision builder
    /// (depth, width, group width per stage; bottleneck multiplier 1, strides 2).
    static let variants: [Variant] = [
        v("regnet_y_400mf", [1, 3, 6, 6], [48, 104, 208, 440], [8, 8, 8, 8]),
        v("regnet_y_800mf", [1, 3, 8, 2], [64, 144, 320, 784], [16, 16, 16, 16]),
        v("regnet_y_1_6gf", [2, 6, 17, 2], [48, 120, 336, 888], [24, 24, 24, 24]),
        v("regnet_y_3_2gf", [2, 5, 13, 1], [72, 216, 576, 1512], [24, 24, 24, 24]),
        v("regnet_y_8gf", [2, 4, 10, 1], [224, 448, 896, 2016], [56, 56, 56, 56]),
        v("regnet_y_16gf", [2, 4, 11, 1], [224, 448, 1232, 3024], [112, 112, 112, 112]),
        v("regnet_y_32gf", [2, 5, 12, 1], [232, 696, 1392, 3712], [232, 232, 232, 232]),
        v("regnet_y_128gf", [2, 7, 17, 1], [528, 1056, 2904, 7392], [264, 264, 264, 264]),
        v("regnet_x_400mf", [1, 2, 7, 12], [32, 64, 160, 400], [16, 16, 16, 16]),
        v("regnet_x_800mf", [1, 3, 7, 5], [64, 128, 288, 672], [16, 16, 16, 16]),
        v("regnet_x_1_6gf", [2, 4, 10, 2], [72, 168, 408, 912], [24, 24, 24, 24]),
        v("regnet_x_3_2gf", [2, 6, 15, 2], [96, 192, 432, 1008], [48, 48, 48, 48]),
        v("regnet_x_8gf", [2, 5, 15, 1], [80, 240, 720, 1920], [80, 120, 120, 120]),
        v("regnet_x_16gf", [2, 6, 13, 1], [256, 512, 896, 2048], [128, 128, 128, 128]),
        v("regnet_x_32gf", [2, 7, 13, 1], [336, 672, 1344, 2520], [168, 168, 168, 168]),
    ]

    public var name: String { "RegNet" }
    public var variantNames: [String] { Self.variants.map(\.name) }
    public var headPath: ModulePath { ModulePath.root.pp("fc") }
    public var customFileName: String { "regnet.pth" }

    static let trunk = ModulePath.root.pp("trunk_output")
    static func block(_ s: Int, _ j: Int) -> ModulePath { trunk.pp("block\(s + 1)").pp("block\(s + 1)-\(j)") }
    /// The first block's first conv: the family's own key.
    var firstBlockWeight: String { Self.block(0, 0).pp("f").pp("a").pp(0)["weight"] }

    public var keys: ModelKeys {
        let stem = ModulePath.root.pp("stem").pp(0)["weight"]
        return ModelKeys(name: "torchvision \(name)", noun: name, id: "regnet", anchor: stem, required: [stem, firstBlockWeight],
                         modules: ["stem", "trunk_output", "fc"])
    }
    public func claims(_ shapes: [String: [Int]]) -> Bool { shapes[firstBlockWeight] != nil }

    public func architecture(variant: String, head: HeadShape) -> Architecture? {
        Self.variants.first { $0.name == variant }.map { architecture($0.spec, head: head) }
    }

    public func architecture(shapes: [String: [Int]], head: HeadShape?) throws -> Architecture {
        func dims(_ key: String) -> [Int]? { shapes[key].flatMap { $0.count == 4 && $0.allSatisfy { $0 > 0 } ? $0 : nil } }
        let stem = dims(ModulePath.root.pp("stem").pp(0)["weight"])?[0] ?? 32
        var stages: [RegNetSpec.Stage] = []
        for s in 0..<4 {
            var depth = 0
            while shapes[Self.block(s, depth).pp("f").pp("a").pp(0)["weight"]] != nil { depth += 1 }
            // Anything malformed falls back to a width the key-by-key check that follows refuses.
            let b = dims(Self.block(s, 0).pp("f").pp("b").pp(0)["weight"])
            let width = dims(Self.block(s, 0).pp("f").pp("c").pp(0)["weight"])?[0] ?? b?[0] ?? 8
            stages.append(.init(depth: depth, width: width, groupWidth: b?[1] ?? width))
        }
        guard stages.allSatisfy({ $0.depth > 0 }), !shapes.keys.contains(where: { $0.hasPrefix("trunk_output.block5.") }) else {
            throw ModelError.badInput("a RegNet with \(stages.map(\.depth)) blocks in trunk_output.block1 to block4"
                + (shapes.keys.contains { $0.hasPrefix("trunk_output.block5.") } ? " and a block5" : "") + ": torchvision's have four stages of at least one block")
        }
        let se = shapes[Self.block(0, 0).pp("f").pp("se").pp("fc1")["weight"]] != nil
        return architecture(RegNetSpec(stem: stem, stages: stages, squeezeExcitation: se), head: head)
    }

    public func architecture(_ spec: RegNetSpec, head: HeadShape?) -> Architecture {
        var g = Graph()
        func convBN(_ x: Int, _ c: Op.Convolution, at path: ModulePath, relu: Bool, stage: Int?) -> Int {
            var y = g.add(.conv(c), x, path: path.pp(0), stage: stage)
            y = g.add(.batchNorm(.init(channels: c.outChannels)), y, path: path.pp(1), stage: stage)
            return relu ? g.add(.activation(.relu), y, stage: stage) : y
        }
        var x = convBN(0, .init(out: spec.stem, in: 3, kernel: 3, stride: 2, padding: 1), at: ModulePath.root.pp("stem"), relu: true, stage: nil)
        var input = spec.stem
        for (s, stage) in spec.stages.enumerated() {
            for j in 0..<stage.depth {
                let m = Self.block(s, j), f = m.pp("f"), w = stage.width, stride = j == 0 ? 2 : 1
                // `proj` (a 1x1 conv and batch norm where the width or stride changes) comes first in the state dict.
                let shortcut = input != w || stride != 1
                    ? convBN(x, .init(out: w, in: input, kernel: 1, stride: stride), at: m.pp("proj"), relu: false, stage: s) : x
                var h = convBN(x, .init(out: w, in: input, kernel: 1), at: f.pp("a"), relu: true, stage: s)
                h = convBN(h, .init(out: w, in: w, kernel: 3, stride: stride, padding: 1, groups: w / max(stage.groupWidth, 1)),
                           at: f.pp("b"), relu: true, stage: s)
                if spec.squeezeExcitation {
                    // int(round(0.25 * width_in)), Python's round (half to even).
                    let q = Int((0.25 * Double(input)).rounded(.toNearestOrEven))
                    h = g.addSqueezeExcitation(h, at: f.pp("se"), channels: w, squeeze: q, activation: .relu, gate: .sigmoid, stage: s)
                }
                h = convBN(h, .init(out: w, in: w, kernel: 1), at: f.pp("c"), relu: false, stage: s)
                // x = self.proj(x) + self.f(x), or x + self.f(x); then the ReLU.
                x = g.add(.activation(.relu), g.add(.add, shortcut, h, stage: s), stage: s)
                input = w
            }
        }
        let last = max(spec.stages.count - 1, 0)
        x = g.add(.adaptiveAvgPool(height: 1, width: 1), x, stage: last)
        let features = g.add(.flatten, x, stage: last)
        if let head { g.addHead(head, at: headPath, input: features, inFeatures: spec.featureCount, stage: last) }
        return Architecture(family: self, name: spec.name, graph: g, head: head, features: features, featureCount: spec.featureCount,
                            stageCount: spec.stages.count, fileName: spec.variant.map { $0 + ".pth" } ?? customFileName,
                            rebuild: { [self] in architecture(spec, head: $0) })
    }

    /// torchvision's RegNet init: convs N(0, sqrt(2 / fan_out)), batch norms 1 and 0, `fc`
    /// N(0, 0.01) with zero bias. (The squeeze-and-excitation's conv biases keep PyTorch's default.)
    public func initialValues(_ node: Node, rng: inout SeededRandom) -> [String: TensorData] {
        switch node.op {
        case .linear(let l):
            return ["weight": TensorData(shape: [l.outFeatures, l.inFeatures], floats: rng.normal(l.outFeatures * l.inFeatures, std: 0.01)),
                    "bias": TensorData(shape: [l.outFeatures], floats: [Float](repeating: 0, count: l.outFeatures))]
        case .conv(let c) where c.bias:
            // Conv2d's default bias init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)); the weight as every conv's.
            var out = defaultInitialValues(node, rng: &rng)
            let fanIn = c.weightShape.dropFirst().reduce(1, *)
            out["bias"] = TensorData(shape: [c.outChannels], floats: rng.uniform(c.outChannels, bound: 1 / Double(fanIn).squareRoot()))
            return out
        default:
            return defaultInitialValues(node, rng: &rng)
        }
    }
}
