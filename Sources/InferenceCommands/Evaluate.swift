import ArgumentParser
import CLISupport
import Foundation
import HTMLReport
import Imaging
import Inference

public struct Evaluate: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: Invocation.name("evaluate"),
        abstract: "Score a model on a labelled folder: accuracy, per-class precision, recall and F1, the confusion matrix.",
        discussion: """
            DIR holds one folder per class, as torchvision's ImageFolder reads it (DIR/<class>/..., subfolders included; hidden files and folders ignored). Folders are matched to the model's classes by name, through class_indices.json; a folder the model does not know is an error, and a model class with no folder has support 0. Files other than .jpg, .jpeg and .png are skipped with a warning; an image that cannot be read is reported and left out. The figures are scikit-learn's classification_report (zero_division 0).

            Examples:
              evaluate flower_data/val
              evaluate --weights resNet34.pth --class-indices class_indices.json --json flower_data/val
              evaluate --report val_report.html flower_data/val
            """,
        version: Invocation.version("evaluate"))

    @Argument(help: "The labelled folder: DIR/<class>/*.jpg.")
    var dir: String

    @OptionGroup var model: ModelOptions

    @Option(help: "Images per forward pass.")
    var batchSize: Int = 8

    @Flag(help: "Print one JSON object instead of the tables.")
    var json = false

    @Option(help: ArgumentHelp("Also write the report's evaluation parts as one self-contained page: the confusion matrix, the per-class figures and the 16 most confident mistakes as thumbnails.",
                               valueName: "file.html"))
    var report: String?

    public func validate() throws {
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
    }

    public init() {}

    public func run() throws {
        ConvolutionCacheSetting.useStandard()
        try reportingErrors {
            // The report's path is checked before the model is loaded and any image read.
            let result = try EvaluationRun.run(dir: dir, report: report, weights: model.weights ?? model.weightsPath,
                                               batchSize: batchSize, makePredictor: { try model.makePredictor(defaultConv: .auto) },
                                               warn: { warn($0) })
            if !result.unreadable.isEmpty {
                warn("\(result.unreadable.count) of \(result.images.count + result.unreadable.count) images could not be read and are left out")
            }
            print(json ? result.json() : result.text(), terminator: json ? "\n" : "")
            if let file = report { warn("wrote \(file)") }
        }
    }
}
