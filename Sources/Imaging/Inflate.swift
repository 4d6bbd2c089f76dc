/// A small, bounds-checked zlib (RFC 1950) / DEFLATE (RFC 1951) decoder in the style of
/// zlib's `puff.c`. Used only where libpng's simplified API cannot return the stored
/// samples (16-bit PNGs with an alpha channel); every read is checked and malformed
/// input throws `InflateError` instead of trapping.
struct InflateError: Error, CustomStringConvertible {
    let description: String
}

struct Inflater {
    private let input: [UInt8]
    private var pos = 0
    private var bitBuffer = 0
    private var bitCount = 0
    private var output: [UInt8] = []

    /// Decompresses a zlib stream, stopping with an error past `limit` output bytes.
    static func zlib(_ data: [UInt8], limit: Int) throws -> [UInt8] {
        guard data.count >= 6 else { throw InflateError(description: "zlib stream too short") }
        let cmf = Int(data[0]), flg = Int(data[1])
        guard cmf & 0x0F == 8, cmf >> 4 <= 7, (cmf << 8 | flg) % 31 == 0, flg & 0x20 == 0 else {
            throw InflateError(description: "bad zlib header")
        }
        var inflater = Inflater(input: data)
        inflater.pos = 2
        inflater.output.reserveCapacity(min(limit, 1 << 26))
        try inflater.run(limit: limit)
        // Adler-32 of the output, big-endian, right after the deflate data.
        let end = inflater.pos
        guard end + 4 <= data.count else { throw InflateError(description: "zlib checksum missing") }
        let stored = UInt32(bigEndian32(data, end))
        guard stored == adler32(inflater.output) else { throw InflateError(description: "zlib checksum mismatch") }
        return inflater.output
    }

    /// The first `count` bytes a zlib stream inflates to, as far as it gets: what a reader
    /// that stops once it has every byte it needs sees (Pillow's PNG decoder), blind to
    /// damage after them and to a missing end or checksum. Nil when the zlib header is bad.
    static func zlibPrefix(_ data: [UInt8], count: Int) -> [UInt8]? {
        guard data.count >= 2 else { return nil }
        let cmf = Int(data[0]), flg = Int(data[1])
        guard cmf & 0x0F == 8, cmf >> 4 <= 7, (cmf << 8 | flg) % 31 == 0, flg & 0x20 == 0 else { return nil }
        var inflater = Inflater(input: data)
        inflater.pos = 2
        inflater.output.reserveCapacity(min(count, 1 << 26))
        do {
            try inflater.run(limit: count + 65_536)
        } catch {
            // damage, or the end of the input: keep what came out before it
            return Array(inflater.output.prefix(count))
        }
        // The stream ends right after the last needed byte: zlib goes on to its checksum
        // (when present) and reports a mismatch, as Pillow then does.
        let end = inflater.pos
        if inflater.output.count == count && end + 4 <= data.count {
            let stored = UInt32(bigEndian32(data, end))
            if stored != adler32(inflater.output) { return nil }
        }
        return Array(inflater.output.prefix(count))
    }

    private init(input: [UInt8]) { self.input = input }

    private mutating func bits(_ n: Int) throws -> Int {
        while bitCount < n {
            guard pos < input.count else { throw InflateError(description: "compressed data ends early") }
            bitBuffer |= Int(input[pos]) << bitCount
            pos += 1
            bitCount += 8
        }
        let value = bitBuffer & ((1 << n) - 1)
        bitBuffer >>= n
        bitCount -= n
        return value
    }

    private mutating func run(limit: Int) throws {
        var last = 0
        repeat {
            last = try bits(1)
            switch try bits(2) {
            case 0: try stored(limit: limit)
            case 1: try codes(Huffman.fixedLength, Huffman.fixedDistance, limit: limit)
            case 2:
                let (lengths, distances) = try dynamicTables()
                try codes(lengths, distances, limit: limit)
            default: throw InflateError(description: "invalid deflate block type")
            }
        } while last == 0
    }

    private mutating func stored(limit: Int) throws {
        bitBuffer = 0; bitCount = 0  // to a byte boundary
        guard pos + 4 <= input.count else { throw InflateError(description: "stored block header cut") }
        let len = Int(input[pos]) | Int(input[pos + 1]) << 8
        let nlen = Int(input[pos + 2]) | Int(input[pos + 3]) << 8
        guard len == (~nlen & 0xFFFF) else { throw InflateError(description: "stored block length mismatch") }
        pos += 4
        guard pos + len <= input.count else { throw InflateError(description: "stored block cut") }
        guard output.count + len <= limit else { throw InflateError(description: "more image data than the header allows") }
        output += input[pos..<(pos + len)]
        pos += len
    }

    private mutating func decode(_ h: Huffman) throws -> Int {
        var code = 0, first = 0, index = 0
        for length in 1...15 {
            code |= try bits(1)
            let count = h.counts[length]
            if code - count < first { return h.symbols[index + (code - first)] }
            index += count
            first = (first + count) << 1
            code <<= 1
        }
        throw InflateError(description: "invalid Huffman code")
    }

    private static let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
                                     35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
    private static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
                                      3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    private static let distBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385,
                                   513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
    private static let distExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7,
                                    8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]

    private mutating func codes(_ lengths: Huffman, _ distances: Huffman, limit: Int) throws {
        while true {
            let symbol = try decode(lengths)
            if symbol < 256 {
                guard output.count < limit else { throw InflateError(description: "more image data than the header allows") }
                output.append(UInt8(symbol))
            } else if symbol == 256 {
                return
            } else {
                let s = symbol - 257
                guard s < 29 else { throw InflateError(description: "invalid length symbol") }
                let length = Self.lengthBase[s] + (try bits(Self.lengthExtra[s]))
                let d = try decode(distances)
                guard d < 30 else { throw InflateError(description: "invalid distance symbol") }
                let distance = Self.distBase[d] + (try bits(Self.distExtra[d]))
                guard distance <= output.count else { throw InflateError(description: "distance too far back") }
                guard output.count + length <= limit else { throw InflateError(description: "more image data than the header allows") }
                let start = output.count - distance
                for i in 0..<length { output.append(output[start + i]) }
            }
        }
    }

    private mutating func dynamicTables() throws -> (Huffman, Huffman) {
        let nlen = try bits(5) + 257, ndist = try bits(5) + 1, ncode = try bits(4) + 4
        guard nlen <= 286, ndist <= 30 else { throw InflateError(description: "bad dynamic block counts") }
        let order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]
        var codeLengths = [Int](repeating: 0, count: 19)
        for i in 0..<ncode { codeLengths[order[i]] = try bits(3) }
        let lencode = try Huffman(codeLengths)
        var lengths = [Int]()
        while lengths.count < nlen + ndist {
            let symbol = try decode(lencode)
            switch symbol {
            case 0..<16: lengths.append(symbol)
            case 16:
                guard let previous = lengths.last else { throw InflateError(description: "repeat with no previous length") }
                lengths += repeatElement(previous, count: 3 + (try bits(2)))
            case 17: lengths += repeatElement(0, count: 3 + (try bits(3)))
            default: lengths += repeatElement(0, count: 11 + (try bits(7)))
            }
        }
        guard lengths.count == nlen + ndist else { throw InflateError(description: "too many code lengths") }
        guard lengths[256] != 0 else { throw InflateError(description: "no end-of-block code") }
        return (try Huffman(Array(lengths[0..<nlen])), try Huffman(Array(lengths[nlen...])))
    }
}

/// A canonical Huffman code: how many codes of each length, and the symbols in code order.
struct Huffman {
    var counts = [Int](repeating: 0, count: 16)
    var symbols: [Int]

    init(_ lengths: [Int]) throws {
        var counts = [Int](repeating: 0, count: 16)
        for l in lengths { counts[l] += 1 }
        var left = 1
        for len in 1...15 {
            left <<= 1
            left -= counts[len]
            guard left >= 0 else { throw InflateError(description: "over-subscribed Huffman code") }
        }
        self.init(valid: lengths)
    }

    /// For lengths known to form a valid code (the fixed tables, or checked above).
    private init(valid lengths: [Int]) {
        for l in lengths { counts[l] += 1 }
        var offsets = [Int](repeating: 0, count: 16)
        for len in 1..<15 { offsets[len + 1] = offsets[len] + counts[len] }
        symbols = [Int](repeating: 0, count: lengths.count)
        for (symbol, l) in lengths.enumerated() where l != 0 {
            symbols[offsets[l]] = symbol
            offsets[l] += 1
        }
    }

    static let fixedLength: Huffman = {
        let lengths = [Int](repeating: 8, count: 144) + [Int](repeating: 9, count: 112)
            + [Int](repeating: 7, count: 24) + [Int](repeating: 8, count: 8)
        return Huffman(valid: lengths)
    }()
    static let fixedDistance = Huffman(valid: [Int](repeating: 5, count: 30))
}

func adler32(_ data: [UInt8]) -> UInt32 {
    var a: UInt32 = 1, b: UInt32 = 0
    var i = 0
    while i < data.count {
        let end = min(i + 5552, data.count)
        while i < end { a += UInt32(data[i]); b += a; i += 1 }
        a %= 65521; b %= 65521
    }
    return b << 16 | a
}
