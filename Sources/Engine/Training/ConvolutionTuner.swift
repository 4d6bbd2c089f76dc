import CDNNL
import Foundation

/// The faster algorithm per conv shape, chosen by measurement, the same on every run on a
/// machine: the first time a conv meets an input shape where Winograd applies, the tuner looks
/// the shape up in the choice cache (`ConvolutionChoiceCache`: what an earlier run on this
/// machine measured); failing that it times direct and Winograd on the shape (forward, and in
/// training backward-weights and backward-data too: one untimed warm-up of each, then
/// `repetitions` runs of each, alternating, the median of each), stores the times in the cache
/// and chooses from them. Winograd must win by `margin` (10 %): when the two are closer,
/// direct (PyTorch's arithmetic) stays, so that noise cannot flip a near tie.
///
/// The choices are recorded (`decisions`, saved by `finetune` in metrics.json and its resume
/// point) and can be given back (`init(decisions:)`): a shape already decided is never looked
/// up again. Under mpirun, `agree` makes one rank's decision every rank's. One tuner serves a
/// whole model (and every model that shares it); shapes repeat, so a resnet34 measures four.
public final class ConvolutionTuner: @unchecked Sendable {
    /// One shape's choice and what was measured (nil times: given back, not measured).
    public struct Decision: Codable, Equatable, Sendable {
        public var algorithm: ConvolutionAlgorithm
        public var directMilliseconds: Double?
        public var winogradMilliseconds: Double?
        /// Whether the times came from the choice cache (an earlier run) rather than this run.
        public var cached: Bool?
        public init(algorithm: ConvolutionAlgorithm, directMilliseconds: Double? = nil, winogradMilliseconds: Double? = nil,
                    cached: Bool? = nil) {
            self.algorithm = algorithm; self.directMilliseconds = directMilliseconds; self.winogradMilliseconds = winogradMilliseconds
            self.cached = cached
        }
    }
    public typealias Timing = ConvolutionChoiceCache.Timing

    /// Winograd is chosen only when its time is below `margin` times direct's.
    public static let margin = 0.9
    /// Timed runs per algorithm (the median counts), after one untimed warm-up run.
    public static let repetitions = 5

    /// For inference convs, whose weights are prepared once (reordered, or Winograd-transformed:
    /// four times their size) and then serve every batch: how many batches a shape is expected
    /// to run, over which that preparation is spread when the two are compared. A predictor
    /// sets it to the number of batches it has ahead; training steps prepare their weights
    /// every step, which their timings include.
    public var expectedRuns = 1000
    /// The inputs a predictor has run its shapes' decisions for (`Predictor.decideConvolutions`).
    public var preparedInputs: Set<[Int]> = []

    /// Where measurements are kept between runs (nil: measured by every run).
    public var cache: ConvolutionChoiceCache?
    /// This machine's part of the cache key (`ConvolutionChoiceCache.machineKey()` when nil).
    public var machineKey: String?

    /// `lock` guards `entries` (hence `@unchecked Sendable`).
    private var entries: [String: Decision]
    private let lock = NSLock()
    /// Gets one line per shape decided by measurement or from the cache.
    public var log: ((String) -> Void)?
    /// Turns this process's decision into the one every process of a data-parallel job uses
    /// (under mpirun: rank 0's, `rootDecides`); given the shape and how this process would
    /// decide it (cache or measurement), called for every shape in the order the shapes are met.
    public var agree: ((_ key: String, _ decide: () throws -> Decision) throws -> Decision)?

    /// `decisions`: choices recorded by an earlier run, used as they are. `cache`: where
    /// measurements are looked up and kept (by default the process's, which the commands set).
    public init(decisions: [String: Decision] = [:], cache: ConvolutionChoiceCache? = ConvolutionChoiceCache.processDefault) {
        entries = decisions
        self.cache = cache
    }

    /// Every shape's choice so far, by shape (`in->out kxk stride s pad p on NxCxHxW train|eval`).
    public var decisions: [String: Decision] {
        lock.lock(); defer { lock.unlock() }
        return entries
    }

    /// The algorithm `t` makes the faster by `margin`, its preparation spread over `runs`.
    public static func choose(_ t: Timing, runs: Int) -> ConvolutionAlgorithm {
        let (d, w) = effectiveSeconds(t, runs: runs)
        return w < margin * d ? .winograd : .direct
    }

    /// Seconds per run of each, preparation included (spread over `runs`).
    static func effectiveSeconds(_ t: Timing, runs: Int) -> (direct: Double, winograd: Double) {
        let r = Double(max(1, runs))
        return ((Double(t.direct) + Double(t.directSetup) / r) / 1e9, (Double(t.winograd) + Double(t.winogradSetup) / r) / 1e9)
    }

    /// The choice for `key`: recorded, else agreed (`agree`), else from the cache, else measured
    /// now by `measure` (nil when Winograd is not available for the shape, which stays direct).
    func algorithm(for key: String, measure: () throws -> Timing?) throws -> ConvolutionAlgorithm {
        lock.lock(); defer { lock.unlock() }
        if let d = entries[key] { return d.algorithm }
        let runs = expectedRuns
        let full = ConvolutionChoiceCache.key(shape: key, machine: machineKey ?? ConvolutionChoiceCache.machineKey())
        func decide() throws -> Decision {
            if let t = cache?.timing(for: full) { return Self.decision(t, runs: runs, cached: true) }
            guard let t = try measure() else { return Decision(algorithm: .direct) }
            cache?.store(t, for: full)
            return Self.decision(t, runs: runs, cached: cache == nil ? nil : false)
        }
        let d = try agree.map { try $0(key, decide) } ?? decide()
        entries[key] = d
        if let dm = d.directMilliseconds, let wm = d.winogradMilliseconds {
            log?(String(format: "conv %@: %@ (direct %.1f ms, winograd %.1f ms%@)", key, d.algorithm.rawValue, dm, wm,
                        d.cached == true ? ", measured by an earlier run" : ""))
        }
        return d.algorithm
    }

    static func decision(_ t: Timing, runs: Int, cached: Bool?) -> Decision {
        let (d, w) = effectiveSeconds(t, runs: runs)
        return Decision(algorithm: choose(t, runs: runs), directMilliseconds: (d * 1e5).rounded() / 100,
                        winogradMilliseconds: (w * 1e5).rounded() / 100, cached: cached)
    }

    /// `agree` for a data-parallel job: the root decides (cache or measurement) and sends its
    /// decision to every rank with `broadcast` (which every rank calls, in the same order);
    /// the others neither measure nor read the cache. Where the root's decision cannot be read
    /// (it failed), a rank decides for itself.
    public static func rootDecides(isRoot: Bool, broadcast: @escaping ([UInt8]) -> [UInt8])
        -> (String, () throws -> Decision) throws -> Decision {
        return { _, decide in
            if isRoot {
                let d: Decision
                do { d = try decide() } catch { _ = broadcast([]); throw error }
                _ = broadcast(Array((try? JSONEncoder().encode(d)) ?? Data()))
                return d
            }
            let bytes = broadcast([])
            return try (try? JSONDecoder().decode(Decision.self, from: Data(bytes))) ?? decide()
        }
    }
}

extension ConvolutionTuner {
    /// The key a shape's decision is recorded under: `in->out kxk stride s pad p on NxCxHxW train|eval`.
    static func shapeKey(inChannels: Int, outChannels: Int, kernelHeight: Int, kernelWidth: Int, stride: Int, padding: Int,
                         input: [Int], pass: PassKind) -> String {
        "\(inChannels)->\(outChannels) \(kernelHeight)x\(kernelWidth) stride \(stride) pad \(padding) on "
            + input.map(String.init).joined(separator: "x") + (pass == .training ? " train" : " eval")
    }

    /// A tensor of `desc` filled with ordinary numbers (0x3C3C3C3C: 0.0115 as f32; no denormals,
    /// no NaN to slow a kernel), to time primitives on.
    static func scratch(_ desc: MemoryDesc, engine: CPUEngine) throws -> Tensor {
        let t = try Tensor(desc: desc, engine: engine)
        t.storage.initializeMemory(as: UInt8.self, repeating: 0x3C, count: desc.byteCount)
        return t
    }

    /// The monotonic clock, in nanoseconds.
    public static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Nanoseconds per run of `direct` and of `winograd`: one untimed warm-up run of each, then
    /// `repetitions` timed runs of each, alternating (and which goes first alternating too, so
    /// that a slow spell of the machine falls on both), the median of each.
    public static func compare(repetitions: Int = repetitions, clock: () -> UInt64 = now,
                               direct: () throws -> Void, winograd: () throws -> Void) throws -> (direct: Int64, winograd: Int64) {
        try direct()
        try winograd()
        var d: [Int64] = [], w: [Int64] = []
        func timed(_ body: () throws -> Void) throws -> Int64 {
            let t0 = clock()
            try body()
            let t1 = clock()
            return Int64(clamping: t1 >= t0 ? t1 - t0 : 0)
        }
        for rep in 0..<max(1, repetitions) {
            if rep % 2 == 0 { d.append(try timed(direct)); w.append(try timed(winograd)) }
            else { w.append(try timed(winograd)); d.append(try timed(direct)) }
        }
        return (median(d), median(w))
    }

    /// The median (the lower middle one of an even count), at least 1.
    static func median(_ values: [Int64]) -> Int64 {
        let s = values.sorted()
        return s.isEmpty ? 1 : max(1, s[(s.count - 1) / 2])
    }
}

extension TrainConv2d {
    /// A plan's primitives, run once on scratch tensors of its shapes: the forward pass and,
    /// for `.training`, backward-weights and backward-data (to be timed by `compare`).
    func runner(_ p: Plan, _ pass: PassKind) throws -> () throws -> Void {
        func filled(_ desc: MemoryDesc) throws -> Tensor { try ConvolutionTuner.scratch(desc, engine: engine) }
        // A trainable weight is made from the parameter at each forward (a reorder, or Winograd's
        // transform): timed with it. A frozen one is made once and kept (`frozenWeights`).
        let src = try filled(p.src), dst = try Tensor(desc: p.dst, engine: engine)
        let frozen = weight.trainable ? nil : try forwardWeights(p)
        var runs: [() throws -> Void] = [{ try self.runForward(p, src: src, weights: try frozen ?? self.forwardWeights(p), dst: dst) }]
        if pass == .training, let wino = p.winograd {
            let dy = try filled(p.dst), dx = try Tensor(desc: p.src, engine: engine)
            let grad = try Tensor(desc: .plain([weight.count]), engine: engine)
            let bd = try backwardDataPlan(p)
            runs.append { try wino.weightGradient(src: src, outputGrad: dy, into: grad.storage.assumingMemoryBound(to: Float.self)) }
            runs.append { try bd.run(try bd.weights(self), dy, dx) }
        } else if pass == .training {
            let bw = try backwardWeights(p), bd = try backwardDataPlan(p)
            let bwSrc = try filled(bw.md(dnnl_query_src_md)), bwDiff = try filled(bw.md(dnnl_query_diff_dst_md))
            let dw = try Tensor(desc: bw.md(dnnl_query_diff_weights_md), engine: engine)
            let bdDiff = try filled(bd.outputGrad), dx = try Tensor(desc: bd.inputGrad, engine: engine)
            var bwArgs: [(Int32, Tensor)] = [(DNNL_ARG_SRC, bwSrc), (DNNL_ARG_DIFF_DST, bwDiff), (DNNL_ARG_DIFF_WEIGHTS, dw)]
            if bias != nil { bwArgs.append((DNNL_ARG_DIFF_BIAS, try Tensor(desc: .plain([outChannels], .f32), engine: engine))) }
            runs.append { [bwArgs] in try bw.execute(bwArgs, on: self.engine) }
            // Backward-data's weights are made from the parameter each step: timed with it.
            runs.append { try bd.run(try bd.weights(self), bdDiff, dx) }
        }
        return { for r in runs { try r() } }
    }
}
