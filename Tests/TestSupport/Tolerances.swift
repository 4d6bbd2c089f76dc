/// The error measures tests compare against tolerances. Each test keeps its own bound; these
/// only say what "error" means. Every measure is +infinity when the two sides cannot be
/// compared: different lengths, a NaN or an infinity on either side (where they are not the
/// same infinity), so that `XCTAssertLessThanOrEqual(error, bound)` fails. (`max(acc, nan)` keeps
/// `acc`: a NaN difference must be caught before it reaches a `max`.)

/// Whether `a` and `b` differ in a way no tolerance covers: NaN on either side, or an
/// infinity the other side does not have.
@inline(__always) private func incomparable(_ a: Float, _ b: Float) -> Bool {
    if a.isNaN || b.isNaN { return true }
    if a.isInfinite || b.isInfinite { return a != b }
    return false
}

/// Per row of `[rows, cols]`: max |a - b| / max |b|; the largest over rows.
public func maxRelativeError(_ a: [Float], _ b: [Float], rows: Int) -> Double {
    guard a.count == b.count, rows > 0, a.count % rows == 0 else { return .infinity }
    let cols = a.count / rows
    var worst = 0.0
    for r in 0..<rows {
        var diff = 0.0, scale = 0.0
        for c in 0..<cols {
            let x = a[r * cols + c], y = b[r * cols + c]
            if incomparable(x, y) { return .infinity }
            if x.isInfinite { continue }                  // the same infinity on both sides
            diff = max(diff, Double(abs(x - y)))
            scale = max(scale, Double(abs(y)))
        }
        worst = max(worst, diff / max(scale, 1e-12))
    }
    return worst
}

/// max |a - b| over all values.
public func maxAbsError(_ a: [Float], _ b: [Float]) -> Double {
    guard a.count == b.count else { return .infinity }
    var worst = 0.0
    for i in a.indices {
        if incomparable(a[i], b[i]) { return .infinity }
        if a[i].isInfinite { continue }
        worst = max(worst, Double(abs(a[i] - b[i])))
    }
    return worst
}

/// max |a - b| / max |b| over a tensor (0 when both are zero).
public func relativeError(_ a: [Float], _ b: [Float]) -> Double {
    guard a.count == b.count else { return .infinity }
    var diff = 0.0, scale = 0.0
    for i in a.indices {
        if incomparable(a[i], b[i]) { return .infinity }
        if a[i].isInfinite { continue }
        diff = max(diff, Double(abs(a[i] - b[i])))
        scale = max(scale, Double(abs(b[i])))
    }
    return scale == 0 ? diff : diff / scale
}

/// max |a - b| / `scale`: for a tensor that is zero in exact arithmetic (both sides rounding
/// noise), measured against a scale of its own kind (the largest gradient of the step). Infinite
/// on a length mismatch, NaN or infinity, or a scale that is not positive.
public func relativeError(_ a: [Float], _ b: [Float], scale: Float) -> Double {
    guard a.count == b.count, scale > 0, scale.isFinite else { return .infinity }
    var diff = 0.0
    for i in a.indices {
        if incomparable(a[i], b[i]) || a[i].isInfinite { return .infinity }
        diff = max(diff, Double(abs(a[i] - b[i])))
    }
    return diff / Double(scale)
}
