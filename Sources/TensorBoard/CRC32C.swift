/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of TFRecord framing,
/// table-driven a byte at a time. No package in the mirror provides it (swift-crypto has
/// hashes, not CRCs; Foundation and zlib have only the IEEE CRC-32). An event file is small:
/// a byte at a time is fast enough.
public enum CRC32C {
    static let table: [UInt32] = (0..<256).map { (n: UInt32) -> UInt32 in
        var c = n
        for _ in 0..<8 { c = c & 1 == 1 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    /// The CRC-32C of `bytes`: `checksum(Array("123456789".utf8)) == 0xE306_9283`.
    public static func checksum<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes { crc = table[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }

    /// TFRecord's masked CRC (TensorFlow's crc32c::Mask, TensorBoard's masked_crc32c): rotated
    /// right by 15 bits plus a constant, so that a CRC stored in the data does not checksum to
    /// a fixed point.
    public static func masked<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        let crc = checksum(bytes)
        return ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }
}
