import Foundation

/// Softmax over the last axis of a row-major `[rows, cols]` float32 matrix, as
/// `torch.softmax(x, dim=1)` computes it: `exp(x - max) / sum(exp(x - max))`.
public enum Softmax {
    public static func forward(_ x: [Float], rows: Int, cols: Int) throws -> [Float] {
        guard rows >= 0, cols > 0, x.count == rows * cols else {
            throw EngineError.shapeMismatch(op: "Softmax", expected: "[\(rows), \(cols)]", actual: "\(x.count) values")
        }
        var out = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for r in 0..<rows {
                    let base = r * cols
                    var m = -Float.infinity
                    for c in 0..<cols { m = max(m, src[base + c]) }
                    var sum: Float = 0
                    for c in 0..<cols {
                        let e = expf(src[base + c] - m)
                        dst[base + c] = e
                        sum += e
                    }
                    let total = sum
                    for c in 0..<cols { dst[base + c] /= total }
                }
            }
        }
        return out
    }
}
