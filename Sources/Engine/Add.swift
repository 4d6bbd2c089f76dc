import CDNNL

/// Element-wise `a + b` of two tensors with the same dims (the residual add of an unfused
/// graph; the inference graph fuses it into the conv as a `sum` post-op), optionally followed
/// by an activation. `b` may have another layout or type; the result has `a`'s.
public final class Add {
    /// Applied to the sum (a oneDNN post-op).
    public let activation: Activation?
    public let engine: CPUEngine
    private let plans = PrimitiveCache<ReorderKey, Primitive>()

    public init(activation: Activation? = nil, engine: CPUEngine = .shared) {
        self.activation = activation
        self.engine = engine
    }

    /// The same as `init(activation: fusedReLU ? .relu : nil)` (to go once callers pass `activation`).
    public convenience init(fusedReLU: Bool, engine: CPUEngine = .shared) {
        self.init(activation: fusedReLU ? .relu : nil, engine: engine)
    }

    /// Whether the activation is ReLU (to go with `init(fusedReLU:)`).
    public var fusedReLU: Bool { activation == .relu }

    public func forward(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        guard a.shape == b.shape else {
            throw EngineError.shapeMismatch(op: "Add", expected: "\(a.shape)", actual: "\(b.shape)")
        }
        let prim = try plans.value(for: ReorderKey(src: a.desc, dst: b.desc)) {
            var s0 = a.desc.raw, s1 = b.desc.raw, d = a.desc.raw
            var bd = dnnl_binary_desc_t()
            try dnnlCheck(dnnl_binary_desc_init(&bd, dnnl_binary_add, &s0, &s1, &d), "dnnl_binary_desc_init(add)")
            let attr = try PrimitiveAttr(sum: false, activation: activation)
            return try withExtendedLifetime(attr) {
                try Primitive.make(&bd, attr: attr.attr, engine: engine, name: "add on \(a.shape)")
            }
        }
        let dst = try Tensor(desc: a.desc, engine: engine)
        try prim.execute([(DNNL_ARG_SRC_0, a), (DNNL_ARG_SRC_1, b), (DNNL_ARG_DST, dst)], on: engine)
        return dst
    }
}
