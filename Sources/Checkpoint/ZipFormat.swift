/// The zip form of torch.save (torch >= 1.6): `<root>/data.pkl` plus one record per storage,
/// `<root>/data/<key>`. The root is whatever precedes the first `/` of the first entry.
enum ZipFormat {
    /// Reads the zip in `file`, the bytes of the file at `path` already in memory (and not
    /// charged to `budget`, as for the other forms). The returned closure reads records out of
    /// `file`: call it only while `file` is valid.
    static func load(file: UnsafeRawBufferPointer, path: String, options: LoadOptions, budget: MemoryBudget,
                     arena: PickleArena) throws -> (PyValue, (TensorRef, String) throws -> TensorData) {
        let zip = try ZipArchive(file: file, path: path)
        guard let first = zip.names.first else { throw CheckpointError.notACheckpoint(path: path, hint: "an empty zip archive") }
        let root = first.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        if zip.contains("\(root)/constants.pkl") || zip.names.contains(where: { $0.hasPrefix("\(root)/code/") }) {
            throw CheckpointError.torchScript(path: path)
        }
        guard zip.contains("\(root)/data.pkl") else {
            throw CheckpointError.notACheckpoint(path: path, hint: "a zip archive without '\(root)/data.pkl' (entries: \(zip.names.prefix(5).joined(separator: ", ")))")
        }
        var bigEndian = false
        if zip.contains("\(root)/byteorder") {
            let size = try zip.size(of: "\(root)/byteorder")
            guard size <= 16 else {
                throw CheckpointError.zipBomb(path: path, record: "\(root)/byteorder", what: "it declares \(size) bytes; it holds 'little' or 'big'")
            }
            let order = String(decoding: try zip.read("\(root)/byteorder", budget: budget), as: UTF8.self)
            bigEndian = order.hasPrefix("big")
        }
        let pickleSize = try zip.size(of: "\(root)/data.pkl")
        guard pickleSize <= options.limits.maxPickleBytes else {
            throw CheckpointError.zipBomb(path: path, record: "\(root)/data.pkl", what: "it declares \(ReadLimits.describe(pickleSize)) "
                + "(\(pickleSize) bytes) of pickle, past the \(ReadLimits.describe(options.limits.maxPickleBytes)) limit; "
                + "a state dict's pickle takes tens to hundreds of KB (ResNet-152's: 115 KB), a whole pickled model's a few MB")
        }
        let pickle = try zip.read("\(root)/data.pkl", budget: budget)
        var machine = PickleMachine(path: path, allowObjects: options.allowObjects, limits: options.limits, arena: arena) { pid in
            try persistentStorage(pid, path: path)
        }
        var reader = ByteReader(pickle, path: path)
        let object = try machine.load(&reader)
        try refuseUnknownGlobals(machine, options: options, path: path)

        var records: [String: [UInt8]] = [:]
        let materialize: (TensorRef, String) throws -> TensorData = { ref, name in
            let key = ref.storage.key
            if records[key] == nil {
                let recordName = "\(root)/data/\(key)"
                guard zip.contains(recordName) else {
                    throw CheckpointError.malformed(path: path, what: "tensor '\(name)' refers to record '\(recordName)', which is missing")
                }
                let expected = try checkedMul(ref.storage.numel, ref.storage.dtype?.size ?? 1, path: path, "storage \(key) size")
                let actual = try zip.size(of: recordName)
                guard expected == actual else {
                    throw CheckpointError.sizeMismatch(path: path, record: recordName, expected: expected, actual: actual)
                }
                var bytes = try zip.read(recordName, budget: budget)
                if bigEndian { byteswap(&bytes, elementSize: ref.dtype.size) }
                records[key] = bytes
            }
            guard let bytes = records[key] else {
                throw CheckpointError.malformed(path: path, what: "tensor '\(name)': record '\(root)/data/\(key)' was not read")
            }
            return try ref.materialize(storageBytes: bytes[...], ownsBuffer: true, name: name, path: path, budget: budget)
        }
        return (object, materialize)
    }

    /// `('storage', <storage class>, key, location, numel)`.
    static func persistentStorage(_ pid: PyValue, path: String) throws -> PyValue {
        guard let t = pid.elements, t.count >= 5, t[0].asString == "storage", case .global(let cls) = t[1],
              let key = t[2].asString, let numel = t[4].asInt, numel >= 0 else {
            throw CheckpointError.malformed(path: path, what: "unexpected persistent id (\(pid.typeName)); expected ('storage', type, key, location, numel)")
        }
        return .storage(StorageRef(key: key, dtype: try storageDType(cls, path: path), numel: Int(numel)))
    }

    /// The dtype of a storage class; nil for `UntypedStorage` (sized in bytes).
    static func storageDType(_ cls: PyGlobal, path: String) throws -> DType? {
        if cls.name == "UntypedStorage" { return nil }
        guard let dt = DType(storageName: cls.name) else {
            throw CheckpointError.unsupportedTensor(path: path, what: "storage type \(cls.qualifiedName)")
        }
        return dt
    }
}

func refuseUnknownGlobals(_ machine: PickleMachine, options: LoadOptions, path: String) throws {
    if !machine.unknownGlobals.isEmpty && !options.allowObjects {
        throw CheckpointError.unknownGlobals(path: path, globals: machine.unknownGlobals)
    }
}

func byteswap(_ bytes: inout [UInt8], elementSize: Int) {
    guard elementSize > 1 else { return }
    var i = 0
    while i + elementSize <= bytes.count {
        bytes[i..<i + elementSize].reverse()
        i += elementSize
    }
}
