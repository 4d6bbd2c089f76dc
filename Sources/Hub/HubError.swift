/// What can go wrong finding pretrained weights by name (see `WeightsResolver`).
public enum HubError: Error, CustomStringConvertible, Equatable {
    /// Not one of torchvision's ResNet weights; `known` lists them.
    case unknownWeights(name: String, known: [String])
    /// The weights are not in the cache and the network is off limits: download `url`
    /// into `folder` as `file`.
    case offline(file: String, url: String, folder: String)
    /// The argument looks like a path, but no file is there; `known` lists the names.
    case noSuchFile(path: String, known: [String])
    /// `--weights-mirror` / GRAFT_WEIGHTS_MIRROR does not make a valid URL.
    case badMirror(mirror: String, url: String)

    public var description: String {
        switch self {
        case let .unknownWeights(name, known):
            return "'\(name)' is neither a file nor the name of torchvision ResNet weights. Known names: "
                + known.joined(separator: ", ") + "."
        case let .offline(file, url, folder):
            let destination = folder.hasSuffix("/") ? folder + file : folder + "/" + file
            return "\(file) is not in the weights cache \(folder), and Graft was told not to use the network "
                + "(--offline or GRAFT_OFFLINE=1). Download \(url) and put it in \(folder) as \(file), "
                + "for example:\n"
                + "    mkdir -p '\(folder)'\n"
                + "    curl -L -o '\(destination)' '\(url)'\n"
                + "or run once without --offline (and with GRAFT_OFFLINE unset) to download it."
        case let .noSuchFile(path, known):
            return "There is no file at \(path). Give the path of a .pth file, or the name of torchvision "
                + "ResNet weights to download: " + known.joined(separator: ", ") + "."
        case let .badMirror(mirror, url):
            return "The weights mirror '\(mirror)' (--weights-mirror or GRAFT_WEIGHTS_MIRROR) gives '\(url)', "
                + "which is not a valid URL. Give the mirror as a URL such as https://example.org/models."
        }
    }
}
