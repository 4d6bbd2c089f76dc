import Checkpoint
import Engine
import Random

/// torchvision's ConvNeXts (torchvision/models/convnext.py): `features.0` the stem (4x4
/// stride-4 conv with bias, `LayerNorm2d`), then per stage its blocks `features.{2s+1}.J` and,
/// between two stages, a downsample `features.{2s+2}` (`LayerNorm2d`, 2x2 stride-2 conv). A
/// block (`CNBlock`): 7x7 depthwise conv `block.0`, `LayerNorm` over the channels `block.2`,
/// `nn.Linear` to 4C `block.3`, GELU, `nn.Linear` back to C `block.5` (1x1 convs whose weights
/// are `[out, in]`), times `layer_scale` `[C, 1, 1]`, stochastic depth, plus the block's
/// input. Then global average pooling and `classifier`: `LayerNorm2d` `classifier.0`,
/// flatten, `nn.Linear` `classifier.2` (the head). LayerNorm eps 1e-6. `layer_scale` is the
/// block's own parameter: first in its `state_dict()`, applied after its modules.
///
/// Everything but the stochastic depth is in the shapes (widths, blocks per stage); a state dict
/// is named by torchvision's variant with exactly its widths and blocks, else
/// `convnext(custom)`, whose stochastic depth is that of the first variant with its blocks
/// (0.1 for 3-3-9-3, 0.4 for 3-3-27-3, else 0.1).
///
/// Stages (`--train last --last-stages N`): one per stage of blocks, each with the downsample
/// before it; `classifier.0` is in the last.
public struct ConvNeXtSpec: Equatable, Sendable {
    public var widths: [Int]
    public var depths: [Int]
    /// torchvision's `stochastic_depth_prob`: the last block's; block k of K drops with k / (K - 1) of it.
    public var stochasticDepth: Double

    public var variant: String? { ConvNeXtFamily.variants.first { $0.spec.widths == widths && $0.spec.depths == depths }?.name }
    public var name: String { variant ?? "convnext(custom)" }
    public var featureCount: Int { widths.last ?? 0 }
}

/// torchvision's `convnext_tiny`, `convnext_small`, `convnext_base`, `convnext_large`.
public struct ConvNeXtFamily: ModelFamily {
    public init() {}

    struct Variant: Sendable {
        let name: String
        let spec: ConvNeXtSpec
    }

    /// torchvision's builders: `CNBlockConfig` widths and layers, `stochastic_depth_prob`.
    static let variants: [Variant] = [
        Variant(name: "convnext_tiny", spec: ConvNeXtSpec(widths: [96, 192, 384, 768], depths: [3, 3, 9, 3], stochasticDepth: 0.1)),
        Variant(name: "convnext_small", spec: ConvNeXtSpec(widths: [96, 192, 384, 768], depths: [3, 3, 27, 3], stochasticDepth: 0.4)),
        Variant(name: "convnext_base", spec: ConvNeXtSpec(widths: [128, 256, 512, 1024], depths: [3, 3, 27, 3], stochasticDepth: 0.5)),
        Variant(name: "convnext_large", spec: ConvNeXtSpec(widths: [192, 384, 768, 1536], depths: [3, 3, 27, 3], stochasticDepth: 0.5)),
    ]

    public var name: String { "ConvNeXt" }
    public var variantNames: [String] { Self.variants.map(\.name) }
    public var headPath: ModulePath { ModulePath.root.pp("classifier").pp(2) }
    public var customFileName: String { "convnext.pth" }

    static let features = ModulePath.root.pp("features")
    static func block(_ s: Int, _ j: Int) -> ModulePath { features.pp(2 * s + 1).pp(j) }

    public var keys: ModelKeys {
        let stem = Self.features.pp(0).pp(0)["weight"], scale = Self.block(0, 0)["layer_scale"]
        return ModelKeys(name: "torchvision \(name)", noun: name, id: "convnext", anchor: stem, required: [stem, scale],
                         modules: ["features", "classifier"])
    }
    public func claims(_ shapes: [String: [Int]]) -> Bool { shapes[Self.block(0, 0)["layer_scale"]] != nil }

    public func architecture(variant: String, head: HeadShape) -> Architecture? {
        Self.variants.first { $0.name == variant }.map { architecture($0.spec, head: head) }
    }

    public func architecture(shapes: [String: [Int]], head: HeadShape?) throws -> Architecture {
        var widths: [Int] = [], depths: [Int] = []
        while let w = shapes[Self.block(widths.count, 0)["layer_scale"]] {
            var depth = 0
            while shapes[Self.block(widths.count, depth)["layer_scale"]] != nil { depth += 1 }
            // Anything malformed falls back to a width the key-by-key check that follows refuses.
            widths.append(w.first.map { $0 > 0 ? $0 : 1 } ?? 1)
            depths.append(depth)
        }
        let p = Self.variants.first { $0.spec.depths == depths }?.spec.stochasticDepth ?? 0.1
        return architecture(ConvNeXtSpec(widths: widths, depths: depths, stochasticDepth: p), head: head)
    }

    public func architecture(_ spec: ConvNeXtSpec, head: HeadShape?) -> Architecture {
        var g = Graph()
        let f = Self.features
        let total = spec.depths.reduce(0, +)
        var x = g.add(.conv(.init(out: spec.widths[0], in: 3, kernel: 4, stride: 4, bias: true)), 0, path: f.pp(0).pp(0))
        x = g.add(.layerNorm(channels: spec.widths[0], eps: 1e-6), x, path: f.pp(0).pp(1))
        var id = 0
        for (s, (c, depth)) in zip(spec.widths, spec.depths).enumerated() {
            if s > 0 {
                let down = f.pp(2 * s)
                x = g.add(.layerNorm(channels: spec.widths[s - 1], eps: 1e-6), x, path: down.pp(0), stage: s)
                x = g.add(.conv(.init(out: c, in: spec.widths[s - 1], kernel: 2, stride: 2, bias: true)), x, path: down.pp(1), stage: s)
            }
            for j in 0..<depth {
                let b = Self.block(s, j), body = b.pp("block")
                let dw = g.add(.conv(.init(out: c, in: c, kernel: 7, padding: 3, groups: c, bias: true)), x, path: body.pp(0), stage: s)
                var h = g.add(.layerNorm(channels: c, eps: 1e-6), dw, path: body.pp(2), stage: s)
                h = g.add(.conv(.pointwise(out: 4 * c, in: c)), h, path: body.pp(3), stage: s)
                h = g.add(.activation(.gelu), h, stage: s)
                h = g.add(.conv(.pointwise(out: c, in: 4 * c)), h, path: body.pp(5), stage: s)
                h = g.add(.layerScale(channels: c), h, path: b, stage: s)
                g.nodes[h - 1].statePosition = dw - 1  // saved before block.0
                h = g.add(.stochasticDepth(p: spec.stochasticDepth * Double(id) / Double(max(total - 1, 1))), h, stage: s)
                x = g.add(.add, h, x, stage: s)
                id += 1
            }
        }
        let last = max(spec.widths.count - 1, 0)
        x = g.add(.adaptiveAvgPool(height: 1, width: 1), x, stage: last)
        x = g.add(.layerNorm(channels: spec.featureCount, eps: 1e-6), x, path: ModulePath.root.pp("classifier").pp(0), stage: last)
        let features = g.add(.flatten, x, stage: last)
        if let head { g.addHead(head, at: headPath, input: features, inFeatures: spec.featureCount, stage: last) }
        return Architecture(family: self, name: spec.name, graph: g, head: head, features: features, featureCount: spec.featureCount,
                            stageCount: spec.widths.count, fileName: spec.variant.map { $0 + ".pth" } ?? customFileName,
                            rebuild: { [self] in architecture(spec, head: $0) })
    }

    /// torchvision's ConvNeXt init: convs and Linears `trunc_normal_(std=0.02)` (two standard
    /// deviations, never reached in practice, are not cut here) with zero bias, LayerNorms 1 and
    /// 0, `layer_scale` 1e-6.
    public func initialValues(_ node: Node, rng: inout SeededRandom) -> [String: TensorData] {
        func normal(_ shape: [Int]) -> TensorData { TensorData(shape: shape, floats: rng.normal(shape.reduce(1, *), std: 0.02)) }
        func filled(_ shape: [Int], _ v: Float) -> TensorData { TensorData(shape: shape, floats: [Float](repeating: v, count: shape.reduce(1, *))) }
        switch node.op {
        case .conv(let c):
            return ["weight": normal(c.weightShape)].merging(c.bias ? ["bias": filled([c.outChannels], 0)] : [:]) { a, _ in a }
        case .linear(let l):
            return ["weight": normal([l.outFeatures, l.inFeatures]), "bias": filled([l.outFeatures], 0)]
        case .layerNorm(let c, _):
            return ["weight": filled([c], 1), "bias": filled([c], 0)]
        case .layerScale(let c):
            return ["layer_scale": filled([c, 1, 1], 1e-6)]
        default:
            return defaultInitialValues(node, rng: &rng)
        }
    }
}
