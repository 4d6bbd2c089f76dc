/// What ranks exchange through `gather` and `broadcast`, as bytes: fixed-width integers
/// little-endian, float32 runs as their bit patterns, raw bytes. Every reader knows the layout
/// its writer used (validation records, cached head inputs, batch_predict's results).
public struct Packet: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// The values' bit patterns, without a count.
    public mutating func append(floats values: [Float]) {
        bytes.reserveCapacity(bytes.count + 4 * values.count)
        for v in values { append(v.bitPattern) }
    }

    /// The bytes as they are, without a count.
    public mutating func append(bytes more: [UInt8]) { bytes += more }
}

/// Reads a `Packet` back; every read is nil when the packet ends too soon.
public struct PacketReader {
    public let bytes: [UInt8]
    public private(set) var offset = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var isAtEnd: Bool { offset >= bytes.count }

    public mutating func read<T: FixedWidthInteger>(_: T.Type) -> T? {
        let size = MemoryLayout<T>.size
        guard bytes.count - offset >= size else { return nil }
        var v: T = 0
        for i in 0..<size { v |= T(bytes[offset + i]) << (8 * i) }
        offset += size
        return v
    }

    public mutating func readFloats(count: Int) -> [Float]? {
        guard count >= 0, bytes.count - offset >= 4 * count else { return nil }
        var out = [Float](repeating: 0, count: count)
        for i in 0..<count { out[i] = Float(bitPattern: read(UInt32.self)!) }
        return out
    }

    public mutating func readBytes(count: Int) -> ArraySlice<UInt8>? {
        guard count >= 0, bytes.count - offset >= count else { return nil }
        defer { offset += count }
        return bytes[offset..<(offset + count)]
    }
}
