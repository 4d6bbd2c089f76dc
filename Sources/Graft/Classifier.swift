import CLISupport
import Checkpoint
import ExportCommand
import Foundation
import Hub
import Imaging
import Inference
import Models

/// A fine-tuned model (or torchvision's weights by name), ready to classify images as the
/// `predict` command does: the architecture read from the checkpoint's keys, the eval transform
/// it was validated at, its class names.
///
/// ```swift
/// let classifier = try Classifier(weights: "resNet34.pth")
/// let answer = try classifier.classify(imageData: Array(try Data(contentsOf: url)))
/// print(answer.className, answer.probability)
/// ```
///
/// A classifier is safe to share between threads and tasks; calls on one classifier run one at
/// a time (the model computes on every core already). Batches are faster per image than single
/// images: ``classify(images:)`` and ``classify(files:batchSize:each:)`` run many at once.
public final class Classifier: @unchecked Sendable {
    /// How a classifier computes and finds its files.
    public struct Options: Sendable {
        /// The arithmetic: ``Precision/f32`` by default.
        public var precision: Precision = .f32
        /// How 3x3 convolutions compute in f32 (``ConvolutionAlgorithm/direct``, PyTorch's arithmetic, by default).
        public var convolution: ConvolutionAlgorithm = .direct
        /// The crop the model sees and the resize before it; nil: what finetune recorded in the
        /// metrics.json beside the weights, what torchvision declares for named weights, else 224 and 256.
        public var imageSize: Int?
        /// The shorter side before the crop; nil: as for `imageSize`.
        public var resize: Int?
        /// Also score each image's mirror and average the two (twice the work).
        public var flipTestTimeAugmentation = false
        /// Read a whole pickled model (`torch.save(model)`) as inert data.
        public var allowObjects = false
        /// For weights by name: never download (the file must be in torch.hub's cache).
        public var offline = false
        /// For weights by name: where to download from instead of download.pytorch.org.
        public var weightsMirror: String?
        /// For weights by name: called as a download goes, with the fraction done (nil when the
        /// size is unknown).
        public var downloadProgress: (@Sendable (Double?) -> Void)?

        /// The defaults: f32, direct convolutions, the recorded sizes, downloads allowed.
        public init() {}
    }

    /// The architecture found in the checkpoint (`resnet34`, `mobilenet_v3_large`...).
    public let architecture: String
    /// The class names, in index order: from the class-indices file, ImageNet's for torchvision's
    /// weights, else the indices.
    public let classNames: [String]
    /// What the model sees of an image.
    public let preprocessing: Preprocessing
    /// The checkpoint read (for weights by name, the file in torch.hub's cache).
    public let weightsPath: String
    /// Notes about the weights (a prefix removed from the keys, class names missing).
    public let warnings: [String]

    private let predictor: Predictor
    private let files: ModelFiles
    private let options: Options
    private let lock = NSLock()

    /// Loads a classifier.
    /// - Parameters:
    ///   - weights: a `.pth` file (from `finetune`, PyTorch or torchvision), or torchvision's weights
    ///     by name (`"resnet50"`, `"resnet50:IMAGENET1K_V2"`), downloaded into torch.hub's cache
    ///     the first time.
    ///   - classIndices: the class names file finetune wrote (`class_indices.json`); nil: the one
    ///     beside the weights, if there is one.
    ///   - options: the arithmetic, the image size, and how weights by name are found.
    public init(weights: String, classIndices: String? = nil, options: Options = Options()) throws {
        try options.precision.requireSupport()
        let resolved = try resolveWeights(weights, mirror: options.weightsMirror, offline: options.offline, progress: options.downloadProgress)
        let (transform, source) = ModelFiles.transform(of: resolved, imageSize: options.imageSize, resize: options.resize)
        let indices = classIndices ?? (resolved.weights == nil
            ? URL(fileURLWithPath: resolved.path).deletingLastPathComponent().appendingPathComponent("class_indices.json").path : nil)
        files = ModelFiles(weights: resolved.path, named: resolved.weights, classIndices: indices, transform: transform, transformSource: source)
        predictor = try Predictor(weights: resolved.path, classIndices: indices, precision: options.precision.engine, transform: transform,
                                  allowObjects: options.allowObjects, knownNames: ImageNet.categories,
                                  convolution: options.convolution.engine)
        predictor.tta = options.flipTestTimeAugmentation ? .flip : .none
        self.options = options
        architecture = predictor.model.name
        classNames = predictor.classNames
        preprocessing = Preprocessing(transform)
        weightsPath = resolved.path
        warnings = predictor.warnings
    }

    /// Classifies the JPEG or PNG in `imageData`.
    public func classify(imageData: [UInt8]) throws -> Classification {
        try classify(image: Image(decoding: imageData))
    }

    /// Classifies a decoded image.
    public func classify(image: Image) throws -> Classification {
        try classify(decoded: [image])[0]
    }

    /// Classifies the JPEG or PNG file at `path`.
    public func classify(file path: String) throws -> Classification {
        try classify(image: Image(contentsOfFile: path))
    }

    /// Classifies several images (JPEG or PNG bytes) as one batch: each its answer, or why it
    /// could not be read.
    public func classify(images: [[UInt8]]) throws -> [Result<Classification, Error>] {
        let decoded = images.map { bytes in Result { try Image(decoding: bytes) } }
        let ok = decoded.compactMap { try? $0.get() }
        var answers = try classify(decoded: ok)[...]
        return decoded.map { d in d.map { _ in answers.removeFirst() } }
    }

    /// Classifies files in batches of `batchSize`, decoding the next batch while the model runs
    /// on this one (as batch_predict does); `each` hears every file in order.
    public func classify(files paths: [String], batchSize: Int = 32, each: (String, Result<Classification, Error>) -> Void) throws {
        lock.lock(); defer { lock.unlock() }
        try predictor.predict(paths: paths, batchSize: batchSize) { path, result in
            each(path, result.map { Classification(probabilities: $0.probs, classNames: classNames) })
        }
    }

    /// The model's answers for decoded images, in one batch.
    private func classify(decoded images: [Image]) throws -> [Classification] {
        guard !images.isEmpty else { return [] }
        let t = predictor.transform
        let per = t.tensorCount
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: images.count * per * predictor.tta.views)
        defer { buffer.deallocate() }
        for (i, image) in images.enumerated() {
            try t.write(image.rgb, into: UnsafeMutableBufferPointer(rebasing: buffer[(i * per)..<((i + 1) * per)]))
        }
        lock.lock(); defer { lock.unlock() }
        let probs = try predictor.probabilities(tensors: buffer, count: images.count)
        let n = classNames.count
        return images.indices.map { Classification(probabilities: Array(probs[($0 * n)..<(($0 + 1) * n)]), classNames: classNames) }
    }

    /// Scores a labelled folder (`folder/<class name>/*.jpg`), as the `evaluate` command does.
    public func evaluate(folder: String, batchSize: Int = 32) throws -> EvaluationReport {
        lock.lock(); defer { lock.unlock() }
        var notes: [String] = []
        let evaluation = try Evaluation.run(dir: folder, predictor: predictor, batchSize: batchSize) { notes.append($0) }
        return EvaluationReport(evaluation, notes: notes)
    }

    /// Writes the model as an ONNX file (opset 17, dynamic batch, the class names and eval transform
    /// in its metadata), as `graft export --onnx` does; ONNX Runtime and OpenVINO run it with this
    /// classifier's probabilities.
    public func exportONNX(to path: String) throws {
        try ModelExport.onnx(files, options: .torchvisionModel(allowObjects: options.allowObjects), to: path, warn: { _ in })
    }
}

/// `weights` as a file (returned as it is) or torchvision's weights by name (found in torch.hub's
/// cache, or downloaded there, `progress` hearing the fraction done).
func resolveWeights(_ weights: String, mirror: String? = nil, offline: Bool, note: (String) -> Void = { _ in },
                    progress: (@Sendable (Double?) -> Void)? = nil) throws -> ResolvedWeights {
    try WeightsResolver.resolve(weights, mirror: mirror, offline: offline, note: note) { url, destination, prefix in
        try Downloader(progress: progress.map { p in { @Sendable status in p(status.fraction) } })
            .download(from: url, to: destination, sha256Prefix: prefix)
    }
}
