import CLISupport
import Checkpoint
import Foundation
import Inference
import Models

/// How ``calibrate(weights:images:count:batchSize:method:options:output:)`` chooses each
/// activation's clipping threshold, from the values it saw.
public enum CalibrationMethod: String, Sendable, CaseIterable {
    /// The largest magnitude seen: the default, and on Graft's held-back sets the method that kept
    /// f32's answers most often.
    case max
    /// The 99.99th percentile of the magnitudes.
    case percentile
    /// TensorRT's entropy calibration: the threshold with the smallest KL divergence between the
    /// values' histogram and its 8-bit copy (the images keep their full range).
    case kl
}

/// What ``calibrate(weights:images:count:batchSize:method:options:output:)`` wrote.
public struct CalibrationSummary: Sendable {
    /// The calibration file: `<weights without the extension>.calibration.json` beside the
    /// weights, where ``Precision/int8`` finds it (or the `output` given).
    public let path: String
    /// The architecture calibrated (`resnet50`...).
    public let architecture: String
    /// How the thresholds were chosen.
    public let method: CalibrationMethod
    /// The images run, in the order taken: each class folder in turn.
    public let images: [String]
    /// The images that could not be read, each with why; they were skipped and the next taken.
    public let unreadable: [Unreadable]
    /// How many activations have a range.
    public let activations: Int

    /// An image calibration skipped.
    public struct Unreadable: Sendable, Equatable {
        /// The image's path.
        public let path: String
        /// Why it could not be read.
        public let reason: String
    }
}

/// A calibration that cannot start: no image in the folder, or a count or batch size below 1.
public struct CalibrationError: Error, CustomStringConvertible, Equatable {
    /// What is wrong.
    public let description: String
}

/// Records the activations' ranges ``Precision/int8`` needs, as `graft calibrate` does: runs the
/// model in f32 over `count` images of `folder` (subfolders included, each class folder in turn),
/// each through the eval transform a ``Classifier`` with the same `options` uses, and writes the
/// ranges beside the weights. The same images give the same file, byte for byte.
///
/// ```swift
/// try calibrate(weights: "resNet34.pth", images: "flower_data/train")
/// var options = Classifier.Options()
/// options.precision = .int8
/// let fast = try Classifier(weights: "resNet34.pth", options: options)
/// ```
///
/// - Parameters:
///   - weights: a `.pth` file, or torchvision's weights by name (the file is written beside the
///     one in torch.hub's cache).
///   - folder: images like those the model will classify (its training folder is the usual choice).
///   - count: how many images to run; a few hundred are enough.
///   - batchSize: images per forward pass.
///   - method: how each activation's threshold is chosen.
///   - options: the image size and how the weights are found (`precision` and `convolution` do
///     not matter: calibration runs in f32).
///   - output: where to write instead of beside the weights.
@discardableResult
public func calibrate(weights: String, images folder: String, count: Int = 500, batchSize: Int = 32, method: CalibrationMethod = .max,
                      options: Classifier.Options = Classifier.Options(), output: String? = nil) throws -> CalibrationSummary {
    guard count >= 1, batchSize >= 1 else {
        throw CalibrationError(description: "count and batchSize must be at least 1 (got \(count) and \(batchSize))")
    }
    let resolved = try resolveWeights(weights, mirror: options.weightsMirror, offline: options.offline, progress: options.downloadProgress)
    let (transform, _) = ModelFiles.transform(of: resolved, imageSize: options.imageSize, resize: options.resize)
    let images = try CalibrationRun.images(in: folder).images
    guard !images.isEmpty else { throw CalibrationError(description: CalibrationRun.noImages(folder)) }
    let run = try CalibrationRun.run(weights: resolved.path, images: images, count: count,
                                     batchSize: batchSize, method: Calibration.Method(rawValue: method.rawValue)!, transform: transform,
                                     loadOptions: .torchvisionModel(allowObjects: options.allowObjects, limits: ReadLimits()), output: output)
    return CalibrationSummary(path: run.path, architecture: run.calibration.model, method: method, images: run.used,
                              unreadable: run.unreadable.map { CalibrationSummary.Unreadable(path: $0.path, reason: "\($0.error)") },
                              activations: run.calibration.values.count)
}
