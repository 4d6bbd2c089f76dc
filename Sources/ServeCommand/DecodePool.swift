import Foundation

/// `graft serve`'s decode threads: decoding and preprocessing run here, off Swift's cooperative
/// threads and beside the model's, as batch_predict overlaps them. At most `threads` images are
/// decoded at once, so that large images cannot take all the memory together.
final class DecodePool: @unchecked Sendable {
    private let lock = NSCondition()
    private var work: [@Sendable () -> Void] = []
    private var closed = false
    private let stopped: DispatchGroup = DispatchGroup()

    init(threads: Int) {
        for i in 0..<max(1, threads) {
            stopped.enter()
            let thread = Thread { [self] in
                while let item = next() { item() }
                stopped.leave()
            }
            thread.name = "graft-serve-decode-\(i)"
            thread.start()
        }
    }

    private func next() -> (@Sendable () -> Void)? {
        lock.lock(); defer { lock.unlock() }
        while work.isEmpty && !closed { lock.wait() }
        return work.isEmpty ? nil : work.removeFirst()
    }

    /// Runs `body` on a decode thread.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            lock.lock()
            work.append { continuation.resume(with: Result { try body() }) }
            lock.signal()
            lock.unlock()
        }
    }

    /// Finishes what is queued, then the threads exit.
    func close() {
        lock.lock()
        closed = true
        lock.broadcast()
        lock.unlock()
        stopped.wait()
    }
}
