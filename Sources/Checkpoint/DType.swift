/// The element types a checkpoint tensor can have, named as PyTorch names them.
public enum DType: String, CaseIterable, Sendable {
    case float32, float16, bfloat16, float64, int64, int32, int16, int8, uint8, bool

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16, .int16: return 2
        case .int8, .uint8, .bool: return 1
        }
    }

    public var isFloatingPoint: Bool {
        switch self {
        case .float32, .float16, .bfloat16, .float64: return true
        default: return false
        }
    }

    /// The legacy storage class name (`torch.FloatStorage`...) that holds this dtype.
    public var storageName: String {
        switch self {
        case .float32: return "FloatStorage"
        case .float16: return "HalfStorage"
        case .bfloat16: return "BFloat16Storage"
        case .float64: return "DoubleStorage"
        case .int64: return "LongStorage"
        case .int32: return "IntStorage"
        case .int16: return "ShortStorage"
        case .int8: return "CharStorage"
        case .uint8: return "ByteStorage"
        case .bool: return "BoolStorage"
        }
    }

    /// The dtype of a storage class name such as `FloatStorage` (module prefix removed).
    public init?(storageName: String) {
        guard let match = DType.allCases.first(where: { $0.storageName == storageName }) else { return nil }
        self = match
    }

    /// The dtype of a legacy tensor class name such as `FloatTensor`.
    public init?(tensorClassName: String) {
        guard tensorClassName.hasSuffix("Tensor") else { return nil }
        self.init(storageName: String(tensorClassName.dropLast(6)) + "Storage")
    }
}
