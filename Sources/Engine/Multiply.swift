import CDNNL

/// `x * s`: `x` `[N, C, H, W]` in any layout and type, `s` `[N, C, 1, 1]` broadcast over H and W
/// (squeeze-and-excitation's `scale * input`). The result has `x`'s layout and type.
public final class Multiply {
    public let engine: CPUEngine
    private let plans = PrimitiveCache<ReorderKey, Primitive>()

    public init(engine: CPUEngine = .shared) { self.engine = engine }

    static func check(_ x: Tensor, _ s: Tensor) throws {
        let xs = x.shape, ss = s.shape
        guard xs.count == 4, ss == [xs[0], xs[1], 1, 1] else {
            throw EngineError.shapeMismatch(op: "Multiply", expected: "x [N, C, H, W] and s [N, C, 1, 1]", actual: "\(xs) and \(ss)")
        }
    }

    /// `x * s`; `s` is converted (it is small) to `x`'s type, plain, or in `x`'s layout where `x`
    /// is `[N, C, 1, 1]` too. (oneDNN 2.6's jit binary op, given a bf16 `x` and an f32 `s`, zeroes
    /// channels 8 to 15 of every 16 on AVX-512: the types must agree.)
    public func forward(_ x: Tensor, _ s: Tensor) throws -> Tensor {
        try Self.check(x, s)
        let scale = try engine.reorder(s, to: x.shape == s.shape ? x.desc : .plain(s.shape, x.dataType))
        return x.shape == s.shape ? try product(x, scale) : try perImageProduct(x, scale)
    }

    /// `x * s` image by image: oneDNN 2.6's jit binary op broadcasts a `[1, C, 1, 1]` scale (per
    /// channel) but not a `[N, C, 1, 1]` one, which falls to its reference kernel, 10 to 50
    /// times slower (60 % of a mobilenet_v3 training step), nor one of another layout than x's.
    /// `scale`: `x`'s type.
    func perImageProduct(_ x: Tensor, _ scale: Tensor) throws -> Tensor {
        let n = x.shape[0]
        // The scale in x's layout family (its jit kernel wants the two alike), one image apart.
        guard let (imageDesc, imageBytes) = x.desc.image, let scaleDesc = try x.desc.sameLayout(scale.shape),
              let (scaleImage, scaleBytes) = scaleDesc.image else { return try product(x, scale) }
        if let nhwc = try channelsLast(x.desc, whereNoJitFor: imageDesc, scaleImage, inChannelsLast: { n in
            guard let i = n.image?.desc, let si = try n.sameLayout(scale.shape)?.image?.desc else { return nil }
            return (i, si)
        }) {
            return try engine.reorder(perImageProduct(engine.reorder(x, to: nhwc), scale), to: x.desc)
        }
        let s = try engine.reorder(scale, to: scaleDesc)
        let dst = try Tensor(desc: x.desc, engine: engine)
        for i in 0..<n {
            let xi = try Tensor(aliasing: x, as: imageDesc, byteOffset: i * imageBytes)
            let si = try Tensor(aliasing: s, as: scaleImage, byteOffset: i * scaleBytes)
            let di = try Tensor(aliasing: dst, as: imageDesc, byteOffset: i * imageBytes)
            try product(xi, si, into: di)
        }
        return dst
    }

    /// `a * b` element-wise (`b` of `a`'s dims, or broadcast where its dims are 1), in `a`'s
    /// layout and type; one primitive per pair of layouts.
    func product(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        // A broadcast `b` (a per-channel scale) in another layout than `a`'s: oneDNN's jit binary op
        // wants the two alike, and a plain `[1, C, 1, 1]` beside a blocked `a` took its reference
        // kernel, 100 times slower (ConvNeXt's layer scale in training: half the step).
        if b.shape != a.shape, try primitive(a.desc, b.desc).isReference,
           let same = try a.desc.sameLayout(b.shape, type: b.dataType), same != b.desc, try !primitive(a.desc, same).isReference {
            return try product(a, engine.reorder(b, to: same))
        }
        if b.shape == a.shape, let nhwc = try channelsLast(a.desc, whereNoJitFor: a.desc, b.desc, inChannelsLast: { ($0, $0) }) {
            return try engine.reorder(product(engine.reorder(a, to: nhwc), engine.reorder(b, to: nhwc)), to: a.desc)
        }
        let dst = try Tensor(desc: a.desc, engine: engine)
        try product(a, b, into: dst)
        return dst
    }

    /// Channels-last for `x` where oneDNN has no jit binary op for `a` times `b` (its reference
    /// kernel is 10 to 50 times slower) but has one for the descriptors `inChannelsLast` gives:
    /// on AVX-512 the jit kernel takes 16-channel blocks, not the 8-channel ones that grouped
    /// convs of 8 channels a group choose (RegNet's: the reference kernel took 80 % of
    /// regnet_y_400mf's inference). Nil where the jit kernel applies, or channels-last would not help.
    private func channelsLast(_ x: MemoryDesc, whereNoJitFor a: MemoryDesc, _ b: MemoryDesc,
                              inChannelsLast: (MemoryDesc) throws -> (MemoryDesc, MemoryDesc)?) throws -> MemoryDesc? {
        guard try primitive(a, b).isReference else { return nil }
        let nhwc = try MemoryDesc(dims: x.dims, type: x.dataType, tag: dnnl_acdb)
        guard nhwc != x, let (a2, b2) = try inChannelsLast(nhwc), try !primitive(a2, b2).isReference else { return nil }
        return nhwc
    }

    private func primitive(_ a: MemoryDesc, _ b: MemoryDesc) throws -> Primitive {
        try plans.value(for: ReorderKey(src: a, dst: b)) {
            var s0 = a.raw, s1 = b.raw, d = a.raw
            var bd = dnnl_binary_desc_t()
            try dnnlCheck(dnnl_binary_desc_init(&bd, dnnl_binary_mul, &s0, &s1, &d), "dnnl_binary_desc_init(mul)")
            return try Primitive.make(&bd, engine: engine, name: "multiply \(a.dims) by \(b.dims)")
        }
    }

    private func product(_ a: Tensor, _ b: Tensor, into dst: Tensor) throws {
        try primitive(a.desc, b.desc).execute([(DNNL_ARG_SRC_0, a), (DNNL_ARG_SRC_1, b), (DNNL_ARG_DST, dst)], on: engine)
    }
}

/// `Multiply` that trains: the forward keeps `x` and `s`; the backward gives `dy * s` (in `x`'s
/// layout) and `sum over H, W of dy * x` (`[N, C, 1, 1]`, plain f32).
public final class TrainMultiply {
    public let engine: CPUEngine
    private let multiply: Multiply
    private let pool: GlobalAvgPool2d
    private var saved: (x: Tensor, s: Tensor)?

    public init(engine: CPUEngine = .shared) {
        self.engine = engine
        multiply = Multiply(engine: engine)
        pool = GlobalAvgPool2d(engine: engine)
    }

    public func forward(_ x: Tensor, _ s: Tensor, pass: PassKind) throws -> Tensor {
        let y = try multiply.forward(x, s)
        saved = pass == .training ? (x, s) : nil
        return y
    }

    /// The gradients of `x` and `s` (each only where `need` asks).
    public func backward(outputGrad dy: Tensor, need: (x: Bool, s: Bool)) throws -> (x: Tensor?, s: Tensor?) {
        guard let (x, s) = saved else {
            throw EngineError.invalidArgument(op: "TrainMultiply.backward", what: "no training forward pass to differentiate")
        }
        defer { release() }
        guard dy.shape == x.shape else { throw EngineError.shapeMismatch(op: "Multiply backward", expected: "\(x.shape)", actual: "\(dy.shape)") }
        let g = try engine.reorder(dy, to: x.desc)
        let dx = need.x ? try multiply.forward(g, s) : nil
        guard need.s else { return (dx, nil) }
        // dy * x, then summed over H and W (in f32: a bf16 product would round the sum's terms).
        let (xf, gf) = x.dataType == .f32 && g.dataType == .f32 ? (x, g)
            : (try engine.reorder(x, to: .plain(x.shape, .f32)), try engine.reorder(g, to: .plain(x.shape, .f32)))
        let xdy = try multiply.product(xf, gf)
        // The sum over H and W: oneDNN's average pooling (jit in every layout; its reduction is a
        // reference kernel in blocked ones) times H * W, in plain f32 ([N, C, 1, 1] is small).
        let hw = x.shape[2] * x.shape[3]
        let mean = hw == 1 ? xdy : try pool.forward(xdy)
        let ds = try engine.reorder(mean, to: .plain(s.shape, .f32))
        if hw > 1 {
            let v = ds.plainFloats
            for i in 0..<v.count { v[i] *= Float(hw) }
        }
        return (dx, ds)
    }

    public func release() { saved = nil }
}
