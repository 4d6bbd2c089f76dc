import Checkpoint
import Foundation

/// One epoch's figures, as printed and as saved in metrics.json.
public struct EpochMetrics: Codable, Equatable, Sendable {
    public var epoch: Int
    public var lr: Double
    public var trainLoss: Double
    public var valLoss: Double
    public var valAccuracy: Double
    public var seconds: Double
    public var imagesPerSecond: Double
    public var skippedImages: Int
}

/// metrics.json: the run's settings and per-epoch figures.
public struct MetricsReport: Codable {
    public var config: TrainConfig
    public var classes: [String]
    public var trainImages: Int
    public var valImages: Int
    public var bestValAccuracy: Double
    public var unreadableImages: [String]
    public var epochs: [EpochMetrics]
}

extension MetricsReport {
    /// Writes metrics.json atomically: snake-case keys, sorted, NaN and infinities of a
    /// diverged run as Python's json writes them.
    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.nonConformingFloatEncodingStrategy = ResumeState.nonFinite
        try TemporaryFile.write(encoder.encode(self), to: path)
    }

    /// What predict reads of a metrics.json: the model file it describes and the sizes that
    /// model was trained at (`config.output`, `config.image_size`, `config.resize`). Read on
    /// its own, so that a metrics.json of an older or newer Graft still gives them.
    public struct TrainedModel: Decodable, Sendable {
        public let output: String
        public let imageSize: Int
        public let resize: Int
    }

    /// The `TrainedModel` of the metrics.json at `url`, or nil when there is none or it says nothing usable.
    public static func trainedModel(at url: URL) -> TrainedModel? {
        struct Report: Decodable { let config: TrainedModel }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        guard let data = try? Data(contentsOf: url), let c = try? decoder.decode(Report.self, from: data).config,
              c.imageSize > 0, c.resize > 0 else { return nil }
        return c
    }
}
