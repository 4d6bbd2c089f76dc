import ArgumentParser
import Checkpoint
import Engine
import Foundation
import Hub
import Imaging
import Inference
import Models

extension Precision: ExpressibleByArgument {}
extension TestTimeAugmentation: ExpressibleByArgument {}
extension ResampleFilter: ExpressibleByArgument {}
extension ConvolutionChoice: ExpressibleByArgument {}

/// The options predict and batch_predict share: which weights, which names, which arithmetic.
public struct ModelOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The trained weights: a .pth from finetune or PyTorch, or torchvision's weights by NAME[:VERSION].",
                               discussion: "Default: resNet34.pth in the current folder, or the one model file finetune names there (resNet*.pth, vgg*.pth...). "
                                   + WeightsSourceOptions.weightsDiscussion,
                               valueName: "file|name"))
    public var weights: String?

    @OptionGroup public var source: WeightsSourceOptions

    @OptionGroup public var read: ReadOptions

    @Option(help: ArgumentHelp("Class names, as finetune and the tutorial's train.py write them (default: the class_indices.json beside --weights, else the one in the current folder).",
                               discussion: "Without it, a 1000-class model (torchvision's own weights) is named with ImageNet's 1000 classes, in torchvision's order.",
                               valueName: "file"))
    public var classIndices: String?

    @Option(help: Precision.inferenceHelp("oneDNN's bfloat16 kernels, float32 accumulation; probabilities within ~1e-2 of f32's."))
    public var precision: Precision = .f32

    @Option(help: ArgumentHelp("How the 3x3 stride-1 convolutions compute: auto times direct and Winograd on each conv shape the first time this machine meets it, keeps the faster, and remembers the times for later runs (~/.cache/graft/conv-choices.json, as finetune's --conv says); direct is PyTorch's arithmetic; winograd is Winograd F(4x4, 3x3) wherever it applies (f32 only). Default: auto for batch_predict and evaluate, direct for predict.",
                               discussion: "Winograd does fewer multiplications (a batch of resnet34 inference about 1.8x as fast on AVX2 and 1.4-1.6x on AVX-512) and rounds differently: probabilities differ from PyTorch's in the last digits, a little more than direct's do; measured within 1e-4 of PyTorch's on this project's fixtures and on a held-back set, with the same top class for every image (README, \"Speed\"). It first transforms every 3x3 filter (four times the weights' size), which costs more than one image saves: predict stays direct unless told. Give direct to compute exactly as PyTorch does.",
                               valueName: "auto|direct|winograd"))
    public var conv: ConvolutionChoice?

    @Option(help: ArgumentHelp("Side of the center crop the model sees (finetune's --image-size).",
                               discussion: "Default: what finetune trained the weights at, from the metrics.json beside them; else 224."))
    public var imageSize: Int?

    @Option(help: ArgumentHelp("Shorter side before the crop (finetune's --resize).",
                               discussion: "Default: as for --image-size; else 256 for 224, scaled with --image-size."))
    public var resize: Int?

    @Option(help: ArgumentHelp("How the resize before the crop resamples: Pillow's antialiased bilinear (transforms.Resize's default) or bicubic (InterpolationMode.BICUBIC), pixel for pixel as Pillow.",
                               discussion: "Default: what torchvision's weights declare when they are given by name (bicubic for EfficientNet's V1 weights), else bilinear, as finetune validates.",
                               valueName: "bilinear|bicubic"))
    public var interpolation: ResampleFilter?

    @Option(help: ArgumentHelp("Test-time augmentation: flip scores each image and its horizontal mirror and gives the mean of the two softmaxes (twice the model's work).",
                               discussion: "The mirror is of the preprocessed tensor, torch.flip(x, dims=[3]) on the normalized center crop; flipping the image before Resize and CenterCrop gives the same, but for a one-pixel shift where the crop's margin is odd. Both halves run as one batch of twice the images.",
                               valueName: "none|flip"))
    public var tta: TestTimeAugmentation = .none

    @Flag(help: "Also print the details on standard error: the image sizes taken from metrics.json, and each conv shape --conv auto decides, with its times.")
    public var verbose = false

    public init() {}

    public func validate() throws {
        try precision.validateOnThisCPU()
        if conv == .winograd && precision == .bf16 {
            throw ValidationError("--conv winograd is f32-only: with --precision bf16 every conv computes direct. Give one of them.")
        }
    }

    /// `--weights`, else resNet34.pth, else the single file of the current folder that finetune
    /// names (`Families.outputFileNames`: resNet18.pth, vgg16.pth...).
    public var weightsPath: String { Self.weightsPath(weights) }

    /// `given`, else resNet34.pth, else the single file of the current folder that finetune
    /// names (`Families.outputFileNames`: resNet18.pth, vgg16.pth...).
    public static func weightsPath(_ given: String?) -> String {
        if let w = given { return w }
        if FileManager.default.fileExists(atPath: "resNet34.pth") { return "resNet34.pth" }
        let found = ((try? FileManager.default.contentsOfDirectory(atPath: ".")) ?? [])
            .filter { Families.outputFileNames.contains($0) }.sorted()
        return found.count == 1 ? found[0] : "resNet34.pth"
    }

    /// `--top-k` as given; else the five most probable of ImageNet's 1000 classes, and every class otherwise.
    public static func topK(_ given: Int?, for predictor: Predictor) -> Int? {
        given ?? (predictor.usesKnownNames ? 5 : nil)
    }

    /// The model files the options name, found as predict finds them (see `ModelFiles.find`).
    public func files(warns: Bool = true) throws -> ModelFiles {
        try ModelFiles.find(weights: weights, classIndices: classIndices, imageSize: imageSize, resize: resize,
                            interpolation: interpolation, source: source, verbose: warns && verbose)
    }

    /// - Parameters:
    ///   - warns: print the notes about the weights (a removed prefix, missing class names;
    ///     with `--verbose` the size they were trained at and `--conv auto`'s choices); under
    ///     mpirun only rank 0 does, once for the job.
    ///   - defaultConv: the command's `--conv` when none is given (`.auto` for many images,
    ///     `.direct` for predict's one).
    public func makePredictor(warns: Bool = true, defaultConv: ConvolutionChoice = .direct) throws -> Predictor {
        try makePredictor(files: files(warns: warns), warns: warns, defaultConv: defaultConv)
    }

    /// The predictor of files already found (`files(warns:)`), so that they are found once.
    public func makePredictor(files: ModelFiles, warns: Bool = true, defaultConv: ConvolutionChoice = .direct) throws -> Predictor {
        let p = try Predictor(weights: files.weights, classIndices: files.classIndices, precision: precision, transform: files.transform,
                              allowObjects: read.allowObjects, readLimits: read.limits, knownNames: ImageNet.categories,
                              convolution: conv ?? defaultConv)
        p.tta = tta
        if warns, verbose { p.convolutionTuner?.log = { warn("--conv auto: " + $0) } }
        if warns { p.warnings.forEach { warn($0) } }
        return p
    }
}

/// What predict, batch_predict, evaluate and `graft export` load: the weights file, the
/// class_indices.json to name its classes, and the eval transform, found the same way for all.
public struct ModelFiles: Sendable {
    /// The .pth to load (for a weights name, the file in torch.hub's cache).
    public let weights: String
    /// torchvision's registry entry when the weights were given by name; nil for a file.
    public let named: TorchvisionWeights?
    /// The class_indices.json to read when it exists; nil for torchvision's weights by name
    /// (ImageNet's classes: another model's class_indices.json does not name them).
    public let classIndices: String?
    /// The eval transform: `--image-size`/`--resize`, else the named weights' registry entry,
    /// else the metrics.json beside the weights, else 256 / 224; resampled as `--interpolation`
    /// says, else as the named weights declare, else bilinear.
    public let transform: EvalTransform
    /// The metrics.json the transform's sizes came from, nil when they did not come from one.
    public let transformSource: String?

    public init(weights: String, named: TorchvisionWeights?, classIndices: String?, transform: EvalTransform, transformSource: String?) {
        self.weights = weights
        self.named = named
        self.classIndices = classIndices
        self.transform = transform
        self.transformSource = transformSource
    }

    /// - Parameters:
    ///   - weights: `--weights` (nil: resNet34.pth or the one model file finetune names here).
    ///   - classIndices: `--class-indices` (nil: `defaultClassIndices(weights:)`, unless the weights are named).
    ///   - verbose: say on standard error which sizes came from a metrics.json.
    public static func find(weights given: String?, classIndices: String?, imageSize: Int?, resize: Int?,
                            interpolation: ResampleFilter? = nil, source: WeightsSourceOptions, verbose: Bool) throws -> ModelFiles {
        let path = ModelOptions.weightsPath(given)
        if given == nil, !FileManager.default.fileExists(atPath: path) {
            throw PredictError.weightsNotFound(path: path,
                hint: "Train a model with finetune first (it writes resNet34.pth and class_indices.json here), or pass --weights FILE, or --weights resnet34 for torchvision's ImageNet model.")
        }
        let resolved = try source.resolve(path)
        let weights = resolved.path
        var (transform, metrics) = Self.transform(of: resolved, imageSize: imageSize, resize: resize)
        if let interpolation { transform.interpolation = interpolation }
        if verbose, let metrics, transform != EvalTransform() {
            warn("using --image-size \(transform.crop) --resize \(transform.resize), what \(metrics) says \(weights) was trained at")
        }
        // torchvision's weights are ImageNet's: the class_indices.json of another model does not name them.
        let indices = classIndices ?? (resolved.weights == nil ? Self.defaultClassIndices(weights: weights) : nil)
        return ModelFiles(weights: weights, named: resolved.weights, classIndices: indices, transform: transform, transformSource: metrics)
    }

    /// The class_indices.json to read without `--class-indices`: the one beside the weights when
    /// they are in another folder and it is a regular file there (the names written with them, as finetune's
    /// `--head keep` reads them), else the one in the current folder, where the tutorial's
    /// train.py and finetune write it.
    public static func defaultClassIndices(weights: String) -> String {
        let beside = URL(fileURLWithPath: weights).deletingLastPathComponent().appendingPathComponent("class_indices.json").path
        var st = stat()
        let regular = PathBytes.withCString(beside) { stat($0, &st) } == 0 && PathBytes.notRegular(st.st_mode) == nil
        return weights.contains("/") && regular ? beside : "class_indices.json"
    }

    /// The eval transform of resolved weights: the given sizes; else, for named weights, what
    /// torchvision's metadata declares; else what the metrics.json beside them recorded (its path
    /// comes back), else 256 / 224.
    public static func transform(of resolved: ResolvedWeights, imageSize: Int?, resize: Int?) -> (transform: EvalTransform, metrics: String?) {
        let (transform, metrics) = TrainedTransform.resolve(weights: resolved.path, imageSize: imageSize, resize: resize)
        guard let named = resolved.weights else { return (transform, metrics) }
        return (evalTransform(of: named, sized: imageSize == nil && resize == nil ? nil : transform), nil)
    }

    /// The eval transform torchvision's metadata gives named weights: their sizes (232 / 224 for
    /// the V2 weights), resampling (bicubic for EfficientNet's V1 weights) and statistics
    /// (efficientnet_v2_l's 0.5); `sized`'s sizes instead where `--image-size` or `--resize` gave them.
    public static func evalTransform(of named: TorchvisionWeights, sized: EvalTransform? = nil) -> EvalTransform {
        EvalTransform(resize: sized?.resize ?? named.resize, crop: sized?.crop ?? named.crop,
                      normalization: Normalization(mean: named.mean, std: named.std),
                      interpolation: named.interpolation == .bicubic ? .bicubic : .bilinear)
    }
}
