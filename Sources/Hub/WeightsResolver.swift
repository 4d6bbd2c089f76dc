import Foundation

/// The file that `--weights` names, and the torchvision weights it is if it came by name.
public struct ResolvedWeights: Sendable, Equatable {
    /// The .pth file to load.
    public let path: String
    /// The registry entry when the argument was a name (its eval transform, class names);
    /// nil when the argument was a file.
    public let weights: TorchvisionWeights?

    public init(path: String, weights: TorchvisionWeights?) {
        self.path = path
        self.weights = weights
    }
}

/// `--weights FILE` or `--weights NAME[:VERSION]`, resolved as `torch.hub.load_state_dict_from_url`
/// does: torch.hub's cache first, the network only when the file is not there.
public enum WeightsResolver {
    /// - an existing file → that file (a name that is also a file means the file);
    /// - a known name → `HubCache.checkpointsDirectory(environment:)/fileName`: used as is when
    ///   present (no network); otherwise `HubError.offline` when `offline` or
    ///   `environment["GRAFT_OFFLINE"] == "1"`; otherwise the cache folder is created and
    ///   `download(url, destinationPath, sha256Prefix)` is called, then the path returned;
    /// - the URL is `mirror + "/" + fileName` when a mirror is given (`mirror`, else
    ///   `environment["GRAFT_WEIGHTS_MIRROR"]`; a trailing "/" is dropped);
    /// - anything else → `HubError.noSuchFile` when it looks like a path (contains "/" or ends
    ///   in .pth or .pt), else `HubError.unknownWeights`.
    public static func resolve(
        _ argument: String,
        mirror: String? = nil,
        offline: Bool = false,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        download: (URL, String, String) throws -> Void
    ) throws -> ResolvedWeights {
        try resolve(argument, mirror: mirror, offline: offline, environment: environment, registry: TorchvisionWeights.all,
                    download: download)
    }

    /// `resolve` with another registry (tests serve weights of their own through a mirror).
    static func resolve(_ argument: String, mirror: String?, offline: Bool, environment: [String: String],
                        registry: [TorchvisionWeights], download: (URL, String, String) throws -> Void) throws -> ResolvedWeights {
        if isFile(argument) { return ResolvedWeights(path: argument, weights: nil) }
        let weights: TorchvisionWeights
        do {
            weights = try TorchvisionWeights.named(argument, in: registry)
        } catch let error as HubError {
            if looksLikePath(argument) {
                throw HubError.noSuchFile(path: argument, known: TorchvisionWeights.knownNames)
            }
            throw error
        }
        let folder = HubCache.checkpointsDirectory(environment: environment)
        let destination = HubCache.join(folder, weights.fileName)
        if isFile(destination) { return ResolvedWeights(path: destination, weights: weights) }

        let urlString = downloadURL(for: weights, mirror: mirror ?? environment["GRAFT_WEIGHTS_MIRROR"])
        if offline || environment["GRAFT_OFFLINE"] == "1" {
            throw HubError.offline(file: weights.fileName, url: urlString, folder: folder)
        }
        guard let url = URL(string: urlString) else {
            throw HubError.badMirror(mirror: mirror ?? environment["GRAFT_WEIGHTS_MIRROR"] ?? "", url: urlString)
        }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try download(url, destination, weights.sha256Prefix)
        return ResolvedWeights(path: destination, weights: weights)
    }

    /// torchvision's URL, or `mirror/fileName` (an empty mirror means none).
    public static func downloadURL(for weights: TorchvisionWeights, mirror: String?) -> String {
        guard var base = mirror, !base.isEmpty else { return weights.url }
        while base.hasSuffix("/") { base.removeLast() }
        return base + "/" + weights.fileName
    }

    private static func isFile(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
    }

    private static func looksLikePath(_ s: String) -> Bool {
        s.contains("/") || s.hasSuffix(".pth") || s.hasSuffix(".pt")
    }
}
