import CDNNL

/// An n-d array in 64-byte aligned storage, with the oneDNN memory object that describes it.
/// At the edges (input images, logits) it is plain row-major NCHW float32; between layers it
/// keeps whatever blocked layout and type (f32 or bf16) oneDNN chose. A reference type: ops
/// may write into a tensor they are given only where their documentation says so.
public final class Tensor {
    public let desc: MemoryDesc
    public let engine: CPUEngine
    let storage: UnsafeMutableRawPointer
    let byteCount: Int
    let memory: dnnl_memory_t
    /// The owner of borrowed storage (kept alive by this tensor), or nil when the storage came
    /// from the engine's buffer pool and goes back to it.
    private let lender: AnyObject?

    /// An uninitialised tensor laid out as `desc`.
    public init(desc: MemoryDesc, engine: CPUEngine = .shared) throws {
        self.desc = desc
        self.engine = engine
        byteCount = max(desc.byteCount, 64)
        storage = engine.buffers.take(byteCount)
        lender = nil
        do { memory = try Tensor.memory(desc, storage, engine) } catch {
            engine.buffers.give(storage, byteCount)
            throw error
        }
    }

    /// A plain float32 tensor over `values`, which `lender` owns: nothing is copied, writes go
    /// to `values`, and the tensor keeps `lender` alive (a parameter's values or gradient).
    init(borrowing values: UnsafeMutableBufferPointer<Float>, shape: [Int], from lender: AnyObject, engine: CPUEngine) throws {
        desc = try .plain(shape, .f32)
        precondition(desc.byteCount == values.count * 4, "Tensor(borrowing:): \(values.count) values for \(shape)")
        self.engine = engine
        self.lender = lender
        storage = UnsafeMutableRawPointer(values.baseAddress!)
        byteCount = values.count * 4
        memory = try Tensor.memory(desc, storage, engine)
    }

    /// `other`'s storage under another descriptor of at most its size (a transposed view, say);
    /// keeps `other` alive, and writes go to it.
    init(aliasing other: Tensor, as desc: MemoryDesc) throws {
        precondition(desc.byteCount <= other.byteCount, "Tensor(aliasing:): \(desc) does not fit in \(other.desc)")
        self.desc = desc
        engine = other.engine
        lender = other
        storage = other.storage
        byteCount = other.byteCount
        memory = try Tensor.memory(desc, storage, engine)
    }

    /// Part of `other`'s storage, from `byteOffset`, under `desc` (one image of a batch, say);
    /// keeps `other` alive, and writes go to it.
    init(aliasing other: Tensor, as desc: MemoryDesc, byteOffset: Int) throws {
        precondition(byteOffset >= 0 && byteOffset + desc.byteCount <= other.byteCount,
                     "Tensor(aliasing:byteOffset:): \(desc) at \(byteOffset) does not fit in \(other.desc)")
        self.desc = desc
        engine = other.engine
        lender = other
        storage = other.storage + byteOffset
        byteCount = desc.byteCount
        memory = try Tensor.memory(desc, storage, engine)
    }

    /// oneDNN's memory object for `desc` over `storage`.
    private static func memory(_ desc: MemoryDesc, _ storage: UnsafeMutableRawPointer, _ engine: CPUEngine) throws -> dnnl_memory_t {
        var m: dnnl_memory_t?
        var md = desc.raw
        let st = dnnl_memory_create(&m, &md, engine.engine, storage)
        guard st == dnnl_success, let mem = m else {
            throw EngineError.dnnl(call: "dnnl_memory_create \(desc)", status: Int(st.rawValue))
        }
        return mem
    }

    /// A plain row-major float32 tensor holding a copy of `values`.
    public convenience init(shape: [Int], values: UnsafeBufferPointer<Float>, engine: CPUEngine = .shared) throws {
        let n = shape.reduce(1, *)
        guard values.count == n, shape.allSatisfy({ $0 > 0 }) else {
            throw EngineError.shapeMismatch(op: "Tensor(shape:values:)", expected: "\(n) values for \(shape)", actual: "\(values.count) values")
        }
        try self.init(desc: .plain(shape, .f32), engine: engine)
        if let base = values.baseAddress {
            storage.copyMemory(from: base, byteCount: n * 4)
        }
    }

    /// A plain row-major float32 tensor holding a copy of `values`.
    public convenience init(shape: [Int], values: [Float], engine: CPUEngine = .shared) throws {
        let n = shape.reduce(1, *)
        guard values.count == n, shape.allSatisfy({ $0 > 0 }) else {
            throw EngineError.shapeMismatch(op: "Tensor(shape:values:)", expected: "\(n) values for \(shape)", actual: "\(values.count) values")
        }
        try self.init(desc: .plain(shape, .f32), engine: engine)
        values.withUnsafeBytes { storage.copyMemory(from: $0.baseAddress!, byteCount: n * 4) }
    }

    deinit {
        dnnl_memory_destroy(memory)
        if lender == nil { engine.buffers.give(storage, byteCount) }
    }

    /// Logical dims.
    public var shape: [Int] { desc.dims }
    public var dataType: DataType { desc.dataType }
    public var elementCount: Int { shape.reduce(1, *) }

    /// The values as plain row-major float32 (reordered and widened when needed).
    public func floats() throws -> [Float] {
        guard elementCount > 0 else { return [] }
        let plainDesc = try MemoryDesc.plain(shape, .f32)
        let src = try engine.reorder(self, to: plainDesc)
        let n = elementCount
        return [Float](unsafeUninitializedCapacity: n) { buf, initialized in
            buf.baseAddress!.update(from: src.storage.assumingMemoryBound(to: Float.self), count: n)
            initialized = n
        }
    }

    /// Raw access to the storage (in this tensor's own layout and type).
    public func withUnsafeMutableRawPointer<R>(_ body: (UnsafeMutableRawPointer) throws -> R) rethrows -> R {
        try body(storage)
    }
}
