import Checkpoint
import Engine

extension TrainableResNet {
    /// Architectures a model can be built from without a state dict.
    public static let architectures = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d",
                                       "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2"]

    /// torchvision's architecture for a model name (1000 classes), or nil.
    public static func spec(named name: String) -> ResNetSpec? {
        switch name {
        case "resnet18": return .torchvision(.basic, layers: [2, 2, 2, 2])
        case "resnet34": return .torchvision(.basic, layers: [3, 4, 6, 3])
        case "resnet50": return .torchvision(.bottleneck, layers: [3, 4, 6, 3])
        case "resnet101": return .torchvision(.bottleneck, layers: [3, 4, 23, 3])
        case "resnet152": return .torchvision(.bottleneck, layers: [3, 8, 36, 3])
        case "resnext50_32x4d": return .torchvision(.bottleneck, layers: [3, 4, 6, 3], groups: 32, widthPerGroup: 4)
        case "resnext101_32x8d": return .torchvision(.bottleneck, layers: [3, 4, 23, 3], groups: 32, widthPerGroup: 8)
        case "resnext101_64x4d": return .torchvision(.bottleneck, layers: [3, 4, 23, 3], groups: 64, widthPerGroup: 4)
        case "wide_resnet50_2": return .torchvision(.bottleneck, layers: [3, 4, 6, 3], widthPerGroup: 128)
        case "wide_resnet101_2": return .torchvision(.bottleneck, layers: [3, 4, 23, 3], widthPerGroup: 128)
        default: return nil
        }
    }

    /// torchvision's initialisation of `spec`: convs `kaiming_normal_(fan_out, relu)`, batch
    /// norms weight 1, bias 0, running mean 0, var 1; `fc` as `nn.Linear` initialises itself.
    static func initialStateDict(_ spec: ResNetSpec, rng: inout InitRandom) -> StateDict {
        var sd = StateDict()
        for (key, shape) in spec.expectedShapes() {
            let n = shape.reduce(1, *)
            if key.hasSuffix(".num_batches_tracked") {
                sd[key] = TensorData(shape: [], int64s: [0])
            } else if key == "fc.weight" {
                let l = rng.linear(out: shape[0], in: shape[1])
                sd[key] = TensorData(shape: shape, floats: l.weight)
                sd["fc.bias"] = TensorData(shape: [shape[0]], floats: l.bias)
            } else if key == "fc.bias" {
                continue
            } else if shape.count == 4 {
                sd[key] = TensorData(shape: shape, floats: rng.kaimingConv(shape))
            } else {
                let one = key.hasSuffix(".weight") || key.hasSuffix(".running_var")
                sd[key] = TensorData(shape: shape, floats: [Float](repeating: one ? 1 : 0, count: n))
            }
        }
        return sd
    }

    /// The current weights and running statistics with torchvision's keys, in `state_dict()`
    /// order; `num_batches_tracked` as 0-d int64. With `.replace` it loads into
    /// `resnet*(num_classes: N)` with `strict=True`.
    public func stateDict() -> StateDict {
        var byName: [String: Parameter] = [:]
        for p in parameters { byName[p.name] = p }
        var bnByPrefix: [String: TrainBatchNorm] = [:]
        for (prefix, bn) in batchNorms { bnByPrefix[prefix] = bn }
        var out = StateDict()
        for (key, _) in spec.expectedShapes() where !key.hasPrefix("fc.") {
            if let p = byName[key] {
                out[key] = TensorData(shape: p.shape, floats: p.values)
                continue
            }
            guard let dot = key.lastIndex(of: "."), let bn = bnByPrefix[String(key[..<dot])] else { continue }
            switch key[key.index(after: dot)...] {
            case "running_mean": out[key] = TensorData(shape: [bn.channels], floats: bn.runningMean)
            case "running_var": out[key] = TensorData(shape: [bn.channels], floats: bn.runningVar)
            case "num_batches_tracked": out[key] = TensorData(shape: [], int64s: [bn.numBatchesTracked])
            default: break
            }
        }
        for p in parameters where p.name.hasPrefix("fc.") { out[p.name] = TensorData(shape: p.shape, floats: p.values) }
        return out
    }
}
