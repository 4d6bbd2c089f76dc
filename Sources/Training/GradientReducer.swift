import Cluster
import Engine
import Foundation

/// Averages the trainable parameters' gradients over the job's processes as PyTorch's
/// DistributedDataParallel does: parameters in reverse order, grouped into buckets of about
/// `bucketBytes` (DDP's 25 MB); a bucket's allreduce (MPI_Iallreduce) starts as soon as backward
/// has written its last gradient, so communication overlaps the rest of backward; `finish` waits
/// for all of them and writes each gradient back divided by the process count (DDP's hook
/// divides before summing; for two processes both are exact).
///
/// Buckets start in order, and every rank's backward hands over the same parameters in the same
/// order, so every rank issues the same collectives in the same order, as MPI requires.
public final class GradientReducer {
    /// A run's figures: what `finish` waited for and how much of the communication overlapped backward.
    public struct Timing: Codable, Equatable, Sendable {
        /// Optimizer steps whose gradients were reduced.
        public var steps = 0
        /// Seconds from the first bucket's start to the end of backward, summed over steps: the
        /// communication hidden behind backward (bounded by when the last bucket finished).
        public var overlappedSeconds = 0.0
        /// Seconds `finish` waited after backward for the reductions, summed over steps.
        public var waitSeconds = 0.0
    }

    final class Bucket {
        let parameters: [Parameter]
        let buffer: UnsafeMutableBufferPointer<Float>
        var waiting: Set<ObjectIdentifier> = []
        var pending: PendingReduction?
        var done = false
        init(_ parameters: [Parameter]) {
            self.parameters = parameters
            buffer = .allocate(capacity: parameters.reduce(0) { $0 + $1.count })
            buffer.initialize(repeating: 0)
        }
        deinit { buffer.deallocate() }
    }

    public let cluster: Cluster
    let buckets: [Bucket]
    private let bucketOf: [ObjectIdentifier: Int]
    /// Buckets started so far this step (they start in order).
    private var started = 0
    private var firstStart: Date?
    private var lastDone: Date?
    public private(set) var timing = Timing()

    /// `parameters` in state-dict order (the model's); only the trainable ones are reduced.
    public init(parameters: [Parameter], cluster: Cluster, bucketBytes: Int = 25 << 20) {
        self.cluster = cluster
        var groups: [[Parameter]] = [[]]
        var bytes = 0
        for p in parameters.reversed() where p.trainable {
            if bytes > 0 && bytes + p.count * 4 > bucketBytes { groups.append([]); bytes = 0 }
            groups[groups.count - 1].append(p)
            bytes += p.count * 4
        }
        buckets = groups.filter { !$0.isEmpty }.map(Bucket.init)
        var index: [ObjectIdentifier: Int] = [:]
        for (b, bucket) in buckets.enumerated() { for p in bucket.parameters { index[ObjectIdentifier(p)] = b } }
        bucketOf = index
    }

    /// Bytes reduced per step (float32 gradients of the trainable parameters).
    public var bytesPerStep: Int { buckets.reduce(0) { $0 + $1.buffer.count * 4 } }
    public var bucketCount: Int { buckets.count }

    /// Starts a step: every gradient is awaited again.
    public func begin() {
        for b in buckets {
            b.waiting = Set(b.parameters.map(ObjectIdentifier.init))
            b.pending = nil
            b.done = false
        }
        started = 0
        firstStart = nil
        lastDone = nil
    }

    /// Backward has written the final gradients of `parameters` (frozen ones are ignored):
    /// starts every bucket that is complete and next in order, and lets Open MPI advance those
    /// in flight.
    public func ready(_ parameters: [Parameter]) {
        for p in parameters where p.trainable {
            if let b = bucketOf[ObjectIdentifier(p)] { buckets[b].waiting.remove(ObjectIdentifier(p)) }
        }
        while started < buckets.count && buckets[started].waiting.isEmpty { start(buckets[started]) }
        progress()
    }

    private func start(_ b: Bucket) {
        var offset = 0
        let n = Float(cluster.size)
        for p in b.parameters {
            for i in 0..<p.count { b.buffer[offset + i] = p.grad[i] / n }
            offset += p.count
        }
        if firstStart == nil { firstStart = Date() }
        b.pending = cluster.startAllreduceSum(b.buffer)
        started += 1
    }

    /// Tests the reductions in flight (Open MPI advances them only inside MPI calls).
    private func progress() {
        for b in buckets[..<started] where !b.done {
            if b.pending?.test() ?? true { b.done = true; lastDone = Date() }
        }
    }

    /// After backward: starts what has not started (parameters backward never reached keep a
    /// zero gradient), waits for every reduction and writes the averaged gradients back.
    public func finish() {
        let backwardEnd = Date()
        let allDoneInBackward = started == buckets.count && buckets.allSatisfy(\.done)
        while started < buckets.count { start(buckets[started]) }
        for b in buckets where !b.done {
            b.pending?.wait()
            b.done = true
        }
        let end = Date()
        if let s = firstStart {
            let finished = allDoneInBackward ? (lastDone ?? backwardEnd) : backwardEnd
            timing.overlappedSeconds += max(0, finished.timeIntervalSince(s))
        }
        timing.waitSeconds += end.timeIntervalSince(backwardEnd)
        timing.steps += 1
        for b in buckets {
            var offset = 0
            for p in b.parameters {
                p.grad.baseAddress!.update(from: b.buffer.baseAddress! + offset, count: p.count)
                offset += p.count
            }
        }
    }
}
