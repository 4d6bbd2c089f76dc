import Foundation

/// A thread-safe map from a shape key to what was built for it (primitives, reordered
/// weights). Ops build their primitives once per input layout and reuse them across batches.
/// Thread-safe: `entries` is read and written under `lock` only (hence `@unchecked Sendable`).
final class PrimitiveCache<Key: Hashable, Value>: @unchecked Sendable {
    private var entries: [Key: Value] = [:]
    private let lock = NSLock()

    func value(for key: Key, make: () throws -> Value) throws -> Value {
        lock.lock()
        defer { lock.unlock() }
        if let v = entries[key] { return v }
        let v = try make()
        entries[key] = v
        return v
    }

    var keys: [Key] {
        lock.lock(); defer { lock.unlock() }
        return Array(entries.keys)
    }

    var values: [Value] {
        lock.lock(); defer { lock.unlock() }
        return Array(entries.values)
    }

    var count: Int {
        lock.lock(); defer { lock.unlock() }
        return entries.count
    }

    func removeAll() {
        lock.lock(); defer { lock.unlock() }
        entries.removeAll()
    }
}
