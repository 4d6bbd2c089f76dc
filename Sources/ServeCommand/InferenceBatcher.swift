import Foundation

/// Dynamic batching for `graft serve`: images from any number of requests wait at most
/// `maxWait` to fill a batch of up to `maxBatch`, and one thread runs the model on each batch.
///
/// Admission control: a request reserves a place for each of its images before they are decoded
/// (`admit`), and is refused at once when `maxQueue` images are already waiting (admitted, not yet
/// taken into a batch): overload is answered fast, never absorbed into memory. A batch of n
/// images runs as batches of the powers of two that sum to n (13 = 8 + 4 + 1), the sizes the
/// warm-up prepared: no request meets a batch size whose primitives are still to be created.
final class InferenceBatcher: @unchecked Sendable {
    struct Limits: Sendable {
        var maxBatch = 32
        var maxWait: Duration = .milliseconds(5)
        var maxQueue = 256
    }

    enum Refusal: Error {
        /// `waiting` images are queued; the request asked for `asked` more.
        case queueFull(waiting: Int, asked: Int, limit: Int)
        case starting
        case draining
    }

    /// Runs the model: the probability rows (`count * classes` floats) of the first `count`
    /// images of the buffer, which has room for `count * roomPerImage` floats. Called on the
    /// batcher's thread only.
    typealias Compute = (_ images: UnsafeMutableBufferPointer<Float>, _ count: Int) throws -> [Float]

    let limits: Limits
    let floatsPerImage: Int
    let classes: Int
    /// What the batch sizes run (for metrics): called on the batcher's thread after each batch.
    var onBatch: (@Sendable (_ size: Int, _ seconds: Double) -> Void)?

    private struct Job {
        let tensor: [Float]
        let arrived: ContinuousClock.Instant
        let done: @Sendable (Result<[Float], Error>) -> Void
    }

    private let lock = NSCondition()
    private var pending: [Job] = []
    /// Images admitted and not yet taken into a batch (decoding or pending).
    private var reserved = 0
    private var ready = false
    /// New requests are refused (503); those already in hand are still admitted.
    private var draining = false
    /// No request is left in hand: the thread answers what is admitted, then exits.
    private var stopping = false
    private var finished = false
    private let exited = DispatchSemaphore(value: 0)
    private let compute: Compute
    private let roomPerImage: Int

    /// Runs first on the batcher's thread, before the warm-up (`--conv auto`'s decisions for the
    /// prepared sizes). Set before `start`.
    var prepare: () throws -> Void

    /// - Parameters:
    ///   - roomPerImage: floats the compute may use per image (twice `floatsPerImage` with
    ///     test-time augmentation, for the mirrors).
    init(limits: Limits, floatsPerImage: Int, roomPerImage: Int, classes: Int,
         prepare: @escaping () throws -> Void = {}, compute: @escaping Compute) {
        self.limits = limits
        self.floatsPerImage = floatsPerImage
        self.roomPerImage = roomPerImage
        self.classes = classes
        self.prepare = prepare
        self.compute = compute
    }

    /// The batch sizes every batch is made of: the powers of two up to `maxBatch`, largest first.
    var preparedSizes: [Int] {
        var sizes: [Int] = []
        var s = 1
        while s <= limits.maxBatch { sizes.insert(s, at: 0); s *= 2 }
        return sizes
    }

    /// `n` (at most `maxBatch`) as the prepared sizes that sum to it, largest first: its binary
    /// digits (n is below twice the largest prepared size).
    func decompose(_ n: Int) -> [Int] {
        precondition(n <= limits.maxBatch)
        return preparedSizes.filter { n & $0 != 0 }
    }

    /// Starts the batcher's thread: `prepare`, then the warm-up (a blank batch of each prepared
    /// size, so that every primitive exists before the first request), then `onReady` and
    /// batches until `drain` and the last admitted image is answered.
    func start(onReady: @escaping @Sendable (Result<Void, Error>) -> Void) {
        let thread = Thread { [self] in
            let result = Result { try warmUp() }
            lock.lock()
            ready = (try? result.get()) != nil
            lock.unlock()
            onReady(result)
            if ready { loop() }
            lock.lock()
            finished = true
            let left = pending
            pending = []
            lock.unlock()
            for job in left { job.done(.failure(Refusal.draining)) }
            exited.signal()
        }
        thread.name = "graft-serve-model"
        thread.stackSize = 8 << 20
        thread.start()
    }

    var isReady: Bool { lock.lock(); defer { lock.unlock() }; return ready && !draining }
    var isDraining: Bool { lock.lock(); defer { lock.unlock() }; return draining }

    /// Images waiting (admitted, not yet taken into a batch).
    var depth: Int { lock.lock(); defer { lock.unlock() }; return reserved }

    /// Reserves places for `n` images, or refuses: not warmed yet, stopped, or the queue full.
    /// (A request that arrives while draining is refused before it gets here.)
    func admit(_ n: Int) throws {
        lock.lock(); defer { lock.unlock() }
        if stopping || finished { throw Refusal.draining }
        if !ready { throw Refusal.starting }
        guard reserved + n <= limits.maxQueue else {
            throw Refusal.queueFull(waiting: reserved, asked: n, limit: limits.maxQueue)
        }
        reserved += n
    }

    /// Gives back `n` places admitted for images that will not come (they failed to decode).
    func cancel(_ n: Int) {
        lock.lock()
        reserved -= n
        lock.broadcast()
        lock.unlock()
    }

    /// Queues one admitted image's tensor (`floatsPerImage` floats) and waits for its
    /// probabilities.
    func submit(_ tensor: [Float]) async throws -> [Float] {
        precondition(tensor.count == floatsPerImage)
        return try await withCheckedThrowingContinuation { continuation in
            lock.lock()
            if finished {
                lock.unlock()
                continuation.resume(throwing: Refusal.draining)
                return
            }
            pending.append(Job(tensor: tensor, arrived: .now, done: { continuation.resume(with: $0) }))
            lock.broadcast()
            lock.unlock()
        }
    }

    /// Once no request is left in hand: the thread answers everything admitted, then exits.
    /// Returns when it has.
    func drain() {
        lock.lock()
        draining = true
        stopping = true
        lock.broadcast()
        lock.unlock()
        exited.wait()
        exited.signal()
    }

    /// Marks the start of draining (new requests are refused from now on; batches no longer
    /// wait to fill).
    func beginDraining() {
        lock.lock()
        draining = true
        lock.broadcast()
        lock.unlock()
    }

    private func warmUp() throws {
        try prepare()
        let size = preparedSizes.first ?? 1
        let blank = UnsafeMutableBufferPointer<Float>.allocate(capacity: size * roomPerImage)
        defer { blank.deallocate() }
        for s in preparedSizes {
            blank.initialize(repeating: 0)
            _ = try compute(UnsafeMutableBufferPointer(rebasing: blank[0..<(s * roomPerImage)]), s)
        }
    }

    private func loop() {
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(1, limits.maxBatch) * roomPerImage)
        defer { buffer.deallocate() }
        while true {
            lock.lock()
            while pending.isEmpty && !(stopping && reserved == 0) { lock.wait() }
            if pending.isEmpty { lock.unlock(); return }
            // Fill the batch: wait until it is full or its first image has waited maxWait
            // (no waiting while draining: what is admitted is all there will be).
            let deadline = pending[0].arrived + limits.maxWait
            while pending.count < limits.maxBatch && !draining {
                let left = ContinuousClock.now.duration(to: deadline)
                guard left > .zero else { break }
                let (s, a) = left.components
                _ = lock.wait(until: Date(timeIntervalSinceNow: Double(s) + Double(a) * 1e-18))
            }
            let jobs = Array(pending.prefix(limits.maxBatch))
            pending.removeFirst(jobs.count)
            reserved -= jobs.count
            lock.unlock()
            run(jobs, buffer: buffer)
        }
    }

    private func run(_ jobs: [Job], buffer: UnsafeMutableBufferPointer<Float>) {
        let start = ContinuousClock.now
        var first = 0
        for size in decompose(jobs.count) {
            let part = jobs[first..<(first + size)]
            first += size
            for (slot, job) in part.enumerated() {
                _ = UnsafeMutableBufferPointer(rebasing: buffer[(slot * floatsPerImage)..<((slot + 1) * floatsPerImage)])
                    .update(fromContentsOf: job.tensor)
            }
            do {
                let probs = try compute(UnsafeMutableBufferPointer(rebasing: buffer[0..<(size * roomPerImage)]), size)
                for (slot, job) in part.enumerated() {
                    job.done(.success(Array(probs[(slot * classes)..<((slot + 1) * classes)])))
                }
            } catch {
                for job in part { job.done(.failure(error)) }
            }
        }
        let (s, a) = (ContinuousClock.now - start).components
        onBatch?(jobs.count, Double(s) + Double(a) * 1e-18)
    }
}
