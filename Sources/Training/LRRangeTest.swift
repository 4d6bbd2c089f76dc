import Foundation

/// `finetune --find-lr`: the learning-rate range test as fastai's `Learner.lr_find` runs it
/// (fastai/callback/schedule.py, `LRFinder`, and the `Recorder`'s smoothed loss): the rate of
/// step i (from 0) is `start x (end / start)^(i / steps)` (fastai's `SchedExp` at
/// `train_iter / num_it`, so the last step's rate is just below `end`); after every step the
/// loss is smoothed (`AvgSmoothLoss`, beta 0.98, debiased) and recorded with the step's rate;
/// the test stops after `steps` steps, or once the smoothed loss is more than 4 times the best
/// smoothed loss so far (`stop_div`). The suggestions are fastai's: `valley` (its default),
/// `minimum` (a tenth of the rate of the lowest loss) and `steep` (the steepest descent), on the
/// records fastai's `lr_find` keeps (the first `steps / 10` and the last 5 left out, then
/// everything from the first NaN).
///
/// This is the arithmetic alone; `Trainer.findLearningRate` (LRFinder.swift) runs the steps.
public struct LRRangeTest: Sendable {
    /// `--find-lr-start`, `--find-lr-end`, `--find-lr-steps`: fastai's `start_lr`, `end_lr`, `num_it`.
    public struct Settings: Codable, Equatable, Sendable {
        public var start: Double = 1e-7
        public var end: Double = 10
        public var steps: Int = 100
        /// `stop_div`: stop once the smoothed loss exceeds 4x the best (always on in finetune).
        public var stopOnDivergence = true
        public init(start: Double = 1e-7, end: Double = 10, steps: Int = 100, stopOnDivergence: Bool = true) {
            self.start = start; self.end = end; self.steps = steps; self.stopOnDivergence = stopOnDivergence
        }
    }

    /// fastai's `AvgSmoothLoss`: `val = torch.lerp(loss, val, beta)` in float32 (torch's lerp
    /// with a weight of 0.5 or more: `end - (end - start) x (1 - weight)`), read as
    /// `val / (1 - beta^count)` (the power in double, the division in float32, as a float32
    /// tensor divided by a Python float).
    public struct SmoothLoss: Sendable, Equatable {
        public let beta: Double
        public private(set) var count = 0
        public private(set) var val: Float = 0
        public init(beta: Double = 0.98) { self.beta = beta }

        /// Adds a step's loss; returns the debiased smoothed loss.
        public mutating func add(_ loss: Float) -> Float {
            count += 1
            let w = Float(beta)
            // Fused multiply-adds, as torch's lerp kernel computes on x86-64 (AVX2 and AVX-512 builds):
            // one rounding, measured against torch in Fixtures/lr_find.
            val = abs(w) < 0.5 ? loss.addingProduct(w, val - loss) : val.addingProduct(-(val - loss), 1 - w)
            return value
        }

        public var value: Float { val / Float(1 - pow(beta, Double(count))) }
    }

    /// Why the test ended.
    public enum Stop: String, Codable, Sendable {
        /// All `steps` steps ran.
        case steps
        /// The smoothed loss exceeded 4x the best (`stop_div`).
        case diverged
        /// The training data ran out (no batch could be read).
        case noData = "no_data"
    }

    /// A suggested rate and the point fastai marks on its plot for it.
    public struct Suggestion: Codable, Equatable, Sendable {
        public var lr: Double
        /// The point on the curve: its rate and smoothed loss.
        public var pointLR: Double
        public var pointLoss: Double
    }

    /// fastai's three suggestions, on the kept records.
    public struct Suggestions: Codable, Equatable, Sendable {
        /// fastai's default: about two thirds down the longest valley of the curve.
        public var valley: Suggestion
        /// A tenth of the rate at the lowest smoothed loss.
        public var minimum: Suggestion
        /// The rate where the loss falls fastest against log(rate).
        public var steep: Suggestion
    }

    public let settings: Settings
    /// Each finished step's rate, raw loss (the batch's mean loss) and smoothed loss.
    public private(set) var lrs: [Double] = []
    public private(set) var losses: [Float] = []
    public private(set) var smoothed: [Float] = []
    public private(set) var stop: Stop? = nil
    private var smoother = SmoothLoss()
    /// The best smoothed loss so far (fastai's `best_loss`, +inf before the first step).
    public private(set) var best: Float = .infinity

    public init(_ settings: Settings = Settings()) { self.settings = settings }

    /// fastai clamps `num_it` below 6 to 6.
    public var steps: Int { max(settings.steps, 6) }

    /// The rate of step `i` (from 0): `start x (end / start)^(i / steps)`, in double as fastai's `sched_exp`.
    public static func rate(step i: Int, start: Double, end: Double, steps: Int) -> Double {
        start * pow(end / start, Double(i) / Double(steps))
    }

    /// The rate of the next step.
    public var nextRate: Double { Self.rate(step: lrs.count, start: settings.start, end: settings.end, steps: steps) }

    public var finished: Bool { stop != nil }

    /// Records the step just taken at `nextRate` with its mean loss; returns whether the test
    /// goes on (fastai's `after_batch`: the smoothed loss's best, then `stop_div`, then the count).
    @discardableResult
    public mutating func record(loss: Float) -> Bool {
        guard stop == nil else { return false }
        lrs.append(nextRate)
        losses.append(loss)
        let s = smoother.add(loss)
        smoothed.append(s)
        if s < best { best = s }
        if settings.stopOnDivergence && s > 4 * best { stop = .diverged; return false }
        if lrs.count >= steps { stop = .steps; return false }
        return true
    }

    /// Ends a test whose data ran out before it finished.
    public mutating func endWithoutData() { if stop == nil { stop = .noData } }

    /// The records fastai's `lr_find` suggests from: `[num_it / 10 ..< count - 5]` (num_it as
    /// given, before the clamp to 6), cut at the first NaN loss.
    public static func kept(lrs: [Double], losses: [Float], numIt: Int) -> (lrs: [Float], losses: [Float]) {
        let lo = numIt / 10, hi = lrs.count - 5
        guard hi > lo else { return ([], []) }
        var r = Array(lrs[lo..<hi].map { Float($0) }), l = Array(losses[lo..<hi])
        if let nan = l.firstIndex(where: \.isNaN) { r = Array(r[..<nan]); l = Array(l[..<nan]) }
        return (r, l)
    }

    /// fastai's suggestions for this test's records, or nil when too few are kept (fastai fails
    /// on an empty list).
    public var suggestions: Suggestions? { Self.suggestions(lrs: lrs, losses: smoothed, numIt: settings.steps) }

    public static func suggestions(lrs: [Double], losses: [Float], numIt: Int) -> Suggestions? {
        let (r, l) = kept(lrs: lrs, losses: losses, numIt: numIt)
        guard !r.isEmpty else { return nil }
        return Suggestions(valley: valley(lrs: r, losses: l), minimum: minimum(lrs: r, losses: l), steep: steep(lrs: r, losses: l))
    }

    /// torch.argmin: the first NaN if any, else the first smallest.
    static func argmin(_ xs: [Float]) -> Int {
        if let n = xs.firstIndex(where: \.isNaN) { return n }
        var k = 0
        for i in xs.indices where xs[i] < xs[k] { k = i }
        return k
    }

    /// The index of the rate nearest `lr` (fastai's `min(range(len(lrs)), key=...)`: the first of equals).
    static func nearest(_ lrs: [Float], _ lr: Float) -> Int {
        var k = 0
        for i in lrs.indices where abs(lrs[i] - lr) < abs(lrs[k] - lr) { k = i }
        return k
    }

    /// fastai's `valley`: the longest decreasing subsequence ending anywhere (O(n^2)), the index
    /// `start + int(len / 3) + int(len / 6)` into it.
    public static func valley(lrs: [Float], losses: [Float]) -> Suggestion {
        let n = losses.count
        var maxStart = 0, maxEnd = 0
        var lds = [Int](repeating: 1, count: n)
        for i in Swift.stride(from: 1, to: n, by: 1) {
            for j in 0..<i {
                if losses[i] < losses[j] && lds[i] < lds[j] + 1 { lds[i] = lds[j] + 1 }
                if lds[maxEnd] < lds[i] {
                    maxEnd = i
                    maxStart = maxEnd - lds[maxEnd]
                }
            }
        }
        let sections = Double(maxEnd - maxStart) / 3
        // Python's int() truncates toward zero; max_start is -1 when the valley starts at the
        // first record, and an index of -1 is Python's last element.
        var idx = maxStart + Int(sections) + Int(sections / 2)
        if idx < 0 { idx += n }
        return Suggestion(lr: Double(lrs[idx]), pointLR: Double(lrs[idx]), pointLoss: Double(losses[idx]))
    }

    /// fastai's `minimum`: the rate of the lowest loss, over 10.
    public static func minimum(lrs: [Float], losses: [Float]) -> Suggestion {
        let lrMin = lrs[argmin(losses)]
        return Suggestion(lr: Double(lrMin) / 10, pointLR: Double(lrMin), pointLoss: Double(losses[nearest(lrs, lrMin)]))
    }

    /// fastai's `steep`: the rate where (loss[i+1] - loss[i]) / (log lr[i+1] - log lr[i]) is
    /// least (float32, as torch computes it); the first rate when there is one record.
    public static func steep(lrs: [Float], losses: [Float]) -> Suggestion {
        let grads = zip(lrs.indices.dropFirst(), lrs.indices).map { i, j in (losses[i] - losses[j]) / (logf(lrs[i]) - logf(lrs[j])) }
        // torch.argmin of an empty tensor fails; one record has no slope: its rate.
        let k = grads.isEmpty ? 0 : argmin(grads)
        let lr = lrs[k]
        return Suggestion(lr: Double(lr), pointLR: Double(lr), pointLoss: Double(losses[nearest(lrs, lr)]))
    }
}
