import Checkpoint
import Foundation

/// The few Python formatting rules the tutorial scripts' output depends on, reproduced exactly.
public enum PythonFormat {
    /// `'{:.3}'.format(x)`: 3 significant digits, general format, but a fixed-point result keeps
    /// at least one digit after the point (1.0 → "1.0", 0.99876 → "0.999", 1.2345e-05 → "1.23e-05").
    public static func general3(_ x: Double) -> String {
        if x.isNaN { return "nan" }
        if x.isInfinite { return x < 0 ? "-inf" : "inf" }
        // Python switches to scientific notation when the exponent (after rounding to 3
        // digits) is < -4 or >= precision - 1, one earlier than C's %g.
        let sci = String(format: "%.2e", x)
        let exponent = Int(sci[sci.index(after: sci.firstIndex(of: "e")!)...]) ?? 0
        if exponent < -4 || exponent >= 2 {
            var mantissa = String(sci[..<sci.firstIndex(of: "e")!])
            if mantissa.contains(".") {
                while mantissa.hasSuffix("0") { mantissa.removeLast() }
                if mantissa.hasSuffix(".") { mantissa.removeLast() }
            }
            return mantissa + String(sci[sci.firstIndex(of: "e")!...])
        }
        var s = String(format: "%.3g", x)
        if !s.contains(".") { s += ".0" }
        return s
    }

    /// `'{:10}'.format(s)`: left-aligned, padded with spaces to `width` code points.
    public static func leftPadded(_ s: String, _ width: Int) -> String {
        let n = s.unicodeScalars.count
        return n >= width ? s : s + String(repeating: " ", count: width - n)
    }

    /// Python's `sorted()` on strings: code-point order, case-sensitive, no normalisation.
    public static func codePointLess(_ a: String, _ b: String) -> Bool {
        a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars) { $0.value < $1.value }
    }

    /// A JSON string as `json.dumps` writes it (`ensure_ascii=True` by default).
    public static func jsonString(_ s: String, asciiOnly: Bool = true) -> String {
        JSONText.string(s, asciiOnly: asciiOnly)
    }

    /// A float for JSON output: the shortest text that reads back as the same Float.
    public static func jsonNumber(_ x: Float) -> String {
        if !x.isFinite { return "null" }
        return "\(x)"
    }
}
