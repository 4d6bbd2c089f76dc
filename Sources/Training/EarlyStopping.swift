/// What `--patience` watches (`--monitor`): each epoch's val accuracy (higher is better) or
/// val loss (lower is better), as every process shares them under mpirun.
public enum Monitor: String, CaseIterable, Codable, Sendable {
    case valAccuracy = "val_accuracy"
    case valLoss = "val_loss"

    func value(_ m: EpochMetrics) -> Double { self == .valAccuracy ? m.valAccuracy : m.valLoss }
    /// Strictly better (NaN never is), as Keras' EarlyStopping with min_delta 0.
    func isBetter(_ a: Double, than b: Double) -> Bool { self == .valAccuracy ? a > b : a < b }
}

/// `--patience N`: the run stopped after `epoch` because the monitored value had not improved
/// for `patience` epochs since `bestEpoch` (Keras' EarlyStopping). Decided from the epochs'
/// figures alone, so a resumed run decides as an uninterrupted one, and every process alike.
public struct EarlyStop: Codable, Equatable, Sendable {
    /// The last epoch trained (from 1).
    public var epoch: Int
    public var monitor: Monitor
    public var patience: Int
    /// The epoch (from 1) of the best monitored value, and that value.
    public var bestEpoch: Int
    public var best: Double
    /// In words, for metrics.json, the closing line and report.html.
    public var reason: String

    public init(epoch: Int, monitor: Monitor, patience: Int, bestEpoch: Int, best: Double) {
        self.epoch = epoch; self.monitor = monitor; self.patience = patience; self.bestEpoch = bestEpoch; self.best = best
        reason = "\(monitor.rawValue) has not improved for \(epoch - bestEpoch) epoch\(epoch - bestEpoch == 1 ? "" : "s") "
            + "(--patience \(patience)), best \(String(format: "%.4f", best)) at epoch \(bestEpoch)"
    }

    /// The stop `history` calls for, or nil to go on (no `patience`: never).
    public static func check(_ history: [EpochMetrics], monitor: Monitor, patience: Int?) -> EarlyStop? {
        guard let patience = patience, let last = history.last else { return nil }
        var best: (epoch: Int, value: Double)? = nil
        for m in history {
            let v = monitor.value(m)
            if let b = best, !monitor.isBetter(v, than: b.value) { continue }
            if best == nil && v.isNaN { continue }
            best = (m.epoch, v)
        }
        let since = best?.epoch ?? 0
        guard last.epoch - since >= patience else { return nil }
        return EarlyStop(epoch: last.epoch, monitor: monitor, patience: patience, bestEpoch: since, best: best?.value ?? .nan)
    }
}

extension TrainConfig {
    /// `--patience` and `--monitor` as report.html's settings show them.
    public var stoppingDescription: String {
        guard let p = patience else { return "none: every epoch trains (no --patience)" }
        return "--patience \(p) on \((monitor ?? .valAccuracy).rawValue)"
    }
}
