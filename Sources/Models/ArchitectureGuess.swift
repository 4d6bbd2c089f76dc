import Checkpoint

/// Names the torchvision model a state dict's keys describe, for reports (`inspect_weights`),
/// without refusing anything (`Architecture.detect` validates layouts fully): the family
/// member whose layout the keys have exactly (`resnext50_32x4d`, `vgg16_bn`), else, for a
/// ResNet, the plain member with these blocks per stage, whatever its widths. `blocks`: a
/// ResNet's blocks per stage, another family's convs per stage.
public struct ArchitectureGuess: Equatable, Sendable {
    public let name: String?          // "resnet34", or nil when the keys fit no known model
    public let family: String?        // "ResNet", "VGG"
    public let numClasses: Int?       // the classifier's outputs; nil for a backbone saved without it
    public let blocks: [Int]          // blocks per stage, [3, 4, 6, 3] for resnet34; convs per stage for a VGG
    public let bottleneck: Bool
    /// The name predict and finetune give a model of a known family at widths no torchvision
    /// variant has (`densenet(custom)`, `regnet_y(custom)`), where `name` is nil; else nil.
    public let custom: String?

    public init(keys: [String], shapes: (String) -> [Int]?) {
        var table: [String: [Int]] = [:]
        for k in keys { table[k] = shapes(k) ?? [] }
        // Any family but ResNet: the member whose layout the keys have exactly, and its convs per stage.
        if let f = Families.all.first(where: { !($0 is ResNetFamily) && $0.claims(table) }) {
            family = f.name
            let head = HeadShape.read(table, at: f.headPath)
            numClasses = head?.classes
            let arch = try? f.architecture(shapes: table, head: head)
            let exact = (try? arch?.check(keys.map { ($0, table[$0]!) }, requireHead: false)) != nil
            name = exact && arch?.name.hasSuffix("(custom)") == false ? arch?.name : nil
            custom = exact && name == nil ? arch?.name : nil
            // Convs per stage (the stem's, stage nil, left out; stages without convs, a
            // classifier's, dropped from the end).
            blocks = arch.map { a in
                var counts = [Int](repeating: 0, count: a.stageCount)
                for node in a.graph.nodes {
                    if case .conv = node.op, let s = node.stage, s < counts.count { counts[s] += 1 }
                }
                while counts.last == 0 { counts.removeLast() }
                return counts
            } ?? []
            bottleneck = false
            return
        }
        let blocks = ResNetSpec.blockCounts(keys)
        let bottleneck = keys.contains(ModulePath.root.pp("layer1").pp(0).pp("conv3")["weight"])
        self.blocks = blocks
        custom = nil
        self.bottleneck = bottleneck
        let kind: BlockKind = bottleneck ? .bottleneck : .basic
        let stem = ModulePath.root
        let hasStem = keys.contains(stem.pp("conv1")["weight"]) && keys.contains(stem.pp("bn1")["weight"])
        let fc = ModulePath.root.pp("fc")
        let classifier = shapes(fc["weight"]) ?? shapes(fc.pp(1)["weight"])
        numClasses = classifier?.count == 2 ? classifier?[0] : nil
        family = hasStem ? "ResNet" : nil
        // A grouped or wide variant at torchvision's widths is itself, not the plain depth.
        let exact = ResNetSpec.read(table).variant
        name = hasStem ? (exact.map { $0.isPlain ? nil : $0.name } ?? nil)
            ?? ResNetFamily.variants.first { $0.isPlain && $0.block == kind && $0.layers == blocks }?.name : nil
    }

    public init(_ sd: StateDict) {
        self.init(keys: sd.keys, shapes: { sd[$0]?.shape })
    }
}
