import CDNNL

/// Everything that can go wrong in the compute engine. Messages say which call or op failed,
/// with which shapes, and what the caller can do.
public enum EngineError: Error, CustomStringConvertible, Equatable {
    /// A oneDNN call returned a status other than success.
    case dnnl(call: String, status: Int)
    /// An op was given a tensor whose shape it cannot take.
    case shapeMismatch(op: String, expected: String, actual: String)
    /// A bad argument that is not a shape (a negative stride, an empty weight...).
    case invalidArgument(op: String, what: String)
    /// bfloat16 was asked for on a CPU where oneDNN has no bf16 kernels (below AVX-512).
    case bf16Unavailable(isa: String)

    public var description: String {
        switch self {
        case let .dnnl(call, status):
            return "oneDNN call \(call) failed with status \(status) (\(EngineError.statusName(status))). "
                + "This usually means an unsupported shape or data type for this CPU."
        case let .shapeMismatch(op, expected, actual):
            return "\(op): expected a tensor of shape \(expected), got \(actual)."
        case let .invalidArgument(op, what):
            return "\(op): \(what)."
        case let .bf16Unavailable(isa):
            return "bfloat16 needs a CPU with AVX-512 (oneDNN has no bf16 kernels below it); "
                + "this CPU runs oneDNN's \(isa) kernels. Use f32 precision."
        }
    }

    static func statusName(_ s: Int) -> String {
        switch s {
        case 1: return "out of memory"
        case 2: return "invalid arguments"
        case 3: return "unimplemented"
        case 4: return "iterator ends"
        case 5: return "runtime error"
        case 6: return "not required"
        default: return "unknown"
        }
    }
}

/// Throws `EngineError.dnnl` unless `status` is success.
@inline(__always)
func dnnlCheck(_ status: dnnl_status_t, _ call: @autoclosure () -> String) throws {
    if status != dnnl_success {
        throw EngineError.dnnl(call: call(), status: Int(status.rawValue))
    }
}
