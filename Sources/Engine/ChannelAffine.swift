/// `x * scale[c] + shift[c]` per channel, with constants: Inception's `transform_input`, on the
/// images before the first conv. Torch's arithmetic (a float32 product rounded, then a float32
/// sum rounded, no fused multiply-add), on a plain NCHW float32 copy; the result plain float32.
/// Backward, where an input gradient is wanted, is `dy * scale[c]`.
public final class ChannelAffine {
    public let scale: [Float]
    public let shift: [Float]
    public let engine: CPUEngine

    public init(scale: [Float], shift: [Float], engine: CPUEngine = .shared) throws {
        guard !scale.isEmpty, scale.count == shift.count else {
            throw EngineError.invalidArgument(op: "ChannelAffine", what: "\(scale.count) scales and \(shift.count) shifts")
        }
        self.scale = scale; self.shift = shift; self.engine = engine
    }

    public func forward(_ x: Tensor) throws -> Tensor {
        try map(x, shift: shift)
    }

    /// The input's gradient: `dy * scale[c]` (plain float32).
    public func backward(outputGrad dy: Tensor) throws -> Tensor {
        try map(dy, shift: nil)
    }

    private func map(_ x: Tensor, shift: [Float]?) throws -> Tensor {
        let s = x.shape
        guard s.count == 4, s[1] == scale.count else {
            throw EngineError.shapeMismatch(op: "ChannelAffine(\(scale.count))", expected: "[N, \(scale.count), H, W]", actual: "\(s)")
        }
        let src = try engine.reorder(x, to: .plain(s, .f32))
        let out = try Tensor(desc: .plain(s, .f32), engine: engine)
        let (c, plane) = (s[1], s[2] * s[3])
        withExtendedLifetime(src) {
            let a = src.plainFloats, o = out.plainFloats
            ComputeThreads.forEachChunk(of: s[0] * c, minimumPerChunk: 1) { planes in
                for p in planes {
                    let k = p % c, base = p * plane
                    let (m, t) = (scale[k], shift?[k] ?? 0)
                    if shift == nil {
                        for q in 0..<plane { o[base + q] = a[base + q] * m }
                    } else {
                        for q in 0..<plane {
                            let product = a[base + q] * m
                            o[base + q] = product + t
                        }
                    }
                }
            }
        }
        return out
    }
}
