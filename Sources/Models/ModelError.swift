/// What can go wrong building or running a model from a state dict.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    /// The state dict is not laid out as the torchvision model of `family` its keys resemble:
    /// keys missing or unexpected, or tensors of the wrong shape.
    case layoutMismatch(family: String, missing: [String], unexpected: [String], wrongShapes: [WrongShape])
    /// A tensor the model needs has a type it cannot use (an integer weight, say).
    case unsupportedDType(key: String, dtype: String)
    /// The input images do not fit the call (`what`: the shape or count at fault).
    case badInput(String)
    /// No state dict, and `name` is not a variant of any family (`Families`).
    case unknownArchitecture(name: String?)
    /// The state dict holds another architecture than the one asked for.
    case architectureMismatch(holds: String, asked: String)
    /// A new classifier with fewer than one class.
    case noClasses(Int)
    /// A step on cached head inputs, with no head layer trainable.
    case nothingTrains

    public struct WrongShape: Equatable, Sendable {
        public let key: String
        public let expected: [Int]
        public let actual: [Int]
    }

    public var description: String {
        switch self {
        case let .layoutMismatch(family, missing, unexpected, wrongShapes):
            let head = Families.all.first { $0.name == family }?.headPath.description ?? "fc"
            if Set(missing) == ["\(head).weight", "\(head).bias"] && unexpected.isEmpty && wrongShapes.isEmpty {
                let it = head == "fc" ? "fc" : "classifier"
                return "the state dict is a torchvision \(family) without its \(it) (\(head).weight, \(head).bias): a backbone saved without its classifier. "
                    + "Classifying images needs the trained \(it): save the model with it. To train a new classifier on this backbone, use finetune."
            }
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing keys (\(missing.count)): " + ModelError.list(missing)) }
            if !unexpected.isEmpty { parts.append("unexpected keys (\(unexpected.count)): " + ModelError.list(unexpected)) }
            if !wrongShapes.isEmpty {
                parts.append("wrong shapes (\(wrongShapes.count)): "
                    + ModelError.list(wrongShapes.map { "\($0.key) is \($0.actual), expected \($0.expected)" }))
            }
            return "the state dict is not a torchvision \(family): " + parts.joined(separator: "; ")
                + ". Graft reads the state_dict() of torchvision's ResNets (resnet18 to resnet152, ResNeXt, wide ResNet) VGGs (vgg11 to vgg19, with or without batch norm) and MobileNets (mobilenet_v2, mobilenet_v3_large, mobilenet_v3_small), "
                + "also inside a module of your own: a prefix such as 'module.' or 'backbone.' is removed when every key has it."
        case let .unsupportedDType(key, dtype):
            return "tensor '\(key)' has dtype \(dtype); a model's weight must be floating point."
        case let .badInput(what):
            return "bad input: \(what)."
        case let .unknownArchitecture(name):
            return "no state dict and \(name.map { "'\($0)' is not a known architecture" } ?? "no architecture named"); use one of "
                + Families.variantNames.joined(separator: ", ")
        case let .architectureMismatch(holds, asked):
            return "the state dict holds a \(holds), not a \(asked)"
        case let .noClasses(n):
            return "the new head needs at least one class, got \(n)"
        case .nothingTrains:
            return "no head layer trains: freeze with a policy that leaves the head trainable (FreezePolicy.headOnly)"
        }
    }

    static func list(_ items: [String], limit: Int = 40) -> String {
        items.count <= limit ? items.joined(separator: ", ")
            : items.prefix(limit).joined(separator: ", ") + ", ... and \(items.count - limit) more"
    }
}
