/// What can go wrong finding pretrained weights by name (see `WeightsResolver`).
public enum HubError: Error, CustomStringConvertible, Equatable {
    /// Not one of torchvision's ResNet weights; `known` lists them.
    case unknownWeights(name: String, known: [String])

    public var description: String {
        switch self {
        case let .unknownWeights(name, known):
            return "'\(name)' is neither a file nor the name of torchvision ResNet weights. Known names: "
                + known.joined(separator: ", ") + "."
        }
    }
}
