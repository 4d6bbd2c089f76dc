import Checkpoint
import Engine

/// `--ema-decay D`: an exponential moving average of the weights, as timm's ModelEmaV2
/// (`--model-ema`): after every optimizer step each averaged tensor becomes
/// `ema = decay * ema + (1 - decay) * value`, in ModelEmaV2's float32 arithmetic (both
/// factors rounded to float32 as torch rounds a Python scalar, the two products rounded, then
/// added). The averaged tensors are the parameters and the batch norms' running means and
/// variances; `num_batches_tracked` is the model's own (ModelEmaV3 copies integer buffers).
///
/// Only tensors that move are averaged, and only they hold a copy: a parameter that trains, the
/// running statistics of a batch norm that uses batch statistics. A tensor that stays as it is
/// averages to itself: ModelEmaV2 would still apply the formula to it, moving it by float
/// rounding; here it is left exactly as the model holds it (so a frozen trunk stays the one the
/// folded plan and cached features were made from). `track` adds the tensors that start moving
/// (a later phase unfreezing the trunk) with their values at that moment, what timm's average
/// of them is until then.
public final class WeightEMA {
    public let decay: Double
    /// State-dict keys of the averaged tensors, in the order they were first tracked.
    public private(set) var keys: [String] = []
    private var values: [[Float]] = []
    private var index: [String: Int] = [:]

    public init(model: Network, decay: Double) {
        self.decay = decay
        track(model)
    }

    /// A tensor the model averages: its key, whether it moves now, how to read it (without a
    /// copy) and write it.
    private struct Slot {
        let key: String
        let moving: Bool
        let read: ((UnsafeBufferPointer<Float>) -> Void) -> Void
        let set: ([Float]) -> Void
        func get() -> [Float] { var v: [Float] = []; read { v = Array($0) }; return v }
    }

    /// Every tensor the model averages: the parameters, then each batch norm's running statistics.
    private func slots(_ model: Network) -> [Slot] {
        var out: [Slot] = []
        for p in model.parameters {
            out.append(Slot(key: p.name, moving: p.trainable, read: { $0(UnsafeBufferPointer(p.value)) },
                            set: { v in _ = v.withUnsafeBufferPointer { p.value.update(fromContentsOf: $0) } }))
        }
        let g = model.architecture.graph
        for b in model.batchNorms {
            let path = g.nodes[b.nodes[0]].path
            let bn = b.bn
            let moving = !bn.isFrozen || model.frozenBN == .train
            out.append(Slot(key: path["running_mean"], moving: moving, read: { body in bn.runningMean.withUnsafeBufferPointer(body) },
                            set: { bn.runningMean = $0 }))
            out.append(Slot(key: path["running_var"], moving: moving, read: { body in bn.runningVar.withUnsafeBufferPointer(body) },
                            set: { bn.runningVar = $0 }))
        }
        return out
    }

    /// Starts averaging every tensor that moves now and is not averaged yet, from its current value.
    public func track(_ model: Network) {
        for s in slots(model) where s.moving && index[s.key] == nil {
            index[s.key] = keys.count
            keys.append(s.key)
            values.append(s.get())
        }
    }

    /// After an optimizer step: `ema = decay * ema + (1 - decay) * value` for every averaged tensor.
    public func update(from model: Network) {
        for s in slots(model) {
            guard let i = index[s.key] else { continue }
            s.read { v in values[i].withUnsafeMutableBufferPointer { WeightEMA.average($0, v, decay: decay) } }
        }
    }

    /// timm's `decay * ema + (1 - decay) * value` on float32 tensors: each Python-float factor
    /// rounded to float32 (`1 - decay` computed in double first), each product rounded, then added.
    public static func average(_ ema: inout [Float], _ value: [Float], decay: Double) {
        value.withUnsafeBufferPointer { v in ema.withUnsafeMutableBufferPointer { average($0, v, decay: decay) } }
    }

    static func average(_ e: UnsafeMutableBufferPointer<Float>, _ v: UnsafeBufferPointer<Float>, decay: Double) {
        precondition(e.count == v.count, "weight average: \(e.count) values against \(v.count)")
        let d = Float(decay), rest = Float(1.0 - decay)
        guard let ep = e.baseAddress, let vp = v.baseAddress else { return }
        for j in 0..<e.count {
            let a = d * ep[j]
            let b = rest * vp[j]
            ep[j] = a + b
        }
    }

    /// Exchanges the averages with the model's values (twice: back as it was), so the average
    /// is validated or saved with no third copy.
    public func swap(with model: Network) {
        for s in slots(model) {
            guard let i = index[s.key] else { continue }
            let current = s.get()
            s.set(values[i])
            values[i] = current
        }
        model.weightsChanged()
    }

    /// Runs `body` with the averaged weights in the model, then puts the model's back.
    public func withAverage<T>(in model: Network, _ body: () throws -> T) rethrows -> T {
        swap(with: model)
        defer { swap(with: model) }
        return try body()
    }

    /// The averages by state-dict key (the resume point's copy).
    public var stateDict: StateDict {
        var sd = StateDict()
        for (k, v) in zip(keys, values) { sd[k] = TensorData(shape: [v.count], floats: v) }
        return sd
    }

    /// Puts saved averages back (`--resume`); a key the model lacks or a size that differs is refused.
    public func load(_ sd: StateDict, model: Network) throws {
        let sizes = Dictionary(slots(model).map { ($0.key, $0.get().count) }, uniquingKeysWith: { a, _ in a })
        keys = []; values = []; index = [:]
        for (k, t) in sd.items {
            guard let n = sizes[k], n == t.count else {
                throw ModelError.badInput("the resume point's weight average holds \(k) (\(t.count) values), which this model has not as such")
            }
            index[k] = keys.count
            keys.append(k)
            values.append(t.floats())
        }
    }

    /// Every average as one vector, in `keys` order (what rank 0 hands to the other processes).
    public var flattened: [Float] {
        get { values.flatMap { $0 } }
        set {
            var offset = 0
            for i in values.indices {
                let n = values[i].count
                values[i] = Array(newValue[offset..<(offset + n)])
                offset += n
            }
        }
    }
}
