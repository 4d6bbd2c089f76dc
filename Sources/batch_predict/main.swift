import ArgumentParser
import CLISupport
import Foundation
import Inference

struct BatchPredict: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch_predict",
        abstract: "Classify every image in a folder, as the tutorial's batch_predict.py does (without its bugs).",
        discussion: """
            Reads every .jpg, .jpeg and .png (any case) in DIR, sorted by name, in batches; the last partial batch is included. Other files are skipped with a warning; an image that cannot be read is reported and the run goes on. The exit code is non-zero only when nothing could be predicted.

            Examples:
              batch_predict flower_data/val/roses
              batch_predict --recursive --csv predictions.csv flower_data/val
            """)

    @Argument(help: "The folder of images.")
    var dir: String

    @OptionGroup var model: ModelOptions

    @Option(help: "Images per forward pass.")
    var batchSize: Int = 8

    @Flag(help: "Also read images in subfolders.")
    var recursive = false

    @Flag(help: "One JSON object per image per line (predict's --json format).")
    var json = false

    @Option(help: ArgumentHelp("Write a CSV file (image,class,index,prob) instead of printing lines.", valueName: "file"))
    var csv: String?

    func validate() throws {
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if json && csv != nil { throw ValidationError("--json and --csv cannot be used together") }
    }

    func run() throws {
        try reportingErrors {
            let listing = try ImageList.scan(dir, recursive: recursive)
            listing.warnings.forEach { warn($0) }
            let images = listing.images
            guard !images.isEmpty else {
                warn("no images (.jpg, .jpeg, .png) in \(dir)\(recursive ? "" : "; use --recursive for subfolders")")
                throw ExitStatus.failure.exitCode
            }
            let predictor = try model.makePredictor()
            var rows: [String] = csv == nil ? [] : [PredictionOutput.csvHeader]
            var predicted = 0
            try predictor.predict(paths: images, batchSize: batchSize) { path, result in
                switch result {
                case .success(let p):
                    predicted += 1
                    if csv != nil { rows.append(PredictionOutput.csvRow(p, names: predictor.classNames)) }
                    else if json { print(PredictionOutput.json(p, names: predictor.classNames)) }
                    else { print(PredictionOutput.batchLine(p, names: predictor.classNames)) }
                case .failure(let e):
                    warn("\(e)")
                }
            }
            if let file = csv {
                try Data((rows.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: file), options: .atomic)
                warn("wrote \(predicted) predictions to \(file)")
            }
            if predicted == 0 { throw ExitStatus.failure.exitCode }
            if predicted < images.count { warn("\(images.count - predicted) of \(images.count) images could not be read") }
        }
    }
}

BatchPredict.main()
