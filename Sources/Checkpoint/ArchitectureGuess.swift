/// Names the torchvision ResNet a state dict's keys describe, for reports (`inspect_weights`).
/// The ResNet target validates layouts fully; this only reads names and one shape.
public struct ArchitectureGuess: Equatable, Sendable {
    public let name: String?          // "resnet34", or nil when the keys fit no known ResNet
    public let numClasses: Int?       // fc.weight's first dimension; nil for a backbone saved without fc
    public let blocks: [Int]          // blocks per stage, [3, 4, 6, 3] for resnet34
    public let bottleneck: Bool

    static let known: [(String, [Int], Bool)] = [
        ("resnet18", [2, 2, 2, 2], false), ("resnet34", [3, 4, 6, 3], false),
        ("resnet50", [3, 4, 6, 3], true), ("resnet101", [3, 4, 23, 3], true), ("resnet152", [3, 8, 36, 3], true),
    ]

    public init(keys: [String], shapes: (String) -> [Int]?) {
        var blocks = [Int](repeating: 0, count: 4)
        for key in keys where key.hasPrefix("layer") {
            let parts = key.split(separator: ".")
            guard parts.count > 2, let stage = Int(parts[0].dropFirst(5)), (1...4).contains(stage), let i = Int(parts[1]),
                  (0..<10_000).contains(i) else { continue }
            blocks[stage - 1] = max(blocks[stage - 1], i + 1)
        }
        let bottleneck = keys.contains("layer1.0.conv3.weight")
        self.blocks = blocks
        self.bottleneck = bottleneck
        let hasStem = keys.contains("conv1.weight") && keys.contains("bn1.weight")
        let fc = shapes("fc.weight")
        numClasses = fc?.count == 2 ? fc![0] : nil
        name = hasStem ? ArchitectureGuess.known.first { $0.1 == blocks && $0.2 == bottleneck }?.0 : nil
    }

    public init(_ sd: StateDict) {
        self.init(keys: sd.keys, shapes: { sd[$0]?.shape })
    }
}
