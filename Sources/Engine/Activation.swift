/// An activation function, as a fused post-op of a conv, linear, batch norm or add, or as an
/// op of its own. ReLU now; the next families add hardswish, SiLU, GELU, sigmoid.
public enum Activation: String, Sendable, Equatable, Codable, CaseIterable {
    case relu
}
