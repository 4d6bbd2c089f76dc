/// What can go wrong building or running a ResNet from a state dict.
public enum ResNetError: Error, CustomStringConvertible, Equatable {
    /// The state dict is not laid out as a torchvision ResNet: keys missing or unexpected, or
    /// tensors of the wrong shape.
    case layoutMismatch(missing: [String], unexpected: [String], wrongShapes: [WrongShape])
    /// A tensor the model needs has a type it cannot use (an integer weight, say).
    case unsupportedDType(key: String, dtype: String)
    /// The input images do not fit the call (`what`: the shape or count at fault).
    case badInput(String)
    /// No state dict, and `name` is not one of `ResNetFamily`'s variants.
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
        case let .layoutMismatch(missing, unexpected, wrongShapes):
            if Set(missing) == ["fc.weight", "fc.bias"] && unexpected.isEmpty && wrongShapes.isEmpty {
                return "the state dict is a torchvision ResNet without its fc (fc.weight, fc.bias): a backbone saved without its classifier. "
                    + "Classifying images needs the trained fc: save the model with it. To train a new classifier on this backbone, use finetune."
            }
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing keys (\(missing.count)): " + ResNetError.list(missing)) }
            if !unexpected.isEmpty { parts.append("unexpected keys (\(unexpected.count)): " + ResNetError.list(unexpected)) }
            if !wrongShapes.isEmpty {
                parts.append("wrong shapes (\(wrongShapes.count)): "
                    + ResNetError.list(wrongShapes.map { "\($0.key) is \($0.actual), expected \($0.expected)" }))
            }
            return "the state dict is not a torchvision ResNet: " + parts.joined(separator: "; ")
                + ". Graft reads the state_dict() of torchvision's ResNets (resnet18 to resnet152, ResNeXt, wide ResNet), "
                + "also inside a module of your own: a prefix such as 'module.' or 'backbone.' is removed when every key has it."
        case let .unsupportedDType(key, dtype):
            return "tensor '\(key)' has dtype \(dtype); a ResNet weight must be floating point."
        case let .badInput(what):
            return "bad input: \(what)."
        case let .unknownArchitecture(name):
            return "no state dict and \(name.map { "'\($0)' is not a known architecture" } ?? "no architecture named"); use one of "
                + ResNetFamily.names.joined(separator: ", ")
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
