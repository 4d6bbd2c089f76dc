import ArgumentParser
import CLISupport
import Cluster
import Foundation
import Imaging
import Inference

public struct BatchPredict: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: Invocation.name("batch_predict"),
        abstract: "Classify every image in a folder, as the tutorial's batch_predict.py does (without its bugs).",
        discussion: """
            Reads every .jpg, .jpeg and .png (any case) in DIR, sorted by name, in batches; the last partial batch is included. Other files are skipped with a warning; an image that cannot be read is reported and the run goes on. The exit code is non-zero only when nothing could be predicted.

            Examples:
              batch_predict flower_data/val/roses
              batch_predict --recursive --csv predictions.csv flower_data/val

            Under Open MPI (mpirun -np N batch_predict DIR ...), the sorted listing is cut into the batches one process would run, rank r predicts every N-th batch (r, r+N, ...), and rank 0 prints or writes every result in listing order: the output is byte for byte a single process's. Each rank uses its share of the cores (its binding, else the machine's CPUs divided by the ranks on it); rank 0 prints the choice once. An error on any rank stops the whole job with that rank's message.
            """,
        version: Invocation.version("batch_predict"))

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

    public func validate() throws {
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if json && csv != nil { throw ValidationError("--json and --csv cannot be used together") }
    }

    public init() {}

    public func run() throws {
        ConvolutionCacheSetting.useStandard()
        // Under mpirun: this rank's share of the cores for oneDNN (printed once). Decoding runs
        // on one background thread per process (BatchPipeline) whatever the share.
        let cluster = ClusterLaunch.start().cluster
        var status = ExitStatus.success
        try reportingErrors { status = try predictAll(cluster) }
        cluster.finalize()
        if status != .success { throw status.exitCode }
    }

    /// Predicts every image (under mpirun: this rank's share, rank 0 printing them all, in
    /// order) and returns the exit status, the same on every rank.
    func predictAll(_ cluster: Cluster) throws -> ExitStatus {
        let root = cluster.isRoot
        // The listing is rank 0's, sent to every rank, so that all of them split the same one.
        var images: [String] = []
        if root {
            if let file = csv { try OutputFile.check(file, option: "--csv") }  // before any work
            let listing = try ImageList.scan(dir, recursive: recursive)
            listing.warnings.forEach { warn($0) }
            images = listing.images
        }
        if cluster.isDistributed {
            images = PredictionShards.decode(listing: cluster.broadcast(PredictionShards.encode(listing: images)))
        }
        guard !images.isEmpty else {
            if root { warn("no images (.jpg, .jpeg, .png) in \(dir)\(recursive ? "" : "; use --recursive for subfolders")") }
            return .failure
        }
        // Named weights that are not a file: the first rank on each machine fetches them into
        // torch.hub's cache (downloading when missing) while the others wait in the barrier,
        // so that each machine downloads them once; then every rank loads them from there.
        // (Every rank takes part in the barrier, whatever its own options say.)
        if cluster.localRank == 0, let name = model.weights, !FileManager.default.fileExists(atPath: name) {
            _ = try model.source.resolve(name)
        }
        cluster.barrier()
        let predictor = try model.makePredictor(warns: root, defaultConv: .auto)

        var rows: [String] = csv == nil ? [] : [PredictionOutput.csvHeader]
        var predicted = 0
        let output = { (path: String, result: Result<Prediction, Error>) in
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
        if cluster.usesMPI {
            let shards = PredictionShards(rank: cluster.rank, size: cluster.size, total: images.count, batchSize: batchSize)
            try predictor.predict(shards: shards, paths: images, gather: { cluster.gather($0) },
                                  broadcast: { cluster.broadcast($0) }, result: output)
        } else {
            try predictor.predict(paths: images, batchSize: batchSize, result: output)
        }
        var status = ExitStatus.success
        if root {
            if let file = csv {
                // The file names' own bytes, also those that are not UTF-8 (PathBytes).
                try OutputFile.write(PathBytes.bytes(rows.joined(separator: "\n") + "\n"), to: file, option: "--csv")
                warn("wrote \(predicted) predictions to \(file)")
            }
            if predicted == 0 { status = .failure }
            else if predicted < images.count { warn("\(images.count - predicted) of \(images.count) images could not be read") }
        }
        // Every rank ends with rank 0's status.
        let code = cluster.broadcast([UInt8(status.rawValue)])
        return ExitStatus(rawValue: Int32(code.first ?? 1)) ?? .failure
    }
}
