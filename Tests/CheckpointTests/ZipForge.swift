import Foundation
@testable import Checkpoint

/// Writes zip archives byte by byte, declaring whatever sizes a test asks for (libzip would
/// write the true ones): how the hostile files of `HostileFileTests` are made at run time,
/// so that none of them is committed.
enum ZipForge {
    struct Entry {
        var name: String
        /// The bytes stored in the archive: raw for method 0, a deflate stream (or anything
        /// pretending to be one) for method 8.
        var data: [UInt8]
        var method: UInt16 = 0
        /// The uncompressed size the headers declare; the data's length when nil.
        var declaredSize: UInt32? = nil
    }

    static func write(_ entries: [Entry], to path: String) throws {
        var out: [UInt8] = []
        var central: [UInt8] = []
        func u16(_ v: UInt16, _ b: inout [UInt8]) { b += [UInt8(v & 0xFF), UInt8(v >> 8)] }
        func u32(_ v: UInt32, _ b: inout [UInt8]) { for i in 0..<4 { b.append(UInt8((v >> (8 * UInt32(i))) & 0xFF)) } }
        for e in entries {
            let name = Array(e.name.utf8)
            let crc = e.method == 0 ? crc32(e.data) : 0
            let usize = e.declaredSize ?? UInt32(e.data.count)
            let offset = UInt32(out.count)
            u32(0x0403_4B50, &out); u16(20, &out); u16(0, &out); u16(e.method, &out); u16(0, &out); u16(0x21, &out)
            u32(crc, &out); u32(UInt32(e.data.count), &out); u32(usize, &out); u16(UInt16(name.count), &out); u16(0, &out)
            out += name + e.data
            u32(0x0201_4B50, &central); u16(20, &central); u16(20, &central); u16(0, &central); u16(e.method, &central)
            u16(0, &central); u16(0x21, &central); u32(crc, &central); u32(UInt32(e.data.count), &central); u32(usize, &central)
            u16(UInt16(name.count), &central); u16(0, &central); u16(0, &central); u16(0, &central); u16(0, &central)
            u32(0, &central); u32(offset, &central)
            central += name
        }
        let cdOffset = UInt32(out.count)
        out += central
        u32(0x0605_4B50, &out); u16(0, &out); u16(0, &out); u16(UInt16(entries.count), &out); u16(UInt16(entries.count), &out)
        u32(UInt32(central.count), &out); u32(cdOffset, &out); u16(0, &out)
        try Data(out).write(to: URL(fileURLWithPath: path))
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    /// data.pkl of `{'w': tensor}` as torch.save writes it: one storage, key "0", of `numel`
    /// elements, viewed with `shape` and `stride`.
    static func tensorPickle(numel: Int, shape: [Int], stride: [Int], dtype: DType = .float32) -> [UInt8] {
        // PickleWriter's pieces, each without its PROTO header.
        func piece(_ f: (inout PickleWriter) -> Void) -> [UInt8] { var w = PickleWriter(); f(&w); return Array(w.bytes.dropFirst(2)) }
        var p: [UInt8] = [0x80, 0x02] + piece { $0.emptyOrderedDict() }
        p += [0x28] + piece { $0.string("w"); $0.global("torch._utils", "_rebuild_tensor_v2") }   // MARK
        p += [0x28, 0x28]                                       // MARK (args), MARK (pid)
        p += piece { $0.string("storage"); $0.global("torch", dtype.storageName); $0.string("0"); $0.string("cpu"); $0.int(numel) }
        p += [0x74, 0x51]                                       // TUPLE, BINPERSID
        p += piece { $0.int(0); $0.tuple(shape); $0.tuple(stride) }
        p += [0x89] + piece { $0.emptyOrderedDict() }           // requires_grad False, hooks
        p += [0x74, 0x52, 0x75, 0x2E]                           // TUPLE, REDUCE, SETITEMS, STOP
        return p
    }

    /// A one-tensor checkpoint: `archive/data.pkl` (stored) and `archive/data/0` as given.
    static func checkpoint(at path: String, pickle: [UInt8], record: Entry) throws {
        var r = record
        r.name = "archive/data/0"
        try write([Entry(name: "archive/data.pkl", data: pickle), r, Entry(name: "archive/version", data: Array("3\n".utf8))], to: path)
    }
}
