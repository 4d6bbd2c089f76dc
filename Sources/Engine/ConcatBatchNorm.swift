import CDNNL

/// Inference-mode batch norm (and ReLU) of a concatenation, without the concatenation: each
/// output channel is `relu?(x * scale + shift)` of the input it comes from, read where that
/// input is and written once (DenseNet's `norm1`, `transitionB.norm` and `norm5`, which read
/// only the concatenation). oneDNN 2.6 cannot concatenate in place for its jit kernels: its
/// convs and batch norms fall back to reference kernels on a sub-memory (a channel range of a
/// larger buffer). The copy `torch.cat` makes, and one of batch norm's two passes over it, go.
///
/// For inputs of one type (float32 or bfloat16, computed in float32 and rounded to nearest even
/// as oneDNN does) all in channels-last, or all in one blocked layout (nChw8c, nChw16c) with
/// every input's channels whole blocks: the output in that layout and type. Anything else runs
/// oneDNN's concat and then its batch norm. One input is a batch norm alone.
public final class ConcatBatchNorm {
    public let parameters: BatchNormParameters
    /// nil or ReLU.
    public let activation: Activation?
    public let engine: CPUEngine
    private let scale: [Float], shift: [Float]
    private let concat: Concat
    private let batchNorm: BatchNorm2d

    public init(_ parameters: BatchNormParameters, activation: Activation?, engine: CPUEngine = .shared) throws {
        guard activation == nil || activation == .relu else {
            throw EngineError.invalidArgument(op: "ConcatBatchNorm", what: "activation \(activation!.rawValue) (ReLU or none)")
        }
        self.parameters = parameters; self.activation = activation; self.engine = engine
        let (s, t) = parameters.scaleAndShift()
        scale = s.map { Float($0) }; shift = t.map { Float($0) }
        concat = Concat(engine: engine)
        batchNorm = BatchNorm2d(parameters, activation: activation, engine: engine)
    }

    /// The layout the inputs share where the fused loop takes them: the block (1 for
    /// channels-last), else nil.
    static func sharedBlock(_ xs: [Tensor]) throws -> Int? {
        guard let first = xs.first, first.shape.count == 4 else { return nil }
        for (tag, block) in [(dnnl_acdb, 1), (dnnl_aBcd16b, 16), (dnnl_aBcd8b, 8)] {
            let fits = try xs.allSatisfy { x in
                let dense = try MemoryDesc(dims: x.shape, type: first.dataType, tag: tag)
                return x.shape[1] % block == 0 && x.desc == dense
            }
            if fits { return block }
        }
        return nil
    }

    public func forward(_ inputs: [Tensor]) throws -> Tensor {
        let out = try Concat.outputShape(for: inputs.map(\.shape))
        let c = parameters.channels
        guard out.count == 4, out[1] == c else {
            throw EngineError.shapeMismatch(op: "ConcatBatchNorm(\(c))", expected: "inputs of \(c) channels in all", actual: "\(inputs.map(\.shape))")
        }
        guard let block = try Self.sharedBlock(inputs) else { return try batchNorm.forward(concat.forward(inputs)) }
        let tag = block == 1 ? dnnl_acdb : block == 16 ? dnnl_aBcd16b : dnnl_aBcd8b
        let type = inputs[0].dataType
        let y = try Tensor(desc: MemoryDesc(dims: out, type: type, tag: tag), engine: engine)
        let (n, plane) = (out[0], out[2] * out[3])
        let relu = activation == .relu
        let size = type.size
        let sources = inputs.map(\.storage)
        let widths = inputs.map { $0.shape[1] }
        let offsets = widths.indices.map { widths[..<$0].reduce(0, +) }
        let dst = y.storage
        // `count` values from x to y, channel j of the run scaled by s[j] and shifted by t[j].
        let apply: (UnsafeMutableRawPointer, UnsafeMutableRawPointer, Int, UnsafePointer<Float>, UnsafePointer<Float>) -> Void
        switch (type, relu) {
        case (.f32, true): apply = { Self.f32($0, $1, $2, $3, $4, relu: true) }
        case (.f32, false): apply = { Self.f32($0, $1, $2, $3, $4, relu: false) }
        case (.bf16, true): apply = { Self.bf16($0, $1, $2, $3, $4, relu: true) }
        case (.bf16, false): apply = { Self.bf16($0, $1, $2, $3, $4, relu: false) }
        }
        scale.withUnsafeBufferPointer { s in
            shift.withUnsafeBufferPointer { t in
                if block == 1 {
                    // Pixel by pixel: each input's channels to their place in the pixel's row.
                    ComputeThreads.forEachChunk(of: n * plane, minimumPerChunk: 64) { pixels in
                        for p in pixels {
                            for k in sources.indices {
                                apply(sources[k] + p * widths[k] * size, dst + (p * c + offsets[k]) * size, widths[k],
                                      s.baseAddress! + offsets[k], t.baseAddress! + offsets[k])
                            }
                        }
                    }
                } else {
                    // Block by block: image i's output block b is input k's block b - offset / block.
                    let blocks = c / block
                    ComputeThreads.forEachChunk(of: n * blocks, minimumPerChunk: 1) { range in
                        for ib in range {
                            let (i, b) = (ib / blocks, ib % blocks)
                            let k = offsets.lastIndex { $0 <= b * block }!
                            let local = b - offsets[k] / block
                            let src = sources[k] + ((i * widths[k] / block + local) * plane) * block * size
                            let to = dst + ((i * blocks + b) * plane) * block * size
                            for q in 0..<plane {
                                apply(src + q * block * size, to + q * block * size, block, s.baseAddress! + b * block, t.baseAddress! + b * block)
                            }
                        }
                    }
                }
            }
        }
        withExtendedLifetime(inputs) {}
        return y
    }

    @inline(__always)
    private static func f32(_ x: UnsafeMutableRawPointer, _ y: UnsafeMutableRawPointer, _ count: Int,
                            _ s: UnsafePointer<Float>, _ t: UnsafePointer<Float>, relu: Bool) {
        let x = x.assumingMemoryBound(to: Float.self), y = y.assumingMemoryBound(to: Float.self)
        if relu {
            for j in 0..<count { y[j] = max(x[j] * s[j] + t[j], 0) }
        } else {
            for j in 0..<count { y[j] = x[j] * s[j] + t[j] }
        }
    }

    /// bfloat16 in and out: widened exactly, computed in float32, rounded to nearest even.
    @inline(__always)
    private static func bf16(_ x: UnsafeMutableRawPointer, _ y: UnsafeMutableRawPointer, _ count: Int,
                             _ s: UnsafePointer<Float>, _ t: UnsafePointer<Float>, relu: Bool) {
        let x = x.assumingMemoryBound(to: UInt16.self), y = y.assumingMemoryBound(to: UInt16.self)
        for j in 0..<count {
            var v = Float(bitPattern: UInt32(x[j]) << 16) * s[j] + t[j]
            if relu { v = max(v, 0) }
            let bits = v.bitPattern
            y[j] = v.isNaN ? UInt16(truncatingIfNeeded: bits >> 16) | 0x40 : UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
        }
    }
}
