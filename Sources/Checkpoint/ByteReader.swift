/// A bounds-checked little-endian reader over a byte array. Every read that would pass the
/// end throws `truncated`.
struct ByteReader {
    let bytes: [UInt8]
    let path: String
    var offset: Int
    let end: Int

    init(_ bytes: [UInt8], path: String, offset: Int = 0, end: Int? = nil) {
        self.bytes = bytes
        self.path = path
        self.offset = offset
        self.end = min(end ?? bytes.count, bytes.count)
    }

    var remaining: Int { end - offset }
    var atEnd: Bool { offset >= end }

    mutating func need(_ n: Int, _ what: @autoclosure () -> String) throws {
        guard n >= 0, n <= remaining else {
            throw CheckpointError.truncated(path: path, what: "\(what()) needs \(n) bytes at byte \(offset), \(max(remaining, 0)) left")
        }
    }

    mutating func u8(_ what: @autoclosure () -> String = "a byte") throws -> UInt8 {
        try need(1, what())
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func uint<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String = "an integer") throws -> T {
        let n = MemoryLayout<T>.size
        try need(n, what())
        var v: T = 0
        for i in 0..<n { v |= T(truncatingIfNeeded: bytes[offset + i]) << (8 * i) }
        offset += n
        return v
    }

    mutating func take(_ n: Int, _ what: @autoclosure () -> String = "data") throws -> ArraySlice<UInt8> {
        try need(n, what())
        defer { offset += n }
        return bytes[offset..<offset + n]
    }

    /// Bytes up to (not including) the next `\n`, which is consumed.
    mutating func line(_ what: @autoclosure () -> String = "a line") throws -> ArraySlice<UInt8> {
        var i = offset
        while i < end, bytes[i] != 0x0A { i += 1 }
        guard i < end else { throw CheckpointError.truncated(path: path, what: "\(what()) at byte \(offset) has no end of line") }
        defer { offset = i + 1 }
        return bytes[offset..<i]
    }
}

/// Checked arithmetic helpers: sizes from a file never overflow silently.
func checkedMul(_ a: Int, _ b: Int, path: String, _ what: @autoclosure () -> String) throws -> Int {
    let (r, o) = a.multipliedReportingOverflow(by: b)
    if o { throw CheckpointError.overflow(path: path, what: what()) }
    return r
}

func checkedAdd(_ a: Int, _ b: Int, path: String, _ what: @autoclosure () -> String) throws -> Int {
    let (r, o) = a.addingReportingOverflow(b)
    if o { throw CheckpointError.overflow(path: path, what: what()) }
    return r
}
