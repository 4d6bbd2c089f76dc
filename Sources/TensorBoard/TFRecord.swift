import Foundation

/// TFRecord framing, as TensorFlow's record_writer and TensorBoard's RecordWriter write it:
/// each record is its length (UInt64, little endian), the masked CRC-32C of those 8 bytes, the
/// data, and the masked CRC-32C of the data (each CRC UInt32, little endian). Append-only: a
/// file cut short loses its last, partial record only.
public enum TFRecord {
    /// One framed record holding `data`.
    public static func frame(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(data.count + 16)
        let length = littleEndian(UInt64(data.count))
        out += length
        out += littleEndian(CRC32C.masked(length))
        out += data
        out += littleEndian(CRC32C.masked(data))
        return out
    }

    /// The records of `bytes`, each checked against both its CRCs. `path` names the file in
    /// errors, with the offset of the record that is wrong.
    public static func records(in bytes: [UInt8], path: String) throws -> [[UInt8]] {
        var records: [[UInt8]] = []
        var offset = 0
        while offset < bytes.count {
            guard bytes.count - offset >= 12 else {
                throw TensorBoardError.truncatedRecord(path: path, offset: offset)
            }
            let header = bytes[offset..<(offset + 8)]
            guard CRC32C.masked(header) == readUInt32(bytes, at: offset + 8) else {
                throw TensorBoardError.badLengthCRC(path: path, offset: offset)
            }
            let length = header.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let start = offset + 12
            guard length <= UInt64(bytes.count - start), bytes.count - start - Int(length) >= 4 else {
                throw TensorBoardError.truncatedRecord(path: path, offset: offset)
            }
            let data = Array(bytes[start..<(start + Int(length))])
            guard CRC32C.masked(data) == readUInt32(bytes, at: start + Int(length)) else {
                throw TensorBoardError.badDataCRC(path: path, offset: offset)
            }
            records.append(data)
            offset = start + Int(length) + 4
        }
        return records
    }

    static func littleEndian<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
        (0..<(T.bitWidth / 8)).map { UInt8(truncatingIfNeeded: v >> ($0 * 8)) }
    }

    /// The little-endian UInt32 at `offset` (the caller has checked the bounds).
    static func readUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << ($1 * 8) }
    }
}
