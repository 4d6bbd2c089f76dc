import Foundation

/// Reuses freed 64-byte aligned tensor buffers of the same size. Large activations would
/// otherwise be mapped and page-faulted afresh by every forward pass. Holds at most
/// `limitBytes` of idle buffers; the rest are freed. Thread-safe: every field is read and
/// written under `lock` (hence `@unchecked Sendable`).
public final class BufferPool: @unchecked Sendable {
    private var idle: [Int: [UnsafeMutableRawPointer]] = [:]
    private var idleBytes = 0
    private var live = 0
    private var peak = 0
    private let lock = NSLock()
    private var limit: Int

    public init(limitBytes: Int = 1 << 30) { limit = limitBytes }

    /// The most idle bytes kept for reuse.
    public var limitBytes: Int {
        get { lock.lock(); defer { lock.unlock() }; return limit }
        set { lock.lock(); limit = newValue; lock.unlock() }
    }

    deinit { trim(to: 0) }

    /// A buffer of `byteCount` bytes (contents undefined).
    func take(_ byteCount: Int) -> UnsafeMutableRawPointer {
        lock.lock()
        live += byteCount
        if var list = idle[byteCount], let p = list.popLast() {
            idle[byteCount] = list.isEmpty ? nil : list
            idleBytes -= byteCount
            lock.unlock()
            return p
        }
        peak = max(peak, live + idleBytes)
        lock.unlock()
        return UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: 64)
    }

    /// Gives a buffer from `take` back.
    func give(_ p: UnsafeMutableRawPointer, _ byteCount: Int) {
        lock.lock()
        live -= byteCount
        if idleBytes + byteCount <= limit {
            idle[byteCount, default: []].append(p)
            idleBytes += byteCount
            lock.unlock()
        } else {
            lock.unlock()
            p.deallocate()
        }
    }

    /// Frees idle buffers until at most `bytes` are held.
    public func trim(to bytes: Int = 0) {
        lock.lock(); defer { lock.unlock() }
        for (size, list) in idle where idleBytes > bytes {
            for p in list { p.deallocate() }
            idleBytes -= size * list.count
            idle[size] = nil
        }
    }

    /// Bytes held by idle buffers.
    public var heldBytes: Int {
        lock.lock(); defer { lock.unlock() }
        return idleBytes
    }

    /// Bytes of the tensors alive now.
    public var liveBytes: Int {
        lock.lock(); defer { lock.unlock() }
        return live
    }

    /// The most bytes this pool has had from the system at once (live tensors and idle buffers):
    /// what tensors added to the process's peak memory.
    public var peakBytes: Int {
        lock.lock(); defer { lock.unlock() }
        return peak
    }
}
