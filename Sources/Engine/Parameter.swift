/// A trainable tensor: its torchvision state-dict name, its values and its gradient, both
/// float32, contiguous, in PyTorch's layout (`[out, in, kH, kW]` for convs). Optimizers update
/// `value` from `grad`; the model reads `value` at its next forward pass.
public final class Parameter {
    public let name: String
    public let shape: [Int]
    public let value: UnsafeMutableBufferPointer<Float>
    public let grad: UnsafeMutableBufferPointer<Float>
    /// Whether an optimizer updates this parameter (set by whoever owns the model: a freeze policy).
    public var trainable: Bool = true

    public init(name: String, shape: [Int], values: [Float]) {
        precondition(values.count == shape.reduce(1, *), "\(name): \(values.count) values for shape \(shape)")
        self.name = name
        self.shape = shape
        value = .allocate(capacity: values.count)
        _ = value.initialize(from: values)
        grad = .allocate(capacity: values.count)
        grad.initialize(repeating: 0)
    }

    deinit {
        value.deallocate()
        grad.deallocate()
    }

    public var count: Int { value.count }
    public var values: [Float] { Array(value) }

    public func zeroGrad() { grad.update(repeating: 0) }
}
