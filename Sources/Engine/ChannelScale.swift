/// ConvNeXt's layer scale, `gamma * x` with one factor per channel (`gamma` `[C, 1, 1]`,
/// broadcast over N, H and W), in `x`'s layout and type (oneDNN's binary op).
public final class ChannelScale {
    public let gamma: [Float]
    public let engine: CPUEngine
    private let multiply: Multiply

    public init(_ gamma: [Float], engine: CPUEngine = .shared) throws {
        guard !gamma.isEmpty else { throw EngineError.invalidArgument(op: "ChannelScale", what: "no channels") }
        self.gamma = gamma; self.engine = engine; multiply = Multiply(engine: engine)
    }

    public func forward(_ x: Tensor) throws -> Tensor {
        try ChannelScale.check(x, gamma.count)
        let s = try engine.reorder(Tensor(shape: [1, gamma.count, 1, 1], values: gamma, engine: engine), to: .plain([1, gamma.count, 1, 1], x.dataType))
        return try multiply.product(x, s)
    }

    static func check(_ x: Tensor, _ c: Int) throws {
        guard x.shape.count == 4, x.shape[1] == c else {
            throw EngineError.shapeMismatch(op: "ChannelScale(\(c))", expected: "[N, \(c), H, W]", actual: "\(x.shape)")
        }
    }
}

/// `ChannelScale` that trains: backward gives `gamma * dy` and, where `gamma` trains, its
/// gradient `sum over N, H, W of dy * x` (float64 sums).
public final class TrainChannelScale {
    /// `[C, 1, 1]`.
    public let gamma: Parameter
    public let engine: CPUEngine
    private let multiply: Multiply
    private var saved: Tensor?

    public init(gamma: Parameter, engine: CPUEngine = .shared) throws {
        guard gamma.count > 0 else { throw EngineError.invalidArgument(op: "TrainChannelScale(\(gamma.name))", what: "no channels") }
        self.gamma = gamma; self.engine = engine; multiply = Multiply(engine: engine)
    }

    private func factors(_ type: DataType) throws -> Tensor {
        try engine.reorder(Tensor.values(of: gamma, shape: [1, gamma.count, 1, 1], engine: engine), to: .plain([1, gamma.count, 1, 1], type))
    }

    public func forward(_ x: Tensor, pass: PassKind) throws -> Tensor {
        try ChannelScale.check(x, gamma.count)
        saved = pass == .training ? x : nil
        return try multiply.product(x, factors(x.dataType))
    }

    /// The input's gradient, in `dy`'s layout; `gamma.grad` set where it trains. Consumes what
    /// the forward kept.
    public func backward(outputGrad dy: Tensor) throws -> Tensor {
        guard let x = saved else {
            throw EngineError.invalidArgument(op: "TrainChannelScale.backward", what: "no training forward pass to differentiate")
        }
        defer { release() }
        guard dy.shape == x.shape else {
            throw EngineError.shapeMismatch(op: "TrainChannelScale.backward", expected: "\(x.shape)", actual: "\(dy.shape)")
        }
        if gamma.trainable {
            let s = x.shape, (n, c, plane) = (s[0], s[1], s[2] * s[3])
            let xp = try engine.reorder(x, to: .plain(s, .f32)), gp = try engine.reorder(dy, to: .plain(s, .f32))
            withExtendedLifetime((xp, gp)) {
                let a = xp.plainFloats, g = gp.plainFloats, out = gamma.grad
                ComputeThreads.forEachChunk(of: c, minimumPerChunk: 1) { channels in
                    for k in channels {
                        var total = 0.0
                        for i in 0..<n {
                            let base = (i * c + k) * plane
                            var row: Float = 0
                            for q in 0..<plane { row += a[base + q] * g[base + q] }
                            total += Double(row)
                        }
                        out[k] = Float(total)
                    }
                }
            }
        }
        return try multiply.product(dy, factors(dy.dataType))
    }

    public func release() { saved = nil }
}
