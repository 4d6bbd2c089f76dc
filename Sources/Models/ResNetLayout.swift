/// A conv and the batch norm after it, as torchvision's modules name them: the unit every
/// layer of a ResNet is made of (the stem, each block's convs, a downsample branch).
public struct ConvBNLayout: Sendable {
    public let conv: ModulePath
    public let bn: ModulePath
    /// `[out, in / groups, k, k]`, PyTorch's layout.
    public let weightShape: [Int]
    public let stride: Int
    public let padding: Int
    public let groups: Int
    /// A ReLU follows the batch norm; false for a block's last unit (add, then ReLU) and a downsample.
    public let relu: Bool

    public var channels: Int { weightShape[0] }
}

/// A BasicBlock or Bottleneck: `relu(units(x) + downsample(x))`.
public struct BlockLayout: Sendable {
    public let path: ModulePath
    /// 0 for `layer1`... 3 for `layer4`.
    public let stage: Int
    public let index: Int
    /// The main path; the last unit ends the block.
    public let units: [ConvBNLayout]
    public let downsample: ConvBNLayout?
}

/// A Linear layer of the classifier.
public struct LinearLayout: Sendable {
    public let path: ModulePath
    public let outFeatures: Int
    public let inFeatures: Int
}

/// The module tree of a torchvision ResNet, as `resnet.py` builds it, with every module's
/// path: the blueprint that the trainable `ResNetModule`, the folded inference `ResNetModel`,
/// the expected state-dict keys and torchvision's initialisation all follow.
public struct ResNetLayout: Sendable {
    public let spec: ResNetSpec
    public let stem: ConvBNLayout
    public let blocks: [BlockLayout]
    /// `fc`, or the pretrained `fc.0` followed by the appended `fc.1`.
    public let head: [LinearLayout]

    public init(_ spec: ResNetSpec) {
        self.spec = spec
        let root = ModulePath.root
        stem = ConvBNLayout(conv: root.pp("conv1"), bn: root.pp("bn1"), weightShape: [spec.stemWidth, 3, 7, 7],
                            stride: 2, padding: 3, groups: 1, relu: true)
        var blocks: [BlockLayout] = []
        var inplanes = spec.stemWidth
        for (s, n) in spec.layers.enumerated() {
            let stage = root.pp("layer\(s + 1)")
            let p = spec.planes[s], w = spec.widths[s], outC = p * spec.block.expansion
            for i in 0..<n {
                let m = stage.pp(i)
                let stride = i == 0 ? spec.stride(stage: s) : 1
                func unit(_ k: Int, _ shape: [Int], stride: Int, padding: Int, groups: Int = 1, relu: Bool) -> ConvBNLayout {
                    ConvBNLayout(conv: m.pp("conv\(k)"), bn: m.pp("bn\(k)"), weightShape: shape, stride: stride,
                                 padding: padding, groups: groups, relu: relu)
                }
                let units: [ConvBNLayout]
                switch spec.block {
                case .basic:
                    units = [unit(1, [p, inplanes, 3, 3], stride: stride, padding: 1, relu: true),
                             unit(2, [p, p, 3, 3], stride: 1, padding: 1, relu: false)]
                case .bottleneck:
                    units = [unit(1, [w, inplanes, 1, 1], stride: 1, padding: 0, relu: true),
                             unit(2, [w, w / max(spec.groups, 1), 3, 3], stride: stride, padding: 1, groups: spec.groups, relu: true),
                             unit(3, [outC, w, 1, 1], stride: 1, padding: 0, relu: false)]
                }
                let downsample = i == 0 && spec.hasDownsample(stage: s)
                    ? ConvBNLayout(conv: m.pp("downsample").pp(0), bn: m.pp("downsample").pp(1), weightShape: [outC, inplanes, 1, 1],
                                   stride: stride, padding: 0, groups: 1, relu: false)
                    : nil
                blocks.append(BlockLayout(path: m, stage: s, index: i, units: units, downsample: downsample))
                inplanes = outC
            }
        }
        self.blocks = blocks
        let fc = root.pp("fc")
        switch spec.head {
        case .linear:
            head = [LinearLayout(path: fc, outFeatures: spec.numClasses, inFeatures: spec.featureCount)]
        case .appended(let pretrained):
            head = [LinearLayout(path: fc.pp(0), outFeatures: pretrained, inFeatures: spec.featureCount),
                    LinearLayout(path: fc.pp(1), outFeatures: spec.numClasses, inFeatures: pretrained)]
        }
    }

    /// Every conv + batch-norm unit, in `state_dict()` order (stem, then each block's units and downsample).
    public var units: [ConvBNLayout] {
        [stem] + blocks.flatMap { $0.units + ($0.downsample.map { [$0] } ?? []) }
    }

    /// Every key torchvision's ResNet has, in `state_dict()` order, with its shape.
    /// `num_batches_tracked` (shape `[]`) is included; a loader may treat it as optional.
    public var tensors: [(key: String, shape: [Int])] {
        var out: [(String, [Int])] = []
        for u in units {
            out.append((u.conv["weight"], u.weightShape))
            let c = [u.channels]
            out += [(u.bn["weight"], c), (u.bn["bias"], c), (u.bn["running_mean"], c), (u.bn["running_var"], c),
                    (u.bn["num_batches_tracked"], [])]
        }
        for l in head { out += [(l.path["weight"], [l.outFeatures, l.inFeatures]), (l.path["bias"], [l.outFeatures])] }
        return out
    }
}
