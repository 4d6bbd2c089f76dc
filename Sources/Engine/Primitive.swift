import CDNNL

/// A created oneDNN primitive and its primitive descriptor, freed together.
final class Primitive {
    let pd: dnnl_primitive_desc_t
    let primitive: dnnl_primitive_t
    let name: String

    /// Takes ownership of `pd` (destroyed in deinit, or here if creation fails).
    init(_ pd: dnnl_primitive_desc_t, name: String) throws {
        var p: dnnl_primitive_t?
        let st = dnnl_primitive_create(&p, pd)
        guard st == dnnl_success, let prim = p else {
            dnnl_primitive_desc_destroy(pd)
            throw EngineError.dnnl(call: "dnnl_primitive_create(\(name))", status: Int(st.rawValue))
        }
        self.pd = pd
        primitive = prim
        self.name = name
    }

    /// Creates the primitive descriptor for `opDesc` (a `dnnl_*_desc_t`) with optional attributes.
    static func make<D>(_ opDesc: inout D, attr: dnnl_primitive_attr_t? = nil, engine: CPUEngine, name: String) throws -> Primitive {
        var pd: dnnl_primitive_desc_t?
        // `D` is one of oneDNN's C op descriptors (plain data); oneDNN reads it through the pointer.
        try withUnsafeMutablePointer(to: &opDesc) { desc in
            try dnnlCheck(dnnl_primitive_desc_create(&pd, UnsafeRawPointer(desc), attr, engine.engine, nil),
                          "dnnl_primitive_desc_create(\(name))")
        }
        return try Primitive(pd!, name: name)
    }

    deinit {
        dnnl_primitive_destroy(primitive)
        dnnl_primitive_desc_destroy(pd)
    }

    /// The memory descriptor the primitive chose for `what` (`dnnl_query_src_md`...).
    func md(_ what: dnnl_query_t, _ index: Int32 = 0) -> MemoryDesc {
        MemoryDesc(raw: dnnl_primitive_desc_query_md(pd, what, index).pointee)
    }

    /// The implementation oneDNN picked (`jit:avx512_core`, `ref:any`...), asked once (the
    /// layout fallbacks and the depthwise gradient read it on every call).
    private(set) lazy var implementation: String = {
        var s: UnsafePointer<CChar>?
        withUnsafeMutablePointer(to: &s) { p in
            _ = dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, p)
        }
        return s.map { String(cString: $0) } ?? "?"
    }()

    /// Whether oneDNN fell back to its reference kernel (`ref:any`), 10 to 50 times slower than a jit one.
    var isReference: Bool { implementation.hasPrefix("ref") }

    /// Runs the primitive on `engine`'s stream and waits for it.
    func execute(_ args: [(Int32, Tensor)], on engine: CPUEngine) throws {
        var a = args.map { dnnl_exec_arg_t(arg: $0.0, memory: $0.1.memory) }
        try dnnlCheck(dnnl_primitive_execute(primitive, engine.stream, Int32(a.count), &a), "dnnl_primitive_execute(\(name))")
        try dnnlCheck(dnnl_stream_wait(engine.stream), "dnnl_stream_wait(\(name))")
        withExtendedLifetime(args) {}
    }
}

/// Post-op attributes (fused element-wise ops after a conv or inner product), freed deterministically.
final class PrimitiveAttr {
    let attr: dnnl_primitive_attr_t

    /// `sum`: accumulate into the existing destination (residual add) before `activation`.
    init(sum: Bool, activation: Activation?) throws {
        var a: dnnl_primitive_attr_t?
        try dnnlCheck(dnnl_primitive_attr_create(&a), "dnnl_primitive_attr_create")
        attr = a!
        if sum || activation != nil {
            var ops: dnnl_post_ops_t?
            try dnnlCheck(dnnl_post_ops_create(&ops), "dnnl_post_ops_create")
            defer { dnnl_post_ops_destroy(ops) }
            if sum { try dnnlCheck(dnnl_post_ops_append_sum(ops, 1.0), "dnnl_post_ops_append_sum") }
            try activation?.appendPostOps(ops)
            try dnnlCheck(dnnl_primitive_attr_set_post_ops(attr, ops), "dnnl_primitive_attr_set_post_ops")
        }
    }

    convenience init(sum: Bool, relu: Bool) throws {
        try self.init(sum: sum, activation: relu ? .relu : nil)
    }

    deinit { dnnl_primitive_attr_destroy(attr) }
}
