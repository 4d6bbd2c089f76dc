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
    /// The file in the cache does not match its name's hash and could not be moved aside
    /// (`reason`, the system's words); nothing was used.
    case wrongFileInCache(path: String, expectedPrefix: String, actual: String, reason: String)
    /// The file in the cache cannot be read (`reason`, the system's words).
    case unreadableInCache(path: String, reason: String)

    /// Messages hide the credentials of every URL in them (see `URLRedaction`).
    public var description: String { URLRedaction.redact(message) }

    private var message: String {
        switch self {
        case let .unknownWeights(name, known):
            return "'\(name)' is neither a file nor the name of torchvision weights (ResNet, VGG, MobileNet). Known names: "
                + known.joined(separator: ", ") + "."
        case let .offline(file, url, folder):
            let destination = folder.hasSuffix("/") ? folder + file : folder + "/" + file
            // Each word quoted for the shell: a quote, $(...) or a newline in TORCH_HOME or the
            // mirror stays part of its word and runs nothing.
            let shown = URLRedaction.redact(url)
            let hidden = shown == url ? "" : "(the URL's password is hidden above: put it back, or give the user with curl -u)\n"
            return "\(file) is not in the weights cache \(folder), and Graft was told not to use the network "
                + "(--offline or GRAFT_OFFLINE=1). Download \(shown) and put it in \(folder) as \(file), "
                + "for example:\n"
                + "    mkdir -p \(ShellQuote.quote(folder))\n"
                + "    curl -L -o \(ShellQuote.quote(destination)) \(ShellQuote.quote(shown))\n"
                + hidden
                + "or run once without --offline (and with GRAFT_OFFLINE unset) to download it."
        case let .noSuchFile(path, known):
            return "There is no file at \(path). Give the path of a .pth file, or the name of torchvision "
                + "ResNet weights to download: " + known.joined(separator: ", ") + "."
        case let .badMirror(mirror, url):
            return "The weights mirror '\(mirror)' (--weights-mirror or GRAFT_WEIGHTS_MIRROR) gives '\(url)', "
                + "which is not a valid URL. Give the mirror as a URL such as https://example.org/models."
        case let .wrongFileInCache(path, expectedPrefix, actual, reason):
            return "\(path) in the weights cache is not the file its name promises: its SHA-256 is \(actual), which "
                + "does not start with \(expectedPrefix). Graft could not move it aside (\(reason)) and used nothing. "
                + "Delete it (rm -- \(ShellQuote.quote(path))) or make its folder writable, and run again to download it afresh."
        case let .unreadableInCache(path, reason):
            return "Cannot read \(path) in the weights cache (\(reason)). Make it readable, or delete it "
                + "(rm -- \(ShellQuote.quote(path))) and run again to download it afresh."
        }
    }
}
