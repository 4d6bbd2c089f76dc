import CDNNL

/// The oneDNN CPU engine and the in-order stream every op runs on. One per process is enough;
/// `CPUEngine.shared` is that one. Ops execute synchronously (each execute waits on the stream);
/// run one op at a time per engine (oneDNN parallelises inside each op).
///
/// `@unchecked Sendable`: the engine and stream handles never change, the caches and the
/// buffer pool lock themselves, and the one-op-at-a-time rule above is the callers' to keep
/// (every model runs its ops in sequence on the thread that calls it).
public final class CPUEngine: @unchecked Sendable {
    let engine: dnnl_engine_t
    let stream: dnnl_stream_t
    /// Reorders between layouts, cached by (source, destination) descriptor.
    let reorders = PrimitiveCache<ReorderKey, Primitive>()
    /// Idle tensor buffers kept for reuse (tensors hold their engine, so it outlives them).
    public let buffers = BufferPool()

    /// The process-wide CPU engine.
    public static let shared: CPUEngine = {
        do { return try CPUEngine() } catch { fatalError("cannot create the oneDNN CPU engine: \(error)") }
    }()

    public init() throws {
        var e: dnnl_engine_t?
        try dnnlCheck(dnnl_engine_create(&e, dnnl_cpu, 0), "dnnl_engine_create(cpu)")
        guard let engine = e else { throw EngineError.dnnl(call: "dnnl_engine_create", status: -1) }
        var s: dnnl_stream_t?
        let st = dnnl_stream_create(&s, engine, dnnl_stream_default_flags.rawValue)
        guard st == dnnl_success, let stream = s else {
            dnnl_engine_destroy(engine)
            throw EngineError.dnnl(call: "dnnl_stream_create", status: Int(st.rawValue))
        }
        self.engine = engine
        self.stream = stream
    }

    deinit {
        reorders.removeAll()
        dnnl_stream_destroy(stream)
        dnnl_engine_destroy(engine)
    }

    /// Every (source, destination) layout pair a reorder was created for: a diagnostic that
    /// shows where activations changed layout.
    public var reorderPairs: [(source: MemoryDesc, destination: MemoryDesc)] {
        reorders.keys.map { ($0.src, $0.dst) }
    }

    /// Copies `source` into a new tensor laid out as `desc` (layout and/or data type change),
    /// or returns `source` itself when it already is laid out that way.
    public func reorder(_ source: Tensor, to desc: MemoryDesc) throws -> Tensor {
        if source.desc == desc { return source }
        let out = try Tensor(desc: desc, engine: self)
        try reorder(source, into: out)
        return out
    }

    /// Copies `source` into `destination` (same logical dims), converting layout and type.
    public func reorder(_ source: Tensor, into destination: Tensor) throws {
        guard source.shape == destination.shape else {
            throw EngineError.shapeMismatch(op: "reorder", expected: "\(destination.shape)", actual: "\(source.shape)")
        }
        let key = ReorderKey(src: source.desc, dst: destination.desc)
        let prim = try reorders.value(for: key) {
            var pd: dnnl_primitive_desc_t?
            var s = source.desc.raw, d = destination.desc.raw
            try dnnlCheck(dnnl_reorder_primitive_desc_create(&pd, &s, engine, &d, engine, nil),
                          "dnnl_reorder_primitive_desc_create \(source.desc) -> \(destination.desc)")
            return try Primitive(pd!, name: "reorder")
        }
        try prim.execute([(DNNL_ARG_FROM, source), (DNNL_ARG_TO, destination)], on: self)
    }
}

struct ReorderKey: Hashable {
    let src: MemoryDesc
    let dst: MemoryDesc
}
