/// `torch.flatten(x, 1)`: `[N, C, H, W]` in any layout and type to plain float32
/// `[N, C * H * W]`, C the slowest of the three (what `nn.Linear` after a pooling reads); and
/// its backward, the gradient `[N, C * H * W]` back to plain float32 `[N, C, H, W]`. A plain
/// float32 input (or gradient) is not copied: the result is a view of its storage.
public final class Flatten {
    public let engine: CPUEngine
    private var savedInput: [Int]?

    public init(engine: CPUEngine = .shared) { self.engine = engine }

    /// The flattened `[N, C * H * W]`; a training pass keeps the input's dims for `backward`.
    public func forward(_ x: Tensor, pass: PassKind = .inference) throws -> Tensor {
        let s = x.shape
        guard s.count >= 2, s.allSatisfy({ $0 > 0 }) else {
            throw EngineError.shapeMismatch(op: "Flatten", expected: "[N, C, ...]", actual: "\(s)")
        }
        let plain = try engine.reorder(x, to: .plain(s, .f32))
        savedInput = pass == .training ? s : nil
        return try Tensor(aliasing: plain, as: .plain([s[0], s.dropFirst().reduce(1, *)], .f32))
    }

    /// The gradient at the input, plain float32 in the last training forward's input dims.
    public func backward(outputGrad dy: Tensor) throws -> Tensor {
        guard let s = savedInput else {
            throw EngineError.invalidArgument(op: "Flatten.backward", what: "no training forward pass to differentiate")
        }
        defer { savedInput = nil }
        let flat = [s[0], s.dropFirst().reduce(1, *)]
        guard dy.shape == flat else {
            throw EngineError.shapeMismatch(op: "Flatten.backward", expected: "\(flat)", actual: "\(dy.shape)")
        }
        let plain = try engine.reorder(dy, to: .plain(flat, .f32))
        return try Tensor(aliasing: plain, as: .plain(s, .f32))
    }

    public func release() { savedInput = nil }
}
