import Checkpoint
import Engine
import Random

/// The classifier at the end of a graph, as a state dict holds it.
public enum HeadShape: Equatable, Sendable {
    /// One Linear at the family's head path (`fc`, `classifier.6`): `classes` outputs.
    case linear(classes: Int)
    /// The pretrained Linear kept, frozen, at `<head>.0` (`pretrained` outputs), followed by a
    /// new Linear(pretrained, classes) at `<head>.1`: what
    /// `net.fc = nn.Sequential(net.fc, nn.Linear(1000, N))` gives.
    case appended(pretrained: Int, classes: Int)

    public var classes: Int {
        switch self {
        case .linear(let n): return n
        case .appended(_, let n): return n
        }
    }

    /// The head a state dict holds at `path`: `path.weight`, or `path.0.*` / `path.1.*`; nil
    /// when it holds neither (a backbone saved without its classifier).
    static func read(_ shapes: [String: [Int]], at path: ModulePath) -> HeadShape? {
        func rows(_ p: ModulePath) -> Int? {
            if let s = shapes[p["weight"]], s.count == 2, s[0] > 0 { return s[0] }
            if let s = shapes[p["bias"]], s.count == 1, s[0] > 0 { return s[0] }
            return nil
        }
        if shapes[path["weight"]] != nil || shapes[path["bias"]] != nil { return .linear(classes: rows(path) ?? 1000) }
        if shapes[path.pp(0)["weight"]] != nil || shapes[path.pp(1)["weight"]] != nil {
            return .appended(pretrained: rows(path.pp(0)) ?? 1000, classes: rows(path.pp(1)) ?? 1)
        }
        return nil
    }
}

extension Graph {
    /// Appends the classifier `head` at `path`, reading `input` (`inFeatures` wide); returns the logits.
    @discardableResult
    public mutating func addHead(_ head: HeadShape, at path: ModulePath, input: Int, inFeatures: Int, stage: Int?) -> Int {
        switch head {
        case .linear(let n):
            return add(.linear(.init(out: n, in: inFeatures)), input, path: path, stage: stage)
        case let .appended(pretrained, n):
            let h = add(.linear(.init(out: pretrained, in: inFeatures)), input, path: path.pp(0), stage: stage)
            return add(.linear(.init(out: n, in: pretrained)), h, path: path.pp(1), stage: stage)
        }
    }
}

/// One family of torchvision models (ResNet, VGG, MobileNet...): its table of variants, the graph each
/// builds, how a state dict's keys and shapes name a member, and its conventions (output file
/// names, initialisation). A family is one file (see `ResNet.swift`, `VGG.swift`).
public protocol ModelFamily: Sendable {
    /// `ResNet`, `VGG`: in messages.
    var name: String { get }
    /// torchvision's constructor names, in the table's order (`resnet18`...).
    var variantNames: [String] { get }
    /// The classifier's module path (`fc`, `classifier.6`): what `--head` replaces or appends to.
    var headPath: ModulePath { get }
    /// How the checkpoint reader finds the family's keys under a wrapper's prefix.
    var keys: ModelKeys { get }
    /// The file finetune writes for widths no variant has (`resNet.pth`, `vgg.pth`).
    var customFileName: String { get }
    /// Whether the keys are this family's (its anchor keys are there).
    func claims(_ shapes: [String: [Int]]) -> Bool
    /// The architecture a state dict's shapes describe (not yet checked key by key: see
    /// `Architecture.check`), with `head` as its classifier (nil: none, a backbone).
    func architecture(shapes: [String: [Int]], head: HeadShape?) throws -> Architecture
    /// A variant of the table by name, with `head`.
    func architecture(variant: String, head: HeadShape) -> Architecture?
    /// torchvision's initialisation of a node's tensors (`_initialize_weights` or the module's default).
    func initialValues(_ node: Node, rng: inout SeededRandom) -> [String: TensorData]
}

/// A model's architecture: its family, the member's name, the graph (with the head a state
/// dict or a policy gives it) and what the family says about its parts.
public struct Architecture: Sendable {
    public let family: any ModelFamily
    /// The variant (`resnet34`, `vgg16_bn`), or `<family>(custom)` for widths no variant has.
    public let name: String
    public let graph: Graph
    /// The classifier, or nil for a backbone without one.
    public let head: HeadShape?
    /// The value the classifier reads: the pooled, flattened features (`[N, features]`).
    public let features: Int
    public let featureCount: Int
    /// How many stages `--train last --last-stages N` counts.
    public let stageCount: Int
    /// The name finetune saves the model under (`resNet34.pth`, as the tutorial names it).
    public let fileName: String
    /// The smallest image side a training step takes (Inception's auxiliary classifier needs
    /// 299: its 5x5 conv reads a 5x5 pooling of Mixed_6e); 1 where any size the trunk takes will do.
    public let minimumTrainingSize: Int
    /// Rebuilds the graph with another head.
    let rebuild: @Sendable (HeadShape?) -> Architecture

    public init(family: any ModelFamily, name: String, graph: Graph, head: HeadShape?, features: Int, featureCount: Int,
                stageCount: Int, fileName: String, minimumTrainingSize: Int = 1, rebuild: @escaping @Sendable (HeadShape?) -> Architecture) {
        self.family = family; self.name = name; self.graph = graph; self.head = head; self.features = features
        self.featureCount = featureCount; self.stageCount = stageCount; self.fileName = fileName
        self.minimumTrainingSize = minimumTrainingSize; self.rebuild = rebuild
    }

    public var numClasses: Int { head?.classes ?? 0 }
    public var headPath: ModulePath { family.headPath }

    /// The same trunk with another classifier.
    public func with(head: HeadShape?) -> Architecture { rebuild(head) }

    /// Whether node `i` is part of the classifier (`fc`, `fc.0`, `fc.1`, `classifier.6`...).
    public func isHead(_ node: Node) -> Bool {
        let h = headPath.components
        return node.path.components.count >= h.count && Array(node.path.components.prefix(h.count)) == h
    }

    /// Every key the model has, in `state_dict()` order, with its shape.
    public var tensors: [(key: String, shape: [Int])] { graph.tensors }

    /// Checks every key and shape against the graph: throws `ModelError.layoutMismatch` with
    /// every missing, unexpected and wrong-shaped key. `num_batches_tracked` may be missing (or
    /// stored as `[1]`). With `requireHead` false, a state dict without the classifier passes.
    public func check(_ shapes: [(key: String, shape: [Int])], requireHead: Bool = true) throws {
        var table: [String: [Int]] = [:]
        for (k, s) in shapes { table[k] = s }
        let headPrefix = headPath.description + "."
        let noHead = !requireHead && !shapes.contains { $0.key.hasPrefix(headPrefix) }
        var missing: [String] = [], wrong: [ModelError.WrongShape] = []
        var expectedKeys = Set<String>()
        for (k, s) in tensors where !(noHead && k.hasPrefix(headPrefix)) {
            expectedKeys.insert(k)
            guard let actual = table[k] else {
                if !k.hasSuffix(".num_batches_tracked") { missing.append(k) }
                continue
            }
            if k.hasSuffix(".num_batches_tracked") { if actual.reduce(1, *) != 1 { wrong.append(.init(key: k, expected: s, actual: actual)) } }
            else if actual != s { wrong.append(.init(key: k, expected: s, actual: actual)) }
        }
        let unexpected = shapes.map(\.key).filter { !expectedKeys.contains($0) }
        if !missing.isEmpty || !unexpected.isEmpty || !wrong.isEmpty {
            throw ModelError.layoutMismatch(family: family.name, missing: missing, unexpected: unexpected, wrongShapes: wrong)
        }
    }

    /// The architecture of a state dict, of whichever known family claims its keys, checked key
    /// by key. With `requireHead` false, a backbone without its classifier passes (its head is then nil).
    public static func detect(_ shapes: [(key: String, shape: [Int])], requireHead: Bool = true) throws -> Architecture {
        var table: [String: [Int]] = [:]
        for (k, s) in shapes { table[k] = s }
        let family = Families.all.first { $0.claims(table) } ?? Families.all[0]
        let head = HeadShape.read(table, at: family.headPath)
        let arch = try family.architecture(shapes: table, head: head ?? (requireHead ? .linear(classes: 1000) : nil))
        try arch.check(shapes, requireHead: requireHead)
        return arch
    }

    public static func detect(_ sd: StateDict, requireHead: Bool = true) throws -> Architecture {
        try detect(sd.items.map { ($0.key, $0.value.shape) }, requireHead: requireHead)
    }

    /// torchvision's initialisation of every tensor, drawn from `rng` in `state_dict()` order.
    public func initialStateDict(rng: inout SeededRandom) -> StateDict {
        var sd = StateDict()
        for i in graph.stateOrder {
            let n = graph.nodes[i]
            let values = family.initialValues(n, rng: &rng)
            for (name, _) in n.op.tensors { if let t = values[name] { sd[n.path[name]] = t } }
        }
        return sd
    }
}

/// Every family Graft knows, in the order keys are tried.
public enum Families {
    public static let all: [any ModelFamily] = [ResNetFamily(), VGGFamily(), MobileNetV2Family(), MobileNetV3Family(), EfficientNetFamily(),
                                                RegNetFamily(), DenseNetFamily(), ConvNeXtFamily(), InceptionFamily()]

    /// Every variant name of every family.
    public static var variantNames: [String] { all.flatMap(\.variantNames) }

    /// A variant by torchvision's name (`resnet34`, `vgg16_bn`), with `head`.
    public static func architecture(variant: String, head: HeadShape = .linear(classes: 1000)) -> Architecture? {
        for f in all { if let a = f.architecture(variant: variant, head: head) { return a } }
        return nil
    }

    /// Every name finetune gives its output (`resNet34.pth`, `vgg16_bn.pth`, `resNet.pth` for
    /// custom widths...): what predict looks for in the current folder.
    public static var outputFileNames: Set<String> {
        Set(all.flatMap { f in f.variantNames.compactMap { f.architecture(variant: $0, head: .linear(classes: 1))?.fileName } + [f.customFileName] })
    }

    /// What the checkpoint reader looks for: every family's keys.
    public static var keys: [ModelKeys] { all.map(\.keys) }
}

/// Initialisation shared by the families.
extension ModelFamily {
    /// torchvision's usual rule: convs `kaiming_normal_(fan_out, relu)` with zero bias, batch
    /// norms weight 1 bias 0 (running mean 0, var 1), Linears as `nn.Linear` initialises itself.
    public func defaultInitialValues(_ node: Node, rng: inout SeededRandom) -> [String: TensorData] {
        switch node.op {
        case .conv(let c):
            var out = ["weight": TensorData(shape: c.weightShape, floats: rng.kaimingConv(c.weightShape))]
            if c.bias { out["bias"] = TensorData(shape: [c.outChannels], floats: [Float](repeating: 0, count: c.outChannels)) }
            return out
        case .batchNorm(let b):
            let c = b.channels
            return ["weight": TensorData(shape: [c], floats: [Float](repeating: 1, count: c)),
                    "bias": TensorData(shape: [c], floats: [Float](repeating: 0, count: c)),
                    "running_mean": TensorData(shape: [c], floats: [Float](repeating: 0, count: c)),
                    "running_var": TensorData(shape: [c], floats: [Float](repeating: 1, count: c)),
                    "num_batches_tracked": TensorData(shape: [], int64s: [0])]
        case .linear(let l):
            let (w, b) = rng.linear(out: l.outFeatures, in: l.inFeatures)
            return ["weight": TensorData(shape: [l.outFeatures, l.inFeatures], floats: w),
                    "bias": TensorData(shape: [l.outFeatures], floats: b)]
        default:
            return [:]
        }
    }
}
