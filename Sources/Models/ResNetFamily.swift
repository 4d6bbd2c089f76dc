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

    /// The variant's architecture with `numClasses` outputs (torchvision's widths).
    public func spec(numClasses: Int = 1000) -> ResNetSpec {
        .torchvision(block, layers: layers, groups: groups, widthPerGroup: widthPerGroup, numClasses: numClasses)
    }

    /// Plain blocks: one group, 3x3 convs as wide as `planes` (resnet18...resnet152).
    var isPlain: Bool { groups == 1 && widthPerGroup == 64 }
}

/// torchvision's ResNet family (torchvision/models/resnet.py): the one table of depths, block
/// kinds and widths in Graft. Names, initialisation from scratch and architecture detection read it.
public enum ResNetFamily {
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
}
