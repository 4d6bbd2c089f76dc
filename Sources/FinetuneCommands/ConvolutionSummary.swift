import Engine
import Foundation
import Training

/// What `--conv auto` prints: by default one line per epoch that decided conv shapes (the first,
/// as a rule), `--conv auto: winograd on 5 of 8 conv shapes, 31 % less conv time`; with
/// `--verbose` also each shape's choice and times as it is decided. metrics.json records every
/// choice either way (`convolution_algorithms`).
public enum ConvolutionSummary {
    /// The line for the shapes `decisions` timed (this run, or an earlier one through the choice
    /// cache); nil when none was timed (shapes given back by `--resume`, or decided by rule).
    /// "Conv time" is one conv of each shape, forward and backward: the sum of the chosen
    /// algorithms' times against the sum of direct's.
    public static func line(_ decisions: [ConvolutionTuner.Decision]) -> String? {
        let timed = decisions.compactMap { d -> (winograd: Bool, direct: Double, chosen: Double, cached: Bool)? in
            guard let dm = d.directMilliseconds, let wm = d.winogradMilliseconds else { return nil }
            let w = d.algorithm == .winograd
            return (w, dm, w ? wm : dm, d.cached == true)
        }
        guard !timed.isEmpty else { return nil }
        let n = timed.count, w = timed.filter(\.winograd).count
        let shapes = n == 1 ? "1 conv shape" : "\(n) conv shapes"
        var line: String
        if w == 0 {
            line = "--conv auto: direct on " + (n == 1 ? "its 1 conv shape" : "all \(shapes)")
                + " (winograd was not 10 % faster on any)"
        } else {
            let direct = timed.reduce(0) { $0 + $1.direct }, chosen = timed.reduce(0) { $0 + $1.chosen }
            let saved = direct > 0 ? Int(((1 - chosen / direct) * 100).rounded()) : 0
            line = "--conv auto: winograd on \(w) of \(shapes), \(saved) % less conv time"
        }
        let cached = timed.filter(\.cached).count
        if cached == n { line += "; times from an earlier run on this machine" }
        else if cached > 0 { line += "; \(cached) timed by an earlier run on this machine" }
        return line
    }

    /// Hangs `--conv auto`'s output on `trainer`: each shape's line to `log` when `verbose`,
    /// and before each epoch's figures the summary of the shapes decided since the last one
    /// (none for shapes a resumed run was given back).
    public static func attach(to trainer: Trainer, verbose: Bool, log: @escaping (String) -> Void) {
        let tuner = trainer.model.convolutionTuner
        var summarized = Set(tuner.decisions.keys)
        tuner.log = verbose ? { log("--conv auto: " + $0) } : nil
        trainer.beforeEpochLine = {
            let new = tuner.decisions.filter { !summarized.contains($0.key) }
            summarized.formUnion(new.keys)
            return line(Array(new.values)).map { [$0] } ?? []
        }
    }
}
