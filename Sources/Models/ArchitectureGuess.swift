import Checkpoint

/// Names the torchvision ResNet a state dict's keys describe, for reports (`inspect_weights`),
/// without validating anything (`ResNetSpec.detect` validates layouts fully): the plain
/// `ResNetFamily` member with these blocks per stage, whatever its widths.
public struct ArchitectureGuess: Equatable, Sendable {
    public let name: String?          // "resnet34", or nil when the keys fit no known ResNet
    public let numClasses: Int?       // the classifier's outputs; nil for a backbone saved without fc
    public let blocks: [Int]          // blocks per stage, [3, 4, 6, 3] for resnet34
    public let bottleneck: Bool

    public init(keys: [String], shapes: (String) -> [Int]?) {
        let blocks = ResNetSpec.blockCounts(keys)
        let bottleneck = keys.contains(ModulePath.root.pp("layer1").pp(0).pp("conv3")["weight"])
        self.blocks = blocks
        self.bottleneck = bottleneck
        let kind: BlockKind = bottleneck ? .bottleneck : .basic
        let stem = ModulePath.root
        let hasStem = keys.contains(stem.pp("conv1")["weight"]) && keys.contains(stem.pp("bn1")["weight"])
        let fc = ModulePath.root.pp("fc")
        let classifier = shapes(fc["weight"]) ?? shapes(fc.pp(1)["weight"])
        numClasses = classifier?.count == 2 ? classifier?[0] : nil
        name = hasStem ? ResNetFamily.variants.first { $0.isPlain && $0.block == kind && $0.layers == blocks }?.name : nil
    }

    public init(_ sd: StateDict) {
        self.init(keys: sd.keys, shapes: { sd[$0]?.shape })
    }
}
