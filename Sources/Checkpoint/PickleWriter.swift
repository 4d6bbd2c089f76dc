/// Writes the pickle (protocol 2) of a state dict exactly as torch.save lays one out: an
/// OrderedDict of `_rebuild_tensor_v2` calls on storages named by persistent ids.
struct PickleWriter {
    private(set) var bytes: [UInt8] = [0x80, 0x02]   // PROTO 2

    mutating func global(_ module: String, _ name: String) {
        bytes.append(0x63)  // GLOBAL
        bytes += Array(module.utf8) + [0x0A] + Array(name.utf8) + [0x0A]
    }

    mutating func string(_ s: String) {
        let u = Array(s.utf8)
        bytes.append(0x58)  // BINUNICODE
        bytes += withUnsafeBytes(of: UInt32(u.count).littleEndian, Array.init)
        bytes += u
    }

    mutating func int(_ v: Int) {
        if v >= 0 && v < 256 {
            bytes += [0x4B, UInt8(v)]                                       // BININT1
        } else if v >= 0 && v < 65536 {
            bytes += [0x4D, UInt8(v & 0xFF), UInt8(v >> 8)]                 // BININT2
        } else if let i = Int32(exactly: v) {
            bytes.append(0x4A)                                              // BININT
            bytes += withUnsafeBytes(of: i.littleEndian, Array.init)
        } else {
            bytes += [0x8A, 8]                                              // LONG1, 8 bytes
            bytes += withUnsafeBytes(of: Int64(v).littleEndian, Array.init)
        }
    }

    mutating func tuple(_ items: [Int]) {
        switch items.count {
        case 0: bytes.append(0x29)                                          // EMPTY_TUPLE
        case 1...3:
            items.forEach { int($0) }
            bytes.append([0x85, 0x86, 0x87][items.count - 1])               // TUPLE1/2/3
        default:
            bytes.append(0x28)                                              // MARK
            items.forEach { int($0) }
            bytes.append(0x74)                                              // TUPLE
        }
    }

    mutating func emptyOrderedDict() {
        global("collections", "OrderedDict")
        bytes += [0x29, 0x52]                                               // EMPTY_TUPLE, REDUCE
    }

    /// `OrderedDict([(name, _rebuild_tensor_v2(storage i, 0, shape, stride, False, OrderedDict()))...])`
    static func stateDict(_ sd: StateDict) -> [UInt8] {
        var w = PickleWriter()
        w.emptyOrderedDict()
        for (batchStart, batch) in stride(from: 0, to: sd.keys.count, by: 1000).map({ ($0, sd.keys[$0..<min($0 + 1000, sd.keys.count)]) }) {
            w.bytes.append(0x28)                                            // MARK
            for (i, key) in batch.enumerated() {
                let t = sd[key]!
                w.string(key)
                w.global("torch._utils", "_rebuild_tensor_v2")
                w.bytes.append(0x28)                                        // MARK (args)
                w.bytes.append(0x28)                                        // MARK (persistent id)
                w.string("storage")
                w.global("torch", t.dtype.storageName)
                w.string(String(batchStart + i))
                w.string("cpu")
                w.int(t.count)
                w.bytes += [0x74, 0x51]                                     // TUPLE, BINPERSID
                w.int(0)                                                    // storage_offset
                w.tuple(t.shape)
                var strides = [Int](repeating: 1, count: t.shape.count)
                for d in stride(from: t.shape.count - 2, through: 0, by: -1) { strides[d] = strides[d + 1] * max(t.shape[d + 1], 1) }
                w.tuple(strides)
                w.bytes.append(0x89)                                        // NEWFALSE: requires_grad
                w.emptyOrderedDict()                                        // backward_hooks
                w.bytes += [0x74, 0x52]                                     // TUPLE, REDUCE
            }
            w.bytes.append(0x75)                                            // SETITEMS
        }
        w.bytes.append(0x2E)                                                // STOP
        return w.bytes
    }
}
