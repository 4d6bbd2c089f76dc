import Checkpoint
import Engine
import Random

extension ResNetModule {
    /// torchvision's initialisation of a layout: convs `kaiming_normal_(fan_out, relu)`, batch
    /// norms weight 1, bias 0, running mean 0, var 1; each Linear as `nn.Linear` initialises itself.
    static func initialStateDict(_ layout: ResNetLayout, rng: inout SeededRandom) -> StateDict {
        var sd = StateDict()
        for u in layout.units {
            sd[u.conv["weight"]] = TensorData(shape: u.weightShape, floats: rng.kaimingConv(u.weightShape))
            let c = u.channels
            sd[u.bn["weight"]] = TensorData(shape: [c], floats: [Float](repeating: 1, count: c))
            sd[u.bn["bias"]] = TensorData(shape: [c], floats: [Float](repeating: 0, count: c))
            sd[u.bn["running_mean"]] = TensorData(shape: [c], floats: [Float](repeating: 0, count: c))
            sd[u.bn["running_var"]] = TensorData(shape: [c], floats: [Float](repeating: 1, count: c))
            sd[u.bn["num_batches_tracked"]] = TensorData(shape: [], int64s: [0])
        }
        for l in layout.head {
            let (w, b) = rng.linear(out: l.outFeatures, in: l.inFeatures)
            sd[l.path["weight"]] = TensorData(shape: [l.outFeatures, l.inFeatures], floats: w)
            sd[l.path["bias"]] = TensorData(shape: [l.outFeatures], floats: b)
        }
        return sd
    }

    /// The current weights and running statistics with torchvision's keys, in `state_dict()`
    /// order; `num_batches_tracked` as 0-d int64. With `.replace` it loads into
    /// `resnet*(num_classes: N)` with `strict=True`.
    public func stateDict() -> StateDict {
        var out = StateDict()
        for u in units {
            let bn = u.bn
            out[u.layout.conv["weight"]] = TensorData(shape: u.conv.weight.shape, floats: u.conv.weight.values)
            out[u.layout.bn["weight"]] = TensorData(shape: bn.weight.shape, floats: bn.weight.values)
            out[u.layout.bn["bias"]] = TensorData(shape: bn.bias.shape, floats: bn.bias.values)
            out[u.layout.bn["running_mean"]] = TensorData(shape: [bn.channels], floats: bn.runningMean)
            out[u.layout.bn["running_var"]] = TensorData(shape: [bn.channels], floats: bn.runningVar)
            out[u.layout.bn["num_batches_tracked"]] = TensorData(shape: [], int64s: [bn.numBatchesTracked])
        }
        for fc in head {
            for p in [fc.weight, fc.bias] { out[p.name] = TensorData(shape: p.shape, floats: p.values) }
        }
        return out
    }

    /// The folded inference model of the current weights and running statistics: batch norms
    /// folded into the convs, ReLU and the residual add fused (see `ResNetModel`).
    /// `tuner`: its 3x3 stride-1 convs run what the tuner chooses per shape (`--conv auto`).
    public func inferenceModel(precision: Precision = .f32, foldBatchNorm: Bool = true, tuner: ConvolutionTuner? = nil) throws -> ResNetModel {
        try ResNetModel(layout: layout, values: ModuleValues(self), precision: precision, foldBatchNorm: foldBatchNorm,
                        tuner: tuner, engine: engine)
    }
}

extension ResNetModule {
    /// Every batch norm's running mean and running variance, in state-dict order, as one vector:
    /// what a data-parallel job copies from rank 0 to the others. Setting it replaces them
    /// (the folded trunk is rebuilt at the next use).
    public var runningStatistics: [Float] {
        get { units.flatMap { $0.bn.runningMean + $0.bn.runningVar } }
        set {
            var offset = 0
            for u in units {
                let c = u.bn.channels
                precondition(offset + 2 * c <= newValue.count, "runningStatistics: \(newValue.count) values are too few")
                u.bn.runningMean = Array(newValue[offset..<(offset + c)])
                u.bn.runningVar = Array(newValue[(offset + c)..<(offset + 2 * c)])
                offset += 2 * c
            }
            weightsChanged()
        }
    }
}
