import Imaging
import Checkpoint
import Engine
import ResNet

/// `--train fc`: the pretrained trunk, frozen with batch norm in eval mode, runs as the fused
/// inference graph; only the head trains, in Swift, on the pooled features. With
/// `--no-augment` the trainer computes each image's head input once and reuses it.
public final class HeadOnlyModel: TrainableModel {
    public let trunk: ResNetModel
    /// The frozen pretrained fc of `--head append` (its output is the head's input).
    public let frozenFC: LinearHead?
    public let head: LinearHead
    private let source: StateDict
    public var parameters: [Parameter] { [head.weight, head.bias] }
    public var numClasses: Int { head.outFeatures }

    public init(stateDict: StateDict, classes: Int, head mode: HeadMode, seed: UInt64, precision: Precision = .f32) throws {
        trunk = try ResNetModel(stateDict: stateDict, precision: precision)
        source = stateDict
        var rng = SeededRandom(seed: seed, stream: 0x4EAD)
        let features = stateDict["fc.weight"]?.shape.last ?? 512
        switch mode {
        case .replace:
            frozenFC = nil
            head = LinearHead(name: "fc", inFeatures: features, outFeatures: classes, rng: &rng)
        case .append:
            let w = stateDict["fc.weight"]!, b = stateDict["fc.bias"]!
            let fc0 = LinearHead(weight: Parameter(name: "fc.0.weight", shape: w.shape, values: w.floats()),
                                 bias: Parameter(name: "fc.0.bias", shape: b.shape, values: b.floats()))
            fc0.weight.trainable = false
            fc0.bias.trainable = false
            frozenFC = fc0
            head = LinearHead(name: "fc.1", inFeatures: w.shape[0], outFeatures: classes, rng: &rng)
        }
    }

    /// What the trainable head reads: pooled features, or the frozen fc's outputs.
    public func headInputs(images: UnsafeBufferPointer<Float>, batch: Int, height: Int, width: Int) throws -> [Float] {
        let f = try trunk.features(images: images, batch: batch, height: height, width: width)
        return frozenFC.map { $0.forward(f, rows: batch) } ?? f
    }

    public func trainStep(headInputs x: [Float], labels: [Int], labelSmoothing: Float) -> (loss: Float, logits: [Float]) {
        let logits = head.forward(x, rows: labels.count)
        let (loss, grad) = CrossEntropy.lossAndGradient(logits: logits, labels: labels, classes: numClasses, smoothing: labelSmoothing)
        head.weight.zeroGrad()
        head.bias.zeroGrad()
        head.backward(input: x, gradOutput: grad, rows: labels.count)
        return (loss, logits)
    }

    public func trainStep(images: UnsafeBufferPointer<Float>, labels: [Int], batch: Int, height: Int, width: Int,
                          labelSmoothing: Float) throws -> (loss: Float, logits: [Float]) {
        trainStep(headInputs: try headInputs(images: images, batch: batch, height: height, width: width),
                  labels: labels, labelSmoothing: labelSmoothing)
    }

    public func evalLogits(images: UnsafeBufferPointer<Float>, batch: Int, height: Int, width: Int) throws -> [Float] {
        head.forward(try headInputs(images: images, batch: batch, height: height, width: width), rows: batch)
    }

    public func stateDict() -> StateDict {
        var out = StateDict()
        for (key, value) in withBatchCounters(source).items where key != "fc.weight" && key != "fc.bias" { out[key] = value }
        if let fc0 = frozenFC {
            for p in [fc0.weight, fc0.bias, head.weight, head.bias] { out[p.name] = TensorData(shape: p.shape, floats: p.values) }
        } else {
            out["fc.weight"] = TensorData(shape: head.weight.shape, floats: head.weight.values)
            out["fc.bias"] = TensorData(shape: head.bias.shape, floats: head.bias.values)
        }
        return out
    }
}

/// The state dict with `num_batches_tracked` (0) after every batch norm's `running_var` that
/// lacks one, as torch's own state_dict() has them (the classic torchvision files predate them).
public func withBatchCounters(_ sd: StateDict) -> StateDict {
    var out = StateDict()
    for (key, value) in sd.items {
        out[key] = value
        if key.hasSuffix(".running_var") {
            let counter = String(key.dropLast("running_var".count)) + "num_batches_tracked"
            if sd[counter] == nil { out[counter] = TensorData(shape: [], int64s: [0]) }
        }
    }
    return out
}
