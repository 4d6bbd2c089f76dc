import ArgumentParser
import Checkpoint
import Foundation
import Imaging
import Inference
import ResNet
import Training

extension Precision: ExpressibleByArgument {}

/// The options predict and batch_predict share: which weights, which names, which arithmetic.
public struct ModelOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The trained weights (a .pth from finetune or PyTorch).",
                               discussion: "Default: resNet34.pth in the current folder, or the one resNet*.pth there.",
                               valueName: "file"))
    public var weights: String?

    @OptionGroup public var read: ReadOptions

    @Option(help: ArgumentHelp("Class names, as finetune and the tutorial's train.py write them.", valueName: "file"))
    public var classIndices: String = "class_indices.json"

    @Option(help: Precision.help("oneDNN's bfloat16 kernels, float32 accumulation; probabilities within ~1e-2 of f32's."))
    public var precision: Precision = .f32

    @Option(help: ArgumentHelp("Side of the center crop the model sees (finetune's --image-size).",
                               discussion: "Default: what finetune trained the weights at, from the metrics.json beside them; else 224."))
    public var imageSize: Int?

    @Option(help: ArgumentHelp("Shorter side before the crop (finetune's --resize).",
                               discussion: "Default: as for --image-size; else 256 for 224, scaled with --image-size."))
    public var resize: Int?

    public init() {}

    public func validate() throws {
        try precision.validateOnThisCPU()
    }

    /// `--weights`, else resNet34.pth, else the single resNet*.pth of the current folder.
    public var weightsPath: String {
        if let w = weights { return w }
        if FileManager.default.fileExists(atPath: "resNet34.pth") { return "resNet34.pth" }
        let found = ((try? FileManager.default.contentsOfDirectory(atPath: ".")) ?? [])
            .filter { $0.hasPrefix("resNet") && $0.hasSuffix(".pth") && !$0.hasSuffix(".resume.pth") }.sorted()
        return found.count == 1 ? found[0] : "resNet34.pth"
    }

    public func makePredictor() throws -> Predictor {
        let weights = weightsPath
        let (transform, source) = TrainedTransform.resolve(weights: weights, imageSize: imageSize, resize: resize)
        if let source, transform != EvalTransform() {
            warn("using --image-size \(transform.crop) --resize \(transform.resize), what \(source) says \(weights) was trained at")
        }
        let p = try Predictor(weights: weights, classIndices: classIndices, precision: precision, transform: transform,
                              allowObjects: read.allowObjects, readLimits: read.limits)
        p.warnings.forEach { warn($0) }
        return p
    }
}
