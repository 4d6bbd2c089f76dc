/// The error measures tests compare against tolerances. Each test keeps its own bound; these
/// only say what "error" means.

/// Per row of `[rows, cols]`: max |a - b| / max |b|; the largest over rows.
public func maxRelativeError(_ a: [Float], _ b: [Float], rows: Int) -> Double {
    precondition(a.count == b.count && a.count % rows == 0)
    let cols = a.count / rows
    var worst = 0.0
    for r in 0..<rows {
        var diff = 0.0, scale = 0.0
        for c in 0..<cols {
            diff = max(diff, Double(abs(a[r * cols + c] - b[r * cols + c])))
            scale = max(scale, Double(abs(b[r * cols + c])))
        }
        worst = max(worst, diff / max(scale, 1e-12))
    }
    return worst
}

/// max |a - b| over all values.
public func maxAbsError(_ a: [Float], _ b: [Float]) -> Double {
    zip(a, b).reduce(0.0) { max($0, Double(abs($1.0 - $1.1))) }
}

/// max |a - b| / max |b| over a tensor (0 when both are zero; infinity when a difference is NaN).
public func relativeError(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count, "\(a.count) vs \(b.count) values")
    var diff = 0.0, scale = 0.0
    for i in a.indices {
        diff = max(diff, Double(abs(a[i] - b[i])))
        scale = max(scale, Double(abs(b[i])))
    }
    if diff.isNaN { return .infinity }
    return scale == 0 ? diff : diff / scale
}
