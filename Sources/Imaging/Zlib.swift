import CPNGRead

/// Why a zlib stream was not inflated.
enum ZlibError: Error, CustomStringConvertible, Equatable {
    /// The stream inflates to more than `limit` bytes.
    case tooLong(limit: Int)
    /// The stream is damaged, cut short or fails its checksum (zlib's words, or ours).
    case damaged(String)

    var description: String {
        switch self {
        case let .tooLong(limit): return "the compressed data inflates to more than \(limit) bytes"
        case let .damaged(reason): return reason
        }
    }
}

/// zlib streams (RFC 1950), inflated and written by zlib itself (graft_zlib.c): the
/// compressed text and profile chunks Pillow reads, and the image data `PNGRewrap` re-wraps.
enum Zlib {
    /// The bytes a whole, checked zlib stream inflates to; past `limit` bytes it stops with
    /// `.tooLong`. A stream that is damaged, cut or lacks its checksum throws `.damaged`.
    static func inflate(_ data: [UInt8], limit: Int) throws -> [UInt8] {
        let (bytes, status, message) = run(data, maxOut: limit + 1)
        // More than `limit` bytes came out, whatever follows them (the stream may even end there).
        guard bytes.count <= limit else { throw ZlibError.tooLong(limit: limit) }
        switch status {
        case GRAFT_INFLATE_END:
            return bytes
        case GRAFT_INFLATE_UNCHECKED:
            throw ZlibError.damaged("zlib checksum missing")
        default:
            throw ZlibError.damaged(message)
        }
    }

    /// The first `count` bytes a zlib stream inflates to, as far as it gets: what a reader
    /// that stops once it has every byte it needs sees (Pillow's PNG decoder), blind to
    /// damage after them and to a missing end or checksum. Nil when the zlib header is bad,
    /// and when the stream ends right after the last needed byte and its checksum is wrong
    /// (zlib goes on to the checksum then, and reports the mismatch, as Pillow then does).
    static func prefix(_ data: [UInt8], count: Int) -> [UInt8]? {
        guard data.count >= 2 else { return nil }
        let (bytes, status, _) = run(data, maxOut: count)
        switch status {
        case GRAFT_INFLATE_CHECKSUM where bytes.count == count:
            return nil
        case GRAFT_INFLATE_BROKEN where bytes.isEmpty:
            return nil  // a bad header (or damage before any byte): nothing Pillow could use
        case GRAFT_INFLATE_MEMORY:
            return nil
        default:
            return bytes
        }
    }

    /// `raw` in a zlib stream of stored blocks (zlib at level 0); nil when out of memory.
    static func stored(_ raw: [UInt8]) -> [UInt8]? {
        var result = graft_inflated()
        defer { graft_inflated_free(&result) }
        let status = raw.withUnsafeBufferPointer { p in graft_deflate_stored(p.baseAddress, p.count, &result) }
        guard graft_inflate_status(rawValue: UInt32(bitPattern: status)) == GRAFT_INFLATE_END else { return nil }
        return copy(result)
    }

    /// graft_inflate's output, status and message.
    private static func run(_ data: [UInt8], maxOut: Int) -> ([UInt8], graft_inflate_status, String) {
        var result = graft_inflated()
        defer { graft_inflated_free(&result) }
        let status = data.withUnsafeBufferPointer { p in
            graft_inflate(p.baseAddress, p.count, maxOut, &result)
        }
        let message = withUnsafeBytes(of: &result.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return (copy(result), graft_inflate_status(rawValue: UInt32(bitPattern: status)), message)
    }

    private static func copy(_ result: graft_inflated) -> [UInt8] {
        guard let base = result.data, result.size > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: base, count: result.size))
    }
}
