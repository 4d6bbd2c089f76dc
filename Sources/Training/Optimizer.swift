import Engine
import Foundation

/// Which optimizer and its hyper-parameters (`--optimizer`, `--lr`, `--weight-decay`...).
public struct OptimizerConfig: Equatable, Sendable, Codable {
    public enum Kind: String, CaseIterable, Sendable, Codable { case adam, adamw, sgd }
    public var kind: Kind = .adam
    public var lr: Double = 1e-4
    public var weightDecay: Double = 0
    public var momentum: Double = 0.9
    public var nesterov = false
    public var betas: (Double, Double) { (0.9, 0.999) }
    public var eps: Double = 1e-8

    public init(kind: Kind = .adam, lr: Double = 1e-4, weightDecay: Double = 0, momentum: Double = 0.9, nesterov: Bool = false) {
        self.kind = kind; self.lr = lr; self.weightDecay = weightDecay; self.momentum = momentum; self.nesterov = nesterov
    }
}

/// torch.optim's SGD, Adam and AdamW (single-tensor code paths, the CPU default), step for
/// step: the same float32 arithmetic in the same order, so one step agrees with PyTorch's.
public final class Optimizer {
    public let config: OptimizerConfig
    /// The learning rate of the next step (schedules change it between epochs).
    public var lr: Double
    /// Per-parameter state, by parameter name: SGD's momentum buffer; Adam's exp_avg and
    /// exp_avg_sq. `steps` counts Adam's steps.
    public private(set) var buffers: [String: [[Float]]] = [:]
    public private(set) var steps: [String: Int] = [:]
    /// Each parameter's rate relative to `lr`, by name (`--lr-backbone`, `--lr-slice`): torch's
    /// param groups, each scheduled from its own base rate; 1 when absent.
    public var lrFactors: [String: Double] = [:]

    public init(_ config: OptimizerConfig) {
        self.config = config
        lr = config.lr
    }

    public func step(_ parameters: [Parameter]) {
        for p in parameters where p.trainable {
            switch config.kind {
            case .sgd: sgd(p)
            case .adam, .adamw: adam(p, decoupled: config.kind == .adamw)
            }
        }
    }

    /// The rate of `p`'s step: its group's.
    func rate(_ p: Parameter) -> Double { lr * (lrFactors[p.name] ?? 1) }

    private func sgd(_ p: Parameter) {
        let wd = Float(config.weightDecay), momentum = Float(config.momentum), lr = Float(rate(p))
        let n = p.count
        var buf = buffers.removeValue(forKey: p.name)?.first
        let fresh = buf == nil
        if fresh { buf = [Float](repeating: 0, count: n) }
        let value = p.value, grad = p.grad, nesterov = config.nesterov  // read once, outside the loop
        buf!.withUnsafeMutableBufferPointer { b in
            Optimizer.inChunks(n) { range in
                for i in range {
                    var d = grad[i]
                    if wd != 0 { d = d + wd * value[i] }
                    if momentum != 0 {
                        b[i] = fresh ? d : b[i] * momentum + d            // dampening 0
                        d = nesterov ? d + momentum * b[i] : b[i]
                    }
                    value[i] = value[i] + (-lr) * d
                }
            }
        }
        if momentum != 0 { buffers[p.name] = [buf!] }
    }

    private func adam(_ p: Parameter, decoupled: Bool) {
        let n = p.count, lr = rate(p)
        var state = buffers.removeValue(forKey: p.name) ?? [[Float](repeating: 0, count: n), [Float](repeating: 0, count: n)]
        let step = (steps[p.name] ?? 0) + 1
        steps[p.name] = step
        let (beta1, beta2) = config.betas
        let bc1 = 1 - pow(beta1, Double(step))
        let bc2 = 1 - pow(beta2, Double(step))
        let stepSize = Float(lr / bc1)
        let bc2Sqrt = Float(bc2.squareRoot())
        let eps = Float(config.eps), wd = Float(config.weightDecay)
        let decay = Float(1 - lr * config.weightDecay)
        let w1 = Float(1 - beta1), b2 = Float(beta2), w2 = Float(1 - beta2)
        var expAvg = state[0], expAvgSq = state[1]
        state = []
        let value = p.value, grad = p.grad  // read once, outside the loop
        expAvg.withUnsafeMutableBufferPointer { m in
            expAvgSq.withUnsafeMutableBufferPointer { v in
                Optimizer.inChunks(n) { range in
                    let mp = m.baseAddress!, vp = v.baseAddress!, wp = value.baseAddress!, gp = grad.baseAddress!
                    for i in range {
                        var g = gp[i]
                        if wd != 0 {
                            if decoupled { wp[i] = wp[i] * decay } else { g = g + wd * wp[i] }
                        }
                        mp[i] = mp[i] + w1 * (g - mp[i])                      // lerp, weight < 0.5
                        vp[i] = vp[i] * b2 + w2 * (g * g)
                        let denom = vp[i].squareRoot() / bc2Sqrt + eps
                        wp[i] = wp[i] + (-stepSize) * (mp[i] / denom)
                    }
                }
            }
        }
        buffers[p.name] = [expAvg, expAvgSq]
    }

    /// Runs `body` over `0..<n` in contiguous chunks, one per compute thread, for tensors big
    /// enough to pay for the threads. Every element's update depends on that element alone, so
    /// the result is the same whatever the split.
    static func inChunks(_ n: Int, _ body: (Range<Int>) -> Void) {
        ComputeThreads.forEachChunk(of: n, minimumPerChunk: minimumPerChunk, body)
    }

    /// How many chunks `inChunks` splits `n` elements into.
    static func chunks(_ n: Int) -> Int { ComputeThreads.chunkCount(of: n, minimumPerChunk: minimumPerChunk) }

    /// Elements per chunk at least: smaller tensors are not worth waking the threads for.
    private static let minimumPerChunk = 1 << 16

    /// For `--resume`: the state as plain values.
    public func restore(buffers: [String: [[Float]]], steps: [String: Int], lr: Double) {
        self.buffers = buffers
        self.steps = steps
        self.lr = lr
    }
}

/// `--schedule`: how the learning rate moves (LRScheduler.swift computes it): none, cosine and
/// onecycle per optimizer step, cosine-epoch, step and plateau per epoch.
public enum LRSchedule: String, CaseIterable, Sendable, Codable {
    case none, cosine, onecycle, step, plateau
    case cosineEpoch = "cosine-epoch"
}
