import ArgumentParser
import CLISupport
import Foundation
import Inference
import Training
import Checkpoint

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Score a model on a labelled folder: accuracy, per-class precision, recall and F1, the confusion matrix.",
        discussion: """
            DIR holds one folder per class, as torchvision's ImageFolder reads it (DIR/<class>/..., subfolders included; hidden files and folders ignored). Folders are matched to the model's classes by name, through class_indices.json; a folder the model does not know is an error, and a model class with no folder has support 0. Files other than .jpg, .jpeg and .png are skipped with a warning; an image that cannot be read is reported and left out. The figures are scikit-learn's classification_report (zero_division 0).

            Examples:
              evaluate flower_data/val
              evaluate --weights resNet34.pth --class-indices class_indices.json --json flower_data/val
              evaluate --report val_report.html flower_data/val
            """)

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

    func validate() throws {
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
    }

    func run() throws {
        ConvolutionCacheSetting.useStandard()
        try reportingErrors {
            let predictor = try model.makePredictor(defaultConv: .auto)
            let result = try Evaluation.run(dir: dir, predictor: predictor, batchSize: batchSize, warn: { warn($0) })
            if !result.unreadable.isEmpty {
                warn("\(result.unreadable.count) of \(result.images.count + result.unreadable.count) images could not be read and are left out")
            }
            print(json ? result.json() : result.text(), terminator: json ? "\n" : "")
            if let file = report {
                let page = EvaluationPage.html(folder: dir, weights: model.weights ?? model.weightsPath, evaluation: result,
                                               thumbnail: ReportWriter(path: file).thumbnail)
                try TemporaryFile.write(Data(page.utf8), to: file)
                warn("wrote \(file)")
            }
        }
    }
}

Evaluate.main()
