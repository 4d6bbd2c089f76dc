import ArgumentParser
import CLISupport
import Checkpoint
import Foundation
import Hub
import Imaging
import Inference
import Models
import ONNX

/// `graft export --onnx model.onnx`: the model predict would load (the same weights,
/// class_indices.json and metrics.json, found the same way) as an ONNX file, from the same
/// graph Graft runs (`ONNXExport`).
public struct Export: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the model predict would load as an ONNX file, for ONNX Runtime, OpenVINO and the rest.",
        discussion: """
            The weights, class_indices.json and metrics.json are found as predict finds them: --weights (a .pth, or torchvision's weights by NAME[:VERSION]), else resNet34.pth or the one model file finetune names in the current folder; --class-indices, else class_indices.json there (ImageNet's names for torchvision's weights); the image size from --image-size, else the metrics.json beside the weights, else the named weights' own, else 224.

            The file is an ONNX model (IR 8, opset 17) of the same graph Graft runs: the input `image` is float32 [batch, 3, H, W], H = W = the eval transform's crop, RGB, normalised as the eval transform does (resize the shorter side, center crop, x / 255, then (x - mean) / std per channel); the batch is dynamic; the output `logits` is float32 [batch, classes] (softmax gives predict's probabilities). metadata_props holds class_names (a JSON list, in index order), eval_transform (a JSON object: resize, crop, interpolation, mean, std) and architecture. The file is written whole or not at all (a temporary file beside it, then renamed); an existing file at that path is replaced, and the command says so.

            Examples:
              graft export --onnx model.onnx
              graft export --weights resNet34.pth --class-indices class_indices.json --onnx flowers.onnx
              graft export --weights resnet18 --onnx resnet18.onnx
            """,
        version: Invocation.version("export"))

    @Option(help: ArgumentHelp("The ONNX file to write.", valueName: "file.onnx"))
    var onnx: String

    @Option(help: ArgumentHelp("The trained weights: a .pth from finetune or PyTorch, or torchvision's weights by NAME[:VERSION] (as predict's --weights).",
                               discussion: "Default: resNet34.pth in the current folder, or the one model file finetune names there (resNet*.pth, vgg*.pth...). "
                                   + WeightsSourceOptions.weightsDiscussion,
                               valueName: "file|name"))
    var weights: String?

    @Option(help: ArgumentHelp("Class names, as finetune writes them (default: class_indices.json; ImageNet's for torchvision's weights).",
                               valueName: "file"))
    var classIndices: String?

    @Option(help: ArgumentHelp("Side of the center crop: the model's input H and W (default: as predict's --image-size).",
                               discussion: "Default: what finetune trained the weights at, from the metrics.json beside them; for named weights, theirs; else 224."))
    var imageSize: Int?

    @Option(help: ArgumentHelp("Shorter side before the crop, recorded in the metadata (default: as predict's --resize)."))
    var resize: Int?

    @Flag(help: "Also print on standard error where the image size came from.")
    var verbose = false

    @OptionGroup(title: "Weights by name") var source: WeightsSourceOptions
    @OptionGroup(title: "Reading the weights") var read: ReadOptions

    public init() {}

    public func validate() throws {
        if let s = imageSize, s < 1 { throw ValidationError("--image-size must be at least 1") }
        if let r = resize, r < 1 { throw ValidationError("--resize must be at least 1") }
    }

    public func run() throws {
        try reportingErrors {
            // The output's folder is checked before anything is read or fetched.
            try OutputFile.check(onnx, option: "--onnx")
            let files = try ModelFiles.find(weights: weights, classIndices: classIndices, imageSize: imageSize, resize: resize,
                                            source: source, verbose: verbose)
            let replaces = FileManager.default.fileExists(atPath: onnx)
            let written = try ModelExport.onnx(files, options: read.loadOptions, to: onnx, warn: { warn($0) })
            warn("\(replaces ? "replaced" : "wrote") \(onnx): \(written.architecture), \(written.classes) classes, "
                 + "image [batch, 3, \(written.crop), \(written.crop)], opset \(ONNXExport.opsetVersion)")
        }
    }
}

/// What `graft export` does once it has found the files: the checkpoint read as predict reads
/// it, its architecture detected from its keys, and the ONNX model of that graph written.
public enum ModelExport {
    public enum Failure: Error, CustomStringConvertible, Equatable {
        /// The ONNX file would replace the weights it is made from.
        case outputIsTheWeights(path: String)

        public var description: String {
            switch self {
            case .outputIsTheWeights(let path):
                return "--onnx \(TerminalText.escaped(path)) is the weights file itself: give the ONNX file another name (model.onnx)."
            }
        }
    }

    /// What was written.
    public struct Summary: Equatable, Sendable {
        public let architecture: String
        public let classes: Int
        public let crop: Int
        public let bytes: Int
    }

    /// The ONNX model of `files` (serialized ModelProto) and what it holds.
    /// `warn` hears what predict would say about the weights (a removed prefix, missing class names).
    public static func onnxModel(_ files: ModelFiles, options: LoadOptions, warn: (String) -> Void) throws -> (model: Data, summary: Summary) {
        guard FileManager.default.fileExists(atPath: files.weights) else {
            throw PredictError.weightsNotFound(path: files.weights,
                hint: "Train a model with finetune first (it writes resNet34.pth and class_indices.json here), or pass --weights FILE.")
        }
        let ckpt = try Checkpoint(contentsOf: files.weights, options: options)
        if let p = ckpt.removedPrefix { warn("\(files.weights): removed the prefix '\(p)' from every key") }
        let stateDict = try ckpt.modelStateDict()
        let architecture = try Architecture.detect(stateDict)
        let names = try Predictor.classNames(classes: architecture.numClasses, weights: files.weights,
                                             classIndices: files.classIndices, knownNames: ImageNet.categories)
        if let w = names.warning { warn(w.replacingOccurrences(of: "printing class indices instead of names", with: "the metadata names the classes by their indices")) }
        let t = files.transform
        // The statistics as written (0.485, not 0.48500001430511475).
        func decimal(_ values: [Float]) -> [Double] { values.map { Double("\($0)") ?? Double($0) } }
        var metadata = ONNXExport.metadata(classNames: names.names, resize: t.resize, crop: t.crop, interpolation: t.interpolation.rawValue,
                                           mean: decimal(t.normalization.mean), std: decimal(t.normalization.std))
        metadata["architecture"] = architecture.name
        let model = try ONNXExport.model(graph: architecture.graph, stateDict: stateDict, imageSize: (height: t.crop, width: t.crop),
                                         metadata: metadata, producerVersion: GraftVersion.number)
        return (model, Summary(architecture: architecture.name, classes: architecture.numClasses, crop: t.crop, bytes: model.count))
    }

    /// Writes the ONNX model of `files` to `path`: checked first (`OutputFile`), written whole
    /// (a temporary file beside it, then renamed), never over the weights themselves.
    @discardableResult
    public static func onnx(_ files: ModelFiles, options: LoadOptions, to path: String, warn: (String) -> Void) throws -> Summary {
        try OutputFile.check(path, option: "--onnx")
        if FileManager.default.fileExists(atPath: files.weights),
           URL(fileURLWithPath: path).resolvingSymlinksInPath().standardizedFileURL
            == URL(fileURLWithPath: files.weights).resolvingSymlinksInPath().standardizedFileURL {
            throw Failure.outputIsTheWeights(path: path)
        }
        let (model, summary) = try onnxModel(files, options: options, warn: warn)
        try OutputFile.write([UInt8](model), to: path, option: "--onnx")
        return summary
    }
}
