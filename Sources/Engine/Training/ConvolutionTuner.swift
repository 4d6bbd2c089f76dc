import CDNNL
import Foundation

/// The fastest algorithm per conv shape, chosen by measurement: the first time a training conv
/// meets an input shape where Winograd applies, it times its direct and its Winograd primitives
/// on that shape (forward, and in training backward-weights and backward-data too; one warm-up
/// and `repetitions` timed runs, the best of each) and keeps the faster. Winograd must win by
/// `margin` (5 %): when the two are that close, direct (PyTorch's arithmetic) stays, and a
/// near-tie cannot flip the choice between two runs as easily.
///
/// Timings are not reproducible, so two fresh runs may choose differently where the two are
/// close; that is why the choices are recorded (`decisions`, saved by `finetune` in
/// metrics.json and its resume point) and can be given back (`init(decisions:)`): a shape
/// already decided is never measured again. One tuner serves a whole model (and every model
/// that shares it); shapes repeat, so a resnet34 measures four.
public final class ConvolutionTuner: @unchecked Sendable {
    /// One shape's choice and what was measured (nil times: given back, not measured).
    public struct Decision: Codable, Equatable, Sendable {
        public var algorithm: ConvolutionAlgorithm
        public var directMilliseconds: Double?
        public var winogradMilliseconds: Double?
        public init(algorithm: ConvolutionAlgorithm, directMilliseconds: Double? = nil, winogradMilliseconds: Double? = nil) {
            self.algorithm = algorithm; self.directMilliseconds = directMilliseconds; self.winogradMilliseconds = winogradMilliseconds
        }
    }

    /// Winograd is chosen only when its time is below `margin` times direct's.
    public static let margin = 0.95
    /// Timed runs per algorithm, after one warm-up run.
    public static let repetitions = 2

    /// For inference convs, whose weights are prepared once (reordered, or Winograd-transformed:
    /// four times their size) and then serve every batch: how many batches a shape is expected
    /// to run, over which that preparation is spread when the two are compared. A predictor
    /// sets it to the number of batches it has ahead; training steps prepare their weights
    /// every step, which their timings include.
    public var expectedRuns = 1000

    /// `lock` guards `entries` (hence `@unchecked Sendable`).
    private var entries: [String: Decision]
    private let lock = NSLock()
    /// Gets one line per shape decided by measurement.
    public var log: ((String) -> Void)?
    /// Turns this process's decision into the one every process of a data-parallel job uses
    /// (finetune under mpirun: rank 0's, so that all ranks compute alike); called for every
    /// shape decided here, in the order the shapes are met.
    public var agree: ((_ key: String, _ decision: Decision) -> Decision)?

    /// `decisions`: choices recorded by an earlier run, used as they are.
    public init(decisions: [String: Decision] = [:]) { entries = decisions }

    /// Every shape's choice so far, by shape (`in->out kxk stride s pad p on NxCxHxW train|eval`).
    public var decisions: [String: Decision] {
        lock.lock(); defer { lock.unlock() }
        return entries
    }

    /// The choice for `key`: recorded, or measured now by `measure` (direct's and Winograd's
    /// seconds; nil when Winograd is not available for the shape, which then stays direct).
    func algorithm(for key: String, measure: () throws -> (direct: Double, winograd: Double)?) throws -> ConvolutionAlgorithm {
        lock.lock(); defer { lock.unlock() }
        if let d = entries[key] { return d.algorithm }
        let t = try measure()
        var d = t.map { t in
            Decision(algorithm: t.winograd < Self.margin * t.direct ? .winograd : .direct,
                     directMilliseconds: (t.direct * 1e5).rounded() / 100, winogradMilliseconds: (t.winograd * 1e5).rounded() / 100)
        } ?? Decision(algorithm: .direct)
        if let agree { d = agree(key, d) }
        entries[key] = d
        if let t {
            log?(String(format: "conv %@: %@ (direct %.1f ms, winograd %.1f ms)", key, d.algorithm.rawValue,
                        d.directMilliseconds ?? 1000 * t.direct, d.winogradMilliseconds ?? 1000 * t.winograd))
        }
        return d.algorithm
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

    /// The best of `repetitions` timed runs of `body`, after one warm-up run, in seconds.
    static func best(_ body: () throws -> Void) throws -> Double {
        var best = Double.infinity
        for rep in 0...repetitions {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try body()
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            if rep > 0 { best = min(best, seconds) }
        }
        return best
    }
}

extension TrainConv2d {
    /// Seconds a plan's primitives take on scratch tensors of its shapes: the forward pass and,
    /// for `.training`, backward-weights and backward-data; the best of `repetitions` runs.
    func time(_ p: Plan, _ pass: PassKind) throws -> Double {
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
            runs.append { try bw.execute([(DNNL_ARG_SRC, bwSrc), (DNNL_ARG_DIFF_DST, bwDiff), (DNNL_ARG_DIFF_WEIGHTS, dw)], on: self.engine) }
            // Backward-data's weights are made from the parameter each step: timed with it.
            runs.append { try bd.run(try bd.weights(self), bdDiff, dx) }
        }
        return try ConvolutionTuner.best { for r in runs { try r() } }
    }
}
