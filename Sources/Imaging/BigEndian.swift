/// The unsigned big-endian 32-bit number at `at` in `bytes` (PNG lengths and sizes, zlib's
/// Adler-32). The caller checks that four bytes are there.
@inline(__always)
func bigEndian32<C: RandomAccessCollection>(_ bytes: C, _ at: Int) -> Int where C.Element == UInt8, C.Index == Int {
    Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])
}
