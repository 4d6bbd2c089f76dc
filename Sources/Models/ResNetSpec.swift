/// A torchvision ResNet's architecture, as far as the state dict determines it.
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
    /// The classifier's outputs (of `fc`, or of the appended `fc.1`).
    public var numClasses: Int
    /// `fc` alone, or the pretrained fc followed by an appended Linear.
    public var head: HeadLayout = .linear

    /// The classifier a state dict holds.
    public enum HeadLayout: Equatable, Sendable {
        /// `fc`: Linear(features, numClasses).
        case linear
        /// `fc.0`: the pretrained Linear(features, pretrainedClasses), kept frozen; `fc.1`:
        /// Linear(pretrainedClasses, numClasses). What `net.fc = nn.Sequential(net.fc, nn.Linear(1000, N))` gives.
        case appended(pretrainedClasses: Int)
    }

    public init(block: BlockKind, layers: [Int], stemWidth: Int, planes: [Int], widths: [Int], groups: Int, numClasses: Int) {
        self.block = block; self.layers = layers; self.stemWidth = stemWidth; self.planes = planes
        self.widths = widths; self.groups = groups; self.numClasses = numClasses
    }

    /// torchvision's standard widths for `block`, `layers`, `groups` and `width_per_group`.
    public static func torchvision(_ block: BlockKind, layers: [Int], groups: Int = 1, widthPerGroup: Int = 64,
                                   numClasses: Int = 1000) -> ResNetSpec {
        let planes = [64, 128, 256, 512]
        let widths = block == .basic ? planes : planes.map { $0 * widthPerGroup / 64 * groups }
        return ResNetSpec(block: block, layers: layers, stemWidth: 64, planes: planes, widths: widths,
                          groups: groups, numClasses: numClasses)
    }

    /// The family member this is (`resnet34`, `resnext50_32x4d`...: see `ResNetFamily`), or
    /// `resnet(custom)`. Plain blocks (one group, 3x3 convs as wide as `planes`) take their
    /// depth's name at any widths; grouped and wide ones only at torchvision's widths.
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

    /// Every key torchvision's ResNet has for this architecture, in `state_dict()` order, with
    /// its shape (`ResNetLayout.tensors`).
    public func expectedShapes() -> [(key: String, shape: [Int])] { ResNetLayout(self).tensors }

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

    /// Reads the architecture from a state dict's keys and shapes, then checks that every key
    /// and shape is what that architecture has. Throws `ResNetError.layoutMismatch` listing
    /// every missing and unexpected key and wrong shape. With `requireFC` false, a state dict
    /// without `fc.weight` and `fc.bias` (a backbone) passes; `numClasses` is then meaningless.
    public static func detect(shapes: [(key: String, shape: [Int])], requireFC: Bool = true) throws -> ResNetSpec {
        var table: [String: [Int]] = [:]
        for (k, s) in shapes { table[k] = s }
        let keys = shapes.map(\.key)

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
        var spec = ResNetSpec(block: block, layers: layers, stemWidth: stem, planes: planes, widths: widths,
                              groups: groups, numClasses: dim("fc.weight", 0) ?? dim("fc.bias", 0) ?? 1000)
        if table["fc.weight"] == nil, table["fc.0.weight"] != nil || table["fc.1.weight"] != nil {
            spec.head = .appended(pretrainedClasses: dim("fc.0.weight", 0) ?? dim("fc.0.bias", 0) ?? 1000)
            spec.numClasses = dim("fc.1.weight", 0) ?? dim("fc.1.bias", 0) ?? 1
        }

        let expected = spec.expectedShapes()
        var missing: [String] = [], wrong: [ResNetError.WrongShape] = []
        var expectedKeys = Set<String>()
        let noFC = !requireFC && !keys.contains { $0.hasPrefix("fc.") }
        for (k, s) in expected where !(noFC && k.hasPrefix("fc.")) {
            expectedKeys.insert(k)
            guard let actual = table[k] else {
                if !k.hasSuffix(".num_batches_tracked") { missing.append(k) }
                continue
            }
            // num_batches_tracked is a 0-d tensor; some writers store it as [1].
            if k.hasSuffix(".num_batches_tracked") { if actual.reduce(1, *) != 1 { wrong.append(.init(key: k, expected: s, actual: actual)) } }
            else if actual != s { wrong.append(.init(key: k, expected: s, actual: actual)) }
        }
        let unexpected = keys.filter { !expectedKeys.contains($0) }
        if !missing.isEmpty || !unexpected.isEmpty || !wrong.isEmpty {
            throw ResNetError.layoutMismatch(missing: missing, unexpected: unexpected, wrongShapes: wrong)
        }
        return spec
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
