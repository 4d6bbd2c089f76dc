import Dispatch
import Synchronization

/// Batches processed in order, each one loaded (decoded, transformed) on a background thread
/// while the batch before it computes: the one overlapped decode-while-compute loop of predict,
/// batch_predict and the trainer (its training batches, validation and feature cache).
///
/// For `count` batches it runs `load(0)` on the calling thread, then for each batch `b`:
/// starts `load(b + 1)` in the background, runs `body(b, loaded)` on the calling thread, and
/// waits for `load(b + 1)` to finish. So at most two loads' results are alive at once, and
/// `load(b + 2)` starts only after `body(b)` returned: a load may write into the buffer of
/// batch `b % 2` (`BatchBuffers`) while the body reads the other one. Batches reach `body` in
/// order, and every batch reaches it: a load reports its failures in what it returns.
public struct BatchPipeline<Loaded: Sendable>: Sendable {
    public let count: Int
    /// Runs on a background thread (and on the caller's for batch 0), one call at a time.
    let load: @Sendable (_ batch: Int) -> Loaded

    public init(count: Int, load: @escaping @Sendable (_ batch: Int) -> Loaded) {
        self.count = max(0, count)
        self.load = load
    }

    /// Runs `body` on each batch in order. When `body` throws, the load under way is awaited
    /// before the error propagates, so nothing runs in the background after this returns.
    public func run(_ body: (_ batch: Int, _ loaded: Loaded) throws -> Void) rethrows {
        guard count > 0 else { return }
        let queue = DispatchQueue(label: "graft.batch-pipeline")
        var current = load(0)
        for b in 0..<count {
            let next = Handoff<Loaded>()
            let group = DispatchGroup()
            if b + 1 < count {
                let load = self.load
                queue.async(group: group) { next.put(load(b + 1)) }
            }
            defer { group.wait() }
            try body(b, current)
            group.wait()
            guard let loaded = next.take() else { break }   // the last batch
            current = loaded
        }
    }
}

/// A load's result on its way from the background thread to the caller, behind a mutex (the
/// compiler checks that what it holds is Sendable).
final class Handoff<Value: Sendable>: Sendable {
    private let value = Mutex<Value?>(nil)

    func put(_ v: Value) { value.withLock { $0 = v } }
    func take() -> Value? { value.withLock { $0.take() } }
}

/// The two float buffers of a `BatchPipeline` whose loads write in place: batch `b` uses
/// `buffer(for: b)`, `capacity` floats each, allocated once and freed with this object.
///
/// `@unchecked Sendable`: the buffers are shared between the pipeline's background thread and
/// the caller without a lock. This is safe because of the pipeline's order (see
/// `BatchPipeline`): `load(b + 1)` writes buffer `(b + 1) % 2` while `body(b)` reads buffer
/// `b % 2`, and `load(b + 2)`, the next writer of buffer `b % 2`, starts only after `body(b)`
/// returned; the DispatchGroup wait between them orders the accesses. Use a buffer only inside
/// the load or body of its own batch.
public final class BatchBuffers: @unchecked Sendable {
    private let buffers: [UnsafeMutableBufferPointer<Float>]
    public let capacity: Int

    public init(capacity: Int) {
        self.capacity = capacity
        buffers = [UnsafeMutableBufferPointer<Float>.allocate(capacity: capacity),
                   UnsafeMutableBufferPointer<Float>.allocate(capacity: capacity)]
    }

    deinit { buffers.forEach { $0.deallocate() } }

    public func buffer(for batch: Int) -> UnsafeMutableBufferPointer<Float> { buffers[batch % 2] }
}
