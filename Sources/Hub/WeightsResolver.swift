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
    /// - a known name → `HubCache.checkpointsDirectory(environment:)/fileName`: used when
    ///   present and its SHA-256 starts with the name's prefix (no network); a wrong file there is
    ///   moved aside (see `CachedFileCheck`; `note` is told where) and counts as absent; otherwise `HubError.offline` when `offline` or
    ///   `environment["GRAFT_OFFLINE"] == "1"`; otherwise the cache folder is created and
    ///   `download(url, destinationPath, sha256Prefix)` is called, then the path returned (a folder
    ///   that cannot be created throws `DownloadError.folderNotWritable`);
    /// - the URL is `mirror + "/" + fileName` when a mirror is given (`mirror`, else
    ///   `environment["GRAFT_WEIGHTS_MIRROR"]`; a trailing "/" is dropped);
    /// - anything else → `HubError.noSuchFile` when it looks like a path (contains "/" or ends
    ///   in .pth or .pt), else `HubError.unknownWeights`.
    public static func resolve(
        _ argument: String,
        mirror: String? = nil,
        offline: Bool = false,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        note: (String) -> Void = { _ in },
        download: (URL, String, String) throws -> Void
    ) throws -> ResolvedWeights {
        try resolve(argument, mirror: mirror, offline: offline, environment: environment, registry: TorchvisionWeights.all,
                    note: note, download: download)
    }

    /// `resolve` with another registry (tests serve weights of their own through a mirror).
    static func resolve(_ argument: String, mirror: String?, offline: Bool, environment: [String: String],
                        registry: [TorchvisionWeights], note: (String) -> Void = { _ in },
                        download: (URL, String, String) throws -> Void) throws -> ResolvedWeights {
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
        let isOffline = offline || environment["GRAFT_OFFLINE"] == "1"
        if isFile(destination) {
            switch try CachedFileCheck.check(destination, expectedPrefix: weights.sha256Prefix) {
            case .good:
                return ResolvedWeights(path: destination, weights: weights)
            case .gone:
                break
            case let .movedAside(movedTo, actual):
                note(CachedFileCheck.note(path: destination, movedTo: movedTo, expectedPrefix: weights.sha256Prefix,
                                          actual: actual, downloading: !isOffline))
            }
        }

        let urlString = downloadURL(for: weights, mirror: mirror ?? environment["GRAFT_WEIGHTS_MIRROR"])
        if isOffline {
            throw HubError.offline(file: weights.fileName, url: urlString, folder: folder)
        }
        guard let url = URL(string: urlString) else {
            throw HubError.badMirror(mirror: mirror ?? environment["GRAFT_WEIGHTS_MIRROR"] ?? "", url: urlString)
        }
        if let reason = Downloader.makeFolder(folder) {
            throw DownloadError.folderNotWritable(folder: folder, reason: reason)
        }
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
