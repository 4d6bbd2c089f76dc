import ArgumentParser
import Foundation
import Hub

/// Where `--weights NAME[:VERSION]` comes from: torch.hub's cache (shared with PyTorch), else
/// torchvision's server or a mirror. A FILE is used as it is.
public struct WeightsSourceOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Download named weights from URL/<file name> instead of torchvision's server (also GRAFT_WEIGHTS_MIRROR).",
                               valueName: "url"))
    public var weightsMirror: String?

    @Flag(help: "Never use the network: named weights must already be in torch.hub's cache (also GRAFT_OFFLINE=1); if they are not, say which file to put where.")
    public var offline = false

    public init() {}

    /// The help of `--weights` in every command that takes it.
    public static let weightsDiscussion = "NAME is torchvision's weights for any family Graft builds (ResNet, VGG, MobileNet, EfficientNet, RegNet, DenseNet, ConvNeXt, Inception V3): resnet34, vgg16 or efficientnet_b0 (their default weights) or resnet50:IMAGENET1K_V2 (one version); "
        + "known: " + TorchvisionWeights.knownNames.joined(separator: ", ")
        + ". A named file is looked for in torch.hub's cache ($TORCH_HOME/hub/checkpoints, default ~/.cache/torch/hub/checkpoints), "
        + "shared with PyTorch, and downloaded there when missing. A name that is also an existing file means the file."

    /// `argument` as a file: itself when it is one; for a weights name, the file in torch.hub's
    /// cache, downloaded first when missing (progress on standard error).
    public func resolve(_ argument: String) throws -> ResolvedWeights {
        try WeightsResolver.resolve(argument, mirror: weightsMirror, offline: offline, note: { warn($0) }) { url, destination, prefix in
            warn(Downloader.startMessage(url: url, destination: destination))
            try Downloader(progress: DownloadProgress.standardError()).download(from: url, to: destination, sha256Prefix: prefix)
        }
    }
}
