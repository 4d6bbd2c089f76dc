import CDNNL

/// Whether a layer's forward pass keeps what its backward pass needs.
public enum PassKind: Sendable {
    /// Keep inputs, statistics and workspaces for `backward`.
    case training
    /// Nothing is kept; no backward follows (frozen trunk, evaluation).
    case inference

    var dnnl: dnnl_prop_kind_t { self == .training ? dnnl_forward_training : dnnl_forward_inference }
}

extension Primitive {
    /// A backward primitive, created with its forward primitive as the hint oneDNN requires.
    static func makeBackward<D>(_ opDesc: inout D, hint: Primitive, engine: CPUEngine, name: String) throws -> Primitive {
        var pd: dnnl_primitive_desc_t?
        // `D` is one of oneDNN's C op descriptors (plain data); oneDNN reads it through the pointer.
        try withUnsafeMutablePointer(to: &opDesc) { desc in
            try dnnlCheck(dnnl_primitive_desc_create(&pd, UnsafeRawPointer(desc), nil, engine.engine, hint.pd),
                          "dnnl_primitive_desc_create(\(name))")
        }
        return try Primitive(pd!, name: name)
    }

    /// The workspace descriptor, or nil when the primitive needs none.
    var workspaceDesc: MemoryDesc? {
        guard let p = dnnl_primitive_desc_query_md(pd, dnnl_query_workspace_md, 0) else { return nil }
        let md = MemoryDesc(raw: p.pointee)
        return md.raw.ndims == 0 || md.byteCount == 0 ? nil : md
    }
}

extension Tensor {
    /// The parameter's values as a plain float32 tensor of `shape` (its own layout, or a
    /// convolution's grouped view of it), without a copy: it reads what the parameter holds
    /// when a primitive runs.
    static func values(of p: Parameter, shape: [Int], engine: CPUEngine) throws -> Tensor {
        try Tensor(borrowing: p.value, shape: shape, from: p, engine: engine)
    }

    /// The parameter's gradient as a plain float32 tensor of `shape`, without a copy: a
    /// primitive or reorder writing into it writes the gradient.
    static func gradient(of p: Parameter, shape: [Int], engine: CPUEngine) throws -> Tensor {
        try Tensor(borrowing: p.grad, shape: shape, from: p, engine: engine)
    }

    /// Copies this tensor's values, as plain row-major float32, into `out` (same element count).
    func copyPlain(into out: UnsafeMutableBufferPointer<Float>) throws {
        precondition(out.count == elementCount, "copyPlain: \(out.count) slots for \(shape)")
        let plain = try engine.reorder(self, to: .plain(shape, .f32))
        out.baseAddress!.update(from: plain.storage.assumingMemoryBound(to: Float.self), count: out.count)
    }

    /// The values of a plain float32 tensor, without a reorder.
    var plainFloats: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: storage.assumingMemoryBound(to: Float.self), count: elementCount)
    }
}

/// `a + b` (element-wise) in `a`'s layout, optionally followed by ReLU: the residual join of
/// a ResNet block, and the sum of two gradient paths. `b` is reordered to `a`'s layout first.
/// With `overwritingA`, the sum is written into `a`'s storage (oneDNN's in-place binary) and
/// `a` is returned: for a caller that no longer needs `a`. Not with `relu`: oneDNN 2.6's
/// in-place add with a fused ReLU gave wrong sums on some blocked shapes (a 4-channel
/// ResNet block at 10x10), so that case always writes a new tensor.
public final class ElementwiseAdd {
    let engine: CPUEngine
    private let plans = PrimitiveCache<AddKey, Primitive>()
    struct AddKey: Hashable { let desc: MemoryDesc; let relu: Bool }

    public init(engine: CPUEngine = .shared) { self.engine = engine }

    public func callAsFunction(_ a: Tensor, _ b: Tensor, relu: Bool, overwritingA: Bool = false) throws -> Tensor {
        guard a.shape == b.shape else {
            throw EngineError.shapeMismatch(op: "add", expected: "\(a.shape)", actual: "\(b.shape)")
        }
        let prim = try plans.value(for: AddKey(desc: a.desc, relu: relu)) {
            var s0 = a.desc.raw, s1 = a.desc.raw, d = a.desc.raw
            var bd = dnnl_binary_desc_t()
            try dnnlCheck(dnnl_binary_desc_init(&bd, dnnl_binary_add, &s0, &s1, &d), "dnnl_binary_desc_init(add)")
            let attr = try PrimitiveAttr(sum: false, relu: relu)
            return try withExtendedLifetime(attr) {
                try Primitive.make(&bd, attr: attr.attr, engine: engine, name: "add\(relu ? "+relu" : "") on \(a.shape)")
            }
        }
        let bb = try engine.reorder(b, to: a.desc)
        let out = overwritingA && !relu ? a : try Tensor(desc: a.desc, engine: engine)
        try prim.execute([(DNNL_ARG_SRC_0, a), (DNNL_ARG_SRC_1, bb), (DNNL_ARG_DST, out)], on: engine)
        return out
    }
}

/// The gradient of ReLU computed from its output `y`: `dy * (y > 0)`, in `y`'s layout. With
/// `overwriting`, the gradient may be written into `dy`'s storage (oneDNN's in-place eltwise
/// backward): for a caller that no longer needs `dy`. (`ActivationBackward(.relu)`.)
public final class ReLUBackward {
    private let backward: ActivationBackward

    public init(engine: CPUEngine = .shared) { backward = ActivationBackward(.relu, engine: engine) }

    public func callAsFunction(output y: Tensor, outputGrad dy: Tensor, overwriting: Bool = false) throws -> Tensor {
        try backward(output: y, outputGrad: dy, overwriting: overwriting)
    }
}
