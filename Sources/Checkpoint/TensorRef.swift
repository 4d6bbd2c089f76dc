/// A storage named by a pickle's persistent id: which record holds its bytes and how many
/// elements of which dtype it has (`dtype` nil for an untyped storage, counted in bytes).
struct StorageRef {
    let key: String
    let dtype: DType?
    let numel: Int
    /// Legacy 0.4-era view of a root storage: (root key, offset in elements, size).
    var view: (root: String, offset: Int, size: Int)? = nil
}

/// A tensor as the pickle describes it: a window onto a storage.
struct TensorRef {
    let storage: StorageRef
    let dtype: DType
    let offset: Int
    let shape: [Int]
    let stride: [Int]
}

extension TensorRef {
    /// Copies the tensor's elements out of its storage's bytes into contiguous row-major order,
    /// after checking every size, stride and the farthest element against the storage. A copy
    /// is charged to `budget` (a tensor can be far larger than its storage: zero strides).
    /// `ownsBuffer`: `storageBytes` spans a whole array of its own, which a tensor spanning all
    /// of it shares instead of copying (Array of a whole slice does not copy).
    func materialize(storageBytes: ArraySlice<UInt8>, ownsBuffer: Bool = false, name: String, path: String,
                     budget: MemoryBudget) throws -> TensorData {
        let es = dtype.size
        guard shape.count == stride.count, shape.count <= 64 else {
            throw CheckpointError.malformed(path: path, what: "tensor '\(name)' has \(shape.count) sizes and \(stride.count) strides")
        }
        if stride.contains(where: { $0 < 0 }) { throw CheckpointError.negativeStride(path: path, key: name, stride: stride) }
        guard offset >= 0, shape.allSatisfy({ $0 >= 0 }) else {
            throw CheckpointError.outOfRange(path: path, key: name, what: "negative size, stride or offset (shape \(shape), stride \(stride), offset \(offset))")
        }
        var numel = 1
        for s in shape { numel = try checkedMul(numel, s, path: path, "element count of '\(name)' (shape \(shape))") }
        let nbytes = try checkedMul(numel, es, path: path, "byte size of '\(name)' (shape \(shape))")
        let storageElements = storageBytes.count / es
        if numel == 0 { return TensorData(dtype: dtype, shape: shape, bytes: []) }
        var last = offset
        for (s, st) in zip(shape, stride) {
            let span = try checkedMul(s - 1, st, path: path, "extent of '\(name)'")
            last = try checkedAdd(last, span, path: path, "extent of '\(name)'")
        }
        guard last < storageElements else {
            throw CheckpointError.outOfRange(path: path, key: name,
                what: "its last element is at \(last) but the storage has \(storageElements) elements (shape \(shape), stride \(stride), offset \(offset))")
        }
        let base = storageBytes.startIndex + offset * es
        // Contiguous fast path: one copy.
        var contiguous = true
        var expect = 1
        for (s, st) in zip(shape, stride).reversed() where s != 1 {
            if st != expect { contiguous = false; break }
            expect *= s
        }
        if contiguous {
            let part = storageBytes[base..<base + nbytes]
            if ownsBuffer && part.count == storageBytes.count {
                return TensorData(dtype: dtype, shape: shape, bytes: Array(part))
            }
            let copy = try budget.bytes(nbytes, "tensor '\(name)' (shape \(shape))") { dst in
                part.withUnsafeBytes { dst.copyMemory(from: $0) }
            }
            return TensorData(dtype: dtype, shape: shape, bytes: copy)
        }

        let rank = shape.count
        let out = try budget.bytes(nbytes, "tensor '\(name)' (shape \(shape), stride \(stride))") { dst in
            storageBytes.withUnsafeBytes { src in
                // Walk the index space row-major; copy one element at a time (strided layouts
                // are rare and small: channels_last weights, views).
                var index = [Int](repeating: 0, count: rank)
                var srcElem = 0
                for i in 0..<numel {
                    let s = (offset + srcElem) * es
                    switch es {
                    case 4: dst.storeBytes(of: src.loadUnaligned(fromByteOffset: s, as: UInt32.self), toByteOffset: i * 4, as: UInt32.self)
                    case 8: dst.storeBytes(of: src.loadUnaligned(fromByteOffset: s, as: UInt64.self), toByteOffset: i * 8, as: UInt64.self)
                    case 2: dst.storeBytes(of: src.loadUnaligned(fromByteOffset: s, as: UInt16.self), toByteOffset: i * 2, as: UInt16.self)
                    default: dst[i] = src[s]
                    }
                    var d = rank - 1
                    while d >= 0 {
                        index[d] += 1
                        srcElem += stride[d]
                        if index[d] < shape[d] { break }
                        srcElem -= stride[d] * shape[d]
                        index[d] = 0
                        d -= 1
                    }
                }
            }
        }
        return TensorData(dtype: dtype, shape: shape, bytes: out)
    }
}
