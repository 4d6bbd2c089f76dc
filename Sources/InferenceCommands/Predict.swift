import ArgumentParser
import CLISupport
import Foundation
import Imaging
import Inference

public struct Predict: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: Invocation.name("predict"),
        abstract: "Classify images with a fine-tuned model (ResNet, VGG, MobileNet), as the tutorial's predict.py does.",
        discussion: """
            Prints, for each image, a line per class in index order (or the top K) and then the top class, in predict.py's format. Images are turned upright by their EXIF orientation and preprocessed exactly as torchvision's eval transform (Resize(256), CenterCrop(224), ToTensor, Normalize) does with PIL.

            Examples:
              predict tulip.jpg
              predict --top-k 3 a.jpg b.png
              predict --json --weights resNet34.pth --class-indices class_indices.json *.jpg
            """,
        version: Invocation.version("predict"))

    @Argument(help: "JPEG or PNG images.")
    var images: [String]

    @OptionGroup var model: ModelOptions

    @Option(help: "Show only the K most probable classes (default: all; 5 for a model named with ImageNet's classes).")
    var topK: Int?

    @Flag(help: "One JSON object per image per line: image, class, index, prob, probs.")
    var json = false

    public func validate() throws {
        if let k = topK, k < 1 { throw ValidationError("--top-k must be at least 1") }
    }

    public init() {}

    public func run() throws {
        ConvolutionCacheSetting.useStandard()
        try reportingErrors {
            let predictor = try model.makePredictor(defaultConv: .direct)
            let topK = ModelOptions.topK(self.topK, for: predictor)
            var failed = 0
            try predictor.predict(paths: images, batchSize: 8) { path, result in
                switch result {
                case .success(let p):
                    if json {
                        print(PredictionOutput.json(p, names: predictor.classNames))
                    } else {
                        if images.count > 1 { print("image: \(TerminalText.escaped(path))") }
                        print(PredictionOutput.text(p, names: predictor.classNames, topK: topK))
                    }
                case .failure(let e):
                    failed += 1
                    warn("\(e)")
                }
            }
            if failed > 0 { throw ExitStatus.failure.exitCode }
        }
    }
}
