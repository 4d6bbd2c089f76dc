/// The two residual block types of torchvision's ResNet.
public enum BlockKind: String, Sendable {
    case basic = "BasicBlock"
    case bottleneck = "Bottleneck"

    /// Output channels per `planes`: 1 for BasicBlock, 4 for Bottleneck.
    public var expansion: Int { self == .basic ? 1 : 4 }
}

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
    public var numClasses: Int

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

    /// `resnet18`, `resnet34`, `resnet50`, `resnet101`, `resnet152` (by block type and blocks
    /// per stage with plain blocks, at any widths, as Checkpoint's `ArchitectureGuess` names them), the ResNeXt and
    /// wide variants torchvision names (at its widths), or `resnet(custom)`.
    public var name: String {
        let depth: String?
        switch (block, layers) {
        case (.basic, [2, 2, 2, 2]): depth = "resnet18"
        case (.basic, [3, 4, 6, 3]): depth = "resnet34"
        case (.bottleneck, [3, 4, 6, 3]): depth = "resnet50"
        case (.bottleneck, [3, 4, 23, 3]): depth = "resnet101"
        case (.bottleneck, [3, 8, 36, 3]): depth = "resnet152"
        default: depth = nil
        }
        // Plain blocks (one group, 3x3 convs as wide as `planes`) at any widths take the depth's name.
        let plain = groups == 1 && widths == planes
        if plain, let d = depth { return d }
        guard stemWidth == 64, planes == [64, 128, 256, 512], widths[0] % groups == 0 else { return "resnet(custom)" }
        let perGroup = widths[0] / groups  // width_per_group (widths at planes 64)
        guard widths == planes.map({ $0 * perGroup / 64 * groups }) else { return "resnet(custom)" }
        switch (block, layers, groups, perGroup) {
        case (.bottleneck, [3, 4, 6, 3], 32, 4): return "resnext50_32x4d"
        case (.bottleneck, [3, 4, 23, 3], 32, 8): return "resnext101_32x8d"
        case (.bottleneck, [3, 4, 23, 3], 64, 4): return "resnext101_64x4d"
        case (.bottleneck, [3, 4, 6, 3], 1, 128): return "wide_resnet50_2"
        case (.bottleneck, [3, 4, 23, 3], 1, 128): return "wide_resnet101_2"
        default: return "resnet(custom)"
        }
    }

    /// Every key torchvision's ResNet has for this architecture, in `state_dict()` order, with
    /// its shape. `num_batches_tracked` (shape `[]`) is included; a loader may treat it as optional.
    public func expectedShapes() -> [(key: String, shape: [Int])] {
        var out: [(String, [Int])] = []
        func bn(_ p: String, _ c: Int) {
            out += [("\(p).weight", [c]), ("\(p).bias", [c]), ("\(p).running_mean", [c]),
                    ("\(p).running_var", [c]), ("\(p).num_batches_tracked", [])]
        }
        out.append(("conv1.weight", [stemWidth, 3, 7, 7]))
        bn("bn1", stemWidth)
        var inplanes = stemWidth
        for (s, n) in layers.enumerated() {
            let p = planes[s], w = widths[s], outC = p * block.expansion
            for i in 0..<n {
                let pre = "layer\(s + 1).\(i)"
                switch block {
                case .basic:
                    out.append(("\(pre).conv1.weight", [p, inplanes, 3, 3])); bn("\(pre).bn1", p)
                    out.append(("\(pre).conv2.weight", [p, p, 3, 3])); bn("\(pre).bn2", p)
                case .bottleneck:
                    out.append(("\(pre).conv1.weight", [w, inplanes, 1, 1])); bn("\(pre).bn1", w)
                    out.append(("\(pre).conv2.weight", [w, w / max(groups, 1), 3, 3])); bn("\(pre).bn2", w)
                    out.append(("\(pre).conv3.weight", [outC, w, 1, 1])); bn("\(pre).bn3", outC)
                }
                if i == 0 && hasDownsample(stage: s) {
                    out.append(("\(pre).downsample.0.weight", [outC, inplanes, 1, 1])); bn("\(pre).downsample.1", outC)
                }
                inplanes = outC
            }
        }
        out.append(("fc.weight", [numClasses, inplanes]))
        out.append(("fc.bias", [numClasses]))
        return out
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

    /// Reads the architecture from a state dict's keys and shapes, then checks that every key
    /// and shape is what that architecture has. Throws `ResNetError.layoutMismatch` listing
    /// every missing and unexpected key and wrong shape. With `requireFC` false, a state dict
    /// without `fc.weight` and `fc.bias` (a backbone) passes; `numClasses` is then meaningless.
    public static func detect(shapes: [(key: String, shape: [Int])], requireFC: Bool = true) throws -> ResNetSpec {
        var table: [String: [Int]] = [:]
        for (k, s) in shapes { table[k] = s }
        let keys = shapes.map(\.key)

        let block: BlockKind = keys.contains { $0.hasPrefix("layer") && $0.contains(".conv3.") } ? .bottleneck : .basic
        var layers = [Int](repeating: 1, count: 4)
        for s in 0..<4 {
            let prefix = "layer\(s + 1)."
            var top = -1
            for k in keys where k.hasPrefix(prefix) {
                let rest = k.dropFirst(prefix.count)
                if let dot = rest.firstIndex(of: "."), let i = Int(rest[..<dot]), i >= 0, i < 10_000 { top = max(top, i) }
            }
            layers[s] = max(top + 1, 1)
        }
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
        let classes = dim("fc.weight", 0) ?? dim("fc.bias", 0) ?? 1000
        let spec = ResNetSpec(block: block, layers: layers, stemWidth: stem, planes: planes, widths: widths,
                              groups: groups, numClasses: classes)

        let expected = spec.expectedShapes()
        var missing: [String] = [], wrong: [ResNetError.WrongShape] = []
        var expectedKeys = Set<String>()
        let noFC = !requireFC && table["fc.weight"] == nil && table["fc.bias"] == nil
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
}
