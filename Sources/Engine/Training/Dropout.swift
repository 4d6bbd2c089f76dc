import Random

/// PyTorch's `nn.Dropout(p)`: in a training pass each value is kept with probability `1 - p`
/// and scaled by `1 / (1 - p)`, or zeroed (`y = x * mask * scale`, torch's arithmetic: the
/// scaled mask times `x`); in an inference pass, or with `enabled == false`, it is the
/// identity (the input itself is returned, no copy). The keep-mask is drawn from Graft's seeded
/// generator, one number per value in plain NCHW order, so the same generator state gives the
/// same mask on every CPU whatever the input's layout. (It does not reproduce torch's masks.)
///
/// `perSample`: torchvision's `StochasticDepth(p, "row")` instead: one draw per image, which
/// keeps or zeroes that image's whole tensor (the residual branch it is applied to).
///
/// Reproducible runs: set `generator` before a step (e.g. `SeededRandom(seed: run, stream:
/// epoch, step, layer)`, which needs no state to be saved for a resume); each training forward
/// advances it by one draw per value.
public final class TrainDropout {
    /// The probability that a value is zeroed, in [0, 1].
    public let p: Float
    /// `1 / (1 - p)` (0 when `p == 1`: everything is zeroed), what the survivors are multiplied by.
    public let scale: Float
    /// One draw per image (stochastic depth's "row" mode) rather than one per value.
    public let perSample: Bool
    /// false: the identity in training too (to compare a network with torch's, say).
    public var enabled = true
    /// Where the masks come from; a training forward advances it.
    public var generator: SeededRandom
    public let engine: CPUEngine

    /// The last training forward's mask (`scale` where kept, 0 where dropped), plain NCHW, and
    /// its input's layout; nil when that forward was the identity.
    private var saved: (mask: [Float], desc: MemoryDesc)?
    private var savedIdentity = false

    public init(p: Float, perSample: Bool = false, seed: UInt64 = 0, engine: CPUEngine = .shared) throws {
        guard p >= 0, p <= 1 else {
            throw EngineError.invalidArgument(op: perSample ? "StochasticDepth" : "TrainDropout", what: "p \(p) must be in [0, 1]")
        }
        self.p = p
        self.perSample = perSample
        scale = p == 1 ? 0 : 1 / (1 - p)
        generator = SeededRandom(seed: seed)
        self.engine = engine
    }

    /// The mask as the last training forward drew it (scaled), plain NCHW; nil when it was the identity.
    public var lastMask: [Float]? { saved?.mask }

    /// `x * mask * scale` in a training pass (a new tensor in `x`'s layout), else `x` itself.
    public func forward(_ x: Tensor, pass: PassKind) throws -> Tensor {
        saved = nil; savedIdentity = false
        guard pass == .training, enabled, p > 0 else {
            savedIdentity = pass == .training
            return x
        }
        let n = x.elementCount
        let keep = 1 - Double(p)
        var mask = [Float](repeating: 0, count: n)
        let s = scale
        mask.withUnsafeMutableBufferPointer { m in
            if perSample, let images = x.shape.first, images > 0 {
                let per = n / images
                for b in 0..<images {
                    let v: Float = generator.unit() < keep ? s : 0
                    for i in (b * per)..<((b + 1) * per) { m[i] = v }
                }
            } else {
                for i in 0..<n { m[i] = generator.unit() < keep ? s : 0 }
            }
        }
        let y = try multiply(x, by: mask)
        saved = (mask, x.desc)
        return y
    }

    /// `dy * mask * scale` (the last training forward's mask), in the forward input's layout;
    /// `dy` itself when that forward was the identity.
    public func backward(outputGrad dy: Tensor) throws -> Tensor {
        defer { release() }
        if savedIdentity { return dy }
        guard let s = saved else {
            throw EngineError.invalidArgument(op: "TrainDropout.backward", what: "no training forward pass to differentiate")
        }
        guard dy.shape == s.desc.dims else {
            throw EngineError.shapeMismatch(op: "TrainDropout.backward", expected: "\(s.desc.dims)", actual: "\(dy.shape)")
        }
        return try engine.reorder(multiply(dy, by: s.mask), to: s.desc)
    }

    /// `t * mask` element-wise (plain NCHW order), in `t`'s layout.
    private func multiply(_ t: Tensor, by mask: [Float]) throws -> Tensor {
        let plainDesc = try MemoryDesc.plain(t.shape, .f32)
        let src = try engine.reorder(t, to: plainDesc)
        let out = try Tensor(desc: plainDesc, engine: engine)
        withExtendedLifetime(src) {
            let a = src.plainFloats, o = out.plainFloats
            mask.withUnsafeBufferPointer { m in
                for i in 0..<m.count { o[i] = a[i] * m[i] }
            }
        }
        return try engine.reorder(out, to: t.desc)
    }

    public func release() { saved = nil; savedIdentity = false }
}
