/// The legacy stream (torch 0.4 to 1.5; `_use_new_zipfile_serialization=False` today): five
/// pickles (magic, protocol 1001, sys_info, the object, the sorted storage keys) followed by
/// each storage as an int64 element count and its raw bytes, in the keys' order.
enum LegacyFormat {
    static let magic: [UInt8] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]  // 0x1950A86A20F9469CFC6C

    /// Whether the first pickle of `bytes` is torch's magic number.
    static func matches(_ bytes: [UInt8], path: String) -> Bool {
        var reader = ByteReader(bytes, path: path, end: min(bytes.count, 64))
        let arena = PickleArena()
        defer { arena.release() }
        var m = PickleMachine(path: path, arena: arena) { _ in .none }
        guard let v = try? m.load(&reader) else { return false }
        if case .bigInt(let b) = v { return b == magic }
        return false
    }

    static func load(bytes: [UInt8], path: String, options: LoadOptions, budget: MemoryBudget,
                     arena: PickleArena) throws -> (PyValue, (TensorRef, String) throws -> TensorData) {
        var reader = ByteReader(bytes, path: path)
        var header = PickleMachine(path: path, arena: arena) { _ in .none }
        _ = try header.load(&reader)                                    // magic
        guard case .int(1001)? = try? header.load(&reader) else {       // protocol version
            throw CheckpointError.malformed(path: path, what: "legacy stream with an unknown protocol version")
        }
        // sys_info: torch reads and ignores it; the C++ writer always writes little-endian data.
        _ = try header.load(&reader)

        var storages: [String: StorageRef] = [:]
        var machine = PickleMachine(path: path, allowObjects: options.allowObjects, limits: options.limits, arena: arena) { pid in
            guard let t = pid.elements, let kind = t.first?.asString else {
                throw CheckpointError.malformed(path: path, what: "unexpected persistent id (\(pid.typeName))")
            }
            if kind == "module", t.count >= 2 { return t[1] }          // whole-module saves: the class
            guard kind == "storage", t.count >= 5, case .global(let cls) = t[1], let key = t[2].asString,
                  let numel = t[4].asInt, numel >= 0 else {
                throw CheckpointError.malformed(path: path, what: "unexpected persistent id; expected ('storage', type, key, location, numel, view)")
            }
            let dtype = try ZipFormat.storageDType(cls, path: path)
            var ref = StorageRef(key: key, dtype: dtype, numel: Int(numel))
            if storages[key] == nil { storages[key] = ref }
            if t.count >= 6, let view = t[5].elements, view.count >= 3, let vkey = view[0].asString,
               let off = view[1].asInt, let size = view[2].asInt {
                ref = StorageRef(key: vkey, dtype: dtype, numel: Int(size), view: (key, Int(off), Int(size)))
            }
            return .storage(ref)
        }
        let object = try machine.load(&reader)
        try refuseUnknownGlobals(machine, options: options, path: path)
        guard let keys = try header.load(&reader).elements?.compactMap(\.asString) else {
            throw CheckpointError.malformed(path: path, what: "legacy stream without its list of storage keys")
        }

        // Storage data follows, in the keys' order, each with its own element count.
        var data: [String: ArraySlice<UInt8>] = [:]
        for key in keys {
            guard let ref = storages[key] else {
                throw CheckpointError.malformed(path: path, what: "storage '\(key)' is listed but no tensor describes it")
            }
            let count = try reader.uint(Int64.self, "the element count of storage \(key)")
            guard count == Int64(ref.numel) else {
                throw CheckpointError.sizeMismatch(path: path, record: "storage \(key)", expected: ref.numel, actual: Int(clamping: count))
            }
            let n = try checkedMul(ref.numel, ref.dtype?.size ?? 1, path: path, "storage \(key) size")
            data[key] = try reader.take(n, "the data of storage \(key)")
        }
        let materialize: (TensorRef, String) throws -> TensorData = { ref, name in
            var storage = ref.storage
            let slice: ArraySlice<UInt8>
            if let view = storage.view {
                guard let root = data[view.root] else { throw CheckpointError.malformed(path: path, what: "storage '\(view.root)' has no data") }
                let es = ref.dtype.size
                let (lo, hi) = try viewBounds(root, offset: view.offset, size: view.size, elementSize: es, path: path)
                guard view.offset >= 0, view.size >= 0, hi <= root.endIndex else {
                    throw CheckpointError.outOfRange(path: path, key: name, what: "storage view \(view.offset)+\(view.size) beyond its root")
                }
                slice = root[lo..<hi]
                storage = StorageRef(key: storage.key, dtype: storage.dtype, numel: view.size)
            } else {
                guard let s = data[storage.key] else { throw CheckpointError.malformed(path: path, what: "storage '\(storage.key)' has no data") }
                slice = s
            }
            return try ref.materialize(storageBytes: slice, name: name, path: path, budget: budget)
        }
        return (object, materialize)
    }
}

/// The byte range of a storage view (`offset` and `size` in elements) within its root's bytes,
/// computed without overflow; the caller checks it against the root.
func viewBounds(_ root: ArraySlice<UInt8>, offset: Int, size: Int, elementSize: Int, path: String) throws -> (Int, Int) {
    let lo = try checkedAdd(root.startIndex, try checkedMul(offset, elementSize, path: path, "storage view offset \(offset)"),
                            path: path, "storage view offset \(offset)")
    let hi = try checkedAdd(lo, try checkedMul(size, elementSize, path: path, "storage view size \(size)"),
                            path: path, "storage view size \(size)")
    return (lo, hi)
}
