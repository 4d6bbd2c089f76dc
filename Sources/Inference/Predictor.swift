import Checkpoint
import Foundation
import Imaging
import Engine
import Models

/// One image's result: the softmax over every class, in class-index order.
public struct Prediction: Sendable {
    public let image: String
    public let probs: [Float]
    public init(image: String, probs: [Float]) {
        self.image = image
        self.probs = probs
    }

    public var index: Int { probs.indices.max { probs[$0] < probs[$1] } ?? 0 }   // first maximum, as torch.argmax
    public var prob: Float { probs[index] }

    /// Class indices by falling probability (ties keep index order), the first `k`.
    public func top(_ k: Int) -> [Int] {
        Array(probs.indices.sorted { probs[$0] > probs[$1] || (probs[$0] == probs[$1] && $0 < $1) }.prefix(k))
    }
}

public enum PredictError: Error, CustomStringConvertible {
    case classCountMismatch(weights: String, classes: Int, indices: String, names: Int)
    case weightsNotFound(path: String, hint: String)

    public var description: String {
        switch self {
        case let .classCountMismatch(weights, classes, indices, names):
            return "\(weights) has \(classes) classes but \(indices) names \(names). Pass the class_indices.json written with these weights (--class-indices)."
        case let .weightsNotFound(path, hint):
            return "\(path): no such file. \(hint)"
        }
    }
}

/// The trained model and its class names, as predict.py loads them, and predictions through
/// the batched, overlapped pipeline of decoding and inference (`BatchPipeline`).
public final class Predictor {
    /// The model; a `finetune --head append` file runs with its appended Linear.
    public let model: InferenceModel
    public let classNames: [String]
    public var numClasses: Int { model.numClasses }
    public let transform: EvalTransform
    /// Test-time augmentation (`--tta`): with `.flip`, each image's probabilities are the mean
    /// of its own and its mirror's, both run in one batch of twice the images.
    public var tta: TestTimeAugmentation = .none
    /// Notes for the user (prefix removed, class names missing...).
    public private(set) var warnings: [String] = []

    /// With `convolution: .auto`: what it measured and chose per conv shape.
    public let convolutionTuner: ConvolutionTuner?

    /// Whether the names are `knownNames` (ImageNet's for a 1000-class model) because there was
    /// no class_indices.json.
    public let usesKnownNames: Bool

    /// - Parameters:
    ///   - allowObjects: also read a whole pickled model (`torch.save(model)`), its classes
    ///     taken as inert data (`--allow-objects`).
    ///   - knownNames: names for a model with as many classes when there is no class_indices.json
    ///     (ImageNet's 1000, for torchvision's own weights).
    ///   - convolution: how the 3x3 stride-1 convs compute (f32): `.direct` (PyTorch's
    ///     arithmetic), `.winograd`, or `.auto` (the faster of the two per shape, measured the
    ///     first time a shape is met; `convolutionTuner` has the choices).
    public init(weights: String, classIndices: String?, precision: Precision = .f32,
                transform: EvalTransform = EvalTransform(), allowObjects: Bool = false,
                readLimits: ReadLimits = ReadLimits(), knownNames: [String]? = nil,
                convolution: ConvolutionChoice = .direct) throws {
        guard FileManager.default.fileExists(atPath: weights) else {
            throw PredictError.weightsNotFound(path: weights,
                hint: "Train a model with finetune first (it writes resNet34.pth and class_indices.json here), or pass --weights FILE.")
        }
        let ckpt = try Checkpoint(contentsOf: weights, options: .torchvisionModel(allowObjects: allowObjects, limits: readLimits))
        if let p = ckpt.removedPrefix { warnings.append("\(weights): removed the prefix '\(p)' from every key") }
        convolutionTuner = convolution == .auto ? ConvolutionTuner() : nil
        // int8: the activations' ranges from `graft calibrate`, beside the weights.
        let calibration = precision == .int8 ? try CalibrationRun.read(forWeights: weights) : nil
        model = try InferenceModel(stateDict: try ckpt.modelStateDict(), precision: precision,
                                convolution: convolution == .winograd ? .winograd : .direct, tuner: convolutionTuner,
                                calibration: calibration)
        self.transform = transform
        let named = try Self.classNames(classes: model.numClasses, weights: weights, classIndices: classIndices, knownNames: knownNames)
        classNames = named.names
        usesKnownNames = named.known
        if let w = named.warning { warnings.append(w) }
    }

    /// The names of a model's `classes` classes, as predict names them: those of
    /// `classIndices` when that file exists (as many as the model has, else an error), else the
    /// `classes` of the weights' own metrics file (`TrainedTransform.ownMetrics`: finetune
    /// wrote both) when there are as many, else `knownNames` when there are as many (`known`),
    /// else the indices, with a `warning`. When class_indices.json and the weights' metrics file
    /// name the classes differently (another model's class_indices.json, same count), the
    /// `warning` says so; class_indices.json's names are used.
    public static func classNames(classes n: Int, weights: String, classIndices: String?, knownNames: [String]?) throws
        -> (names: [String], known: Bool, warning: String?) {
        let own = TrainedTransform.ownMetrics(weights: weights), metrics = own?.path
        let recorded = own?.model.classes.flatMap { $0.count == n ? $0 : nil }
        if let path = classIndices, FileManager.default.fileExists(atPath: path) {
            let names = try ClassIndices(contentsOf: path).names
            guard names.count == n else {
                throw PredictError.classCountMismatch(weights: weights, classes: n, indices: path, names: names.count)
            }
            if let recorded, let metrics, recorded != names {
                func list(_ xs: [String]) -> String {
                    (xs.count <= 6 ? xs : Array(xs.prefix(5))).map(TerminalText.escaped).joined(separator: ", ") + (xs.count <= 6 ? "" : ", ... (\(xs.count))")
                }
                let (p, m, w) = (TerminalText.escaped(path), TerminalText.escaped(metrics), TerminalText.escaped(weights))
                return (names, false, "\(p) names the classes \(list(names)), but \(m), written with \(w), names them \(list(recorded)): "
                        + "using \(p) (is it another model's? pass --class-indices with the right one)")
            }
            return (names, false, nil)
        } else if let recorded {
            return (recorded, false, nil)
        } else if let known = knownNames, known.count == n {
            return (known, true, nil)
        } else {
            return ((0..<n).map(String.init), false, "\(classIndices ?? "class_indices.json") not found: printing class indices instead of names")
        }
    }

    /// Predicts `paths` in batches, calling `result` in input order with a prediction or the
    /// error that image gave. Decoding the next batch overlaps with the model's work on this one
    /// (`BatchPipeline`); the decoder writes straight into one of two buffers (`BatchBuffers`).
    public func predict(paths: [String], batchSize: Int, result: (String, Result<Prediction, Error>) -> Void) throws {
        let size = max(1, batchSize)
        let per = transform.tensorCount
        let batches = stride(from: 0, to: paths.count, by: size).map { Array(paths[$0..<min($0 + size, paths.count)]) }
        guard !batches.isEmpty else { return }
        // --conv auto: every batch size's conv shapes decided before the first batch (Winograd's
        // one-time filter transform weighed against what it saves over these batches).
        try decideConvolutions(images: paths.count, batchSize: size)

        let views = tta.views
        let buffers = BatchBuffers(capacity: size * per * views)
        let transform = self.transform
        // Each image's decode error, nil where it decoded into its place in the batch's buffer.
        let pipeline = BatchPipeline<[Error?]>(count: batches.count) { b in
            let buffer = buffers.buffer(for: b)
            var errors = [Error?](repeating: nil, count: batches[b].count)
            for (i, path) in batches[b].enumerated() {
                do {
                    try transform.write(path: path, into: UnsafeMutableBufferPointer(rebasing: buffer[(i * per)..<((i + 1) * per)]))
                } catch {
                    errors[i] = error
                }
            }
            return errors
        }
        pipeline.run { b, errors in
            let batch = batches[b]
            // Pack the images that decoded, run them, and report in input order.
            let ok = batch.indices.filter { errors[$0] == nil }
            let buffer = buffers.buffer(for: b)
            for (slot, i) in ok.enumerated() where slot != i {
                _ = UnsafeMutableBufferPointer(rebasing: buffer[(slot * per)..<((slot + 1) * per)])
                    .update(fromContentsOf: UnsafeMutableBufferPointer(rebasing: buffer[(i * per)..<((i + 1) * per)]))
            }
            var probs: [Float] = []
            var modelError: Error? = nil
            if !ok.isEmpty {
                do { probs = try probabilities(tensors: buffer, count: ok.count) } catch { modelError = error }
            }
            let n = numClasses
            for (i, path) in batch.enumerated() {
                if let e = errors[i] { result(path, .failure(e)); continue }
                if let e = modelError { result(path, .failure(e)); continue }
                let slot = ok.firstIndex(of: i)!
                result(path, .success(Prediction(image: path, probs: Array(probs[(slot * n)..<((slot + 1) * n)]))))
            }
        }
    }

    /// The softmax rows (`[count, numClasses]`) of the first `count` preprocessed images in
    /// `tensors` (`transform.tensorCount` floats each); with `--tta flip`, `tensors` holds room
    /// for as many again and gets their mirrors.
    public func probabilities(tensors: UnsafeMutableBufferPointer<Float>, count: Int) throws -> [Float] {
        let per = transform.tensorCount, h = transform.crop, views = tta.views
        precondition(tensors.count >= count * per * views)
        if views > 1 { TestTimeAugmentation.appendMirrors(tensors, count: count, channels: 3, height: h, width: h) }
        let all = try model.probabilities(images: UnsafeBufferPointer(rebasing: tensors[0..<(count * per * views)]),
                                          batch: count * views, height: h, width: h)
        return tta.combine(all, count: count, classes: numClasses)
    }
}
