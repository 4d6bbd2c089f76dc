import Checkpoint
import Dispatch
import Engine
import Foundation
import HTMLReport
import Inference
import Models

/// One model of a `graft compare`: where its run is and what it measured.
public struct ComparisonEntry: Codable, Equatable, Sendable {
    /// `--weights` as given for it (a name, NAME:VERSION, a file, or none).
    public var weights: String
    /// The architecture (`mobilenet_v3_large`).
    public var model: String
    /// Its folder: the model file, class_indices.json, metrics.json and report.html, as finetune writes them.
    public var folder: String
    public var file: String
    public var bestValAccuracy: Double
    public var bestEpoch: Int?
    /// Epochs trained (fewer than asked when early stopping ended the run).
    public var epochs: Int
    /// Training's wall time: the epochs' seconds, validation included.
    public var trainSeconds: Double
    /// Training images per second of training time, over the whole run.
    public var trainImagesPerSecond: Double
    /// Inference (f32, the saved model, batch 32 at the training image size): images per second, median of runs.
    public var inferenceImagesPerSecond: Double
    /// One image alone: milliseconds, median of runs.
    public var latencyMilliseconds: Double
    /// Weights and biases (not batch norms' running statistics).
    public var parameters: Int
    public var fileBytes: Int

    enum CodingKeys: String, CodingKey {
        case weights, model, folder, file, bestValAccuracy = "best_val_accuracy", bestEpoch = "best_epoch", epochs
        case trainSeconds = "train_seconds", trainImagesPerSecond = "train_images_per_second"
        case inferenceImagesPerSecond = "inference_images_per_second", latencyMilliseconds = "latency_milliseconds"
        case parameters, fileBytes = "file_bytes"
    }
}

/// What compare reads of a finished run's metrics.json: the saved model's file, the classes, the
/// per-epoch figures and the best epoch's confusion matrix (read on their own, so that the rest
/// of metrics.json may grow).
public struct RunFigures: Decodable, Sendable {
    public struct Epoch: Decodable, Sendable {
        public var epoch: Int, trainLoss: Double, valLoss: Double, valAccuracy: Double, seconds: Double, imagesPerSecond: Double
        enum CodingKeys: String, CodingKey {
            case epoch, trainLoss = "train_loss", valLoss = "val_loss", valAccuracy = "val_accuracy", seconds, imagesPerSecond = "images_per_second"
        }
    }
    public struct Best: Decodable, Sendable {
        public var epoch: Int, confusionMatrix: [[Int]]
        enum CodingKeys: String, CodingKey { case epoch, confusionMatrix = "confusion_matrix" }
    }
    struct Config: Decodable, Sendable { var output: String }
    public var classes: [String]
    public var bestValAccuracy: Double
    public var epochs: [Epoch]
    public var bestEpochEvaluation: Best?
    var config: Config
    public var output: String { config.output }
    enum CodingKeys: String, CodingKey {
        case classes, bestValAccuracy = "best_val_accuracy", epochs, bestEpochEvaluation = "best_epoch_evaluation", config
    }
}

/// A `graft compare` run's record (`compare.json`), rewritten after each model: which models in
/// which order, with which settings, and the entries of those finished. A rerun with the same
/// settings continues from it.
public struct ComparisonRecord: Codable, Equatable, Sendable {
    public static let formatName = "graft-compare", currentVersion = 1
    public var format = ComparisonRecord.formatName
    public var version = ComparisonRecord.currentVersion
    /// The recipe every model shares (its weights and output paths left out), as JSON: a rerun
    /// must ask for the same.
    public var settings: String
    public var data: String
    public var weights: [String]
    public var imageSize: Int
    public var done: [ComparisonEntry]

    enum CodingKeys: String, CodingKey { case format, version, settings, data, weights, imageSize = "image_size", done }

    public init(settings: String, data: String, weights: [String], imageSize: Int, done: [ComparisonEntry] = []) {
        self.settings = settings; self.data = data; self.weights = weights; self.imageSize = imageSize; self.done = done
    }
}

public enum ComparisonError: Error, CustomStringConvertible, Equatable {
    case noModels
    case repeated(String)
    case otherSettings(folder: String)
    case unreadableRecord(path: String, why: String)
    case optionPerModel(String)
    case unreadableFigures(path: String)

    public var description: String {
        switch self {
        case .noModels: return "--weights names no model: give a comma-separated list, e.g. --weights resnet18,mobilenet_v3_large"
        case .repeated(let w): return "--weights names \(w) twice: each model once"
        case .otherSettings(let folder):
            return "\(folder) holds a comparison with other settings (another recipe, data or list of models): give another --out-dir, or remove \(folder) to start again"
        case let .unreadableRecord(path, why): return "\(path) is not a comparison record Graft can continue (\(why)): remove it, or give another --out-dir"
        case .optionPerModel(let o): return "\(o) is per model in graft compare: each model's files go in its folder under --out-dir"
        case .unreadableFigures(let path):
            return "\(path) is missing or not a finished run's metrics.json, yet compare.json lists its model as done: remove that model's entry from compare.json (or the whole --out-dir) to train it again"
        }
    }
}

/// `graft compare`: fine-tunes each model with the same recipe, split and seed, one after another,
/// each in its folder as finetune writes it, then measures it; one table, `compare.json` and
/// `compare.html` (curves overlaid, the table, each model's confusion matrix).
public enum Comparison {
    /// The folder name of a `--weights` entry: a name as it is (`resnet18`, `resnet50-IMAGENET1K_V2`
    /// for `resnet50:IMAGENET1K_V2`), a file by its stem; anything but letters, digits, `.`, `_`
    /// and `-` becomes `-`.
    public static func folderName(_ weights: String) -> String {
        var stem = weights
        if weights.contains("/") || weights.hasSuffix(".pth") || weights.hasSuffix(".pt") || weights.hasSuffix(".tar") {
            stem = URL(fileURLWithPath: weights).deletingPathExtension().lastPathComponent
        }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        let name = String(stem.map { allowed.contains($0) ? $0 : "-" })
        return name.isEmpty || name.allSatisfy({ $0 == "." }) ? "model" : name
    }

    /// The `--weights` list: comma-separated, trimmed, each once.
    public static func models(_ list: String) throws -> [String] {
        let names = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !names.isEmpty else { throw ComparisonError.noModels }
        var seen = Set<String>()
        for n in names where !seen.insert(n).inserted { throw ComparisonError.repeated(n) }
        return names
    }

    /// Each model's folder under `root`, distinct (`-2`, `-3` after a repeated stem).
    public static func folders(_ weights: [String], root: String) -> [String] {
        var used: [String: Int] = [:]
        return weights.map { w in
            let base = folderName(w)
            let n = (used[base] ?? 0) + 1
            used[base] = n
            return (root.hasSuffix("/") ? root : root + "/") + (n == 1 ? base : "\(base)-\(n)")
        }
    }

    public static func recordPath(_ root: String) -> String { (root.hasSuffix("/") ? root : root + "/") + "compare.json" }

    /// The record in `root`, nil when there is none.
    public static func readRecord(_ root: String) throws -> ComparisonRecord? {
        let path = recordPath(root)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else { throw ComparisonError.unreadableRecord(path: path, why: "cannot be read") }
        let record: ComparisonRecord
        do { record = try JSONDecoder.pythonFloats.decode(ComparisonRecord.self, from: data) } catch {
            throw ComparisonError.unreadableRecord(path: path, why: "not a compare.json (truncated?)")
        }
        guard record.format == ComparisonRecord.formatName, record.version == ComparisonRecord.currentVersion else {
            throw ComparisonError.unreadableRecord(path: path, why: "format \(record.format) version \(record.version)")
        }
        return record
    }

    public static func write(_ record: ComparisonRecord, root: String) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = ResumeState.nonFinite
        try TemporaryFile.write(e.encode(record), to: recordPath(root))
    }

    /// Whether `folder` holds an interrupted run to continue (finetune's resume point).
    public static func hasResumePoint(_ folder: String) -> Bool {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).contains { $0.hasSuffix(".resume.json") }
    }

    /// The settings a comparison shares: the config without the per-model weights and paths,
    /// and without the decoding threads (which change no result).
    public static func settings(_ config: TrainConfig) -> String {
        var c = config
        c.weights = nil; c.output = ""; c.classIndices = ""; c.metrics = ""; c.workers = 0
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return String(decoding: (try? e.encode(c)) ?? Data(), as: UTF8.self)
    }

    /// Inference of the saved model, f32, random images of `size`: images per second at batch
    /// 32 (median of 5 batches after one unmeasured) and one image's milliseconds (median of 9).
    public static func measure(_ model: InferenceModel, size: Int) throws -> (imagesPerSecond: Double, latencyMilliseconds: Double) {
        func seconds(batch: Int, runs: Int) throws -> Double {
            var state: UInt64 = 7
            let images = (0..<(batch * 3 * size * size)).map { _ -> Float in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return Float(state >> 40) / Float(1 << 24) * 2 - 1
            }
            _ = try model.logits(images: images, batch: batch, height: size, width: size)
            var times: [Double] = []
            for _ in 0..<runs {
                let t0 = DispatchTime.now().uptimeNanoseconds
                _ = try model.logits(images: images, batch: batch, height: size, width: size)
                times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            }
            return times.sorted()[runs / 2]
        }
        let b32 = try seconds(batch: 32, runs: 5)
        let b1 = try seconds(batch: 1, runs: 9)
        return (32 / b32, b1 * 1000)
    }

    /// The entry of a finished run: its metrics.json, its model file measured.
    public static func entry(weights: String, folder: String, metrics: RunFigures, imageSize: Int) throws -> ComparisonEntry {
        let file = metrics.output
        let sd = try Checkpoint(contentsOf: file).stateDict
        let model = try InferenceModel(stateDict: sd)
        let speed = try measure(model, size: imageSize)
        let parameters = model.architecture.graph.nodes.flatMap { n in
            n.op.tensors.filter { ["weight", "bias"].contains($0.name) }.map { $0.shape.reduce(1, *) }
        }.reduce(0, +)
        let bytes = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
        let seconds = metrics.epochs.map(\.seconds).reduce(0, +)
        let trained = metrics.epochs.map { $0.seconds * $0.imagesPerSecond }.reduce(0, +)
        let best = metrics.epochs.first { $0.valAccuracy == metrics.bestValAccuracy }?.epoch
        return ComparisonEntry(weights: weights, model: model.name, folder: folder, file: file, bestValAccuracy: metrics.bestValAccuracy,
                               bestEpoch: metrics.bestEpochEvaluation?.epoch ?? best, epochs: metrics.epochs.count,
                               trainSeconds: seconds, trainImagesPerSecond: seconds > 0 ? trained / seconds : 0,
                               inferenceImagesPerSecond: speed.imagesPerSecond, latencyMilliseconds: speed.latencyMilliseconds,
                               parameters: parameters, fileBytes: bytes)
    }

    /// The table for people: one row per model, columns aligned.
    public static func table(_ entries: [ComparisonEntry]) -> String {
        let header = ["model", "weights", "best val acc", "epoch", "epochs", "train s", "train img/s", "infer img/s (b32)", "latency ms (b1)", "params (M)", "file (MB)"]
        let rows = entries.map { e in
            [e.model, e.weights, String(format: "%.4f", e.bestValAccuracy), e.bestEpoch.map(String.init) ?? "-", "\(e.epochs)",
             String(format: "%.1f", e.trainSeconds), String(format: "%.1f", e.trainImagesPerSecond),
             String(format: "%.1f", e.inferenceImagesPerSecond), String(format: "%.2f", e.latencyMilliseconds),
             String(format: "%.2f", Double(e.parameters) / 1e6), String(format: "%.1f", Double(e.fileBytes) / 1e6)]
        }
        let widths = header.indices.map { i in ([header] + rows).map { $0[i].count }.max() ?? 0 }
        return ([header] + rows).map { r in
            r.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n")
    }

    /// The entries as JSON for scripts (`--json`): snake-case keys, sorted.
    public static func json(_ entries: [ComparisonEntry]) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = ResumeState.nonFinite
        return String(decoding: try e.encode(entries), as: UTF8.self)
    }

    static let colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

    /// compare.html: one file, no scripts: the table, the curves of every model overlaid (val
    /// accuracy, train loss, val loss, training images/s), each model's confusion matrix at its
    /// best epoch. `metrics`: each finished model's metrics.json, in the entries' order.
    public static func html(_ record: ComparisonRecord, metrics: [RunFigures]) -> String {
        let e = HTMLText.escape
        let entries = record.done
        var body = "<section id=\"table\">\n<h2>The models</h2>\n"
        body += "<p>Each trained with the same recipe, split and seed on \(HTMLText.name(record.data, wrap: true)), in its folder under \(HTMLText.name(((record.done.first?.folder ?? ".") as NSString).deletingLastPathComponent, wrap: true)); inference: f32, the saved model, random images of \(record.imageSize)x\(record.imageSize).</p>\n"
        body += "<table class=\"epochs\">\n<tr><th>model</th><th>weights</th><th>best val accuracy</th><th>best epoch</th><th>epochs</th><th>training s</th><th>training images/s</th><th>inference images/s (batch 32)</th><th>latency ms (1 image)</th><th>parameters</th><th>file MB</th></tr>\n"
        let best = entries.map(\.bestValAccuracy).max()
        for x in entries {
            let cls = x.bestValAccuracy == best ? " class=\"best\"" : ""
            body += "<tr\(cls)><td class=\"name\">\(e(x.model))</td><td class=\"name\">\(HTMLText.name(x.weights))</td><td>\(String(format: "%.4f", x.bestValAccuracy))</td><td>\(x.bestEpoch.map(String.init) ?? "-")</td><td>\(x.epochs)</td>"
            body += "<td>\(String(format: "%.1f", x.trainSeconds))</td><td>\(String(format: "%.1f", x.trainImagesPerSecond))</td><td>\(String(format: "%.1f", x.inferenceImagesPerSecond))</td>"
            body += "<td>\(String(format: "%.2f", x.latencyMilliseconds))</td><td>\(x.parameters)</td><td>\(String(format: "%.1f", Double(x.fileBytes) / 1e6))</td></tr>\n"
        }
        let pending = record.weights.dropFirst(entries.count)
        if !pending.isEmpty { body += "</table>\n<p class=\"note\">Still to run: \(pending.map { HTMLText.name($0) }.joined(separator: ", ")).</p>\n</section>\n" }
        else { body += "</table>\n</section>\n" }

        body += "<section id=\"curves\">\n<h2>Curves</h2>\n<div class=\"charts\">\n"
        let longest = metrics.map(\.epochs.count).max() ?? 0
        let x = Array(1...max(longest, 1))
        func series(_ value: (RunFigures.Epoch) -> Double) -> [SVGChart.Series] {
            zip(entries, metrics).enumerated().map { i, pair in
                SVGChart.Series(name: pair.0.model, values: pair.1.epochs.map(value), color: colors[i % colors.count])
            }
        }
        let charts: [(String, String, (RunFigures.Epoch) -> Double)] = [
            ("chart-accuracy", "val accuracy", { $0.valAccuracy }), ("chart-train-loss", "train loss", { $0.trainLoss }),
            ("chart-val-loss", "val loss", { $0.valLoss }), ("chart-speed", "training images/s", { $0.imagesPerSecond })]
        for (id, title, value) in charts {
            body += "<figure id=\"\(id)\">\n\(SVGChart(title: title, epochs: x, series: series(value), best: nil).svg)\n</figure>\n"
        }
        body += "</div>\n</section>\n"
        for (i, (entry, m)) in zip(entries, metrics).enumerated() {
            guard let b = m.bestEpochEvaluation else { continue }
            var labels: [Int] = [], predictions: [Int] = []
            for (t, row) in b.confusionMatrix.enumerated() { for (p, n) in row.enumerated() { for _ in 0..<n { labels.append(t); predictions.append(p) } } }
            let report = try? ClassificationReport(classNames: m.classes, labels: labels, predictions: predictions)
            body += ReportPage.confusionSection(report, heading: "\(entry.model): confusion matrix at epoch \(b.epoch)")
                .replacingOccurrences(of: "<section id=\"confusion\">", with: "<section id=\"confusion-\(i + 1)\" class=\"confusion\">")
        }
        return ReportPage.page(title: "Graft compare: \(HTMLText.isolated(record.data))", heading: "Graft compare",
                               subtitle: HTMLText.name(record.data, wrap: true) + e(": \(entries.count) of \(record.weights.count) models"),
                               body: body)
    }

    public static func pagePath(_ root: String) -> String { (root.hasSuffix("/") ? root : root + "/") + "compare.html" }

    /// Writes compare.html (`html`) in `root`, atomically.
    public static func writePage(_ record: ComparisonRecord, metrics: [RunFigures], root: String) throws {
        try TemporaryFile.write(Data(html(record, metrics: metrics).utf8), to: pagePath(root))
    }

    /// A finished run's metrics.json.
    public static func readMetrics(_ path: String) throws -> RunFigures {
        guard let data = FileManager.default.contents(atPath: path),
              let figures = try? JSONDecoder.pythonFloats.decode(RunFigures.self, from: data) else {
            throw ComparisonError.unreadableFigures(path: path)
        }
        return figures
    }
}

extension JSONDecoder {
    /// NaN and infinities as Python's json writes them (metrics.json, compare.json).
    static var pythonFloats: JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return d
    }
}
