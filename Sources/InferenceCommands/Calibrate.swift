import ArgumentParser
import CLISupport
import Foundation
import Imaging
import Inference
import Models

extension Calibration.Method: ExpressibleByArgument {}

/// `graft calibrate --weights W --images DIR`: the activations' ranges `--precision int8` needs,
/// written beside the weights (`CalibrationRun`).
public struct Calibrate: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Record the activations' ranges of a model on sample images, for predict, batch_predict and evaluate's --precision int8.",
        discussion: """
            Runs the model in f32 (batch norms folded, as predict runs it) over --count images of DIR (.jpg, .jpeg, .png, subfolders included, taken from each subfolder in turn so that every class is sampled: the first image of each, then the second...; an image that cannot be read is skipped and the next one taken), each through the eval transform predict uses (--image-size/--resize, else the metrics.json beside the weights, else 256/224), records the range of every activation and writes them to <weights without .pth>.calibration.json beside the weights, where --precision int8 finds them. The same images give the same file. The file names the weights' sha256: after the weights change, int8 refuses it until you calibrate again.

            Use images like those the model will classify (its training folder is the usual choice); a few hundred are enough. The activations' scales are their largest magnitude seen (--method max, the default: on this project's held-back set it kept every top class of f32 with less error in the logits than --method percentile, the 99.99th percentile, or --method kl, TensorRT's entropy calibration).

            Examples:
              graft calibrate --weights resNet34.pth --images flower_data/train
              graft calibrate --weights resnet50 --images imagenet_sample --count 200
            """,
        version: Invocation.version("calibrate"))

    @Option(help: ArgumentHelp("The weights to calibrate: a .pth from finetune or PyTorch, or torchvision's weights by NAME[:VERSION] (as predict's --weights).",
                               discussion: "Default: resNet34.pth in the current folder, or the one model file finetune names there. " + WeightsSourceOptions.weightsDiscussion,
                               valueName: "file|name"))
    var weights: String?

    @Option(help: ArgumentHelp("A folder of images like those the model will see (subfolders included).", valueName: "dir"))
    var images: String

    @Option(help: "How many images to run (taken from each subfolder in turn: every class is sampled).")
    var count: Int = 500

    @Option(help: "Images per forward pass.")
    var batchSize: Int = 32

    @Option(help: ArgumentHelp("How each activation's scale is chosen: max (its largest magnitude), percentile (its 99.99th percentile of magnitudes) or kl (the threshold whose 8-bit levels keep its distribution best: the smallest KL divergence, as TensorRT and OpenVINO calibrate; the images keep their full range). The file records the method; int8 uses it.",
                               valueName: "max|percentile|kl"))
    var method: Calibration.Method = .max

    @Option(help: ArgumentHelp("Side of the center crop (as predict's --image-size).",
                               discussion: "Default: what finetune trained the weights at, from the metrics.json beside them; for named weights, theirs; else 224."))
    var imageSize: Int?

    @Option(help: ArgumentHelp("Shorter side before the crop (as predict's --resize)."))
    var resize: Int?

    @OptionGroup(title: "Weights by name") var source: WeightsSourceOptions
    @OptionGroup(title: "Reading the weights") var read: ReadOptions

    public init() {}

    public func validate() throws {
        if count < 1 { throw ValidationError("--count must be at least 1") }
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if let s = imageSize, s < 1 { throw ValidationError("--image-size must be at least 1") }
        if let r = resize, r < 1 { throw ValidationError("--resize must be at least 1") }
    }

    public func run() throws {
        try reportingErrors {
            let listing = try CalibrationRun.images(in: images)
            listing.loops.forEach { warn($0) }
            guard !listing.images.isEmpty else { throw ValidationError(CalibrationRun.noImages(images)) }
            let files = try ModelFiles.find(weights: weights, classIndices: nil, imageSize: imageSize, resize: resize, source: source, verbose: false)
            let result = try CalibrationRun.run(weights: files.weights, images: listing.images,
                                                count: count, batchSize: batchSize, method: method,
                                                transform: files.transform, loadOptions: read.loadOptions)
            for (path, error) in result.unreadable { warn("\(TerminalText.escaped(path)): \(error) (skipped)") }
            if result.used.count < count {
                warn("\(images) has \(result.used.count) readable images, fewer than --count \(count): calibrated on those")
            }
            warn("wrote \(result.path): \(result.calibration.model), \(result.used.count) images at \(files.transform.crop)x\(files.transform.crop), "
                 + "\(result.calibration.values.count) activations, method \(result.calibration.method.rawValue)")
        }
    }
}
