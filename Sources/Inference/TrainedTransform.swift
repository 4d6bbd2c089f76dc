import Foundation
import Imaging

/// What predict reads of finetune's metrics.json: the model file it describes and the sizes
/// that model was validated at (`config.output`, `config.image_size`, `config.resize`: the val
/// crop and resize, not `config.train_crop`). Read on its own (not through Training's
/// `MetricsReport`, whose `trainedModel` is this), so that a metrics.json of an older or newer
/// Graft still gives them, and the inference commands need no training code to read it.
public struct TrainedModel: Decodable, Sendable {
    public let output: String
    public let imageSize: Int
    public let resize: Int
    /// The file's `classes`, in index order; nil when it has none, or not a list of names.
    public private(set) var classes: [String]?

    enum CodingKeys: String, CodingKey { case output, imageSize, resize }

    /// The `TrainedModel` of the metrics.json at `url`, or nil when there is none or it says nothing usable.
    public static func read(metrics url: URL) -> TrainedModel? {
        struct Report: Decodable { let config: TrainedModel }
        struct Names: Decodable { let classes: [String] }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        // Only a regular file (read unasked beside the weights: a named pipe there would block).
        guard let bytes = try? PathBytes.readRegularFile(url.path), case let data = Data(bytes),
              var c = try? decoder.decode(Report.self, from: data).config,
              c.imageSize > 0, c.resize > 0 else { return nil }
        c.classes = (try? JSONDecoder().decode(Names.self, from: data)).flatMap { $0.classes.isEmpty ? nil : $0.classes }
        return c
    }
}

/// The eval transform predict and batch_predict use for a weights file: what the user asked for,
/// else the image size finetune trained those weights at, else torchvision's 256 / 224.
///
/// finetune records its validation sizes (`--val-crop`/`--image-size` as `image_size`,
/// `--val-resize`/`--resize` as `resize`) in its metrics.json, and the training crop apart
/// (`train_crop`, never read here: a model trained on 176 crops is evaluated at 224). A model trained on
/// 32x32 crops and fed 224x224 ones predicts nonsense without any error, so when neither option
/// is given, the sizes come from the weights' own metrics file beside them: `<weights without
/// its extension>.metrics.json` (`a.pth` -> `a.metrics.json`, as finetune's `--metrics` can name
/// it, and as weights are kept together with theirs, the calibration's naming), else a
/// `metrics.json` that names the weights file as its output.
public enum TrainedTransform {
    /// `imageSize` and `resize` are the options as given (nil: not given). `source` is the
    /// metrics.json the sizes came from, or nil when they did not come from one.
    public static func resolve(weights: String, imageSize: Int?, resize: Int?) -> (transform: EvalTransform, source: String?) {
        if imageSize == nil && resize == nil, let t = recorded(weights: weights) {
            return (EvalTransform(resize: t.resize, crop: t.imageSize), t.metrics)
        }
        let crop = imageSize ?? 224
        return (EvalTransform(resize: resize ?? EvalTransform.defaultResize(crop: crop), crop: crop), nil)
    }

    /// The sizes in the weights' own metrics file (`ownMetrics`).
    static func recorded(weights: String) -> (imageSize: Int, resize: Int, metrics: String)? {
        ownMetrics(weights: weights).map { ($0.model.imageSize, $0.model.resize, $0.path) }
    }

    /// The weights' own metrics file, as the user would name it (relative when `weights` is):
    /// `<stem>.metrics.json` beside them, else the metrics.json beside them whose `config.output`
    /// is that file; nil when neither is there and readable.
    public static func metricsFile(weights: String) -> String? { ownMetrics(weights: weights)?.path }

    /// `metricsFile` and what it says (sizes and class names), read once.
    public static func ownMetrics(weights: String) -> (path: String, model: TrainedModel)? {
        let url = URL(fileURLWithPath: weights)
        let folder = url.deletingLastPathComponent()
        let stem = url.pathExtension.isEmpty ? url.lastPathComponent : url.deletingPathExtension().lastPathComponent
        func shown(_ name: String) -> String { weights.contains("/") ? folder.appendingPathComponent(name).path : name }
        if let c = TrainedModel.read(metrics: folder.appendingPathComponent(stem + ".metrics.json")) { return (shown(stem + ".metrics.json"), c) }
        guard let c = TrainedModel.read(metrics: folder.appendingPathComponent("metrics.json")),
              (c.output as NSString).lastPathComponent == url.lastPathComponent else { return nil }
        return (shown("metrics.json"), c)
    }
}
