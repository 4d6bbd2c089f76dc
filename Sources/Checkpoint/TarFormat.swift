import Foundation

/// The tar form of torch.save (torch <= 0.1.9, the classic torchvision downloads such as
/// resnet34-333f7ec4.pth): members `sys_info`, `pickle`, `tensors`, `storages`. Tensors in
/// `pickle` are persistent ids given as strings naming entries of the `tensors` table.
enum TarFormat {
    static func isTar(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 512 && Array(bytes[257..<262]) == Array("ustar".utf8)
    }

    /// Member name → byte range of its data. PAX (`x`, `g`) and GNU long-name (`L`) headers
    /// are understood; a PAX `size` overrides the header's.
    static func members(_ bytes: [UInt8], path: String) throws -> [String: Range<Int>] {
        var out: [String: Range<Int>] = [:]
        var offset = 0
        var paxSize: Int? = nil
        var paxPath: String? = nil
        var longName: String? = nil
        while offset + 512 <= bytes.count {
            let header = bytes[offset..<offset + 512]
            if header.allSatisfy({ $0 == 0 }) { break }
            func field(_ start: Int, _ len: Int) -> ArraySlice<UInt8> {
                let f = header[(offset + start)..<(offset + start + len)]
                return f.prefix { $0 != 0 }
            }
            let sizeText = String(decoding: field(124, 12), as: UTF8.self).trimmingCharacters(in: .whitespaces)
            guard var size = Int(sizeText.isEmpty ? "0" : sizeText, radix: 8), size >= 0 else {
                throw CheckpointError.malformed(path: path, what: "tar header at byte \(offset) has size '\(sizeText)'")
            }
            if let p = paxSize {
                guard p >= 0 else { throw CheckpointError.malformed(path: path, what: "tar PAX header before byte \(offset) gives size \(p)") }
                size = p
            }
            let type = header[offset + 156]
            var name = String(decoding: field(0, 100), as: UTF8.self)
            let prefix = String(decoding: field(345, 155), as: UTF8.self)
            if !prefix.isEmpty { name = prefix + "/" + name }
            let dataStart = offset + 512
            let (end, o) = dataStart.addingReportingOverflow(size)
            guard !o, end <= bytes.count else {
                throw CheckpointError.truncated(path: path, what: "tar member '\(name)' needs \(size) bytes at byte \(dataStart)")
            }
            let data = dataStart..<end
            switch type {
            case UInt8(ascii: "x"):
                (paxSize, paxPath) = parsePax(bytes[data])
            case UInt8(ascii: "g"):
                break
            case UInt8(ascii: "L"):
                longName = String(decoding: bytes[data].prefix { $0 != 0 }, as: UTF8.self)
            default:
                let finalName = paxPath ?? longName ?? name
                out[finalName] = data
                paxSize = nil; paxPath = nil; longName = nil
            }
            offset = dataStart + (size + 511) / 512 * 512
        }
        return out
    }

    private static func parsePax(_ data: ArraySlice<UInt8>) -> (Int?, String?) {
        var size: Int? = nil, path: String? = nil
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            // "<len> key=value"
            // The key starts after the first space and ends at the first "=" after it.
            guard let space = line.firstIndex(of: " "), let eq = line[space...].firstIndex(of: "=") else { continue }
            let key = line[line.index(after: space)..<eq]
            let value = String(line[line.index(after: eq)...])
            if key == "size" { size = Int(value) }
            if key == "path" { path = value }
        }
        return (size, path)
    }

    static func load(bytes: [UInt8], path: String, options: LoadOptions, budget: MemoryBudget,
                     arena: PickleArena) throws -> (PyValue, (TensorRef, String) throws -> TensorData) {
        let members = try members(bytes, path: path)
        for required in ["sys_info", "pickle", "tensors", "storages"] where members[required] == nil {
            throw CheckpointError.malformed(path: path, what: "tar checkpoint without its '\(required)' member")
        }
        var header = PickleMachine(path: path, arena: arena) { _ in .none }

        // storages: count, then (key, location, type) + int64 count + data each, then views.
        let sr = members["storages"]!
        var reader = ByteReader(bytes, path: path, offset: sr.lowerBound, end: sr.upperBound)
        guard let storageCount = try header.load(&reader).asInt, storageCount >= 0 else {
            throw CheckpointError.malformed(path: path, what: "tar 'storages' without a count")
        }
        var storages: [Int64: (StorageRef, ArraySlice<UInt8>)] = [:]
        for _ in 0..<storageCount {
            guard let t = try header.load(&reader).elements, t.count >= 3, let key = t[0].asInt, case .global(let cls) = t[2] else {
                throw CheckpointError.malformed(path: path, what: "tar storage entry is not (key, location, type)")
            }
            guard let dtype = try ZipFormat.storageDType(cls, path: path) else {
                throw CheckpointError.unsupportedTensor(path: path, what: "untyped storage in a tar checkpoint")
            }
            let count = try reader.uint(Int64.self, "the element count of storage \(key)")
            guard count >= 0, let numel = Int(exactly: count) else { throw CheckpointError.overflow(path: path, what: "storage \(key) count \(count)") }
            let n = try checkedMul(numel, dtype.size, path: path, "storage \(key) size")
            storages[key] = (StorageRef(key: String(key), dtype: dtype, numel: numel), try reader.take(n, "the data of storage \(key)"))
        }
        if let views = try? header.load(&reader).elements {
            for v in views {
                guard let e = v.elements, e.count >= 4, let target = e[0].asInt, let root = e[1].asInt,
                      let off = e[2].asInt, let size = e[3].asInt, let (rref, rdata) = storages[root] else { continue }
                let es = rref.dtype!.size
                guard let o = Int(exactly: off), let n = Int(exactly: size) else { continue }
                let (lo, hi) = try viewBounds(rdata, offset: o, size: n, elementSize: es, path: path)
                guard off >= 0, size >= 0, lo >= rdata.startIndex, hi <= rdata.endIndex else {
                    throw CheckpointError.outOfRange(path: path, key: "storage \(target)", what: "view \(off)+\(size) beyond its root")
                }
                storages[target] = (StorageRef(key: String(target), dtype: rref.dtype, numel: Int(size)), rdata[lo..<hi])
            }
        }

        // tensors: count, then (key, storage key, type) + ndim, sizes, strides, offset each.
        let tr = members["tensors"]!
        reader = ByteReader(bytes, path: path, offset: tr.lowerBound, end: tr.upperBound)
        guard let tensorCount = try header.load(&reader).asInt, tensorCount >= 0 else {
            throw CheckpointError.malformed(path: path, what: "tar 'tensors' without a count")
        }
        var tensors: [Int64: TensorRef] = [:]
        for _ in 0..<tensorCount {
            guard let t = try header.load(&reader).elements, t.count >= 3, let key = t[0].asInt, let skey = t[1].asInt else {
                throw CheckpointError.malformed(path: path, what: "tar tensor entry is not (key, storage key, type)")
            }
            let ndim = Int(try reader.uint(Int32.self, "tensor \(key) ndim"))
            _ = try reader.take(4, "padding")
            guard (0...64).contains(ndim) else { throw CheckpointError.malformed(path: path, what: "tensor \(key) has \(ndim) dimensions") }
            var sizes: [Int] = [], strides: [Int] = []
            for _ in 0..<ndim { sizes.append(Int(try reader.uint(Int64.self, "tensor \(key) size"))) }
            for _ in 0..<ndim { strides.append(Int(try reader.uint(Int64.self, "tensor \(key) stride"))) }
            let offset = Int(try reader.uint(Int64.self, "tensor \(key) offset"))
            guard let (sref, _) = storages[skey] else {
                throw CheckpointError.malformed(path: path, what: "tensor \(key) refers to storage \(skey), which is missing")
            }
            tensors[key] = TensorRef(storage: sref, dtype: sref.dtype!, offset: offset, shape: sizes, stride: strides)
        }

        // pickle: the object, tensors as string ids.
        let pr = members["pickle"]!
        reader = ByteReader(bytes, path: path, offset: pr.lowerBound, end: pr.upperBound)
        var machine = PickleMachine(path: path, allowObjects: options.allowObjects, limits: options.limits, arena: arena) { pid in
            if let s = pid.asString, let id = Int64(s) {
                if let t = tensors[id] { return .tensor(t) }
                if let (s, _) = storages[id] { return .storage(s) }
                throw CheckpointError.malformed(path: path, what: "object id \(id) is neither a tensor nor a storage")
            }
            if let t = pid.elements, let cls = t.first { return cls }     // (class, file, source)
            throw CheckpointError.malformed(path: path, what: "unexpected persistent id (\(pid.typeName))")
        }
        let object = try machine.load(&reader)
        try refuseUnknownGlobals(machine, options: options, path: path)
        let materialize: (TensorRef, String) throws -> TensorData = { ref, name in
            guard let key = Int64(ref.storage.key), let (_, data) = storages[key] else {
                throw CheckpointError.malformed(path: path, what: "tensor '\(name)' has no storage data")
            }
            return try ref.materialize(storageBytes: data, name: name, path: path, budget: budget)
        }
        return (object, materialize)
    }
}
